-- 0002_payments: iamport payments and their cancellations, and the gateway's payment attempts.
-- Applied by `merchant-gateway migrate` inside one transaction. Forward-only: never edit this
-- file once applied anywhere; add 0003_… instead.
--
-- Money is a bigint number of won, as in 0001. iamport reports times as UNIX seconds with 0 for
-- "has not happened"; here such a time is NULL.
-- No secret is stored by these tables: the Benepia password a buyer types goes to iamport and
-- nowhere else (SPEC §5), so no column may ever hold it.

CREATE TABLE payments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    imp_uid         text NOT NULL,
    order_id        bigint NOT NULL REFERENCES orders (id),
    merchant_uid    text NOT NULL,
    status          text NOT NULL,
    pay_method      text NULL,
    pg_provider     text NULL,
    pg_tid          text NULL,
    channel         text NULL,
    currency        text NULL,
    amount          bigint NOT NULL,
    cancel_amount   bigint NOT NULL DEFAULT 0,
    started_at      timestamptz NULL,
    paid_at         timestamptz NULL,
    failed_at       timestamptz NULL,
    cancelled_at    timestamptz NULL,
    vbank_code      text NULL,
    vbank_name      text NULL,
    vbank_num       text NULL,
    vbank_holder    text NULL,
    vbank_date      timestamptz NULL,
    vbank_issued_at timestamptz NULL,
    receipt_url     text NULL,
    fail_reason     text NULL,
    cancel_reason   text NULL,
    raw             jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_imp_uid_key UNIQUE (imp_uid),
    CONSTRAINT payments_imp_uid_present CHECK (imp_uid <> ''),
    CONSTRAINT payments_status_known CHECK (status IN ('ready', 'paid', 'cancelled', 'failed')),
    CONSTRAINT payments_amount_range CHECK (amount >= 0),
    CONSTRAINT payments_cancel_amount_range CHECK (cancel_amount >= 0 AND cancel_amount <= amount),
    CONSTRAINT payments_raw_is_object CHECK (jsonb_typeof(raw) = 'object')
);

-- An order's payments (order pages, list_payments_for_orders), oldest first.
CREATE INDEX payments_order_id_idx ON payments (order_id, id);
-- Reports: payments in a status over a period of payment time.
CREATE INDEX payments_status_paid_at_idx ON payments (status, paid_at);

COMMENT ON TABLE payments IS
    'One row per iamport payment (imp_uid): the last Payment object iamport returned for it, '
    'its fields as columns for dashboards and the whole object in raw. Rewritten whenever the '
    'gateway fetches the payment again (API call, webhook, reconciler, sync).';
COMMENT ON COLUMN payments.id IS 'Internal key; increases with the time the payment was first seen.';
COMMENT ON COLUMN payments.imp_uid IS 'iamport''s identifier of the payment.';
COMMENT ON COLUMN payments.order_id IS 'The order this payment pays (orders.id).';
COMMENT ON COLUMN payments.merchant_uid IS
    'merchant_uid as iamport reports it; normally the order''s merchant_uid.';
COMMENT ON COLUMN payments.status IS 'iamport''s status: ready, paid, cancelled or failed.';
COMMENT ON COLUMN payments.pay_method IS 'iamport''s pay_method (card, vbank, point, ...).';
COMMENT ON COLUMN payments.pg_provider IS 'Payment gateway that processed the payment.';
COMMENT ON COLUMN payments.pg_tid IS 'The payment gateway''s transaction id.';
COMMENT ON COLUMN payments.channel IS 'iamport''s channel (pc, mobile, api).';
COMMENT ON COLUMN payments.currency IS 'Currency as iamport reports it (KRW).';
COMMENT ON COLUMN payments.amount IS 'Amount of the payment in whole won (bigint; never fractional).';
COMMENT ON COLUMN payments.cancel_amount IS
    'Total cancelled (refunded) so far in whole won; between 0 and amount.';
COMMENT ON COLUMN payments.started_at IS 'When the payment started; NULL if iamport says 0.';
COMMENT ON COLUMN payments.paid_at IS 'When it was paid; NULL if not (iamport''s 0).';
COMMENT ON COLUMN payments.failed_at IS 'When it failed; NULL if it did not (iamport''s 0).';
COMMENT ON COLUMN payments.cancelled_at IS
    'When it was last cancelled; NULL if never (iamport''s 0).';
COMMENT ON COLUMN payments.vbank_code IS 'Virtual account: bank code.';
COMMENT ON COLUMN payments.vbank_name IS 'Virtual account: bank name.';
COMMENT ON COLUMN payments.vbank_num IS 'Virtual account: account number the buyer deposits to.';
COMMENT ON COLUMN payments.vbank_holder IS 'Virtual account: account holder shown to the buyer.';
COMMENT ON COLUMN payments.vbank_date IS
    'Virtual account: deposit due time; NULL for other methods (iamport''s 0).';
COMMENT ON COLUMN payments.vbank_issued_at IS
    'Virtual account: when it was issued; NULL for other methods (iamport''s 0).';
COMMENT ON COLUMN payments.receipt_url IS 'Receipt page of the payment gateway.';
COMMENT ON COLUMN payments.fail_reason IS 'Why the payment failed, as iamport reports it.';
COMMENT ON COLUMN payments.cancel_reason IS 'Reason of the last cancellation, as iamport reports it.';
COMMENT ON COLUMN payments.raw IS
    'iamport''s whole last Payment object, as received (buyer data inside: personal data).';
COMMENT ON COLUMN payments.created_at IS 'When the gateway first stored this payment.';
COMMENT ON COLUMN payments.updated_at IS 'When the gateway last rewrote the row from iamport.';

CREATE TABLE payment_cancellations (
    payment_id      bigint NOT NULL REFERENCES payments (id),
    ordinal         integer NOT NULL,
    pg_tid          text NOT NULL,
    amount          bigint NOT NULL,
    cancelled_at    timestamptz NULL,
    reason          text NOT NULL,
    receipt_url     text NULL,
    cancellation_id text NULL,
    PRIMARY KEY (payment_id, ordinal),
    CONSTRAINT payment_cancellations_ordinal_range CHECK (ordinal >= 0),
    CONSTRAINT payment_cancellations_amount_range CHECK (amount > 0)
);

COMMENT ON TABLE payment_cancellations IS
    'A payment''s cancel_history as iamport last reported it, one row per (partial) '
    'cancellation. Replaced as a whole whenever the payment row is rewritten.';
COMMENT ON COLUMN payment_cancellations.payment_id IS 'The cancelled payment (payments.id).';
COMMENT ON COLUMN payment_cancellations.ordinal IS
    'Position in iamport''s cancel_history, from 0 (oldest first).';
COMMENT ON COLUMN payment_cancellations.pg_tid IS 'The payment gateway''s id of the cancellation.';
COMMENT ON COLUMN payment_cancellations.amount IS 'Amount cancelled in whole won (> 0).';
COMMENT ON COLUMN payment_cancellations.cancelled_at IS
    'When it was cancelled; NULL if iamport says 0.';
COMMENT ON COLUMN payment_cancellations.reason IS 'Reason given for the cancellation.';
COMMENT ON COLUMN payment_cancellations.receipt_url IS 'Receipt page of the cancellation.';
COMMENT ON COLUMN payment_cancellations.cancellation_id IS 'iamport''s id of the cancellation.';

CREATE TABLE payment_attempts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id      bigint NOT NULL REFERENCES orders (id),
    kind          text NOT NULL,
    state         text NOT NULL DEFAULT 'in_flight',
    imp_uid       text NULL,
    amount        bigint NULL,
    request_id    text NULL,
    error_code    text NULL,
    error_message text NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payment_attempts_kind_known CHECK (kind IN ('benepia', 'vbank', 'vbank_update',
        'cancel')),
    CONSTRAINT payment_attempts_state_known CHECK (state IN ('in_flight', 'succeeded', 'failed',
        'unknown', 'resolved')),
    CONSTRAINT payment_attempts_amount_range CHECK (amount > 0)
);

-- At most one open attempt per order: the database itself refuses to start a second
-- money-moving call while one is in flight or its outcome is unknown.
CREATE UNIQUE INDEX payment_attempts_one_open_per_order ON payment_attempts (order_id)
    WHERE state IN ('in_flight', 'unknown');
-- An order's attempts, oldest first.
CREATE INDEX payment_attempts_order_id_idx ON payment_attempts (order_id, id);
-- The reconciler's work list: open attempts, oldest change first. Partial, so it stays small.
CREATE INDEX payment_attempts_open_idx ON payment_attempts (state, updated_at)
    WHERE state IN ('in_flight', 'unknown');

COMMENT ON TABLE payment_attempts IS
    'Every money-moving call the gateway makes to iamport (Benepia point payment, vbank '
    'issue/update, cancel), recorded before it is sent. An attempt whose answer was lost stays '
    'unknown until the reconciler settles it by re-fetching; it is never retried blindly. No '
    'credential of the buyer (e.g. the Benepia password) is ever stored here.';
COMMENT ON COLUMN payment_attempts.id IS 'Internal key; increases with creation order.';
COMMENT ON COLUMN payment_attempts.order_id IS 'The order the call is for (orders.id).';
COMMENT ON COLUMN payment_attempts.kind IS
    'benepia (point payment), vbank (issue a virtual account), vbank_update (change its amount '
    'or due date), cancel (full or partial refund).';
COMMENT ON COLUMN payment_attempts.state IS
    'in_flight (recorded, being sent), succeeded / failed (iamport answered), unknown (sent, '
    'answer lost; the reconciler settles it), resolved (an unknown one settled by re-fetching). '
    'At most one in_flight or unknown attempt per order.';
COMMENT ON COLUMN payment_attempts.imp_uid IS
    'iamport payment concerned: known beforehand for cancel and vbank_update, from the answer '
    'otherwise; NULL while unknown.';
COMMENT ON COLUMN payment_attempts.amount IS
    'Amount the call moves in whole won (> 0); NULL when the call has none (full cancel).';
COMMENT ON COLUMN payment_attempts.request_id IS
    'Id of the gateway request that made the call, to find its log lines.';
COMMENT ON COLUMN payment_attempts.error_code IS 'Why it failed or is unknown (gateway error code).';
COMMENT ON COLUMN payment_attempts.error_message IS
    'iamport''s or the transport''s message, as received (never contains credentials).';
COMMENT ON COLUMN payment_attempts.created_at IS 'When the attempt was recorded (before sending).';
COMMENT ON COLUMN payment_attempts.updated_at IS 'Last change of state.';
