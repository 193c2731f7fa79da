"""The service: what the operator runs, on the operator's machines.

Casting with receipts, one append-only log per unit and round, witnessing, the tally and the
signed results, the HTTP API and the public pages, the key ceremony's bulletin board, the
election's set-up on its store (init, rolls, seal) and the record's export. It holds the log
keys; it never holds a guardian's secret or a witness's key."""
