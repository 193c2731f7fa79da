-- The PostgreSQL store: the same tables as SQLite's, and the database itself enforces what the
-- service relies on, whichever process (or person with a SQL prompt) writes:
--   one ballot per elector per log (UNIQUE), indexes 0, 1, 2 ... without a gap (a trigger
--   checks each new index against the round's next_idx, read under the round row's lock),
--   no ballot into a closed round, entries never updated or deleted, a checkpoint's note only
--   ever gains (cosignature) lines, the audit and the results only ever grow.
-- Never edit a released migration: add the next numbered file.

CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);

CREATE TABLE rounds (
    unit text NOT NULL,
    round integer NOT NULL CHECK (round IN (1, 2)),
    state text NOT NULL CHECK (state IN ('open', 'closed')),
    candidates text NOT NULL,
    opened_at text NOT NULL,
    closed_at text,
    next_idx bigint NOT NULL DEFAULT 0 CHECK (next_idx >= 0),  -- the log's size
    PRIMARY KEY (unit, round));

CREATE TABLE ballots (
    unit text NOT NULL,
    round integer NOT NULL,
    idx bigint NOT NULL CHECK (idx >= 0),
    elector text NOT NULL,
    entry bytea NOT NULL,                                   -- the exact bytes accepted
    leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32),
    received_at text NOT NULL,
    PRIMARY KEY (unit, round, idx),
    UNIQUE (unit, round, elector),
    FOREIGN KEY (unit, round) REFERENCES rounds (unit, round));
CREATE INDEX ballots_by_leaf ON ballots (unit, round, leaf_hash);

CREATE TABLE checkpoints (
    unit text NOT NULL,
    round integer NOT NULL,
    size bigint NOT NULL CHECK (size >= 0),
    note text NOT NULL,
    issued_at text NOT NULL,
    final integer NOT NULL CHECK (final IN (0, 1)),
    PRIMARY KEY (unit, round, size, final),
    FOREIGN KEY (unit, round) REFERENCES rounds (unit, round));
CREATE UNIQUE INDEX one_final_checkpoint ON checkpoints (unit, round) WHERE final = 1;

CREATE TABLE tallies (
    unit text NOT NULL, round integer NOT NULL, doc text NOT NULL, PRIMARY KEY (unit, round));
CREATE TABLE partials (
    unit text NOT NULL, round integer NOT NULL, guardian integer NOT NULL, doc text NOT NULL,
    PRIMARY KEY (unit, round, guardian));
CREATE TABLE results (kind text PRIMARY KEY, doc text NOT NULL);
CREATE TABLE audit (
    seq bigint PRIMARY KEY CHECK (seq >= 1), at text NOT NULL, key_id text NOT NULL,
    action text NOT NULL, request text NOT NULL);
CREATE TABLE nonces (nonce text PRIMARY KEY, at text NOT NULL);

-- a new ballot: its round is open and its index is the round's next one (under the round
-- row's lock, so two processes appending at once queue here), then the round grows by one
CREATE FUNCTION kz_ballot_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r_state text;
    r_next bigint;
BEGIN
    SELECT state, next_idx INTO r_state, r_next FROM rounds
        WHERE unit = NEW.unit AND round = NEW.round FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no round % of %', NEW.round, NEW.unit USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF r_state <> 'open' THEN
        RAISE EXCEPTION 'round % of % is closed', NEW.round, NEW.unit USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.idx <> r_next THEN
        RAISE EXCEPTION 'index % of %/% is not the next one (%)', NEW.idx, NEW.unit, NEW.round, r_next
            USING ERRCODE = 'check_violation';
    END IF;
    UPDATE rounds SET next_idx = next_idx + 1 WHERE unit = NEW.unit AND round = NEW.round;
    RETURN NEW;
END $$;
CREATE TRIGGER ballots_insert BEFORE INSERT ON ballots
    FOR EACH ROW EXECUTE FUNCTION kz_ballot_insert();

CREATE FUNCTION kz_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER ballots_append_only BEFORE UPDATE OR DELETE ON ballots
    FOR EACH ROW EXECUTE FUNCTION kz_refuse();
CREATE TRIGGER ballots_no_truncate BEFORE TRUNCATE ON ballots
    FOR EACH STATEMENT EXECUTE FUNCTION kz_refuse();

-- a round changes only by growing (next_idx, through the trigger above) and by closing once
CREATE FUNCTION kz_round_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.unit <> OLD.unit OR NEW.round <> OLD.round OR NEW.candidates <> OLD.candidates
       OR NEW.opened_at <> OLD.opened_at THEN
        RAISE EXCEPTION 'a round''s identity never changes' USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.state = 'closed' AND (NEW.state <> 'closed' OR NEW.next_idx <> OLD.next_idx
       OR NEW.closed_at IS DISTINCT FROM OLD.closed_at) THEN
        RAISE EXCEPTION 'round % of % is closed for good', OLD.round, OLD.unit
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.next_idx < OLD.next_idx THEN
        RAISE EXCEPTION 'a log never shrinks' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER rounds_update BEFORE UPDATE ON rounds
    FOR EACH ROW EXECUTE FUNCTION kz_round_update();
CREATE TRIGGER rounds_no_delete BEFORE DELETE ON rounds
    FOR EACH ROW EXECUTE FUNCTION kz_refuse();
CREATE TRIGGER rounds_no_truncate BEFORE TRUNCATE ON rounds
    FOR EACH STATEMENT EXECUTE FUNCTION kz_refuse();

-- a checkpoint covers only stored ballots; the final one covers all of them; a stored note
-- only gains lines at its end (witness cosignatures)
CREATE FUNCTION kz_checkpoint_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r_next bigint;
BEGIN
    SELECT next_idx INTO r_next FROM rounds WHERE unit = NEW.unit AND round = NEW.round;
    IF NEW.size > r_next OR (NEW.final = 1 AND NEW.size <> r_next) THEN
        RAISE EXCEPTION 'checkpoint of size % but % ballots are stored', NEW.size, r_next
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER checkpoints_insert BEFORE INSERT ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION kz_checkpoint_insert();
CREATE FUNCTION kz_checkpoint_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.unit <> OLD.unit OR NEW.round <> OLD.round OR NEW.size <> OLD.size
       OR NEW.final <> OLD.final OR NEW.issued_at <> OLD.issued_at
       OR left(NEW.note, length(OLD.note)) <> OLD.note THEN
        RAISE EXCEPTION 'a stored checkpoint only gains cosignature lines'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER checkpoints_update BEFORE UPDATE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION kz_checkpoint_update();
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION kz_refuse();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION kz_refuse();

CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION kz_refuse();
CREATE TRIGGER results_append_only BEFORE UPDATE OR DELETE ON results
    FOR EACH ROW EXECUTE FUNCTION kz_refuse();
CREATE TRIGGER nonces_append_only BEFORE UPDATE OR DELETE ON nonces
    FOR EACH ROW EXECUTE FUNCTION kz_refuse();
