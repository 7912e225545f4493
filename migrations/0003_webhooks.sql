-- 0003_webhooks: the webhook inbox, and when the reconciler next looks at each order.
-- Applied by `merchant-gateway migrate` inside one transaction. Forward-only: never edit this
-- file once applied anywhere; add 0004_… instead.
--
-- Work is shared between any number of gateway instances through these tables alone: a worker
-- claims rows with FOR UPDATE SKIP LOCKED and pushes their due time past a lease, so a claim
-- held by an instance that died falls free when its lease runs out (SPEC §6).

CREATE TABLE webhook_inbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at     timestamptz NOT NULL DEFAULT now(),
    source_ip       text NULL,
    content_type    text NULL,
    body            text NOT NULL,
    imp_uid         text NOT NULL,
    merchant_uid    text NULL,
    claimed_status  text NULL,
    state           text NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text NULL,
    outcome         text NULL,
    processed_at    timestamptz NULL,
    CONSTRAINT webhook_inbox_body_size CHECK (octet_length(body) <= 16384),
    CONSTRAINT webhook_inbox_imp_uid_present CHECK (imp_uid <> ''),
    CONSTRAINT webhook_inbox_state_known CHECK (state IN ('pending', 'processed', 'failed')),
    CONSTRAINT webhook_inbox_attempts_range CHECK (attempts >= 0),
    CONSTRAINT webhook_inbox_processed_has_time CHECK (
        (state = 'processed') = (processed_at IS NOT NULL))
);

-- The reconciler's work list: pending deliveries by due time. Partial, so it stays small
-- however many processed deliveries accumulate.
CREATE INDEX webhook_inbox_due_idx ON webhook_inbox (next_attempt_at, id)
    WHERE state = 'pending';
-- Reports and purges: deliveries over a period of receipt.
CREATE INDEX webhook_inbox_received_at_idx ON webhook_inbox (received_at);

COMMENT ON TABLE webhook_inbox IS
    'Every notice iamport sent to POST /webhooks/iamport, stored before it is acted on so that '
    'none is lost. The body is unverified (anyone who reaches the endpoint can send one) and is '
    'only a hint: processing re-fetches the payment from iamport and applies iamport''s answer, '
    'never the body.';
COMMENT ON COLUMN webhook_inbox.id IS 'Internal key; increases with the time of receipt.';
COMMENT ON COLUMN webhook_inbox.received_at IS 'When the gateway stored the delivery.';
COMMENT ON COLUMN webhook_inbox.source_ip IS
    'Client address the WEBHOOK_ALLOWED_IPS allowlist judged; NULL if unknown.';
COMMENT ON COLUMN webhook_inbox.content_type IS 'Content-Type header as received; NULL if none.';
COMMENT ON COLUMN webhook_inbox.body IS
    'The request body as received (at most 16 KiB). Unverified: never trust what it says.';
COMMENT ON COLUMN webhook_inbox.imp_uid IS
    'imp_uid the body names (unverified hint); the payment fetched from iamport to process it.';
COMMENT ON COLUMN webhook_inbox.merchant_uid IS
    'merchant_uid the body names (unverified hint; the order is taken from iamport''s answer).';
COMMENT ON COLUMN webhook_inbox.claimed_status IS
    'Status the body claims (unverified hint; iamport''s current status is what is applied).';
COMMENT ON COLUMN webhook_inbox.state IS
    'pending (waiting to be processed or retried), processed (iamport''s state applied, or '
    'nothing to apply), failed (retried the maximum number of times; an operator must look).';
COMMENT ON COLUMN webhook_inbox.attempts IS
    'Processing attempts so far (each claim by a worker counts one).';
COMMENT ON COLUMN webhook_inbox.next_attempt_at IS
    'While pending: when a worker may claim it next (retry backoff, or the end of the lease of '
    'the worker processing it now).';
COMMENT ON COLUMN webhook_inbox.last_error IS 'Why the last processing attempt failed.';
COMMENT ON COLUMN webhook_inbox.outcome IS
    'What processing came to: applied, unchanged, needs_review, unknown_order, unknown_payment.';
COMMENT ON COLUMN webhook_inbox.processed_at IS 'When it was processed; NULL unless processed.';

-- Orders awaiting a deposit, or with a payment attempt still open, are re-fetched from iamport
-- by the reconciler (deposit notices do get lost). Existing orders are due at once.
ALTER TABLE orders ADD COLUMN next_reconcile_at timestamptz NOT NULL DEFAULT now();

-- The reconciler's claim of orders awaiting deposit, by due time. Partial, so it holds only
-- those orders. (Orders with an open attempt are found through payment_attempts_open_idx.)
CREATE INDEX orders_awaiting_deposit_reconcile_idx ON orders (next_reconcile_at, id)
    WHERE status = 'awaiting_deposit';

COMMENT ON COLUMN orders.next_reconcile_at IS
    'When the reconciler may look at the order next, if it is awaiting deposit or has an open '
    'payment attempt: the end of the lease of the reconciler that claimed it last.';
