-- A commission request's answer is kept with its nonce, committed in the same transaction as
-- the action's effects, so an identical retry (through the load balancer, on another process)
-- gets that answer back instead of a refusal (tally_service/service/commission_requests.py).
-- Rows from before have no digest: a retry of those is refused as a replay, as it always was.
-- ``repeat_of``: an audit line written for an identical retry names the line it repeats.
-- Both tables stay append-only (0001's triggers); the service role's table-wide INSERT and
-- SELECT grants cover the new columns.
ALTER TABLE nonces ADD COLUMN digest text CHECK (digest IS NULL OR length(digest) = 64),
    ADD COLUMN status integer CHECK (status IS NULL OR status BETWEEN 200 AND 499),
    ADD COLUMN answer text,
    ADD COLUMN seq bigint;
ALTER TABLE audit ADD COLUMN repeat_of bigint CHECK (repeat_of IS NULL OR repeat_of < seq);
