-- The SQLite store as first released (IF NOT EXISTS: databases made before migrations were
-- numbered already hold these tables). Never edit a released migration: add the next file.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (
    unit TEXT NOT NULL, round INTEGER NOT NULL, state TEXT NOT NULL,
    candidates TEXT NOT NULL, opened_at TEXT NOT NULL, closed_at TEXT,
    PRIMARY KEY (unit, round));
CREATE TABLE IF NOT EXISTS ballots (
    unit TEXT NOT NULL, round INTEGER NOT NULL, idx INTEGER NOT NULL, elector TEXT NOT NULL,
    entry BLOB NOT NULL, leaf_hash BLOB NOT NULL, received_at TEXT NOT NULL,
    PRIMARY KEY (unit, round, idx), UNIQUE (unit, round, elector));
CREATE INDEX IF NOT EXISTS ballots_by_leaf ON ballots (unit, round, leaf_hash);
CREATE TABLE IF NOT EXISTS checkpoints (
    unit TEXT NOT NULL, round INTEGER NOT NULL, size INTEGER NOT NULL, note TEXT NOT NULL,
    issued_at TEXT NOT NULL, final INTEGER NOT NULL,
    PRIMARY KEY (unit, round, size, final));
CREATE TABLE IF NOT EXISTS tallies (
    unit TEXT NOT NULL, round INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (unit, round));
CREATE TABLE IF NOT EXISTS partials (
    unit TEXT NOT NULL, round INTEGER NOT NULL, guardian INTEGER NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (unit, round, guardian));
CREATE TABLE IF NOT EXISTS results (kind TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, key_id TEXT NOT NULL, action TEXT NOT NULL,
    request TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, at TEXT NOT NULL);
