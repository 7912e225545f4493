// Applying iamport's word to our records. Every path that learns of a payment (a forwarded
// call's answer, `complete`, `sync`, webhooks, the reconciler) ends here, inside a transaction
// that holds the order's row lock, so that the checks and the status change can't race.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <pqxx/transaction>
#include <string>
#include <vector>

#include "service/domain/order.hpp"
#include "service/domain/payment.hpp"
#include "service/http/error.hpp"
#include "service/iamport/models.hpp"
#include "service/iamport/result.hpp"

namespace mg::app {
class DbExecutor;
}
namespace mg::iamport {
class Client;
}

namespace mg::payments {

// iamport's Payment object reduced to what we keep.
domain::Payment to_domain(const iamport::Payment& payment);

struct OrderView {
    domain::Order order;
    std::vector<domain::Payment> payments;
};

struct Applied {
    std::vector<domain::OrderStatus> path;  // the statuses the order moved through
    std::optional<std::string> review_reason;
};

// In `txn`, with `order` locked by the caller (db::find_order_for_update): stores iamport's
// payment (when it is this order's) and moves the order as domain::judge_payment decides, one
// order_events row per step. `order.status` is updated. A payment that can't be believed
// moves the order to needs_review and is logged as an error.
Applied apply_payment(pqxx::work& txn, domain::Order& order, const iamport::Payment& payment,
                      domain::EventCause cause);

OrderView load_view(pqxx::work& txn, domain::Order order);

// With `order` locked: an order awaiting deposit whose virtual accounts are all past their due
// time becomes expired. Call it right after re-fetching the order's payments from iamport, so
// that a deposit that did arrive is seen first. True when the order expired.
bool expire_if_due(pqxx::work& txn, domain::Order& order, domain::EventCause cause);

// The HTTP answer for an iamport call that failed (SPEC §4): declined → 402 payment_failed
// with iamport's message, breaker open → 503, timeout before sending → 504, anything else
// iamport got wrong → 502.
// `payment_call`: false for reads (a refusal of a read is iamport misbehaving, not a decline).
http::HttpError iamport_failure(const iamport::Error& error, bool payment_call = true);

// How long an attempt may stay in_flight before settling treats it as of unknown outcome:
// longer than any call to iamport can last.
inline constexpr std::chrono::seconds kStaleAttempt{120};

// Re-fetches the order's payments from iamport (every imp_uid we know, and the newest of its
// merchant_uid, which finds payments we never heard of) and applies them; settles attempts of
// unknown outcome. nullopt when there is no such order. Throws iamport_failure() when iamport
// can't answer.
boost::asio::awaitable<std::optional<OrderView>> sync_order(app::DbExecutor& db,
                                                            iamport::Client& iamport,
                                                            std::string merchant_uid,
                                                            domain::EventCause cause);

}  // namespace mg::payments
