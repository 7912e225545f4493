// Applying iamport's word to our records. Every path that learns of a payment (a forwarded
// call's answer, `complete`, `sync`, webhooks, the reconciler) ends here, inside a transaction
// that holds the order's row lock, so that the checks and the status change can't race.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <pqxx/transaction>
#include <string>
#include <vector>

#include "db/lifecycle_repository.hpp"
#include "service/domain/order.hpp"
#include "service/domain/payment.hpp"
#include "service/iamport/models.hpp"
#include "service/iamport/result.hpp"
#include "service/payments/failure.hpp"

namespace mg::runtime {
class DbExecutor;
}
namespace mg::iamport {
class Client;
}

namespace mg::payments {

struct OrderView {
    domain::Order order;
    std::vector<domain::Payment> payments;
    std::optional<db::CashReceipt> cash_receipt;  // the newest, if any
};

struct Applied {
    std::vector<domain::OrderStatus> path;  // the statuses the order moved through
    std::optional<std::string> review_reason;
    // Nothing was written: the record is behind what is stored for the payment (a re-fetch that
    // left iamport before a change we applied since).
    bool stale = false;
    // Nothing was written: the verdict would not be a plain step forward and the record may
    // predate what the order holds now. Re-fetch it and apply again with `seen` as the
    // freshness's `seen`.
    bool needs_fresh_record = false;
    std::string seen;  // what the order and its payments held under this lock
    // The record is a duplicate charge set aside to be refunded (DUPLICATE_PAYMENT_POLICY).
    bool duplicate_to_refund = false;
};

// DUPLICATE_PAYMENT_POLICY: a second payment taking money for an order another payment already
// settled goes to review (the default), or is set aside and refunded in full. Set once at start.
enum class DuplicatePolicy { review, refund };
void set_duplicate_policy(DuplicatePolicy policy);
DuplicatePolicy duplicate_policy();

// How much a record can be trusted to be current. A call's own answer is: it is what our change
// did. A record fetched from iamport is fresh only when it was fetched after a lock under which
// the order held `seen`, and the order still holds exactly that.
// `vouched`: a call of the order's vouches that the payment is the order's own (`complete` by
// the order's caller, a settled attempt's own payment); a call's own answer always is.
struct Freshness {
    bool own_answer = false;
    std::optional<std::string> seen;
    bool vouched = false;
};
inline const Freshness kOwnAnswer{true, std::nullopt, true};
inline const Freshness kFetched{false, std::nullopt, false};
inline const Freshness kFetchedAndVouched{false, std::nullopt, true};

// In `txn`, with `order` locked by the caller (db::find_order_for_update): stores iamport's
// payment (when it is this order's) and moves the order as domain::judge_payment decides, one
// order_events row per step. `order.status` is updated. A payment that can't be believed
// moves the order to needs_review and is logged as an error — but only from a fresh record
// (SPEC §5): a verdict that is not a plain step forward (needs_review, or a step back), from a
// record not known to be fresh, or while a money call of ours on the order is in flight, writes
// nothing and asks for a fresh one. A record behind the
// stored one (lower status, less cancelled) is never written over it.
Applied apply_payment(pqxx::work& txn, domain::Order& order, const domain::Payment& payment,
                      domain::EventCause cause, const Freshness& freshness);

// Re-fetches a payment and applies it until the record is fresh (a few rounds at most); what the
// last round came to. Each round locks the order in a transaction of its own; `finish` runs in
// the transaction of the round that applied (or gave up), e.g. to mark a delivery processed.
// nullopt when there is no such order. Throws iamport_failure() when iamport can't answer.
struct FreshApplied {
    Applied applied;
    bool gave_up = false;  // still not fresh after the last round: nothing was written
};
// `vouched`: as Freshness::vouched.
boost::asio::awaitable<std::optional<FreshApplied>> apply_fresh(
    runtime::DbExecutor& db, iamport::Client& iamport, domain::Payment payment,
    domain::EventCause cause, const std::function<void(pqxx::work&, const Applied&)>& finish = {},
    bool vouched = false);

OrderView load_view(pqxx::work& txn, domain::Order order);

// The imp_uid of the last of the order's virtual accounts when every one still awaiting a deposit
// is past its due time (and there is one); nullopt otherwise.
std::optional<std::string> past_due_vbank(const std::vector<domain::Payment>& payments);

// With `order` locked: an order awaiting deposit whose virtual accounts are all past their due
// time becomes expired. Call it right after re-fetching the order's payments from iamport, so
// that a deposit that did arrive is seen first. True when the order expired.
bool expire_if_due(pqxx::work& txn, domain::Order& order, domain::EventCause cause);

// How far iamport's clock may be behind ours when a payment's started_at is compared with the
// time we recorded the attempt that may have made it.
inline constexpr std::chrono::seconds kIamportClockSkew{300};

// How long after it was recorded (on the database's clock) an attempt may still be answered by
// the request that made it, and a payment call may still be completing at iamport: the whole
// configured call (IAMPORT_CALL_TIMEOUT_MS) plus a margin. Past it, an in_flight attempt is
// treated as unknown, and an unknown one with no payment of its own at iamport as failed.
inline constexpr std::chrono::seconds kSettleMargin{30};
std::chrono::milliseconds settle_window(const iamport::Client& iamport);

// Re-fetches the order's payments from iamport (every imp_uid we know, and all of its
// merchant_uid, which finds payments we never heard of) and applies them; settles attempts of
// unknown outcome. nullopt when there is no such order. Throws iamport_failure() when iamport
// can't answer.
boost::asio::awaitable<std::optional<OrderView>> sync_order(runtime::DbExecutor& db,
                                                            iamport::Client& iamport,
                                                            std::string merchant_uid,
                                                            domain::EventCause cause);

}  // namespace mg::payments
