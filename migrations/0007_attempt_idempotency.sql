-- A payment call made under an Idempotency-Key is recorded with (a keyed fingerprint of) that
-- key, so that the same request retried after the one that made the call died — its claim taken
-- over once it lapsed — answers from what that call did instead of calling iamport again
-- (a partial refund asked for once is never made twice).
ALTER TABLE payment_attempts ADD COLUMN idempotency_token text;

CREATE UNIQUE INDEX payment_attempts_idempotency_token_key ON payment_attempts (idempotency_token)
    WHERE idempotency_token IS NOT NULL;

COMMENT ON COLUMN payment_attempts.idempotency_token IS
    'HMAC under GATEWAY_SECRET_KEY of the Idempotency-Key (and its scope) the call was made '
    'under; NULL without one. A retry of that key answers from this attempt.';
