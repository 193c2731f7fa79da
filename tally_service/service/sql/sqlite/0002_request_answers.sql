-- A commission request's answer is kept with its nonce, committed in the same transaction as
-- the action's effects, so an identical retry gets that answer back instead of a refusal
-- (tally_service/service/commission_requests.py). Rows from before have no digest: a retry of
-- those is refused as a replay, as it always was. ``repeat_of``: an audit line written for an
-- identical retry names the line of the request it repeats.
ALTER TABLE nonces ADD COLUMN digest TEXT;
ALTER TABLE nonces ADD COLUMN status INTEGER;
ALTER TABLE nonces ADD COLUMN answer TEXT;
ALTER TABLE nonces ADD COLUMN seq INTEGER;
ALTER TABLE audit ADD COLUMN repeat_of INTEGER;
