#include "service/payments/settlement.hpp"

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <map>

#include "db/orders_repository.hpp"
#include "db/payments_repository.hpp"
#include "service/app/db_executor.hpp"
#include "service/common/log.hpp"
#include "service/domain/order_state.hpp"
#include "service/iamport/client.hpp"
#include "service/metrics/metrics.hpp"

namespace mg::payments {

namespace asio = boost::asio;
using domain::OrderStatus;
using http::Status;

domain::Payment to_domain(const iamport::Payment& p) {
    domain::Payment d;
    d.imp_uid = p.imp_uid;
    d.merchant_uid = p.merchant_uid;
    d.status = p.status;
    d.pay_method = p.pay_method;
    d.pg_provider = p.pg_provider;
    d.pg_tid = p.pg_tid;
    d.channel = p.channel;
    d.currency = p.currency;
    d.amount = p.amount;
    d.cancel_amount = p.cancel_amount;
    d.started_at = p.started_at;
    d.paid_at = p.paid_at;
    d.failed_at = p.failed_at;
    d.cancelled_at = p.cancelled_at;
    d.vbank_code = p.vbank_code;
    d.vbank_name = p.vbank_name;
    d.vbank_num = p.vbank_num;
    d.vbank_holder = p.vbank_holder;
    d.vbank_date = p.vbank_date;
    d.vbank_issued_at = p.vbank_issued_at;
    d.receipt_url = p.receipt_url;
    d.fail_reason = p.fail_reason;
    d.cancel_reason = p.cancel_reason;
    for (const auto& entry : p.cancel_history) {
        d.cancel_history.push_back(domain::PaymentCancellation{
            entry.pg_tid, entry.amount, entry.cancelled_at, entry.reason,
            entry.receipt_url.empty() ? std::nullopt
                                      : std::optional<std::string>(entry.receipt_url),
            entry.cancellation_id});
    }
    return d;
}

Applied apply_payment(pqxx::work& txn, domain::Order& order, const iamport::Payment& payment,
                      domain::EventCause cause) {
    const auto record = to_domain(payment);
    bool other_settled = false;
    if (record.merchant_uid == order.merchant_uid) {
        for (const auto& known : db::list_payments(txn, order.id)) {
            if (known.imp_uid != record.imp_uid &&
                (known.paid_at > 0 || known.cancel_amount > 0 || known.status == "paid")) {
                other_settled = true;
            }
        }
        // Another order's payment is never filed under this one.
        db::upsert_payment(txn, order.id, record, boost::json::serialize(payment.raw));
    }
    const auto verdict = domain::judge_payment(order, record, other_settled);
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
    }
    return Applied{verdict.path, verdict.review_reason};
}

OrderView load_view(pqxx::work& txn, domain::Order order) {
    auto payments = db::list_payments(txn, order.id);
    return OrderView{std::move(order), std::move(payments)};
}

bool expire_if_due(pqxx::work& txn, domain::Order& order, domain::EventCause cause) {
    if (order.status != OrderStatus::awaiting_deposit) {
        return false;
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    std::optional<std::string> last_vbank;
    for (const auto& payment : db::list_payments(txn, order.id)) {
        if (payment.status != "ready") {
            continue;
        }
        if (payment.vbank_date <= 0 || payment.vbank_date > now) {
            return false;  // an account still open
        }
        last_vbank = payment.imp_uid;
    }
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
    return true;
}

http::HttpError iamport_failure(const iamport::Error& error, bool payment_call) {
    using iamport::Outcome;
    switch (error.outcome) {
        case Outcome::declined:
            if (!payment_call) {
                break;
            }
            return http::HttpError(
                Status::payment_required, "payment_failed",
                error.message.empty() ? "iamport declined the payment" : error.message);
        case Outcome::breaker_open: {
            http::HttpError e(Status::service_unavailable, "iamport_unavailable",
                              "iamport is failing; calls are paused for a few seconds");
            e.retry_after = std::chrono::seconds(10);
            return e;
        }
        case Outcome::not_sent:
        case Outcome::upstream_error: {
            // Not sent, or a read (or the access token) that never got its answer: nothing
            // moved at iamport. A write whose answer was lost is unknown_outcome, never this.
            if (error.message.find("timed out") != std::string::npos) {
                return http::HttpError(Status::gateway_timeout, "iamport_timeout",
                                       "iamport did not answer in time; nothing was charged, "
                                       "retry later");
            }
            if (error.outcome == Outcome::not_sent) {
                return http::HttpError(Status::bad_gateway, "iamport_unreachable",
                                       "iamport could not be reached; nothing was sent");
            }
            break;
        }
        case Outcome::not_found:
        case Outcome::rejected:
        case Outcome::unknown_outcome:
        case Outcome::success:
            break;
    }
    return http::HttpError(Status::bad_gateway, "iamport_error",
                           "iamport failed to answer properly: " + error.message);
}

namespace {

struct Snapshot {
    domain::Order order;
    std::vector<std::string> imp_uids;
};

}  // namespace

asio::awaitable<std::optional<OrderView>> sync_order(app::DbExecutor& db, iamport::Client& iamport,
                                                     std::string merchant_uid,
                                                     domain::EventCause cause) {
    auto snapshot = co_await db.run([&](pqxx::connection& c) -> std::optional<Snapshot> {
        pqxx::work work(c);
        auto order = db::find_order(work, merchant_uid);
        if (!order) {
            return std::nullopt;
        }
        Snapshot s{*order, {}};
        for (const auto& payment : db::list_payments(work, order->id)) {
            s.imp_uids.push_back(payment.imp_uid);
        }
        work.commit();
        return s;
    });
    if (!snapshot) {
        co_return std::nullopt;
    }

    // iamport's current word on every payment of the order, oldest first.
    std::map<std::string, iamport::Payment> fetched;
    bool found_by_merchant_uid = false;
    auto newest = co_await iamport.find_payment(merchant_uid);
    if (newest) {
        found_by_merchant_uid = true;
        fetched.emplace(newest->imp_uid, newest.value());
    } else if (newest.outcome() != iamport::Outcome::not_found) {
        throw iamport_failure(newest.error(), false);
    }
    for (const auto& imp_uid : snapshot->imp_uids) {
        if (fetched.contains(imp_uid)) {
            continue;
        }
        auto payment = co_await iamport.get_payment(imp_uid);
        if (payment) {
            fetched.emplace(imp_uid, payment.value());
        } else if (payment.outcome() != iamport::Outcome::not_found) {
            throw iamport_failure(payment.error(), false);
        }
    }
    std::vector<const iamport::Payment*> ordered;
    for (const auto& [imp_uid, payment] : fetched) {
        ordered.push_back(&payment);
    }
    std::sort(ordered.begin(), ordered.end(),
              [](const auto* a, const auto* b) { return a->started_at < b->started_at; });

    auto view = co_await db.run([&](pqxx::connection& c) -> std::optional<OrderView> {
        pqxx::work work(c);
        auto order = db::find_order_for_update(work, merchant_uid);
        if (!order) {
            return std::nullopt;
        }
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        for (const auto& attempt : db::list_open_attempts(work, order->id)) {
            // A vbank amount change iamport took, that we never heard back about: the order
            // follows it before the payment is checked against the order's amount.
            if (attempt.kind == db::AttemptKind::vbank_update && attempt.amount) {
                for (const auto* payment : ordered) {
                    if (attempt.imp_uid && payment->imp_uid == *attempt.imp_uid &&
                        payment->status == "ready" && payment->amount == *attempt.amount &&
                        order->status == OrderStatus::awaiting_deposit) {
                        db::set_order_amount(work, order->id, *attempt.amount);
                        order->amount = *attempt.amount;
                    }
                }
            }
        }
        for (const auto* payment : ordered) {
            apply_payment(work, *order, *payment, cause);
        }
        for (const auto& attempt : db::list_open_attempts(work, order->id)) {
            const bool stale = attempt.state == db::AttemptState::in_flight &&
                               now - attempt.created_at > kStaleAttempt.count();
            if (attempt.state != db::AttemptState::unknown && !stale) {
                continue;  // still being answered by the request that made it
            }
            if (found_by_merchant_uid || attempt.kind == db::AttemptKind::vbank_update ||
                attempt.kind == db::AttemptKind::cancel) {
                // iamport's current state has just been applied, whatever the call did.
                db::finish_attempt(
                    work, attempt.id, db::AttemptState::resolved,
                    newest ? std::optional<std::string>(newest->imp_uid) : attempt.imp_uid,
                    std::nullopt, std::nullopt);
            } else if (now - attempt.created_at > kStaleAttempt.count()) {
                // iamport has no payment for this order, long after the call: it never took
                // effect. (Sooner, the call could still be on its way through iamport.)
                db::finish_attempt(work, attempt.id, db::AttemptState::failed, std::nullopt,
                                   "not_at_iamport",
                                   "iamport has no payment for this order; nothing was charged");
            } else {
                continue;
            }
            log::info("payment attempt settled", {{"merchant_uid", order->merchant_uid},
                                                  {"attempt", attempt.id},
                                                  {"cause", domain::to_string(cause)}});
        }
        auto result = load_view(work, std::move(*order));
        work.commit();
        return result;
    });
    co_return view;
}

}  // namespace mg::payments
