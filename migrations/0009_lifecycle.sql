-- 0009_lifecycle: what a shop runs on iamport besides taking money (SPEC §5): amounts registered
-- for browser checkouts, operators' review decisions, revoked virtual accounts, tax-free amounts
-- and cash receipts. Forward-only, like every migration.

-- Tax-free part of an order (food, books): whole won, 0 … amount.
ALTER TABLE orders ADD COLUMN tax_free bigint NOT NULL DEFAULT 0;
ALTER TABLE orders ADD CONSTRAINT orders_tax_free_range CHECK (tax_free >= 0 AND tax_free <= amount);
COMMENT ON COLUMN orders.tax_free IS
    'Tax-free part of the amount in whole won (0 … amount), sent to iamport with payments, '
    'cancels and cash receipts.';

-- The amount registered at iamport for a browser checkout (POST/PUT /payments/prepare): iamport
-- stops a payment window opened with any other amount.
ALTER TABLE orders ADD COLUMN registered_amount bigint NULL;
ALTER TABLE orders ADD COLUMN registered_at timestamptz NULL;
COMMENT ON COLUMN orders.registered_amount IS
    'Amount registered at iamport for browser checkouts (payments/prepare); NULL when never.';
COMMENT ON COLUMN orders.registered_at IS 'When the amount was last registered at iamport.';

-- Per payment: its tax-free part and how much of it our cancels refunded (iamport's Payment
-- object reports neither, so the gateway keeps what it sent).
ALTER TABLE payments ADD COLUMN tax_free bigint NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN tax_free_cancelled bigint NOT NULL DEFAULT 0;
ALTER TABLE payments ADD CONSTRAINT payments_tax_free_range
    CHECK (tax_free >= 0 AND tax_free_cancelled >= 0 AND tax_free_cancelled <= tax_free);
COMMENT ON COLUMN payments.tax_free IS
    'Tax-free part of the payment in whole won: the order''s when the payment was first stored.';
COMMENT ON COLUMN payments.tax_free_cancelled IS
    'Tax-free amount refunded by the gateway''s cancels of this payment, in whole won.';

-- A payment taken out of its order's reckoning: a duplicate refunded under
-- DUPLICATE_PAYMENT_POLICY=refund, or a payment an operator refunded by a review decision. It
-- neither settles its order nor is judged against it again.
ALTER TABLE payments ADD COLUMN set_aside text NULL;
ALTER TABLE payments ADD CONSTRAINT payments_set_aside_known
    CHECK (set_aside IN ('duplicate', 'refunded_by_operator'));
-- The reconciler's work list of duplicates to refund. Partial, so it stays small.
CREATE INDEX payments_set_aside_idx ON payments (order_id) WHERE set_aside IS NOT NULL;
COMMENT ON COLUMN payments.set_aside IS
    'NULL, or why the payment no longer counts for its order: duplicate (a second payment for an '
    'order already settled, refunded automatically) or refunded_by_operator (a review decision).';

-- Attempts: revoking a virtual account (DELETE /vbanks/{imp_uid}), and the tax-free part a cancel
-- sends, counted into payments.tax_free_cancelled once the cancel is known to have landed.
ALTER TABLE payment_attempts DROP CONSTRAINT payment_attempts_kind_known;
ALTER TABLE payment_attempts ADD CONSTRAINT payment_attempts_kind_known
    CHECK (kind IN ('benepia', 'vbank', 'vbank_update', 'vbank_revoke', 'cancel'));
ALTER TABLE payment_attempts ADD COLUMN tax_free bigint NULL;
ALTER TABLE payment_attempts ADD COLUMN prior_cancel_amount bigint NULL;
COMMENT ON COLUMN payment_attempts.tax_free IS
    'cancel: the tax-free part sent with it, in whole won.';
COMMENT ON COLUMN payment_attempts.prior_cancel_amount IS
    'cancel: the payment''s cancel_amount when the call was made, to tell whether it landed.';

-- Operators' decisions on orders in needs_review are events of their own cause, with who decided.
ALTER TABLE order_events DROP CONSTRAINT order_events_cause_known;
ALTER TABLE order_events ADD CONSTRAINT order_events_cause_known
    CHECK (cause IN ('api', 'webhook', 'reconciler', 'sync', 'operator'));
ALTER TABLE order_events ADD COLUMN actor text NULL;
COMMENT ON COLUMN order_events.actor IS
    'operator: the name of the API key that made the decision; NULL for other causes.';

ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_known;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_known CHECK (
    scopes <@ ARRAY['read', 'write', 'refund', 'review', 'admin']::text[]
    AND array_position(scopes, NULL) IS NULL);
COMMENT ON COLUMN api_keys.scopes IS
    'Granted scopes: read (GETs), write (orders, payments), refund (cancel), review (decisions '
    'on orders in needs_review), admin (notification endpoints, events, deliveries).';

-- Cash receipts for cash sales (virtual accounts). The identifier (a phone or business number)
-- is kept masked; while a request waits for the deposit it is also held sealed under
-- GATEWAY_SECRET_KEY (AES-256-GCM), and that copy is erased once iamport has it.
CREATE TABLE cash_receipts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id          bigint NOT NULL REFERENCES orders (id),
    imp_uid           text NULL,
    state             text NOT NULL,
    type              text NOT NULL,
    identifier_type   text NULL,
    identifier_masked text NOT NULL,
    identifier_sealed text NULL,
    amount            bigint NULL,
    tax_free          bigint NULL,
    apply_num         text NULL,
    receipt_url       text NULL,
    error_message     text NULL,
    issued_at         timestamptz NULL,
    cancelled_at      timestamptz NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cash_receipts_state_known CHECK (state IN ('requested', 'issuing', 'unknown',
        'issued', 'cancelled', 'failed', 'needs_operator')),
    CONSTRAINT cash_receipts_type_known CHECK (type IN ('personal', 'company')),
    CONSTRAINT cash_receipts_identifier_type_known CHECK (identifier_type IN ('phone',
        'business', 'taxcard', 'person')),
    CONSTRAINT cash_receipts_sealed_only_while_waiting CHECK (
        identifier_sealed IS NULL OR state IN ('requested', 'issuing', 'unknown'))
);

-- At most one receipt per order that is live or on its way.
CREATE UNIQUE INDEX cash_receipts_one_live_per_order ON cash_receipts (order_id)
    WHERE state IN ('requested', 'issuing', 'unknown', 'issued', 'needs_operator');
CREATE INDEX cash_receipts_order_id_idx ON cash_receipts (order_id, id);
-- The reconciler's work: requests waiting to be issued, and issues of unknown outcome.
CREATE INDEX cash_receipts_open_idx ON cash_receipts (updated_at)
    WHERE state IN ('requested', 'issuing', 'unknown');

COMMENT ON TABLE cash_receipts IS
    'Cash receipts (현금영수증) issued at iamport (POST /receipts/{imp_uid}) for an order''s '
    'virtual-account payment, one row per receipt over its life.';
COMMENT ON COLUMN cash_receipts.state IS
    'requested (waits for the deposit), issuing (call in flight), unknown (answer lost; the '
    'reconciler looks it up), issued, cancelled, failed (iamport refused), needs_operator (a '
    'partial refund left it for the wrong amount and no identifier was given to re-issue it).';
COMMENT ON COLUMN cash_receipts.type IS 'personal (income deduction) or company (expense proof).';
COMMENT ON COLUMN cash_receipts.identifier_masked IS
    'The identifier with all but its last four characters masked.';
COMMENT ON COLUMN cash_receipts.identifier_sealed IS
    'The identifier sealed under GATEWAY_SECRET_KEY while the request waits to be issued; NULL '
    'after.';
COMMENT ON COLUMN cash_receipts.amount IS 'The amount the receipt was issued for, whole won.';

-- Dashboards.
CREATE OR REPLACE VIEW reporting.cash_receipts WITH (security_invoker = false) AS
SELECT o.merchant_uid, r.imp_uid, r.state, r.type, r.identifier_type, r.identifier_masked,
       r.amount, r.tax_free, r.apply_num, r.issued_at, r.cancelled_at, r.created_at, r.updated_at
FROM public.cash_receipts r JOIN public.orders o ON o.id = r.order_id;
COMMENT ON VIEW reporting.cash_receipts IS
    'Cash receipts and their state; identifiers masked. needs_operator rows want a person.';
COMMENT ON COLUMN reporting.cash_receipts.merchant_uid IS 'The order the receipt is for.';
COMMENT ON COLUMN reporting.cash_receipts.imp_uid IS 'The payment it is issued for.';
COMMENT ON COLUMN reporting.cash_receipts.state IS
    'requested, issuing, unknown, issued, cancelled, failed or needs_operator.';
COMMENT ON COLUMN reporting.cash_receipts.type IS 'personal or company.';
COMMENT ON COLUMN reporting.cash_receipts.identifier_type IS 'phone, business, taxcard or person.';
COMMENT ON COLUMN reporting.cash_receipts.identifier_masked IS
    'The identifier with all but its last four characters masked.';
COMMENT ON COLUMN reporting.cash_receipts.amount IS 'Amount it was issued for, whole won.';
COMMENT ON COLUMN reporting.cash_receipts.tax_free IS 'Tax-free part of that amount, whole won.';
COMMENT ON COLUMN reporting.cash_receipts.apply_num IS 'The National Tax Service''s number.';
COMMENT ON COLUMN reporting.cash_receipts.issued_at IS 'When iamport issued it.';
COMMENT ON COLUMN reporting.cash_receipts.cancelled_at IS 'When it was cancelled.';
COMMENT ON COLUMN reporting.cash_receipts.created_at IS 'When it was requested.';
COMMENT ON COLUMN reporting.cash_receipts.updated_at IS 'Its last change.';

CREATE OR REPLACE VIEW reporting.review_decisions WITH (security_invoker = false) AS
SELECT o.merchant_uid, e.imp_uid, e.details ->> 'action' AS action, e.from_status,
       e.to_status, e.actor, (e.details ->> 'amount')::bigint AS amount, e.created_at
FROM public.order_events e JOIN public.orders o ON o.id = e.order_id
WHERE e.cause = 'operator';
COMMENT ON VIEW reporting.review_decisions IS
    'Operators'' decisions on orders in needs_review (refund or accept) and who made them; the '
    'free-text reasons stay in order_events.';
COMMENT ON COLUMN reporting.review_decisions.merchant_uid IS 'The order decided.';
COMMENT ON COLUMN reporting.review_decisions.imp_uid IS 'The payment the decision named.';
COMMENT ON COLUMN reporting.review_decisions.action IS 'refund or accept.';
COMMENT ON COLUMN reporting.review_decisions.from_status IS 'needs_review.';
COMMENT ON COLUMN reporting.review_decisions.to_status IS 'Where the decision left the order.';
COMMENT ON COLUMN reporting.review_decisions.actor IS 'The name of the API key that decided.';
COMMENT ON COLUMN reporting.review_decisions.amount IS
    'refund: the amount refunded; accept: the payment''s amount accepted (whole won).';
COMMENT ON COLUMN reporting.review_decisions.created_at IS 'When it was decided.';

DROP VIEW reporting.payments;
CREATE VIEW reporting.payments WITH (security_invoker = false) AS
SELECT p.imp_uid,
       p.merchant_uid,
       o.status AS order_status,
       p.status,
       p.pay_method,
       p.pg_provider,
       p.pg_tid,
       p.channel,
       p.currency,
       p.amount,
       p.cancel_amount,
       p.amount - p.cancel_amount AS net_amount,
       p.started_at,
       p.paid_at,
       p.failed_at,
       p.cancelled_at,
       p.vbank_code,
       p.vbank_name,
       reporting.mask_account(p.vbank_num) AS vbank_num_masked,
       reporting.mask_name(p.vbank_holder) AS vbank_holder_masked,
       p.vbank_date,
       p.vbank_issued_at,
       p.fail_reason,
       p.created_at,
       p.updated_at,
       p.tax_free,
       p.tax_free - p.tax_free_cancelled AS tax_free_balance,
       p.set_aside
FROM public.payments p
JOIN public.orders o ON o.id = p.order_id;
COMMENT ON VIEW reporting.payments IS
    'iamport payments as the gateway last fetched them, without iamport''s raw Payment object '
    '(it holds buyer data). The virtual account number identifies one buyer''s deposit and its '
    'holder may be a person, so both are masked; receipt URLs (a receipt shows the buyer) and '
    'free-text cancel reasons are left out. tax_free and its balance are the gateway''s own '
    'reckoning; set_aside names payments that no longer count for their order.';
COMMENT ON COLUMN reporting.payments.imp_uid IS 'iamport''s identifier of the payment.';
COMMENT ON COLUMN reporting.payments.merchant_uid IS 'The order paid (as iamport reports it).';
COMMENT ON COLUMN reporting.payments.order_status IS 'The status of the order it belongs to.';
COMMENT ON COLUMN reporting.payments.status IS 'iamport''s status: ready, paid, cancelled or failed.';
COMMENT ON COLUMN reporting.payments.pay_method IS 'iamport''s pay_method (point, vbank, card, ...).';
COMMENT ON COLUMN reporting.payments.pg_provider IS 'Payment gateway that processed it.';
COMMENT ON COLUMN reporting.payments.pg_tid IS 'The payment gateway''s transaction id.';
COMMENT ON COLUMN reporting.payments.channel IS 'iamport''s channel (pc, mobile, api).';
COMMENT ON COLUMN reporting.payments.currency IS 'Currency as iamport reports it.';
COMMENT ON COLUMN reporting.payments.amount IS 'Amount of the payment, in won.';
COMMENT ON COLUMN reporting.payments.cancel_amount IS 'Refunded so far, in won.';
COMMENT ON COLUMN reporting.payments.net_amount IS 'amount - cancel_amount, in won.';
COMMENT ON COLUMN reporting.payments.started_at IS 'When the payment started.';
COMMENT ON COLUMN reporting.payments.paid_at IS 'When it was paid; NULL if never.';
COMMENT ON COLUMN reporting.payments.failed_at IS 'When it failed; NULL if it did not.';
COMMENT ON COLUMN reporting.payments.cancelled_at IS 'When it was last cancelled; NULL if never.';
COMMENT ON COLUMN reporting.payments.vbank_code IS 'Virtual account: bank code.';
COMMENT ON COLUMN reporting.payments.vbank_name IS 'Virtual account: bank name.';
COMMENT ON COLUMN reporting.payments.vbank_num_masked IS
    'Virtual account number masked by mask_account to its last four digits.';
COMMENT ON COLUMN reporting.payments.vbank_holder_masked IS
    'Virtual account holder masked by mask_name.';
COMMENT ON COLUMN reporting.payments.vbank_date IS 'Virtual account: deposit due time.';
COMMENT ON COLUMN reporting.payments.vbank_issued_at IS 'Virtual account: when it was issued.';
COMMENT ON COLUMN reporting.payments.fail_reason IS 'Why it failed, as iamport reports it.';
COMMENT ON COLUMN reporting.payments.created_at IS 'When the gateway first stored it.';
COMMENT ON COLUMN reporting.payments.updated_at IS 'When the gateway last rewrote it from iamport.';
COMMENT ON COLUMN reporting.payments.tax_free IS 'Tax-free part of the payment, whole won.';
COMMENT ON COLUMN reporting.payments.tax_free_balance IS
    'Tax-free part not yet refunded by the gateway''s cancels, whole won.';
COMMENT ON COLUMN reporting.payments.set_aside IS
    'NULL, or why the payment no longer counts for its order (duplicate, refunded_by_operator).';
