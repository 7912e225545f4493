-- pgbench script: what one iamport deposit notice (`paid`) asks of PostgreSQL when the gateway
-- processes it at once (service/api/webhooks.cpp; service/payments/reconciler.cpp process_one and
-- process_delivery; service/payments/settlement.cpp apply_fresh and apply_payment;
-- service/payments/order_document.cpp emit_event): the notice stored in the inbox and then
-- claimed, each one statement in autocommit; then one transaction that applies iamport's record
-- of the payment to its order awaiting the deposit (lock
-- the order, read its payments and open attempts, store the payment, the status change with its
-- history row, the order's document for the event, the event, the delivery marked applied).
-- The re-fetch of the payment from iamport between the claim and the apply is the gateway's work,
-- not the database's. {{mg_… ARGS}} is the statement of that name in db/*.cpp with $1, $2, …
-- replaced by ARGS (tests/bench/statements.py). Parameters the gateway sends as NULL are NULL.
--
-- Each transaction takes its own order: bench.py copies the gateway's orders awaiting a deposit
-- (and their payment rows) to merchant_uids wh_base + 0 .. and runs pgbench with -t per_client,
-- so client c takes wh_base + c * per_client + 0 .. per_client - 1. The payment's imp_uid is that
-- number too, and the event's id `evt_pgbench_` and the number (the gateway's are iamport's and
-- `evt_` and a random token): the only expression added to a statement.
--
-- Variables from bench.py (-D): n (0), wh_base, per_client, body, content_type, source_ip,
-- claimed, lease, from_status, to_status, cause, event_type, event_data, outcome, and pay_* (the
-- payment record the gateway stored for one of its deliveries; those it stored NULL are written
-- NULL here by bench.py).
\set n :n + 1
\set uid :wh_base + :client_id * :per_client + :n - 1
{{mg_insert_delivery :body :content_type :source_ip :uid :uid :claimed}} \gset delivery_
{{mg_claim_delivery :delivery_id :lease}};
BEGIN;
{{mg_find_order_for_update :uid}} \gset order_
{{mg_list_payments :order_id}};
{{mg_list_open_attempts :order_id}};
{{mg_upsert_payment :uid :order_id :uid :pay_status :pay_pay_method :pay_pg_provider :pay_pg_tid :pay_channel :pay_currency :pay_amount :pay_cancel_amount :pay_started_at :pay_paid_at :pay_failed_at :pay_cancelled_at :pay_vbank_code :pay_vbank_name :pay_vbank_num :pay_vbank_holder :pay_vbank_date :pay_vbank_issued_at :pay_receipt_url :pay_fail_reason :pay_cancel_reason :pay_raw :pay_unsolicited :pay_tax_free}} \gset payment_
{{mg_delete_payment_cancellations :payment_id}};
{{mg_set_order_status :order_id :from_status :to_status :cause :uid NULL}};
{{mg_list_payments :order_id}};
{{mg_latest_cash_receipt :order_id}};
{{mg_insert_event 'evt_pgbench_'||:uid :event_type :order_id :uid :event_data}};
{{mg_mark_delivery_processed :delivery_id :outcome}};
COMMIT;
