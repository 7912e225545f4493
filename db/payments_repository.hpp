// Payments (one row per iamport imp_uid, with its cancel_history in payment_cancellations) and
// payment attempts: every money-moving call the gateway makes to iamport, recorded before it
// is sent, so that a call whose outcome is unknown is never forgotten and never repeated blindly.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <pqxx/transaction>
#include <string>
#include <string_view>
#include <vector>

#include "db/async_connection.hpp"
#include "db/lifecycle_repository.hpp"
#include "service/domain/order.hpp"
#include "service/domain/payment.hpp"

namespace mg::db {

// Inserts the payment or, if its imp_uid is known, overwrites every column with these values;
// replaces its cancellations with `payment.cancel_history`. `raw_json` is iamport's whole
// Payment object as received (stored as jsonb in payments.raw). The payment belongs to order
// `order_id`.
void upsert_payment(pqxx::work& txn, std::int64_t order_id, const domain::Payment& payment,
                    std::string_view raw_json);

// The order's payments, oldest first (by first time seen), each with its cancel_history.
std::vector<domain::Payment> list_payments(pqxx::transaction_base& txn, std::int64_t order_id);

struct OrderWithPayments {
    domain::Order order;
    std::vector<domain::Payment> payments;    // as list_payments orders them
    std::optional<CashReceipt> cash_receipt;  // the newest, if any
};

// The order with this merchant_uid, its payments and its newest cash receipt, in one statement: one
// round trip, one snapshot. A plain read like list_payments.
std::optional<OrderWithPayments> find_order_with_payments(pqxx::transaction_base& txn,
                                                          std::string_view merchant_uid);
// The same on an event loop, in autocommit.
boost::asio::awaitable<std::optional<OrderWithPayments>> find_order_with_payments(
    AsyncConnection& connection, std::string merchant_uid);

// The same for many orders in one query; orders without payments are absent from the map.
std::map<std::int64_t, std::vector<domain::Payment>> list_payments_for_orders(
    pqxx::work& txn, const std::vector<std::int64_t>& order_ids);

std::optional<domain::Payment> find_payment(pqxx::work& txn, std::string_view imp_uid);

// Sets the order's amount (a vbank amount change, an accepted payment) and updated_at; the
// tax-free part is lowered to the new amount when it was above it.
void set_order_amount(pqxx::work& txn, std::int64_t order_id, domain::Amount amount);

enum class AttemptKind { benepia, vbank, vbank_update, vbank_revoke, cancel };
// in_flight: recorded, being sent; succeeded / failed: iamport answered; unknown: sent, answer
// lost (settled later by re-fetching); resolved: an unknown one settled by re-fetching.
enum class AttemptState { in_flight, succeeded, failed, unknown, resolved };

std::string_view to_string(AttemptKind kind);
std::string_view to_string(AttemptState state);

struct Attempt {
    std::int64_t id = 0;
    std::int64_t order_id = 0;
    AttemptKind kind = AttemptKind::benepia;
    AttemptState state = AttemptState::in_flight;
    std::optional<std::string> imp_uid;
    std::optional<domain::Amount> amount;
    std::optional<std::string> request_id;
    std::optional<std::string> error_code;
    std::optional<std::string> error_message;
    domain::UnixSeconds created_at = 0;
    domain::UnixSeconds updated_at = 0;
    // cancel: the tax-free part it sends, and the payment's cancel_amount when it was made.
    std::optional<domain::Amount> tax_free;
    std::optional<domain::Amount> prior_cancel_amount;
    // How long ago it was recorded, on the database's clock (list_open_attempts only).
    std::int64_t age_ms = 0;
};

// The name of the partial unique index that allows at most one open (in_flight or unknown)
// attempt per order: the database itself refuses a second money-moving call.
inline constexpr std::string_view kOneOpenAttemptPerOrder = "payment_attempts_one_open_per_order";

// Records an in_flight attempt and returns its id. Throws db::Conflict with constraint
// kOneOpenAttemptPerOrder when the order already has an open attempt.
std::int64_t insert_attempt(pqxx::work& txn, std::int64_t order_id, AttemptKind kind,
                            std::optional<domain::Amount> amount,
                            std::optional<std::string> imp_uid, std::string_view request_id,
                            const std::optional<std::string>& idempotency_token = std::nullopt);

// The attempt of the order made under `token` (a keyed fingerprint of an Idempotency-Key), if
// any: a retry of that key answers from it.
std::optional<Attempt> find_attempt_by_token(pqxx::work& txn, std::int64_t order_id,
                                             std::string_view token);
// Frees the token of a failed attempt, for the call that is made again under it.
void release_attempt_token(pqxx::work& txn, std::int64_t attempt_id);

// Moves an open attempt to `state` (never back to in_flight), with what iamport said. False when
// it was no longer open: settled meanwhile by sync or the reconciler.
bool finish_attempt(pqxx::work& txn, std::int64_t attempt_id, AttemptState state,
                    const std::optional<std::string>& imp_uid,
                    const std::optional<std::string>& error_code,
                    const std::optional<std::string>& error_message);

// Benepia and vbank calls of the order that iamport declined within `window`, the newest `limit`
// of them: how many, and how long until the oldest of those leaves the window.
struct RecentDeclines {
    int count = 0;
    std::chrono::seconds until_one_expires{0};
};
RecentDeclines recent_declines(pqxx::work& txn, std::int64_t order_id, std::chrono::seconds window,
                               int limit);

// The order's open attempts (in_flight or unknown), oldest first.
std::vector<Attempt> list_open_attempts(pqxx::work& txn, std::int64_t order_id);

// Every attempt of the order, oldest first.
std::vector<Attempt> list_attempts(pqxx::work& txn, std::int64_t order_id);

}  // namespace mg::db
