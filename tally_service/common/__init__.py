"""The small helpers every party shares: problems, clock, key files, manifests, rolls, the HTTP
client of the service, logging, child processes, the state-rollback marker.

Nothing here belongs to one party; nothing here imports a party's package."""
