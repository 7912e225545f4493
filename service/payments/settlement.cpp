#include "service/payments/settlement.hpp"

#include <algorithm>
#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <map>

#include "db/lifecycle_repository.hpp"
#include "db/orders_repository.hpp"
#include "db/payments_repository.hpp"
#include "db/webhook_inbox_repository.hpp"
#include "service/common/log.hpp"
#include "service/domain/order_state.hpp"
#include "service/iamport/client.hpp"
#include "service/metrics/metrics.hpp"
#include "service/payments/order_document.hpp"
#include "service/runtime/db_executor.hpp"

namespace mg::payments {

namespace asio = boost::asio;
using domain::OrderStatus;

namespace {

std::atomic<DuplicatePolicy> g_duplicate_policy{DuplicatePolicy::review};

// Where a payment's status stands in iamport's life of a payment: ready → paid → cancelled, or
// ready → failed. A record is behind another of the same payment when it is lower here or has
// less cancelled.
int status_rank(std::string_view status) {
    if (status == "ready") {
        return 0;
    }
    if (status == "paid" || status == "failed") {
        return 1;
    }
    if (status == "cancelled") {
        return 2;
    }
    return -1;
}

bool behind(const domain::Payment& record, const domain::Payment& stored) {
    return status_rank(record.status) < status_rank(stored.status) ||
           record.cancel_amount < stored.cancel_amount;
}

// What the order and its payments hold: if it is the same under two locks, nothing of ours
// changed between them.
std::string fingerprint(const domain::Order& order, const std::vector<domain::Payment>& known) {
    std::string out = std::string(domain::to_string(order.status)) + "|" +
                      std::to_string(order.amount) + "|" + std::to_string(order.updated_at);
    for (const auto& payment : known) {
        out += "|" + payment.imp_uid + ":" + payment.status + ":" + std::to_string(payment.amount) +
               ":" + std::to_string(payment.cancel_amount);
    }
    return out;
}

bool plain_step_forward(const domain::PaymentVerdict& verdict) {
    return !verdict.review_reason;
}

bool call_in_flight(pqxx::work& txn, const domain::Order& order) {
    for (const auto& attempt : db::list_open_attempts(txn, order.id)) {
        if (attempt.state == db::AttemptState::in_flight) {
            return true;
        }
    }
    return false;
}

// A vbank amount change of ours (PATCH …/vbank) still open — in flight, or its answer lost — that
// iamport's record shows taken: the account holds exactly the attempt's amount. The order follows
// it before the payment is checked against the order's amount, so that the buyer's deposit of
// the new amount is paid, not reviewed.
void follow_amount_change(pqxx::work& txn, domain::Order& order, const domain::Payment& record) {
    if (order.status != OrderStatus::awaiting_deposit ||
        (record.status != "ready" && record.status != "paid")) {
        return;
    }
    for (const auto& attempt : db::list_open_attempts(txn, order.id)) {
        if (attempt.kind == db::AttemptKind::vbank_update && attempt.amount &&
            attempt.imp_uid == record.imp_uid && record.amount == *attempt.amount &&
            order.amount != *attempt.amount) {
            db::set_order_amount(txn, order.id, *attempt.amount);
            log::info("order amount follows a change iamport took",
                      {{"merchant_uid", order.merchant_uid},
                       {"imp_uid", record.imp_uid},
                       {"attempt", attempt.id},
                       {"amount", *attempt.amount}});
            order.amount = *attempt.amount;
        }
    }
}

}  // namespace

void set_duplicate_policy(DuplicatePolicy policy) {
    g_duplicate_policy = policy;
}

DuplicatePolicy duplicate_policy() {
    return g_duplicate_policy;
}

Applied apply_payment(pqxx::work& txn, domain::Order& order, const domain::Payment& record,
                      domain::EventCause cause, const Freshness& freshness) {
    const auto known = db::list_payments(txn, order.id);
    const auto seen = fingerprint(order, known);
    bool other_settled = false;
    const bool ours = record.merchant_uid == order.merchant_uid;
    const domain::Payment* stored_row = nullptr;
    for (const auto& stored : known) {
        if (stored.imp_uid == record.imp_uid) {
            stored_row = &stored;
        }
        if (stored.imp_uid == record.imp_uid && ours && behind(record, stored)) {
            Applied stale;
            stale.stale = true;
            stale.seen = seen;
            log::info("a payment record older than the one applied is ignored",
                      {{"merchant_uid", order.merchant_uid},
                       {"imp_uid", record.imp_uid},
                       {"record_status", record.status},
                       {"stored_status", stored.status}});
            return stale;
        }
        if (stored.imp_uid != record.imp_uid && domain::counts_for_order(stored) &&
            domain::took_money(stored)) {
            other_settled = true;
        }
    }
    if (ours && stored_row != nullptr && stored_row->set_aside) {
        // Out of the order's reckoning (a refunded duplicate, an operator's refund): kept up to
        // date, judged no more.
        auto stored = record;
        stored.unsolicited = stored_row->unsolicited;
        db::upsert_payment(txn, order.id, stored, record.raw_json);
        Applied applied;
        applied.seen = seen;
        return applied;
    }
    if (ours) {
        follow_amount_change(txn, order, record);
    }
    // Ours when a call of ours made it or vouches for it, or it is already recorded as ours.
    const bool vouched = freshness.own_answer || freshness.vouched ||
                         (ours && stored_row != nullptr && !stored_row->unsolicited);
    const auto verdict = domain::judge_payment(order, record, other_settled, vouched);
    // A payment we have never stored can't have been changed by a call of ours since it was
    // fetched (a call in flight is checked below): its record decides as it is, so that a second
    // charge found by a look-up is reviewed at once rather than left to a re-fetch that may fail.
    const bool never_stored = ours && stored_row == nullptr;
    const bool fresh =
        freshness.own_answer || never_stored || (freshness.seen && *freshness.seen == seen);
    if (!plain_step_forward(verdict) && !freshness.own_answer &&
        (!fresh || call_in_flight(txn, order))) {
        // Not fresh, or a call of ours (a vbank amount change, a cancel) is still on its way
        // and the order does not yet show what it did: decide later.
        Applied ask;
        ask.needs_fresh_record = true;
        ask.seen = seen;
        return ask;
    }
    if (ours) {
        // Another order's payment is never filed under this one. Its tax-free part is the
        // order's when first stored (iamport's record has none).
        auto stored = record;
        stored.unsolicited = !vouched && !domain::took_money(record);
        stored.tax_free = std::min(order.tax_free, record.amount);
        db::upsert_payment(txn, order.id, stored, record.raw_json);
    }
    if (verdict.duplicate && ours && duplicate_policy() == DuplicatePolicy::refund &&
        record.pay_method != "vbank") {
        // DUPLICATE_PAYMENT_POLICY=refund: the second charge is set aside and refunded in full
        // (refund_duplicates, right after this transaction and by the reconciler); the order
        // stays as the first payment left it. A virtual account's deposit is not refunded
        // automatically: iamport needs the buyer's bank account for it, so it goes to review.
        db::set_payment_aside(txn, record.imp_uid, "duplicate");
        boost::json::object why;
        why["duplicate_payment"] = record.imp_uid;
        why["amount"] = record.amount;
        why["policy"] = "refund";
        db::append_order_event(txn, db::OrderEvent{order.id, order.status, order.status, cause,
                                                   record.imp_uid, boost::json::serialize(why)});
        db::lookup_soon(txn, order.id);
        metrics::count_review(domain::to_string(cause));
        log::warn("a duplicate payment will be refunded (DUPLICATE_PAYMENT_POLICY=refund)",
                  {{"merchant_uid", order.merchant_uid},
                   {"imp_uid", record.imp_uid},
                   {"amount", record.amount},
                   {"cause", domain::to_string(cause)}});
        Applied applied;
        applied.duplicate_to_refund = true;
        applied.seen = seen;
        return applied;
    }
    if (verdict.disregarded) {
        if (!vouched) {
            metrics::count_unsolicited_payment();
        }
        log::warn("a payment record moves nothing of its order",
                  {{"merchant_uid", order.merchant_uid},
                   {"imp_uid", record.imp_uid},
                   {"status", record.status},
                   {"amount", record.amount},
                   {"reason", *verdict.disregarded},
                   {"cause", domain::to_string(cause)}});
    }
    std::optional<std::string> details;
    if (verdict.review_reason) {
        boost::json::object why;
        why["reason"] = *verdict.review_reason;
        why["iamport_status"] = record.status;
        why["iamport_amount"] = record.amount;
        why["order_amount"] = order.amount;
        details = boost::json::serialize(why);
        metrics::count_review(domain::to_string(cause));
        log::error("payment verification failed; order needs review",
                   {{"merchant_uid", order.merchant_uid},
                    {"imp_uid", record.imp_uid},
                    {"reason", *verdict.review_reason},
                    {"cause", domain::to_string(cause)}});
    }
    for (const auto next : verdict.path) {
        if (!domain::is_allowed_transition(order.status, next)) {
            throw std::logic_error("illegal order transition");
        }
        if (!db::set_order_status(txn, order.id, order.status, next, cause, record.imp_uid,
                                  details)) {
            throw std::logic_error("order status changed under its row lock");
        }
        log::info("order status changed", {{"merchant_uid", order.merchant_uid},
                                           {"from", domain::to_string(order.status)},
                                           {"to", domain::to_string(next)},
                                           {"imp_uid", record.imp_uid},
                                           {"cause", domain::to_string(cause)}});
        order.status = next;
        emit_event(txn, order, event_type_of(next));
    }
    Applied applied;
    applied.path = verdict.path;
    applied.review_reason = verdict.review_reason;
    applied.seen = seen;
    return applied;
}

asio::awaitable<std::optional<FreshApplied>> apply_fresh(
    runtime::DbExecutor& db, iamport::Client& iamport, domain::Payment payment,
    domain::EventCause cause, const std::function<void(pqxx::work&, const Applied&)>& finish,
    bool vouched) {
    constexpr int kRounds = 3;
    Freshness freshness = vouched ? kFetchedAndVouched : kFetched;
    for (int round = 1;; ++round) {
        const bool last = round == kRounds;
        auto outcome = co_await db.transact([&](pqxx::work& work) -> std::optional<FreshApplied> {
            auto order = db::find_order_for_update(work, payment.merchant_uid);
            if (!order) {
                return std::nullopt;
            }
            FreshApplied result{apply_payment(work, *order, payment, cause, freshness), false};
            if (result.applied.needs_fresh_record && !last) {
                return result;  // nothing written; the lock is let go for the re-fetch
            }
            result.gave_up = result.applied.needs_fresh_record;
            if (finish) {
                finish(work, result.applied);
            }
            return result;
        });
        if (!outcome || !outcome->applied.needs_fresh_record || outcome->gave_up) {
            co_return outcome;
        }
        // Fetched after the lock under which the order held `seen`: if it still holds that
        // next round, nothing of ours came between, and this record is iamport's current word.
        freshness = Freshness{false, outcome->applied.seen, vouched};
        auto fetched = co_await iamport.get_payment(payment.imp_uid);
        if (!fetched) {
            throw iamport_failure(fetched.error(), false);
        }
        payment = iamport::to_domain(fetched.value());
    }
}

OrderView load_view(pqxx::work& txn, domain::Order order) {
    auto payments = db::list_payments(txn, order.id);
    auto receipt = db::latest_cash_receipt(txn, order.id);
    return OrderView{std::move(order), std::move(payments), std::move(receipt)};
}

std::optional<std::string> past_due_vbank(const std::vector<domain::Payment>& payments) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    std::optional<std::string> last_vbank;
    for (const auto& payment : payments) {
        if (payment.status != "ready" || !domain::counts_for_order(payment)) {
            continue;  // an account we did not open neither holds nor expires the order
        }
        if (payment.vbank_date <= 0 || payment.vbank_date > now) {
            return std::nullopt;  // an account still open
        }
        last_vbank = payment.imp_uid;
    }
    return last_vbank;
}

bool expire_if_due(pqxx::work& txn, domain::Order& order, domain::EventCause cause) {
    if (order.status != OrderStatus::awaiting_deposit) {
        return false;
    }
    const auto last_vbank = past_due_vbank(db::list_payments(txn, order.id));
    if (!last_vbank) {
        return false;
    }
    if (!db::set_order_status(txn, order.id, order.status, OrderStatus::expired, cause, last_vbank,
                              R"({"reason":"the virtual account's due time passed"})")) {
        throw std::logic_error("order status changed under its row lock");
    }
    log::info("order expired: no deposit before the due time",
              {{"merchant_uid", order.merchant_uid}, {"imp_uid", *last_vbank}});
    order.status = OrderStatus::expired;
    emit_event(txn, order, event_type_of(order.status));
    return true;
}

std::chrono::milliseconds settle_window(const iamport::Client& iamport) {
    return iamport.call_timeout() + kSettleMargin;
}

namespace {

struct Snapshot {
    domain::Order order;
    std::vector<std::string> imp_uids;
};

std::string_view pay_method_of(db::AttemptKind kind) {
    return kind == db::AttemptKind::vbank ? "vbank" : "point";
}

// The payment that can be this attempt's own: made the way the attempt pays (Benepia points or a
// virtual account), of its amount, and started no earlier than the attempt allowing for iamport's
// clock being behind ours. An older failed checkout of the same order is never taken for it.
const domain::Payment* own_payment(const db::Attempt& attempt,
                                   const std::vector<const domain::Payment*>& payments) {
    const domain::Payment* own = nullptr;
    for (const auto* payment : payments) {
        if (payment->pay_method == pay_method_of(attempt.kind) && attempt.amount &&
            payment->amount == *attempt.amount &&
            payment->started_at >= attempt.created_at - kIamportClockSkew.count()) {
            own = payment;  // the newest such one: payments are ordered by started_at
        }
    }
    return own;
}

// A vbank amount change shows in iamport's record of its account: the amount it asked for (a
// change of the due time alone has nothing to show and counts as shown).
bool amount_change_shows(const db::Attempt& attempt,
                         const std::vector<const domain::Payment*>& payments) {
    if (!attempt.amount || !attempt.imp_uid) {
        return true;
    }
    for (const auto* payment : payments) {
        if (payment->imp_uid == *attempt.imp_uid) {
            return payment->amount == *attempt.amount;
        }
    }
    return false;
}

// A cancel of unknown outcome that iamport's record shows landed (the payment has at least its
// amount more cancelled than when it was made): its tax-free part counts as refunded.
void count_tax_free_if_landed(pqxx::work& txn, const db::Attempt& attempt,
                              const std::vector<const domain::Payment*>& payments) {
    if (attempt.kind != db::AttemptKind::cancel || !attempt.tax_free || *attempt.tax_free <= 0 ||
        !attempt.prior_cancel_amount || !attempt.amount || !attempt.imp_uid) {
        return;
    }
    for (const auto* payment : payments) {
        if (payment->imp_uid == *attempt.imp_uid &&
            payment->cancel_amount >= *attempt.prior_cancel_amount + *attempt.amount) {
            db::add_tax_free_cancelled(txn, *attempt.imp_uid, *attempt.tax_free);
        }
    }
}

}  // namespace

asio::awaitable<std::optional<OrderView>> sync_order(runtime::DbExecutor& db,
                                                     iamport::Client& iamport,
                                                     std::string merchant_uid,
                                                     domain::EventCause cause) {
    auto snapshot = co_await db.transact([&](pqxx::work& work) -> std::optional<Snapshot> {
        auto order = db::find_order(work, merchant_uid);
        if (!order) {
            return std::nullopt;
        }
        Snapshot s{*order, {}};
        for (const auto& payment : db::list_payments(work, order->id)) {
            s.imp_uids.push_back(payment.imp_uid);
        }
        return s;
    });
    if (!snapshot) {
        co_return std::nullopt;
    }

    // iamport's current word on every payment of the order, oldest first.
    std::map<std::string, domain::Payment> fetched;
    // Every payment of the merchant_uid, not only the newest: an older one we never heard of (a
    // second checkout whose results were both lost) is a charge to see and judge.
    auto all = co_await iamport.find_all_payments(merchant_uid);
    if (all) {
        for (const auto& payment : all.value()) {
            fetched.emplace(payment.imp_uid, iamport::to_domain(payment));
        }
    } else if (all.outcome() != iamport::Outcome::not_found) {
        throw iamport_failure(all.error(), false);
    }
    for (const auto& imp_uid : snapshot->imp_uids) {
        if (fetched.contains(imp_uid)) {
            continue;
        }
        auto payment = co_await iamport.get_payment(imp_uid);
        if (payment) {
            fetched.emplace(imp_uid, iamport::to_domain(payment.value()));
        } else if (payment.outcome() != iamport::Outcome::not_found) {
            throw iamport_failure(payment.error(), false);
        }
    }
    std::vector<const domain::Payment*> ordered;
    for (const auto& [imp_uid, payment] : fetched) {
        ordered.push_back(&payment);
    }
    std::sort(ordered.begin(), ordered.end(),
              [](const auto* a, const auto* b) { return a->started_at < b->started_at; });

    std::vector<std::pair<domain::Payment, bool>>
        deferred;  // (record, vouched for)  // records to re-fetch before they may decide
    auto view = co_await db.transact([&](pqxx::work& work) -> std::optional<OrderView> {
        auto order = db::find_order_for_update(work, merchant_uid);
        if (!order) {
            return std::nullopt;
        }
        // The payment that is an open attempt's own is vouched for by that attempt.
        std::vector<std::string> own_uids;
        for (const auto& attempt : db::list_open_attempts(work, order->id)) {
            const bool pays =
                attempt.kind == db::AttemptKind::benepia || attempt.kind == db::AttemptKind::vbank;
            if (const auto* own = pays ? own_payment(attempt, ordered) : nullptr) {
                own_uids.push_back(own->imp_uid);
            }
        }
        for (const auto* payment : ordered) {
            const bool vouched =
                std::find(own_uids.begin(), own_uids.end(), payment->imp_uid) != own_uids.end();
            if (apply_payment(work, *order, *payment, cause,
                              vouched ? kFetchedAndVouched : kFetched)
                    .needs_fresh_record) {
                deferred.emplace_back(*payment, vouched);
            }
        }
        const auto window = settle_window(iamport);
        for (const auto& attempt : db::list_open_attempts(work, order->id)) {
            const bool overdue = attempt.age_ms > window.count();
            if (attempt.state == db::AttemptState::in_flight && !overdue) {
                continue;  // still being answered by the request that made it
            }
            std::optional<std::string> settled_by;
            db::AttemptState settled = db::AttemptState::resolved;
            std::optional<std::string> error_code;
            std::optional<std::string> error_message;
            if (attempt.kind == db::AttemptKind::vbank_update && !overdue &&
                !amount_change_shows(attempt, ordered)) {
                // The change may still be landing at iamport (a call that timed out on our side
                // can complete there later): while it can, the attempt stays open, so that the
                // record showing it is followed rather than reviewed.
                continue;
            }
            if (attempt.kind == db::AttemptKind::vbank_update ||
                attempt.kind == db::AttemptKind::vbank_revoke ||
                attempt.kind == db::AttemptKind::cancel) {
                // A change to a payment we know: iamport's current record of it has just been
                // applied, whatever the call did. (A cancel landing later is a plain step
                // forward: more cancelled.)
                settled_by = attempt.imp_uid;
                count_tax_free_if_landed(work, attempt, ordered);
            } else if (const auto* own = own_payment(attempt, ordered)) {
                settled_by = own->imp_uid;
                if (own->status == "failed") {
                    settled = db::AttemptState::failed;
                    error_code = "failed_at_iamport";
                    error_message = own->fail_reason.value_or("the payment failed at iamport");
                }
            } else if (overdue) {
                // Longer than the whole call can take, iamport has no payment that can be this
                // call's: it never took effect.
                settled = db::AttemptState::failed;
                error_code = "not_at_iamport";
                error_message = "iamport has no payment for this call; nothing was charged";
            } else {
                continue;  // the call may still be on its way through iamport
            }
            db::finish_attempt(work, attempt.id, settled, settled_by, error_code, error_message);
            log::info("payment attempt settled", {{"merchant_uid", order->merchant_uid},
                                                  {"attempt", attempt.id},
                                                  {"state", db::to_string(settled)},
                                                  {"cause", domain::to_string(cause)}});
        }
        auto result = load_view(work, std::move(*order));
        return result;
    });
    if (!view || deferred.empty()) {
        co_return view;
    }
    for (auto& [payment, vouched] : deferred) {
        co_await apply_fresh(db, iamport, std::move(payment), cause, {}, vouched);
    }
    co_return co_await db.transact([&](pqxx::work& work) -> std::optional<OrderView> {
        auto order = db::find_order(work, merchant_uid);
        if (!order) {
            return std::nullopt;
        }
        auto result = load_view(work, std::move(*order));
        return result;
    });
}

}  // namespace mg::payments
