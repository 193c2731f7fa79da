-- What the service's own role may do (docs/operations.md): read everything, add rows, change
-- only the columns the service changes. No DELETE, no TRUNCATE, and it owns nothing, so it
-- cannot drop or disable the triggers that keep the logs append-only. Run by the owner role
-- after the migrations (re-run after a migration that adds a table); the role is kz_service.
GRANT USAGE ON SCHEMA public TO kz_service;
GRANT SELECT ON meta, rounds, ballots, checkpoints, tallies, partials, results, audit, nonces,
    schema_migrations TO kz_service;
GRANT INSERT ON meta, rounds, ballots, checkpoints, tallies, partials, results, audit, nonces
    TO kz_service;
GRANT UPDATE ON meta, tallies, partials TO kz_service;
GRANT UPDATE (state, closed_at, next_idx) ON rounds TO kz_service;  -- also lets it lock the row
GRANT UPDATE (note) ON checkpoints TO kz_service;                     -- cosignature lines only
