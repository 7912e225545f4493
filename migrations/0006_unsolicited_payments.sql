-- Payments the gateway did not start (SPEC §5): a record iamport reports for one of our
-- merchant_uids that moved no money and that no call of ours made (an unpaid virtual account
-- opened through iamport's browser SDK by someone who knows the merchant_uid, a failed checkout)
-- is kept with the order for operators but moves nothing. Once a call of ours vouches for it
-- (`complete` by the order's own caller) or it takes money, it is judged like any other.
ALTER TABLE payments ADD COLUMN unsolicited boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN payments.unsolicited IS
    'True while the payment moved no money and no call of ours started or vouched for it: '
    'it changes nothing of its order (no awaiting_deposit, no expiry, no review).';

-- Flagged for operators: the orders that hold such a payment.
CREATE OR REPLACE VIEW reporting.unsolicited_payments AS
SELECT o.merchant_uid, p.imp_uid, p.status, p.pay_method, p.amount, o.amount AS order_amount,
       p.created_at, p.updated_at
FROM payments p JOIN orders o ON o.id = p.order_id
WHERE p.unsolicited;

COMMENT ON VIEW reporting.unsolicited_payments IS
    'Payments of our orders that no call of ours started and that moved no money (a third party '
    'may have opened them): for an operator to look at; they change nothing by themselves.';
COMMENT ON COLUMN reporting.unsolicited_payments.merchant_uid IS 'The order it was reported for.';
COMMENT ON COLUMN reporting.unsolicited_payments.imp_uid IS 'iamport''s id of the payment.';
COMMENT ON COLUMN reporting.unsolicited_payments.status IS 'iamport''s status: ready, failed, cancelled.';
COMMENT ON COLUMN reporting.unsolicited_payments.pay_method IS 'How it was to be paid (vbank, card, ...).';
COMMENT ON COLUMN reporting.unsolicited_payments.amount IS 'Its amount, whole won.';
COMMENT ON COLUMN reporting.unsolicited_payments.order_amount IS 'The order''s amount, whole won.';
COMMENT ON COLUMN reporting.unsolicited_payments.created_at IS 'When the gateway first stored it.';
COMMENT ON COLUMN reporting.unsolicited_payments.updated_at IS 'When the gateway last rewrote it.';
-- dashboard_reader reads it through the default privileges of 0004_reporting.sql.
