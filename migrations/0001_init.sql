-- 0001_init: orders and their history, API keys, idempotency records.
-- Applied by `merchant-gateway migrate` inside one transaction. Forward-only: never edit this
-- file once applied anywhere; add 0002_… instead.
--
-- Money is a bigint number of won (KRW has no minor unit), never a floating-point or fractional
-- numeric. Timestamps are timestamptz; the API shows them as UNIX seconds.

CREATE TABLE orders (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_uid   text NOT NULL,
    name           text NOT NULL,
    amount         bigint NOT NULL,
    currency       text NOT NULL DEFAULT 'KRW',
    status         text NOT NULL DEFAULT 'pending',
    client_secret  text NOT NULL,
    buyer_name     text NULL,
    buyer_email    text NULL,
    buyer_tel      text NULL,
    buyer_addr     text NULL,
    buyer_postcode text NULL,
    custom_data    jsonb NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_merchant_uid_key UNIQUE (merchant_uid),
    CONSTRAINT orders_merchant_uid_format CHECK (merchant_uid ~ '^[A-Za-z0-9_-]{1,40}$'),
    CONSTRAINT orders_name_length CHECK (char_length(name) BETWEEN 1 AND 40),
    CONSTRAINT orders_amount_range CHECK (amount > 0 AND amount <= 1000000000000),
    CONSTRAINT orders_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT orders_status_known CHECK (status IN ('pending', 'awaiting_deposit', 'paid',
        'partially_cancelled', 'cancelled', 'expired', 'needs_review')),
    CONSTRAINT orders_client_secret_present CHECK (client_secret <> '')
);

-- The list API pages newest first by id (ids grow with creation time), optionally filtered by
-- status and by a created_at range.
CREATE INDEX orders_status_id_idx ON orders (status, id DESC);
CREATE INDEX orders_created_at_idx ON orders (created_at);

COMMENT ON TABLE orders IS
    'One row per order a storefront created through POST /v1/orders. status is the merchant''s '
    'view of the order; every change of it is recorded in order_events.';
COMMENT ON COLUMN orders.id IS 'Internal key; increases with creation order.';
COMMENT ON COLUMN orders.merchant_uid IS
    'The order''s public identifier, also sent to iamport as merchant_uid (1-40 of A-Za-z0-9_-).';
COMMENT ON COLUMN orders.name IS 'Product or order name shown to the buyer (1-40 characters).';
COMMENT ON COLUMN orders.amount IS
    'Amount to pay in whole won (bigint; never fractional). Follows vbank amount changes.';
COMMENT ON COLUMN orders.currency IS 'ISO 4217 code; KRW only for now.';
COMMENT ON COLUMN orders.status IS
    'pending (created or attempts failed), awaiting_deposit (vbank issued), paid, '
    'partially_cancelled, cancelled, expired (vbank due passed), needs_review (iamport''s data '
    'did not match the order; inspect before acting).';
COMMENT ON COLUMN orders.client_secret IS
    'Random secret that lets the buyer''s browser read and pay this one order. A credential: '
    'never expose it to dashboards.';
COMMENT ON COLUMN orders.buyer_name IS 'Buyer contact data (personal data; mask in reports).';
COMMENT ON COLUMN orders.buyer_email IS 'Buyer contact data (personal data; mask in reports).';
COMMENT ON COLUMN orders.buyer_tel IS 'Buyer contact data (personal data; mask in reports).';
COMMENT ON COLUMN orders.buyer_addr IS 'Buyer contact data (personal data; mask in reports).';
COMMENT ON COLUMN orders.buyer_postcode IS 'Buyer postcode (personal data; mask in reports).';
COMMENT ON COLUMN orders.custom_data IS 'Any JSON the storefront attached to the order.';
COMMENT ON COLUMN orders.created_at IS 'When the order was created.';
COMMENT ON COLUMN orders.updated_at IS 'Last change of the row (status, amount).';

CREATE TABLE order_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    bigint NOT NULL REFERENCES orders (id),
    from_status text NULL,
    to_status   text NOT NULL,
    cause       text NOT NULL,
    imp_uid     text NULL,
    details     jsonb NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT order_events_from_status_known CHECK (from_status IN ('pending',
        'awaiting_deposit', 'paid', 'partially_cancelled', 'cancelled', 'expired',
        'needs_review')),
    CONSTRAINT order_events_to_status_known CHECK (to_status IN ('pending', 'awaiting_deposit',
        'paid', 'partially_cancelled', 'cancelled', 'expired', 'needs_review')),
    CONSTRAINT order_events_cause_known CHECK (cause IN ('api', 'webhook', 'reconciler', 'sync'))
);

CREATE INDEX order_events_order_id_idx ON order_events (order_id, id);
CREATE INDEX order_events_created_at_idx ON order_events (created_at);

COMMENT ON TABLE order_events IS
    'Append-only history of order status changes, written in the same transaction as the '
    'change itself: the audit trail of every order.';
COMMENT ON COLUMN order_events.from_status IS 'Status before the change; NULL when the order was created.';
COMMENT ON COLUMN order_events.to_status IS 'Status after the change.';
COMMENT ON COLUMN order_events.cause IS
    'What made the change: api (a storefront or browser call), webhook (an iamport notice), '
    'reconciler (the background settler), sync (POST /v1/orders/{merchant_uid}/sync).';
COMMENT ON COLUMN order_events.imp_uid IS 'iamport payment the change came from, if any.';
COMMENT ON COLUMN order_events.details IS 'Context of the change (e.g. why an order needs review).';

CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL,
    key_hash     text NOT NULL,
    scopes       text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz NULL,
    last_used_at timestamptz NULL,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_key_hash_format CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT api_keys_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT api_keys_scopes_known CHECK (
        scopes <@ ARRAY['read', 'write', 'refund']::text[] AND array_position(scopes, NULL) IS NULL)
);

-- A name identifies one live key (api-key revoke --name); revoked keys keep their name.
CREATE UNIQUE INDEX api_keys_active_name_key ON api_keys (name) WHERE revoked_at IS NULL;

COMMENT ON TABLE api_keys IS
    'Keys of storefront servers (Authorization: Bearer). Only the SHA-256 of a key is stored; '
    'the key itself was shown once, when it was created.';
COMMENT ON COLUMN api_keys.name IS 'Operator-chosen label, unique among keys not revoked.';
COMMENT ON COLUMN api_keys.key_hash IS 'SHA-256 of the key, lowercase hex. Never the key.';
COMMENT ON COLUMN api_keys.scopes IS 'Granted scopes: read (GETs), write (orders, payments), refund (cancel).';
COMMENT ON COLUMN api_keys.revoked_at IS 'When the key was revoked; NULL while it is valid.';
COMMENT ON COLUMN api_keys.last_used_at IS 'Approximate time of last use (updated at most once a minute).';

CREATE TABLE idempotency_keys (
    scope                 text NOT NULL,
    key                   text NOT NULL,
    request_hash          text NOT NULL,
    state                 text NOT NULL,
    response_status       integer NULL,
    response_body         text NULL,
    response_content_type text NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    completed_at          timestamptz NULL,
    locked_until          timestamptz NULL,
    PRIMARY KEY (scope, key),
    CONSTRAINT idempotency_keys_key_length CHECK (char_length(key) BETWEEN 1 AND 255),
    CONSTRAINT idempotency_keys_state_known CHECK (state IN ('running', 'completed')),
    CONSTRAINT idempotency_keys_completed_has_response CHECK (
        (state = 'completed') = (response_status IS NOT NULL AND completed_at IS NOT NULL))
);

-- For purging records older than the replay window.
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

COMMENT ON TABLE idempotency_keys IS
    'Idempotency-Key records of POST/PATCH requests: a retry with the same key and body within '
    '24 h gets the stored response again instead of acting twice.';
COMMENT ON COLUMN idempotency_keys.scope IS 'Whose key it is (per API key), so callers cannot collide.';
COMMENT ON COLUMN idempotency_keys.key IS 'The Idempotency-Key header as sent (at most 255 characters).';
COMMENT ON COLUMN idempotency_keys.request_hash IS
    'Hash of the request (method, route, body); the same key with another request is refused.';
COMMENT ON COLUMN idempotency_keys.state IS 'running while the first request executes, then completed.';
COMMENT ON COLUMN idempotency_keys.response_body IS 'Stored response, replayed to retries.';
COMMENT ON COLUMN idempotency_keys.locked_until IS
    'While running: until when the request is presumed alive. Past it, a retry may take over '
    '(the instance that ran it died).';
