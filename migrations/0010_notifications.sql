-- 0010_notifications: the gateway's own signed events to the shop's systems (SPEC §11). An event
-- is written in the transaction that changed the order (an outbox), with one delivery row per
-- endpoint that wants it; deliveries are claimed across instances with SKIP LOCKED and leases.

CREATE TABLE events (
    id          text PRIMARY KEY,
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    type        text NOT NULL,
    order_id    bigint NOT NULL REFERENCES orders (id),
    merchant_uid text NOT NULL,
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_seq_key UNIQUE (seq),
    CONSTRAINT events_id_format CHECK (id ~ '^evt_[A-Za-z0-9_-]{16,64}$'),
    CONSTRAINT events_type_known CHECK (type IN ('order.awaiting_deposit', 'order.paid',
        'order.partially_cancelled', 'order.cancelled', 'order.expired', 'order.needs_review',
        'order.review_decided', 'order.cash_receipt_issued', 'order.cash_receipt_cancelled')),
    CONSTRAINT events_data_is_object CHECK (jsonb_typeof(data) = 'object')
);
CREATE INDEX events_merchant_uid_idx ON events (merchant_uid, seq);
CREATE INDEX events_type_idx ON events (type, seq);

COMMENT ON TABLE events IS
    'Events sent to the shop''s own systems, written in the transaction of the change they tell '
    'of (an outbox). data is the order as GET shows it, without its client secret.';
COMMENT ON COLUMN events.id IS 'evt_ + random: the webhook-id of every delivery of the event.';
COMMENT ON COLUMN events.seq IS 'Increases with creation: the order of event lists.';
COMMENT ON COLUMN events.type IS 'order.paid, order.expired, ... (SPEC §11).';

CREATE TABLE webhook_endpoints (
    id                     text PRIMARY KEY,
    url                    text NOT NULL,
    event_types            text[] NOT NULL DEFAULT '{}',
    enabled                boolean NOT NULL DEFAULT true,
    description            text NULL,
    secret_sealed          text NOT NULL,
    previous_secret_sealed text NULL,
    previous_secret_until  timestamptz NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    deleted_at             timestamptz NULL,
    CONSTRAINT webhook_endpoints_id_format CHECK (id ~ '^we_[A-Za-z0-9_-]{16,64}$'),
    CONSTRAINT webhook_endpoints_secret_sealed CHECK (secret_sealed LIKE 'v1.%'),
    CONSTRAINT webhook_endpoints_previous_sealed CHECK (
        previous_secret_sealed IS NULL OR previous_secret_sealed LIKE 'v1.%')
);

COMMENT ON TABLE webhook_endpoints IS
    'Where the gateway sends its events. Signing secrets are sealed under GATEWAY_SECRET_KEY '
    '(AES-256-GCM); during a rotation the previous one also signs until previous_secret_until.';
COMMENT ON COLUMN webhook_endpoints.event_types IS 'The event types wanted; empty: all.';

CREATE TABLE event_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        text NOT NULL REFERENCES events (id),
    endpoint_id     text NOT NULL REFERENCES webhook_endpoints (id),
    state           text NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer NULL,
    last_error      text NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz NULL,
    CONSTRAINT event_deliveries_one_per_endpoint UNIQUE (event_id, endpoint_id),
    CONSTRAINT event_deliveries_state_known CHECK (state IN ('pending', 'delivered', 'failed'))
);
-- The senders' work list: due deliveries, soonest first. Partial, so it stays small.
CREATE INDEX event_deliveries_due_idx ON event_deliveries (next_attempt_at, id)
    WHERE state = 'pending';
CREATE INDEX event_deliveries_event_idx ON event_deliveries (event_id);

COMMENT ON TABLE event_deliveries IS
    'One event for one endpoint: pending until a 2xx answers it (delivered) or its retries run out '
    '(failed). A claim moves next_attempt_at past the attempt''s time (its lease), so an instance '
    'that dies mid-attempt leaves it to another.';

CREATE TABLE delivery_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      bigint NOT NULL REFERENCES event_deliveries (id),
    attempted_at     timestamptz NOT NULL DEFAULT now(),
    http_status      integer NULL,
    latency_ms       integer NOT NULL,
    error            text NULL,
    response_excerpt text NULL
);
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, id);
CREATE INDEX delivery_attempts_attempted_at_idx ON delivery_attempts (attempted_at);

COMMENT ON TABLE delivery_attempts IS
    'Every attempt to deliver: when, the HTTP status (NULL when none came), how long it took, what '
    'went wrong, and the first 512 bytes of the answer.';

CREATE VIEW reporting.notification_health WITH (security_invoker = false) AS
SELECT date_trunc('hour', a.attempted_at) AS hour,
       d.endpoint_id,
       count(*) FILTER (WHERE a.http_status BETWEEN 200 AND 299) AS sent,
       count(*) FILTER (WHERE a.http_status IS NULL OR a.http_status NOT BETWEEN 200 AND 299)
           AS failed,
       count(*) FILTER (WHERE a.id <> (SELECT min(f.id) FROM public.delivery_attempts f
                                       WHERE f.delivery_id = a.delivery_id)) AS retried,
       (percentile_disc(0.95) WITHIN GROUP (ORDER BY a.latency_ms))::bigint AS p95_latency_ms
FROM public.delivery_attempts a
JOIN public.event_deliveries d ON d.id = a.delivery_id
GROUP BY 1, 2;
COMMENT ON VIEW reporting.notification_health IS
    'Deliveries of the gateway''s events per hour and endpoint.';
COMMENT ON COLUMN reporting.notification_health.hour IS 'The hour of the attempts.';
COMMENT ON COLUMN reporting.notification_health.endpoint_id IS 'The endpoint (we_...).';
COMMENT ON COLUMN reporting.notification_health.sent IS 'Attempts answered 2xx.';
COMMENT ON COLUMN reporting.notification_health.failed IS
    'Attempts that failed (an error, a timeout, a redirect, a non-2xx answer).';
COMMENT ON COLUMN reporting.notification_health.retried IS 'Attempts that were retries.';
COMMENT ON COLUMN reporting.notification_health.p95_latency_ms IS
    '95th percentile of the attempts'' time, in milliseconds.';
