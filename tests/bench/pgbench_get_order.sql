-- pgbench script: what GET /v1/orders/{merchant_uid} asks of PostgreSQL (service/api/orders.cpp
-- get_order): one read in autocommit, the order joined with its payments. {{mg_… ARGS}} is the
-- statement of that name in db/*.cpp with $1, $2, … replaced by ARGS (tests/bench/statements.py).
-- The API key behind the request is cached by the gateway (API_KEY_CACHE_SECONDS), so its lookup
-- is not part of a request.
--
-- Variables from bench.py (-D): get_base, get_orders (merchant_uids get_base+1 .. +get_orders).
\set uid :get_base + random(1, :get_orders)
{{mg_find_order_with_payments :uid}};
