-- Lost checkouts (SPEC §5): a pending order is looked up at iamport by merchant_uid on a schedule,
-- so that a browser checkout paid at iamport whose webhook and `complete` were both lost is found.
-- The reconciler claims pending orders by next_reconcile_at through this partial index.
CREATE INDEX orders_pending_lookup_idx ON orders (next_reconcile_at, id)
    WHERE status = 'pending';

COMMENT ON COLUMN orders.next_reconcile_at IS
    'When the reconciler may look at the order next: while awaiting deposit, with a payment '
    'attempt open, or pending for less than 48 hours since it was last acted on (the lost-checkout '
    'schedule: 60 s after creation, then doubling with the time since it was acted on, at most '
    '30 min apart). Also the end of the lease of the reconciler that claimed it last.';
