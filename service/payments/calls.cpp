#include "service/payments/calls.hpp"

#include <algorithm>
#include <utility>

#include "db/errors.hpp"
#include "db/orders_repository.hpp"
#include "db/payments_repository.hpp"
#include "db/webhook_inbox_repository.hpp"
#include "service/common/log.hpp"
#include "service/domain/order_state.hpp"
#include "service/iamport/client.hpp"
#include "service/runtime/db_executor.hpp"

namespace mg::payments {

namespace asio = boost::asio;
using Kind = Failure::Kind;

namespace {

iamport::Buyer buyer_of(const domain::Order& order) {
    return iamport::Buyer{order.buyer.name, order.buyer.email, order.buyer.tel, order.buyer.addr,
                          order.buyer.postcode};
}

std::string status_text(const domain::Order& order) {
    return std::string(domain::to_string(order.status));
}

// What step 1 found, for step 2 to use.
struct Begun {
    domain::Order order;
    std::vector<domain::Payment> payments;
    std::int64_t attempt_id = 0;
    // A call made earlier under the same Idempotency-Key that may have moved money: nothing is
    // sent again, the answer is what it did.
    std::optional<db::Attempt> earlier;
};

// What the call may do, decided under the row lock (or thrown as its refusal): the attempt's
// amount and imp_uid, recorded with it.
struct AttemptPlan {
    std::optional<domain::Amount> amount;
    std::optional<std::string> imp_uid;
};
using Admission =
    std::function<AttemptPlan(const domain::Order&, const std::vector<domain::Payment>&)>;

const char* refusal_code(db::AttemptKind kind) {
    switch (kind) {
        case db::AttemptKind::vbank_update:
            return "order_not_updatable";
        case db::AttemptKind::cancel:
            return "order_not_cancellable";
        case db::AttemptKind::benepia:
        case db::AttemptKind::vbank:
            break;
    }
    return "order_not_payable";
}

// After kMaxDeclines declined calls within kDeclineWindow the order takes no payment call until
// the oldest of them leaves the window: a password is not guessed through us.
void refuse_after_declines(pqxx::work& work, const domain::Order& order) {
    const auto declines = db::recent_declines(work, order.id, kDeclineWindow, kMaxDeclines);
    if (declines.count >= kMaxDeclines) {
        Failure failure(Kind::too_many_attempts, "too_many_attempts",
                        "iamport declined " + std::to_string(declines.count) +
                            " payment calls for this order in the last " +
                            std::to_string(kDeclineWindow.count() / 60) + " minutes; retry later");
        failure.retry_after = std::max(declines.until_one_expires, std::chrono::seconds(1));
        throw failure;
    }
}

// Step 1.
asio::awaitable<Begun> begin_attempt(CallDeps& deps, const Call& call, db::AttemptKind kind,
                                     const Admission& admit) {
    if (deps.iamport.breaker_state() == iamport::BreakerState::open) {
        // iamport is down: fail fast, before touching the order or recording an attempt.
        throw iamport_failure(
            iamport::Error{iamport::Outcome::breaker_open, 0, 0, "circuit breaker open"});
    }
    auto begun = co_await deps.db.transact([&](pqxx::work& work) {
        auto order = db::find_order_for_update(work, call.merchant_uid);
        call.authorize(order);
        if (call.idempotency_token) {
            if (auto earlier =
                    db::find_attempt_by_token(work, order->id, *call.idempotency_token)) {
                if (earlier->state != db::AttemptState::failed) {
                    auto payments = db::list_payments(work, order->id);
                    return Begun{std::move(*order), std::move(payments), 0, std::move(earlier)};
                }
                // It failed: nothing moved, the call may be made again under the same key.
                db::release_attempt_token(work, earlier->id);
            }
        }
        if (kind == db::AttemptKind::benepia || kind == db::AttemptKind::vbank) {
            refuse_after_declines(work, *order);
        }
        auto payments = db::list_payments(work, order->id);
        const auto plan = admit(*order, payments);
        std::int64_t attempt_id = 0;
        try {
            attempt_id = db::insert_attempt(work, order->id, kind, plan.amount, plan.imp_uid,
                                            call.request_id, call.idempotency_token);
        } catch (const db::Conflict& e) {
            if (e.constraint() != db::kOneOpenAttemptPerOrder) {
                throw;
            }
            throw conflict(refusal_code(kind),
                           "another payment call for this order is in flight or of unknown "
                           "outcome; nothing was sent to iamport");
        }
        return Begun{std::move(*order), std::move(payments), attempt_id, std::nullopt};
    });
    if (begun.earlier) {
        log::warn("payment call retried under its Idempotency-Key; answered from the earlier one",
                  {{"request_id", call.request_id},
                   {"merchant_uid", call.merchant_uid},
                   {"attempt", begun.earlier->id},
                   {"state", db::to_string(begun.earlier->state)}});
        co_return begun;
    }
    log::info("payment call", {{"request_id", call.request_id},
                               {"merchant_uid", call.merchant_uid},
                               {"kind", db::to_string(kind)},
                               {"attempt", begun.attempt_id}});
    co_return begun;
}

// The answer for a retry of a call already made under the same key: the order as it is now,
// unknown (202) while that call is unsettled.
Answer answer_from_earlier(const Begun& begun) {
    const auto state = begun.earlier->state;
    const bool open = state == db::AttemptState::in_flight || state == db::AttemptState::unknown;
    return Answer{OrderView{begun.order, begun.payments}, open};
}

// Run in step 3 before iamport's payment is applied (a vbank amount change).
using BeforeApply = std::function<void(pqxx::work&, domain::Order&)>;

// What step 3 wrote, and whether it was our write that closed the attempt.
struct Finished {
    OrderView view;
    bool settled_meanwhile = false;
};

// Step 3's transaction. Re-run as it is when its commit was in doubt: every write in it is
// idempotent, and an attempt already in the state we meant to write is our own earlier commit.
Finished finish_in(pqxx::work& work, const Call& call, std::int64_t attempt_id,
                   const iamport::Result<iamport::Payment>& result,
                   const BeforeApply& before_apply) {
    using iamport::Outcome;
    auto order = db::find_order_for_update(work, call.merchant_uid);
    if (!order) {
        throw std::logic_error("order vanished during a payment call");
    }
    const auto outcome = result.outcome();
    db::AttemptState state = db::AttemptState::succeeded;
    bool closed_now = false;
    if (outcome == Outcome::success) {
        if (before_apply) {
            before_apply(work, *order);
        }
        apply_payment(work, *order, iamport::to_domain(result.value()), domain::EventCause::api,
                      kOwnAnswer);
        closed_now = db::finish_attempt(work, attempt_id, state, result->imp_uid, std::nullopt,
                                        std::nullopt);
    } else {
        state = outcome == Outcome::unknown_outcome ? db::AttemptState::unknown
                                                    : db::AttemptState::failed;
        closed_now =
            db::finish_attempt(work, attempt_id, state, std::nullopt,
                               std::string(iamport::to_string(outcome)), result.error().message);
        if (closed_now && state == db::AttemptState::unknown) {
            db::lookup_soon(work, order->id);
        }
    }
    bool settled_meanwhile = false;
    if (!closed_now) {
        const auto attempts = db::list_attempts(work, order->id);
        const auto own = std::find_if(attempts.begin(), attempts.end(),
                                      [&](const db::Attempt& a) { return a.id == attempt_id; });
        settled_meanwhile = own == attempts.end() || own->state != state;
    }
    return Finished{load_view(work, std::move(*order)), settled_meanwhile};
}

// Step 3. Answers the order (unknown when iamport's answer proved nothing); throws the Failure
// of a refused call after recording it.
asio::awaitable<Answer> finish_attempt(CallDeps& deps, const Call& call, const Begun& begun,
                                       const iamport::Result<iamport::Payment>& result,
                                       const BeforeApply& before_apply = {}) {
    using iamport::Outcome;
    const auto outcome = result.outcome();
    auto finish = [&](pqxx::work& work) {
        return finish_in(work, call, begun.attempt_id, result, before_apply);
    };
    std::optional<Finished> finished;
    try {
        finished = co_await deps.db.transact(finish);
    } catch (const db::UnknownOutcome& e) {
        // The commit may or may not have landed: read back by doing it again (idempotent).
        log::warn(
            "payment call's commit in doubt; finishing again",
            {{"request_id", call.request_id}, {"attempt", begun.attempt_id}, {"error", e.what()}});
    }
    if (!finished) {
        finished = co_await deps.db.transact(finish);
    }
    const auto& view = finished->view;
    log::info("payment call finished",
              {{"request_id", call.request_id},
               {"merchant_uid", call.merchant_uid},
               {"attempt", begun.attempt_id},
               {"outcome", iamport::to_string(outcome)},
               {"settled_meanwhile", finished->settled_meanwhile},
               {"status", domain::to_string(view.order.status)},
               {"iamport_message",
                result ? std::string_view() : std::string_view(result.error().message)}});
    if (finished->settled_meanwhile) {
        // The reconciler (or a sync) settled the attempt from iamport's records while this call
        // was still running: its settlement stands, and the order as it is now is the answer.
        co_return Answer{view, false};
    }
    if (outcome == Outcome::success) {
        co_return Answer{view, false};
    }
    if (outcome == Outcome::unknown_outcome) {
        log::warn("payment call outcome unknown; left for settlement",
                  {{"request_id", call.request_id},
                   {"merchant_uid", call.merchant_uid},
                   {"attempt", begun.attempt_id}});
        co_return Answer{view, true};
    }
    throw iamport_failure(result.error());
}

// Records a refused call, then takes iamport's current word on the order: a refusal often means
// iamport's record moved on (a deposit, a refund in its console).
asio::awaitable<void> finish_refused_and_sync(CallDeps& deps, const Call& call, const Begun& begun,
                                              const iamport::Result<iamport::Payment>& result) {
    try {
        co_await finish_attempt(deps, call, begun, result);
    } catch (const Failure&) {
    }
    co_await sync_order(deps.db, deps.iamport, call.merchant_uid, domain::EventCause::api);
}

AttemptPlan require_payable(const domain::Order& order, const std::vector<domain::Payment>&) {
    if (!domain::is_payable(order.status)) {
        throw conflict("order_not_payable",
                       "the order is " + status_text(order) + "; only a pending order can be paid");
    }
    return AttemptPlan{order.amount, std::nullopt};
}

// The order's virtual account still awaiting deposit.
const domain::Payment* open_vbank(const std::vector<domain::Payment>& payments) {
    for (auto it = payments.rbegin(); it != payments.rend(); ++it) {
        if (it->status == "ready") {
            return &*it;
        }
    }
    return nullptr;
}

}  // namespace

asio::awaitable<Answer> pay_benepia(CallDeps& deps, const Call& call,
                                    iamport::BenepiaRequest request) {
    const auto begun =
        co_await begin_attempt(deps, call, db::AttemptKind::benepia, require_payable);
    if (begun.earlier) {
        co_return answer_from_earlier(begun);
    }
    request.merchant_uid = begun.order.merchant_uid;
    request.amount = begun.order.amount;
    request.name = begun.order.name;
    request.buyer = buyer_of(begun.order);
    request.notice_url = deps.notice_urls;
    const auto result = co_await deps.iamport.benepia_payment(std::move(request));
    co_return co_await finish_attempt(deps, call, begun, result);
}

asio::awaitable<Answer> issue_vbank(CallDeps& deps, const Call& call,
                                    iamport::VbankRequest request) {
    const auto begun = co_await begin_attempt(deps, call, db::AttemptKind::vbank, require_payable);
    if (begun.earlier) {
        co_return answer_from_earlier(begun);
    }
    request.merchant_uid = begun.order.merchant_uid;
    request.amount = begun.order.amount;
    request.name = begun.order.name;
    request.buyer = buyer_of(begun.order);
    request.notice_url = deps.notice_urls;
    const auto result = co_await deps.iamport.issue_vbank(std::move(request));
    co_return co_await finish_attempt(deps, call, begun, result);
}

asio::awaitable<Answer> update_vbank(CallDeps& deps, const Call& call,
                                     iamport::VbankUpdate update) {
    std::string imp_uid;
    const auto begun = co_await begin_attempt(
        deps, call, db::AttemptKind::vbank_update,
        [&](const domain::Order& order, const std::vector<domain::Payment>& payments) {
            const auto* vbank = open_vbank(payments);
            if (order.status != domain::OrderStatus::awaiting_deposit || vbank == nullptr) {
                throw conflict("order_not_updatable",
                               "the order is " + status_text(order) +
                                   "; only a virtual account awaiting deposit can change");
            }
            imp_uid = vbank->imp_uid;
            return AttemptPlan{update.amount, vbank->imp_uid};
        });
    if (begun.earlier) {
        co_return answer_from_earlier(begun);
    }
    const auto result = co_await deps.iamport.update_vbank(imp_uid, update);
    if (!result && result.outcome() == iamport::Outcome::declined) {
        // iamport refuses changes once the account is no longer `ready` (deposited, closed).
        co_await finish_refused_and_sync(deps, call, begun, result);
        throw conflict("order_not_updatable", "iamport refused the change (" +
                                                  result.error().message +
                                                  "); the order was refreshed from iamport");
    }
    const auto new_amount = update.amount;
    co_return co_await finish_attempt(deps, call, begun, result,
                                      [&](pqxx::work& work, domain::Order& order) {
                                          if (new_amount && result->amount == *new_amount) {
                                              db::set_order_amount(work, order.id, *new_amount);
                                              order.amount = *new_amount;
                                          }
                                      });
}

asio::awaitable<Answer> complete_checkout(CallDeps& deps, const Call& call, std::string imp_uid) {
    co_await deps.db.transact(
        [&](pqxx::work& work) { call.authorize(db::find_order(work, call.merchant_uid)); });
    // The browser's word is only a pointer: iamport's record is what counts.
    const auto fetched = co_await deps.iamport.get_payment(imp_uid);
    if (!fetched) {
        if (fetched.outcome() == iamport::Outcome::not_found) {
            throw Failure(Kind::invalid, "payment_not_found",
                          "iamport has no payment with this imp_uid", "imp_uid");
        }
        throw iamport_failure(fetched.error(), false);
    }
    const auto payment = iamport::to_domain(fetched.value());
    const bool own = payment.merchant_uid == call.merchant_uid;
    if (own) {
        // The order's own caller names the payment: it vouches for it.
        co_await apply_fresh(deps.db, deps.iamport, payment, domain::EventCause::api, {}, true);
    }
    auto view = co_await deps.db.transact([&](pqxx::work& work) {
        auto order = db::find_order_for_update(work, call.merchant_uid);
        if (!own) {
            // Another order's payment shown as this one's: judged against this order (it needs
            // review if it took money), never filed under it.
            apply_payment(work, *order, payment, domain::EventCause::api, kOwnAnswer);
        }
        return load_view(work, std::move(*order));
    });
    log::info("checkout completed", {{"request_id", call.request_id},
                                     {"merchant_uid", call.merchant_uid},
                                     {"imp_uid", imp_uid},
                                     {"iamport_status", payment.status},
                                     {"status", domain::to_string(view.order.status)}});
    if (payment.status == "failed") {
        throw Failure(Kind::declined, "payment_failed",
                      payment.fail_reason.value_or("the payment failed at iamport"));
    }
    co_return Answer{std::move(view), false};
}

asio::awaitable<Answer> cancel_payment(CallDeps& deps, const Call& call,
                                       iamport::CancelRequest request) {
    const auto amount = request.amount;
    const auto begun = co_await begin_attempt(
        deps, call, db::AttemptKind::cancel,
        [&](const domain::Order& order, const std::vector<domain::Payment>& payments) {
            const domain::Payment* paid = nullptr;
            for (const auto& payment : payments) {
                if (payment.status == "paid" && payment.cancellable_balance() > 0) {
                    paid = &payment;
                }
            }
            if (!domain::is_cancellable(order.status) || paid == nullptr) {
                throw conflict("order_not_cancellable", "the order is " + status_text(order) +
                                                            "; only a paid order can be cancelled");
            }
            const auto balance = paid->cancellable_balance();
            if (amount && *amount > balance) {
                throw Failure(Kind::invalid, "amount_exceeds_balance",
                              "at most " + std::to_string(balance) + " can still be cancelled",
                              "amount");
            }
            if (paid->pay_method == "vbank") {
                const std::pair<const char*, const std::optional<std::string>*> required[] = {
                    {"refund_holder", &request.refund_holder},
                    {"refund_bank", &request.refund_bank},
                    {"refund_account", &request.refund_account}};
                for (const auto& [field, value] : required) {
                    if (!*value) {
                        throw Failure(
                            Kind::invalid, "validation_failed",
                            std::string(field) + " is required to refund a virtual account payment",
                            field);
                    }
                }
            }
            request.imp_uid = paid->imp_uid;
            request.checksum = balance;
            request.amount = amount.value_or(balance);
            return AttemptPlan{request.amount, paid->imp_uid};
        });
    if (begun.earlier) {
        co_return answer_from_earlier(begun);
    }
    const auto checksum = request.checksum;
    const auto imp_uid = *request.imp_uid;
    const auto result = co_await deps.iamport.cancel_payment(std::move(request));
    if (!result && result.outcome() == iamport::Outcome::declined) {
        // Refused: most often the balance changed behind our back (a refund made in iamport's
        // console), which the checksum exists to catch. Take iamport's word on the payment.
        try {
            co_await finish_attempt(deps, call, begun, result);
        } catch (const Failure&) {
        }
        const auto fresh = co_await deps.iamport.get_payment(imp_uid);
        if (fresh) {
            co_await sync_order(deps.db, deps.iamport, call.merchant_uid, domain::EventCause::api);
            if (fresh->cancellable_balance() != checksum) {
                throw conflict("balance_changed",
                               "the cancellable balance is now " +
                                   std::to_string(fresh->cancellable_balance()) +
                                   "; the order was refreshed from iamport, nothing was "
                                   "cancelled");
            }
        }
        throw iamport_failure(result.error());
    }
    co_return co_await finish_attempt(deps, call, begun, result);
}

asio::awaitable<Answer> sync(CallDeps& deps, const Call& call) {
    auto view =
        co_await sync_order(deps.db, deps.iamport, call.merchant_uid, domain::EventCause::sync);
    if (!view) {
        throw Failure(Kind::not_found, "order_not_found", "no order has this merchant_uid");
    }
    co_return Answer{std::move(*view), false};
}

}  // namespace mg::payments
