-- 0004_reporting: the `reporting` schema, the stable interface for dashboards, and the role
-- `dashboard_reader` that may read it and nothing else (SPEC §8).
-- Applied by `merchant-gateway migrate` inside one transaction. Forward-only: never edit this
-- file once applied anywhere; add 0005_… instead.
--
-- Dashboards read views, never tables: a table may change shape in a later migration, a view's
-- columns stay. The views run with the rights of their owner (the migrating user), so
-- dashboard_reader needs no right on any table; what a view leaves out cannot be read.
-- Left out everywhere: client secrets, API keys, idempotency records, raw webhook bodies and
-- source addresses, iamport's raw Payment objects, the storefront's custom_data and free-text
-- cancel reasons. Buyer contact data appears only masked.
--
-- Money is bigint won, as in 0001 (sum() of bigint is numeric, so every sum is cast back).
-- A shop's day is a day in Asia/Seoul (UTC+9, no daylight saving time), whatever the session's
-- TimeZone is.

CREATE SCHEMA reporting;

COMMENT ON SCHEMA reporting IS
    'Views for dashboards (Grafana): the stable interface to the gateway''s data. Readable by '
    'the role dashboard_reader, which can read nothing else. Columns are only ever added.';

-- Masking functions --------------------------------------------------------------------------
-- Pure functions of one value: NULL gives NULL (STRICT), '' gives ''. Lengths are counted in
-- characters, so Korean text is masked character by character. The SQL-bodied ones are parsed
-- here, once; the PL/pgSQL one fixes its search_path. So no caller's search_path can put a
-- function of its own between a view's unmasked value and the mask.

-- Keeps the first `keep_head` and the last `keep_tail` symbols of `value` and replaces every
-- other symbol with '*'. Separators (space - . / ( ) +) are not symbols and stay, so the shape
-- of a phone or account number remains; every other character (digits, full-width digits,
-- letters) is a symbol.
CREATE FUNCTION reporting.mask_symbols(value text, keep_head integer, keep_tail integer)
    RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog
AS $$
DECLARE
    total constant integer := char_length(regexp_replace(value, '[-+./() ]', '', 'g'));
    seen integer := 0;
    masked text := '';
    c text;
BEGIN
    FOREACH c IN ARRAY regexp_split_to_array(value, '') LOOP
        IF c ~ '^[-+./() ]$' THEN
            masked := masked || c;
        ELSE
            seen := seen + 1;
            masked := masked || CASE WHEN seen <= keep_head OR seen > total - keep_tail
                                     THEN c ELSE '*' END;
        END IF;
    END LOOP;
    RETURN masked;
END
$$;

COMMENT ON FUNCTION reporting.mask_symbols(text, integer, integer) IS
    'Keeps the first keep_head and the last keep_tail symbols and replaces the others with *; '
    'separators (space - . / ( ) +) stay. mask_symbols(''010-1234-5678'', 3, 4) = '
    '''010-****-5678''.';

-- A person's name: first and last character, '*' between (홍길동 → 홍*동, 남궁민수 → 남**수);
-- two characters keep the first (홍길 → 홍*); one character is '*'.
CREATE FUNCTION reporting.mask_name(name text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE
        WHEN char_length(name) <= 1 THEN repeat('*', char_length(name))
        WHEN char_length(name) = 2 THEN left(name, 1) || '*'
        ELSE left(name, 1) || repeat('*', char_length(name) - 2) || right(name, 1)
    END;

COMMENT ON FUNCTION reporting.mask_name(text) IS
    'Masks a person''s name: 홍길동 → 홍*동, 남궁민수 → 남**수, 홍길 → 홍*, 홍 → *.';

-- A phone number: the area code or mobile prefix and the last four digits stay
-- (010-1234-5678 → 010-****-5678, 02-1234-5678 → 02-****-5678, 01012345678 → 010****5678).
-- The prefix is the first group when the number is written in groups, else 02 (Seoul) or the
-- first three digits; at least three digits are always masked. Fewer than eight symbols is no
-- phone number we know how to read: everything is masked.
CREATE FUNCTION reporting.mask_phone(tel text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE
        WHEN char_length(regexp_replace(tel, '[-+./() ]', '', 'g')) < 8
            THEN reporting.mask_symbols(tel, 0, 0)
        ELSE reporting.mask_symbols(
            tel,
            least(
                coalesce(
                    char_length(substring(tel FROM '^[+(]?([^-+./() ]+)[-+./() ]')),
                    CASE WHEN regexp_replace(tel, '[-+./() ]', '', 'g') LIKE '02%' THEN 2
                         ELSE 3 END),
                char_length(regexp_replace(tel, '[-+./() ]', '', 'g')) - 7),
            4)
    END;

COMMENT ON FUNCTION reporting.mask_phone(text) IS
    'Masks a phone number, keeping its prefix and last four digits: 010-1234-5678 → '
    '010-****-5678, 02-1234-5678 → 02-****-5678; fewer than 8 digits are all masked.';

-- An e-mail address: the first character of the local part, then '***' whatever its length,
-- then the domain (hong@example.com → h***@example.com). A local part of one character is
-- all '***'; a value without '@' is masked like a local part.
CREATE FUNCTION reporting.mask_email(email text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE
        WHEN email = '' THEN ''
        WHEN strpos(email, '@') = 0
            THEN CASE WHEN char_length(email) = 1 THEN '***' ELSE left(email, 1) || '***' END
        ELSE CASE WHEN char_length(substring(email FROM '^(.*)@')) <= 1 THEN '***'
                  ELSE left(email, 1) || '***' END
             || '@' || substring(email FROM '@([^@]*)$')
    END;

COMMENT ON FUNCTION reporting.mask_email(text) IS
    'Masks an e-mail address: hong@example.com → h***@example.com, a@example.com → '
    '***@example.com.';

-- A postal address: its first word only (the province or metropolitan city), then '***'
-- (서울특별시 강남구 테헤란로 123 → 서울특별시 ***). One word alone is '***'.
CREATE FUNCTION reporting.mask_address(addr text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE
        WHEN btrim(addr) = '' THEN ''
        WHEN btrim(addr) !~ '\s' THEN '***'
        ELSE substring(btrim(addr) FROM '^\S+') || ' ***'
    END;

COMMENT ON FUNCTION reporting.mask_address(text) IS
    'Masks a postal address to its first word: 서울특별시 강남구 테헤란로 123 → 서울특별시 ***.';

-- A postcode: the first three characters stay (a district, 06236 → 062**); three or fewer are
-- all masked.
CREATE FUNCTION reporting.mask_postcode(postcode text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE
        WHEN char_length(regexp_replace(postcode, '[-+./() ]', '', 'g')) <= 3
            THEN reporting.mask_symbols(postcode, 0, 0)
        ELSE reporting.mask_symbols(postcode, 3, 0)
    END;

COMMENT ON FUNCTION reporting.mask_postcode(text) IS
    'Masks a postcode to its first three characters: 06236 → 062**, 135-080 → 135-***.';

-- A bank account number: the last four digits stay (56211102345678 → **********5678); fewer
-- than eight symbols are all masked.
CREATE FUNCTION reporting.mask_account(account text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE
        WHEN char_length(regexp_replace(account, '[-+./() ]', '', 'g')) < 8
            THEN reporting.mask_symbols(account, 0, 0)
        ELSE reporting.mask_symbols(account, 0, 4)
    END;

COMMENT ON FUNCTION reporting.mask_account(text) IS
    'Masks a bank account number to its last four digits: 562-111-02345678 → '
    '***-***-****5678.';

-- Views run these functions with the reader's own rights, so it needs EXECUTE on them; it is
-- granted to dashboard_reader below instead of to everyone.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA reporting FROM PUBLIC;

-- Views ----------------------------------------------------------------------------------------
-- security_invoker = false (the default, written out): a view reads the tables with its
-- owner's rights. No view filters rows to hide them, so none needs security_barrier.

CREATE VIEW reporting.daily_sales WITH (security_invoker = false) AS
WITH counted AS (
    -- Payments that took money: iamport says paid (partial cancels included) or cancelled,
    -- and it has a payment time. Not ready (a vbank awaiting deposit), not failed, not a vbank
    -- cancelled before any deposit (cancelled with no paid_at). Won only. Whatever the order's
    -- status: a payment iamport took for an order in needs_review is money taken until refunded.
    SELECT p.id,
           coalesce(p.pay_method, 'unknown') AS pay_method,
           p.amount,
           p.paid_at,
           p.cancel_amount,
           coalesce(p.cancelled_at, p.updated_at) AS last_cancel_seen_at
    FROM public.payments p
    WHERE p.status IN ('paid', 'cancelled')
      AND p.paid_at IS NOT NULL
      AND coalesce(p.currency, 'KRW') = 'KRW'
),
movements AS (
    SELECT k.paid_at AS at, k.pay_method, k.amount AS gross, 0::bigint AS cancelled,
           1 AS paid_count, 0 AS cancel_count
    FROM counted k
    UNION ALL
    -- Each refund on the day it happened, by the cancellation's own time.
    SELECT coalesce(c.cancelled_at, k.last_cancel_seen_at), k.pay_method, 0, c.amount, 0, 1
    FROM counted k
    JOIN public.payment_cancellations c ON c.payment_id = k.id
    UNION ALL
    -- iamport's cancel_amount beyond its cancel_history (a cancel that came with no history
    -- entry): on the payment's cancellation time, else when the gateway last rewrote it.
    SELECT k.last_cancel_seen_at, k.pay_method, 0, k.cancel_amount - h.total, 0, 1
    FROM counted k
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(c.amount), 0)::bigint AS total
        FROM public.payment_cancellations c
        WHERE c.payment_id = k.id
    ) h
    WHERE k.cancel_amount > h.total
)
SELECT (m.at AT TIME ZONE 'Asia/Seoul')::date AS day,
       m.pay_method,
       sum(m.gross)::bigint AS gross,
       sum(m.cancelled)::bigint AS cancelled,
       (sum(m.gross) - sum(m.cancelled))::bigint AS net,
       sum(m.paid_count)::bigint AS paid_count,
       sum(m.cancel_count)::bigint AS cancel_count
FROM movements m
GROUP BY 1, 2;

COMMENT ON VIEW reporting.daily_sales IS
    'Sales per shop day (Asia/Seoul) and pay method. A payment counts when iamport reports it '
    'paid or cancelled and it has a payment time (paid, partially cancelled, cancelled after '
    'being paid); ready (vbank awaiting deposit), failed, and vbanks cancelled before any '
    'deposit never count; nor does a payment in another currency than KRW. A payment of an '
    'order in needs_review counts (iamport took the money; stuck_orders lists the order). '
    'Its amount is gross on the day it was paid; each refund is cancelled '
    'on the day of the refund itself, so a refund on a later day lowers that later day''s net. '
    'One row per day and pay method with any payment or refund. Whole won (bigint).';
COMMENT ON COLUMN reporting.daily_sales.day IS 'The day in Asia/Seoul time.';
COMMENT ON COLUMN reporting.daily_sales.pay_method IS
    'iamport''s pay_method (point for Benepia, vbank, card, ...); unknown when iamport gave none.';
COMMENT ON COLUMN reporting.daily_sales.gross IS
    'Amounts of the payments paid that day, in won, whatever was refunded of them later.';
COMMENT ON COLUMN reporting.daily_sales.cancelled IS
    'Amounts refunded that day (full and partial, of payments paid on any day), in won: the '
    'cancel_history entries by their own time; a cancel_amount that iamport reported without '
    'a history entry counts on the payment''s cancellation time (else when the gateway saw it).';
COMMENT ON COLUMN reporting.daily_sales.net IS 'gross - cancelled, in won; negative on a day of refunds only.';
COMMENT ON COLUMN reporting.daily_sales.paid_count IS 'Payments paid that day.';
COMMENT ON COLUMN reporting.daily_sales.cancel_count IS 'Refunds made that day (each partial one counts).';

CREATE VIEW reporting.orders_by_status WITH (security_invoker = false) AS
SELECT coalesce(s.status, o.status) AS status,
       count(o.id) AS orders,
       coalesce(sum(o.amount), 0)::bigint AS amount
FROM (VALUES (1, 'pending'), (2, 'awaiting_deposit'), (3, 'paid'), (4, 'partially_cancelled'),
             (5, 'cancelled'), (6, 'expired'), (7, 'needs_review')) AS s (position, status)
FULL JOIN public.orders o ON o.status = s.status
GROUP BY s.position, coalesce(s.status, o.status)
ORDER BY s.position NULLS LAST, 1;

COMMENT ON VIEW reporting.orders_by_status IS
    'Every order status with how many orders are in it now and their amounts; a status with no '
    'orders has a row of zeros. In the order of the order life cycle.';
COMMENT ON COLUMN reporting.orders_by_status.status IS
    'pending, awaiting_deposit, paid, partially_cancelled, cancelled, expired, needs_review.';
COMMENT ON COLUMN reporting.orders_by_status.orders IS 'Orders in that status.';
COMMENT ON COLUMN reporting.orders_by_status.amount IS
    'Sum of those orders'' amounts (what each order asks to be paid), in won.';

CREATE VIEW reporting.stuck_orders WITH (security_invoker = false) AS
SELECT o.merchant_uid, o.status, o.amount,
       coalesce((SELECT max(e.created_at)
                 FROM public.order_events e
                 WHERE e.order_id = o.id AND e.to_status = 'needs_review'),
                o.updated_at) AS since,
       'needs_review'::text AS reason
FROM public.orders o
WHERE o.status = 'needs_review'
UNION ALL
SELECT o.merchant_uid, o.status, o.amount, v.due, 'vbank_overdue'
FROM public.orders o
JOIN LATERAL (
    SELECT max(p.vbank_date) AS due
    FROM public.payments p
    WHERE p.order_id = o.id AND p.status = 'ready' AND p.vbank_date IS NOT NULL
) v ON v.due < now()
WHERE o.status = 'awaiting_deposit'
UNION ALL
SELECT o.merchant_uid, o.status, o.amount, a.created_at, 'payment_outcome_unknown'
FROM public.payment_attempts a
JOIN public.orders o ON o.id = a.order_id
WHERE a.state IN ('unknown', 'in_flight') AND a.created_at < now() - interval '5 minutes';

COMMENT ON VIEW reporting.stuck_orders IS
    'Orders that need a person or are overdue, one row per order and reason: needs_review '
    '(iamport''s data did not match the order; never marked paid until someone looks), '
    'vbank_overdue (awaiting a deposit past the virtual account''s due time; the reconciler '
    'normally expires these within RECONCILE_INTERVAL, so a row that stays means it does not), '
    'payment_outcome_unknown (a call to iamport made over 5 minutes ago whose outcome is still '
    'unknown, or that is still in flight; the reconciler normally settles these within minutes).';
COMMENT ON COLUMN reporting.stuck_orders.merchant_uid IS 'The order.';
COMMENT ON COLUMN reporting.stuck_orders.status IS 'The order''s status now.';
COMMENT ON COLUMN reporting.stuck_orders.amount IS 'The order''s amount, in won.';
COMMENT ON COLUMN reporting.stuck_orders.since IS
    'needs_review: when the order was moved there; vbank_overdue: the deposit due time; '
    'payment_outcome_unknown: when the call was made.';
COMMENT ON COLUMN reporting.stuck_orders.reason IS
    'needs_review, vbank_overdue or payment_outcome_unknown.';

CREATE VIEW reporting.webhook_health WITH (security_invoker = false) AS
SELECT date_trunc('hour', w.received_at, 'Asia/Seoul') AS hour,
       count(*) AS received,
       count(*) FILTER (WHERE w.state = 'processed') AS processed,
       count(*) FILTER (WHERE w.state = 'pending') AS pending,
       count(*) FILTER (WHERE w.state = 'failed') AS failed,
       count(*) FILTER (WHERE w.outcome = 'needs_review') AS needs_review,
       count(*) FILTER (WHERE w.outcome IN ('unknown_order', 'unknown_payment')) AS unmatched,
       count(*) FILTER (WHERE w.attempts > 1) AS retried,
       round(1000 * extract(epoch FROM percentile_disc(0.95) WITHIN GROUP (
           ORDER BY w.processed_at - w.received_at)))::bigint AS p95_processing_ms,
       round(1000 * extract(epoch FROM max(w.processed_at - w.received_at)))::bigint
           AS max_processing_ms
FROM public.webhook_inbox w
GROUP BY 1;

COMMENT ON VIEW reporting.webhook_health IS
    'iamport webhook deliveries per hour of receipt, by what became of them (their state now). '
    'No body, address or content of any delivery. One row per hour with any delivery.';
COMMENT ON COLUMN reporting.webhook_health.hour IS 'Start of the hour the deliveries were received.';
COMMENT ON COLUMN reporting.webhook_health.received IS 'Deliveries received in that hour.';
COMMENT ON COLUMN reporting.webhook_health.processed IS
    'Of those, processed (iamport''s state applied, or nothing to apply).';
COMMENT ON COLUMN reporting.webhook_health.pending IS
    'Of those, still waiting to be processed or retried.';
COMMENT ON COLUMN reporting.webhook_health.failed IS
    'Of those, given up after WEBHOOK_MAX_ATTEMPTS attempts: an operator must look.';
COMMENT ON COLUMN reporting.webhook_health.needs_review IS
    'Of those, processed into needs_review (iamport''s payment did not match its order).';
COMMENT ON COLUMN reporting.webhook_health.unmatched IS
    'Of those, processed but naming a payment iamport does not know or an order we do not '
    'have (strays or forgeries).';
COMMENT ON COLUMN reporting.webhook_health.retried IS 'Of those, processed more than once (iamport or the database failed first).';
COMMENT ON COLUMN reporting.webhook_health.p95_processing_ms IS
    'Of the processed ones, 95th percentile of the time from receipt to processing, in ms; '
    'NULL when none was processed.';
COMMENT ON COLUMN reporting.webhook_health.max_processing_ms IS
    'Of the processed ones, the longest time from receipt to processing, in ms; NULL when none.';

CREATE VIEW reporting.orders WITH (security_invoker = false) AS
SELECT o.merchant_uid,
       o.name,
       o.amount,
       o.currency,
       o.status,
       reporting.mask_name(o.buyer_name) AS buyer_name_masked,
       reporting.mask_email(o.buyer_email) AS buyer_email_masked,
       reporting.mask_phone(o.buyer_tel) AS buyer_tel_masked,
       reporting.mask_address(o.buyer_addr) AS buyer_addr_masked,
       reporting.mask_postcode(o.buyer_postcode) AS buyer_postcode_masked,
       o.created_at,
       o.updated_at
FROM public.orders o;

COMMENT ON VIEW reporting.orders IS
    'Orders without their secrets and with buyer contact data masked. Left out: client_secret '
    '(a credential), custom_data (any JSON the storefront attached, possibly personal data).';
COMMENT ON COLUMN reporting.orders.merchant_uid IS 'The order''s public identifier.';
COMMENT ON COLUMN reporting.orders.name IS 'Product or order name.';
COMMENT ON COLUMN reporting.orders.amount IS 'Amount to pay, in won.';
COMMENT ON COLUMN reporting.orders.currency IS 'KRW.';
COMMENT ON COLUMN reporting.orders.status IS 'The order''s status (see orders_by_status).';
COMMENT ON COLUMN reporting.orders.buyer_name_masked IS 'Buyer name masked by mask_name: 홍*동.';
COMMENT ON COLUMN reporting.orders.buyer_email_masked IS
    'Buyer e-mail masked by mask_email: h***@example.com.';
COMMENT ON COLUMN reporting.orders.buyer_tel_masked IS
    'Buyer phone masked by mask_phone: 010-****-5678.';
COMMENT ON COLUMN reporting.orders.buyer_addr_masked IS
    'Buyer address masked by mask_address to its first word: 서울특별시 ***.';
COMMENT ON COLUMN reporting.orders.buyer_postcode_masked IS
    'Buyer postcode masked by mask_postcode: 062**.';
COMMENT ON COLUMN reporting.orders.created_at IS 'When the order was created.';
COMMENT ON COLUMN reporting.orders.updated_at IS 'Last change of the order.';

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
       p.updated_at
FROM public.payments p
JOIN public.orders o ON o.id = p.order_id;

COMMENT ON VIEW reporting.payments IS
    'iamport payments as the gateway last fetched them, without iamport''s raw Payment object '
    '(it holds buyer data). The virtual account number identifies one buyer''s deposit and its '
    'holder may be a person, so both are masked; receipt URLs (a receipt shows the buyer) and '
    'free-text cancel reasons are left out.';
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

-- The role ---------------------------------------------------------------------------------
-- Roles belong to the whole cluster, and every database of it may be migrating at this very
-- moment: a concurrent CREATE ROLE either sees the role (duplicate_object) or collides on the
-- unique index of role names once the other transaction commits (unique_violation). Either
-- way the role now exists. A migrating user without CREATEROLE leaves the role to an
-- administrator and says exactly what to run; the migration itself must not fail for that.
-- Nothing is granted on the tables: PostgreSQL grants PUBLIC no right on tables, and since 15
-- no CREATE on schema public, so a role granted nothing below can read nothing but these views.
DO $$
DECLARE
    admin_steps constant text := format(
        'CREATE ROLE dashboard_reader NOLOGIN; then, connected to database %I: '
        'GRANT USAGE ON SCHEMA reporting TO dashboard_reader; '
        'GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO dashboard_reader; '
        'GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA reporting TO dashboard_reader; '
        'ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA reporting '
        'GRANT SELECT ON TABLES TO dashboard_reader; '
        'ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA reporting '
        'GRANT EXECUTE ON FUNCTIONS TO dashboard_reader;',
        current_database(), current_user, current_user);
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'dashboard_reader') THEN
        BEGIN
            CREATE ROLE dashboard_reader NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by the migration of another database
            WHEN insufficient_privilege THEN
                RAISE WARNING 'role dashboard_reader does not exist and % may not create roles: '
                    'the reporting views are in place but no dashboard can read them yet',
                    current_user
                    USING HINT = 'An administrator must run: ' || admin_steps;
                RETURN;
        END;
    END IF;
    GRANT USAGE ON SCHEMA reporting TO dashboard_reader;
    GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO dashboard_reader;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA reporting TO dashboard_reader;
    -- Views and functions later migrations add to reporting are readable without a grant each.
    ALTER DEFAULT PRIVILEGES IN SCHEMA reporting GRANT SELECT ON TABLES TO dashboard_reader;
    ALTER DEFAULT PRIVILEGES IN SCHEMA reporting GRANT EXECUTE ON FUNCTIONS TO dashboard_reader;
END
$$;
