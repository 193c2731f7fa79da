-- Telling the other service processes what changed (LISTEN/NOTIFY), so that they catch up
-- when told instead of polling the database several times a second. A notification is sent
-- inside the transaction of the change, so PostgreSQL delivers it only on COMMIT (never for a
-- change rolled back); it is not durable (a listener whose connection drops, or a standby
-- promoted in a failover, misses it), so every process still re-reads everything every few
-- seconds: a lost notification costs latency, never correctness. Payloads are JSON.
--   kz_signed: a round opened or closed, a checkpoint stored or cosigned, a result published
--   kz_grown:  a log's size reached a multiple of the caller's checkpoint_every (the leader
--              checkpoints it); not on every append: a transaction that notifies holds a
--              cluster-wide lock from its COMMIT until the commit is flushed (and, with a
--              synchronous standby, replicated), which would queue every append behind the
--              one before it, whichever log.

CREATE FUNCTION kz_notify_round() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kz_signed', json_build_object(
        'what', 'round', 'unit', NEW.unit, 'round', NEW.round, 'state', NEW.state)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER rounds_notify_insert AFTER INSERT ON rounds
    FOR EACH ROW EXECUTE FUNCTION kz_notify_round();
-- next_idx changes on every append: only a change of state is news
CREATE TRIGGER rounds_notify_state AFTER UPDATE ON rounds
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION kz_notify_round();

CREATE FUNCTION kz_notify_checkpoint() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kz_signed', json_build_object(
        'what', CASE WHEN TG_OP = 'INSERT' THEN 'checkpoint' ELSE 'cosigned' END,
        'unit', NEW.unit, 'round', NEW.round, 'size', NEW.size, 'final', NEW.final = 1)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER checkpoints_notify AFTER INSERT OR UPDATE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION kz_notify_checkpoint();

CREATE FUNCTION kz_notify_result() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kz_signed', json_build_object('what', 'result', 'kind', NEW.kind)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER results_notify AFTER INSERT ON results
    FOR EACH ROW EXECUTE FUNCTION kz_notify_result();

-- kz_append of 0002 (kept for processes of the previous version during a rolling upgrade),
-- plus kz_grown when the log's new size is a multiple of p_every
CREATE FUNCTION kz_append(
    p_unit text, p_round integer, p_elector text, p_entry bytea, p_leaf bytea, p_at text,
    p_every bigint
) RETURNS TABLE (outcome text, at_index bigint) LANGUAGE plpgsql AS $$
DECLARE
    a_outcome text;
    a_index bigint;
BEGIN
    SELECT a.outcome, a.at_index INTO a_outcome, a_index
        FROM kz_append(p_unit, p_round, p_elector, p_entry, p_leaf, p_at) a;
    IF a_outcome = 'appended' AND p_every > 0 AND (a_index + 1) % p_every = 0 THEN
        PERFORM pg_notify('kz_grown', json_build_object(
            'unit', p_unit, 'round', p_round, 'size', a_index + 1)::text);
    END IF;
    outcome := a_outcome;
    at_index := a_index;
    RETURN NEXT;
END $$;
