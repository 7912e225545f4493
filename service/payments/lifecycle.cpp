#include "service/payments/lifecycle.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "db/errors.hpp"
#include "db/lifecycle_repository.hpp"
#include "db/orders_repository.hpp"
#include "db/payments_repository.hpp"
#include "service/common/log.hpp"
#include "service/domain/order_state.hpp"
#include "service/iamport/client.hpp"
#include "service/payments/attempts.hpp"
#include "service/payments/order_document.hpp"
#include "service/runtime/db_executor.hpp"

namespace mg::payments {

namespace asio = boost::asio;
using Kind = Failure::Kind;
using domain::OrderStatus;

namespace {

asio::awaitable<OrderView> current_view(CallDeps& deps, const std::string& merchant_uid) {
    co_return co_await deps.db.transact([&](pqxx::work& work) {
        auto order = db::find_order(work, merchant_uid);
        if (!order) {
            throw Failure(Kind::not_found, "order_not_found", "no order has this merchant_uid");
        }
        return load_view(work, std::move(*order));
    });
}

const domain::Payment* find_payment(const std::vector<domain::Payment>& payments,
                                    std::string_view imp_uid) {
    for (const auto& payment : payments) {
        if (payment.imp_uid == imp_uid) {
            return &payment;
        }
    }
    return nullptr;
}

void require_in_review(const domain::Order& order) {
    if (order.status != OrderStatus::needs_review) {
        throw conflict("order_not_in_review", "the order is " + status_text(order) +
                                                  "; only an order in needs_review takes a "
                                                  "decision");
    }
}

std::string decision_details(const Decision& decision, domain::Amount amount) {
    boost::json::object details;
    details["action"] = decision.action == Decision::Action::refund ? "refund" : "accept";
    details["reason"] = decision.reason;
    details["amount"] = amount;
    return boost::json::serialize(details);
}

// With the order locked and in review: moves it to what its payments imply now (after a refund)
// or to `target` (accept), and records the decision.
void record(pqxx::work& work, domain::Order& order, const Decision& decision, OrderStatus target,
            domain::Amount amount) {
    if (!db::record_decision(work, order.id, order.status, target, decision.imp_uid, decision.actor,
                             decision_details(decision, amount))) {
        throw std::logic_error("order status changed under its row lock");
    }
    log::info("review decided",
              {{"merchant_uid", order.merchant_uid},
               {"imp_uid", decision.imp_uid},
               {"action", decision.action == Decision::Action::refund ? std::string_view("refund")
                                                                      : std::string_view("accept")},
               {"to", domain::to_string(target)},
               {"actor", decision.actor}});
    order.status = target;
    emit_event(work, order, "order.review_decided");
}

// refund, once the payment holds nothing more: it is set aside and the order follows the rest.
void settle_refund(pqxx::work& work, domain::Order& order, const Decision& decision,
                   domain::Amount refunded) {
    db::set_payment_aside(work, decision.imp_uid, "refunded_by_operator");
    const auto payments = db::list_payments(work, order.id);
    record(work, order, decision, domain::status_implied_by(order, payments), refunded);
}

asio::awaitable<Answer> decide_refund(CallDeps& deps, const Call& call, const Decision& decision) {
    // Known to hold nothing already (refunded at iamport, e.g. in its console, or never paid):
    // decided without a call.
    auto nothing_to_refund =
        co_await deps.db.transact([&](pqxx::work& work) -> std::optional<OrderView> {
            auto order = db::find_order_for_update(work, call.merchant_uid);
            call.authorize(order);
            require_in_review(*order);
            const auto payments = db::list_payments(work, order->id);
            const auto* payment = find_payment(payments, decision.imp_uid);
            if (payment == nullptr) {
                throw Failure(Kind::invalid, "payment_not_of_order",
                              "the order has no payment with this imp_uid", "imp_uid");
            }
            if (payment->cancellable_balance() > 0 && domain::took_money(*payment)) {
                return std::nullopt;
            }
            settle_refund(work, *order, decision, 0);
            return load_view(work, std::move(*order));
        });
    if (nothing_to_refund) {
        co_return Answer{std::move(*nothing_to_refund), false};
    }
    iamport::CancelRequest request;
    request.reason = decision.reason;
    request.refund_holder = decision.refund_holder;
    request.refund_bank = decision.refund_bank;
    request.refund_account = decision.refund_account;
    request.refund_tel = decision.refund_tel;
    const auto begun = co_await begin_attempt(
        deps, call, db::AttemptKind::cancel,
        [&](const domain::Order& order, const std::vector<domain::Payment>& payments) {
            require_in_review(order);
            const auto* payment = find_payment(payments, decision.imp_uid);
            if (payment == nullptr || payment->cancellable_balance() <= 0) {
                throw conflict("balance_changed", "the payment holds nothing more to refund");
            }
            require_refund_account(*payment, decision.refund_holder, decision.refund_bank,
                                   decision.refund_account);
            const auto balance = payment->cancellable_balance();
            const auto tax_free = tax_free_of_cancel(*payment, balance, std::nullopt);
            request.imp_uid = payment->imp_uid;
            request.amount = balance;
            request.checksum = balance;
            if (tax_free > 0) {
                request.tax_free = tax_free;
            }
            return AttemptPlan{balance, payment->imp_uid, tax_free, payment->cancel_amount};
        });
    if (begun.earlier) {
        co_return answer_from_earlier(begun);
    }
    const auto refunded = *request.amount;
    const auto tax_free = request.tax_free.value_or(0);
    const auto result = co_await deps.iamport.cancel_payment(std::move(request));
    if (!result && result.outcome() == iamport::Outcome::declined) {
        co_await finish_refused_and_sync(deps, call, begun, result);
        throw conflict("refund_refused", "iamport refused the refund (" + result.error().message +
                                             "); the order was refreshed from iamport");
    }
    co_return co_await finish_attempt(
        deps, call, begun, result, {}, [&](pqxx::work& work, domain::Order& order) {
            db::add_tax_free_cancelled(work, decision.imp_uid, tax_free);
            if (order.status == OrderStatus::needs_review) {
                settle_refund(work, order, decision, refunded);
            }
        });
}

asio::awaitable<Answer> decide_accept(CallDeps& deps, const Call& call, const Decision& decision) {
    auto view = co_await deps.db.transact([&](pqxx::work& work) {
        auto order = db::find_order_for_update(work, call.merchant_uid);
        call.authorize(order);
        require_in_review(*order);
        const auto payments = db::list_payments(work, order->id);
        const auto* payment = find_payment(payments, decision.imp_uid);
        if (payment == nullptr || payment->set_aside) {
            throw Failure(Kind::invalid, "payment_not_of_order",
                          "the order has no payment with this imp_uid that counts for it",
                          "imp_uid");
        }
        if (!decision.amount || *decision.amount != payment->amount) {
            // The restated amount guards against accepting the wrong thing.
            throw Failure(Kind::invalid, "amount_mismatch",
                          "amount must restate the payment's amount at iamport", "amount");
        }
        if (payment->currency.value_or("KRW") != order->currency) {
            throw conflict("currency_mismatch", "the payment is not in the order's currency");
        }
        const auto target = domain::status_of_payment(*payment);
        if (!target) {
            throw conflict("payment_moved_nothing",
                           "the payment is " + payment->status + "; there is nothing to accept");
        }
        for (const auto& other : payments) {
            if (other.imp_uid != payment->imp_uid && domain::counts_for_order(other) &&
                other.status == "paid" && other.cancellable_balance() > 0) {
                throw conflict("another_payment_holds_money",
                               "payment " + other.imp_uid +
                                   " also holds money for this order; refund it first");
            }
        }
        if (payment->amount != order->amount) {
            db::set_order_amount(work, order->id, payment->amount);
            order->amount = payment->amount;
        }
        record(work, *order, decision, *target, payment->amount);
        return load_view(work, std::move(*order));
    });
    co_return Answer{std::move(view), false};
}

}  // namespace

asio::awaitable<Answer> revoke_vbank(CallDeps& deps, const Call& call) {
    std::string imp_uid;
    const auto begun = co_await begin_attempt(
        deps, call, db::AttemptKind::vbank_revoke,
        [&](const domain::Order& order, const std::vector<domain::Payment>& payments) {
            const domain::Payment* vbank = nullptr;
            for (const auto& payment : payments) {
                if (payment.status == "ready" && domain::counts_for_order(payment)) {
                    vbank = &payment;
                }
            }
            if (order.status != OrderStatus::awaiting_deposit || vbank == nullptr) {
                throw conflict("order_not_cancellable",
                               "the order is " + status_text(order) +
                                   "; its virtual account can no longer be closed");
            }
            imp_uid = vbank->imp_uid;
            return AttemptPlan{std::nullopt, vbank->imp_uid, std::nullopt, std::nullopt};
        });
    if (begun.earlier) {
        co_return answer_from_earlier(begun);
    }
    const auto result = co_await deps.iamport.revoke_vbank(imp_uid);
    if (!result && result.outcome() == iamport::Outcome::declined) {
        // iamport closes only an account still awaiting its deposit: most often the deposit
        // has just landed. The order follows iamport's records.
        co_await finish_refused_and_sync(deps, call, begun, result);
        auto view = co_await current_view(deps, call.merchant_uid);
        const auto status = view.order.status;
        if (status == OrderStatus::cancelled || status == OrderStatus::expired) {
            co_return Answer{std::move(view), false};  // closed already (iamport's console)
        }
        Failure failure(
            Kind::conflict,
            status == OrderStatus::awaiting_deposit ? "order_not_cancellable" : "deposit_arrived",
            status == OrderStatus::awaiting_deposit
                ? "iamport refused to close the virtual account (" + result.error().message + ")"
                : "the deposit landed before the account could be closed; the order "
                  "is " +
                      std::string(domain::to_string(status)) + " now");
        failure.order = std::make_shared<const OrderView>(std::move(view));
        throw failure;
    }
    co_return co_await finish_attempt(deps, call, begun, result);
}

asio::awaitable<OrderView> register_checkout(CallDeps& deps, const Call& call) {
    const auto order = co_await deps.db.transact([&](pqxx::work& work) {
        auto found = db::find_order(work, call.merchant_uid);
        call.authorize(found);
        if (!domain::is_payable(found->status)) {
            throw conflict("order_not_payable", "the order is " + status_text(*found) +
                                                    "; only a pending order can be paid");
        }
        return *found;
    });
    if (order.registered_amount != order.amount) {
        // POST the first time, PUT to change it. Our record of what iamport holds may be behind
        // (an answer lost): iamport's refusal of the one says the other is due.
        bool change = order.registered_amount.has_value();
        auto result = co_await deps.iamport.prepare(order.merchant_uid, order.amount, change);
        if (!result && result.outcome() == iamport::Outcome::declined) {
            change = !change;
            result = co_await deps.iamport.prepare(order.merchant_uid, order.amount, change);
        }
        if (!result) {
            if (result.outcome() == iamport::Outcome::unknown_outcome) {
                // Registering moves no money: the storefront may simply ask again.
                throw Failure(Kind::iamport_error, "iamport_error",
                              "iamport's answer to registering the amount was lost; retry");
            }
            throw iamport_failure(result.error(), false);
        }
        if (result->amount != order.amount) {
            throw Failure(Kind::iamport_error, "iamport_error",
                          "iamport registered another amount than the order's; retry");
        }
        log::info("checkout amount registered at iamport", {{"request_id", call.request_id},
                                                            {"merchant_uid", order.merchant_uid},
                                                            {"amount", order.amount},
                                                            {"changed", change}});
    }
    co_return co_await deps.db.transact([&](pqxx::work& work) {
        auto locked = db::find_order_for_update(work, call.merchant_uid);
        if (locked->amount == order.amount) {
            db::set_registered_amount(work, locked->id, order.amount);
            locked->registered_amount = order.amount;
        }
        return load_view(work, std::move(*locked));
    });
}

asio::awaitable<Answer> decide_review(CallDeps& deps, const Call& call, Decision decision) {
    co_await deps.db.transact([&](pqxx::work& work) {
        auto order = db::find_order(work, call.merchant_uid);
        call.authorize(order);
        require_in_review(*order);
    });
    // Decided from iamport's current records of every payment of the order.
    co_await sync_order(deps.db, deps.iamport, call.merchant_uid,
                        domain::EventCause::operator_decision);
    if (decision.action == Decision::Action::refund) {
        co_return co_await decide_refund(deps, call, decision);
    }
    co_return co_await decide_accept(deps, call, decision);
}

asio::awaitable<void> refund_duplicates(CallDeps& deps, std::string merchant_uid) {
    const auto view = co_await current_view(deps, merchant_uid);
    for (const auto& duplicate : view.payments) {
        if (duplicate.set_aside != "duplicate" || duplicate.status != "paid" ||
            duplicate.cancellable_balance() <= 0) {
            continue;
        }
        Call call{merchant_uid, "duplicate-refund", [](const std::optional<domain::Order>&) {},
                  std::nullopt, domain::EventCause::reconciler};
        iamport::CancelRequest request;
        request.reason = "duplicate payment of an order already paid";
        const auto imp_uid = duplicate.imp_uid;
        const auto begun = co_await begin_attempt(
            deps, call, db::AttemptKind::cancel,
            [&](const domain::Order&, const std::vector<domain::Payment>& payments) {
                const auto* payment = find_payment(payments, imp_uid);
                if (payment == nullptr || payment->set_aside != "duplicate" ||
                    payment->cancellable_balance() <= 0) {
                    throw conflict("balance_changed", "the duplicate holds nothing to refund");
                }
                const auto balance = payment->cancellable_balance();
                const auto tax_free = tax_free_of_cancel(*payment, balance, std::nullopt);
                request.imp_uid = imp_uid;
                request.amount = balance;
                request.checksum = balance;
                if (tax_free > 0) {
                    request.tax_free = tax_free;
                }
                return AttemptPlan{balance, imp_uid, tax_free, payment->cancel_amount};
            });
        const auto refunded = *request.amount;
        const auto tax_free = request.tax_free.value_or(0);
        const auto result = co_await deps.iamport.cancel_payment(std::move(request));
        co_await finish_attempt(
            deps, call, begun, result, {}, [&](pqxx::work& work, domain::Order& order) {
                db::add_tax_free_cancelled(work, imp_uid, tax_free);
                boost::json::object why;
                why["duplicate_refunded"] = imp_uid;
                why["amount"] = refunded;
                db::append_order_event(work, db::OrderEvent{order.id, order.status, order.status,
                                                            domain::EventCause::reconciler, imp_uid,
                                                            boost::json::serialize(why)});
            });
        log::info("duplicate payment refunded",
                  {{"merchant_uid", merchant_uid}, {"imp_uid", imp_uid}, {"amount", refunded}});
    }
}

}  // namespace mg::payments
