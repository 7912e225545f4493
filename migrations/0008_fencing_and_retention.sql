-- 0008_fencing_and_retention: fenced idempotency claims, and what the retention purges and the
-- backlog gauges read. Forward-only: never edit this file once applied anywhere.

-- Each claim of an Idempotency-Key takes a new number from this sequence; only the holder of the
-- current number may store a response or release the key. A holder that outlived its claim (the
-- key was taken over meanwhile) can then no longer overwrite what its successor did.
CREATE SEQUENCE idempotency_claims;
COMMENT ON SEQUENCE idempotency_claims IS 'Fencing numbers of idempotency_keys.claim.';

ALTER TABLE idempotency_keys ADD COLUMN claim bigint NOT NULL DEFAULT nextval('idempotency_claims');
COMMENT ON COLUMN idempotency_keys.claim IS
    'Fencing number of the current claim: the request holding it alone may complete or release '
    'the key. A new number is taken whenever the key is claimed anew or taken over.';

-- Purges of deliveries processed more than WEBHOOK_RETENTION_DAYS ago, oldest first; rows that
-- went to review are kept, like failed ones.
CREATE INDEX webhook_inbox_processed_at_idx ON webhook_inbox (processed_at)
    WHERE state = 'processed' AND outcome IS DISTINCT FROM 'needs_review';
-- The failed-deliveries gauge counts through this, never through the whole table.
CREATE INDEX webhook_inbox_failed_idx ON webhook_inbox (id) WHERE state = 'failed';
