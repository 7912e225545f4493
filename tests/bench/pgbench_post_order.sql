-- pgbench script: what POST /v1/orders with an Idempotency-Key asks of PostgreSQL
-- (service/api/api.cpp with_idempotency, service/api/orders.cpp create_order), as the gateway
-- runs it: the key claimed by one insert in autocommit; then one transaction that inserts the
-- order and its first event and stores the response under the key's claim. The gateway sends
-- BEGIN with the order's insert and the event with the response, in pipelines (4 round trips);
-- pgbench sends each statement by itself (6), as \gset cannot be used in a pipeline. {{mg_… ARGS}} is the statement of that name in
-- db/*.cpp with $1, $2, … replaced by ARGS (tests/bench/statements.py). Parameters the gateway
-- sends as NULL are written NULL; the tax-free part is 0, as for an order that names none. The
-- API key is cached by the gateway, so its lookup is not part of a request.
--
-- Variables from bench.py (-D): post_base (a new number for every run), n (0), scope (the bench
-- key's idempotency scope), hash (a request fingerprint), lock_seconds, name, currency, secret
-- (a client secret's shape), status, cause, created (201), body (a real response body of the
-- gateway), content_type.
\set n :n + 1
\set uid :post_base + :client_id * 1000000000 + :n
\set amount 1000 + :n % 100000
{{mg_insert_idempotency_key :scope :uid :hash :lock_seconds}} \gset idempotency_
BEGIN;
{{mg_insert_order :uid :name :amount :currency :secret NULL NULL NULL NULL NULL NULL 0}} \gset order_
{{mg_append_order_event :order_id NULL :status :cause NULL NULL}};
{{mg_complete_idempotency_key :scope :uid :created :body :content_type :idempotency_claim}};
COMMIT;
