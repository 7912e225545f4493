#include "service/payments/attempts.hpp"

#include <algorithm>
#include <utility>

#include "db/errors.hpp"
#include "db/lifecycle_repository.hpp"
#include "db/orders_repository.hpp"
#include "db/webhook_inbox_repository.hpp"
#include "service/common/log.hpp"
#include "service/domain/order_state.hpp"
#include "service/iamport/client.hpp"
#include "service/runtime/db_executor.hpp"

namespace mg::payments {

namespace asio = boost::asio;
using Kind = Failure::Kind;

namespace {

const char* refusal_code(db::AttemptKind kind) {
    switch (kind) {
        case db::AttemptKind::vbank_update:
            return "order_not_updatable";
        case db::AttemptKind::cancel:
        case db::AttemptKind::vbank_revoke:
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

// What step 3 wrote, and whether it was our write that closed the attempt.
struct Finished {
    OrderView view;
    bool settled_meanwhile = false;
};

// Step 3's transaction. Re-run as it is when its commit was in doubt: every write in it is
// idempotent, and an attempt already in the state we meant to write is our own earlier commit.
Finished finish_in(pqxx::work& work, const Call& call, std::int64_t attempt_id,
                   const iamport::Result<iamport::Payment>& result, const BeforeApply& before_apply,
                   const AfterSuccess& after_success) {
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
        apply_payment(work, *order, iamport::to_domain(result.value()), call.cause, kOwnAnswer);
        closed_now = db::finish_attempt(work, attempt_id, state, result->imp_uid, std::nullopt,
                                        std::nullopt);
        if (closed_now && after_success) {
            after_success(work, *order);
        }
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

}  // namespace

iamport::Buyer buyer_of(const domain::Order& order) {
    return iamport::Buyer{order.buyer.name, order.buyer.email, order.buyer.tel, order.buyer.addr,
                          order.buyer.postcode};
}

std::string status_text(const domain::Order& order) {
    return std::string(domain::to_string(order.status));
}

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
        if (plan.tax_free && plan.prior_cancel_amount) {
            db::set_cancel_details(work, attempt_id, *plan.tax_free, *plan.prior_cancel_amount);
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

Answer answer_from_earlier(const Begun& begun) {
    const auto state = begun.earlier->state;
    const bool open = state == db::AttemptState::in_flight || state == db::AttemptState::unknown;
    return Answer{OrderView{begun.order, begun.payments, std::nullopt}, open};
}

asio::awaitable<Answer> finish_attempt(CallDeps& deps, const Call& call, const Begun& begun,
                                       const iamport::Result<iamport::Payment>& result,
                                       const BeforeApply& before_apply,
                                       const AfterSuccess& after_success) {
    using iamport::Outcome;
    const auto outcome = result.outcome();
    auto finish = [&](pqxx::work& work) {
        return finish_in(work, call, begun.attempt_id, result, before_apply, after_success);
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
    return AttemptPlan{order.amount, std::nullopt, std::nullopt, std::nullopt};
}

const domain::Payment* open_vbank(const std::vector<domain::Payment>& payments) {
    for (auto it = payments.rbegin(); it != payments.rend(); ++it) {
        if (it->status == "ready") {
            return &*it;
        }
    }
    return nullptr;
}

void require_refund_account(const domain::Payment& payment,
                            const std::optional<std::string>& holder,
                            const std::optional<std::string>& bank,
                            const std::optional<std::string>& account) {
    if (payment.pay_method != "vbank") {
        return;
    }
    const std::pair<const char*, const std::optional<std::string>*> required[] = {
        {"refund_holder", &holder}, {"refund_bank", &bank}, {"refund_account", &account}};
    for (const auto& [field, value] : required) {
        if (!*value) {
            throw Failure(Kind::invalid, "validation_failed",
                          std::string(field) + " is required to refund a virtual account payment",
                          field);
        }
    }
}

}  // namespace mg::payments
