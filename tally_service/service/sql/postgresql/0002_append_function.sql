-- Appending a ballot in one round trip: the round's row lock, the state, the elector's earlier
-- ballot and the insert, all inside one statement, so one call is one transaction and the
-- caller sees its result only once it is committed. The rules stay where 0001 put them (the
-- insert trigger checks the index and the state again).
CREATE FUNCTION kz_append(
    p_unit text, p_round integer, p_elector text, p_entry bytea, p_leaf bytea, p_at text
) RETURNS TABLE (outcome text, at_index bigint) LANGUAGE plpgsql AS $$
DECLARE
    r_state text;
    r_next bigint;
    e_idx bigint;
    e_entry bytea;
BEGIN
    SELECT r.state, r.next_idx INTO r_state, r_next FROM rounds r
        WHERE r.unit = p_unit AND r.round = p_round FOR UPDATE;
    IF NOT FOUND OR r_state <> 'open' THEN
        outcome := 'closed';
        at_index := NULL;
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT b.idx, b.entry INTO e_idx, e_entry FROM ballots b
        WHERE b.unit = p_unit AND b.round = p_round AND b.elector = p_elector;
    IF FOUND THEN
        outcome := CASE WHEN e_entry = p_entry THEN 'repeat' ELSE 'other' END;
        at_index := e_idx;
        RETURN NEXT;
        RETURN;
    END IF;
    INSERT INTO ballots (unit, round, idx, elector, entry, leaf_hash, received_at)
        VALUES (p_unit, p_round, r_next, p_elector, p_entry, p_leaf, p_at);
    outcome := 'appended';
    at_index := r_next;
    RETURN NEXT;
END $$;
