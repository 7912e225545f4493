#include "service/payments/calls.hpp"

#include <algorithm>
#include <utility>

#include "db/errors.hpp"
#include "db/lifecycle_repository.hpp"
#include "db/orders_repository.hpp"
#include "db/payments_repository.hpp"
#include "service/common/log.hpp"
#include "service/domain/order_state.hpp"
#include "service/iamport/client.hpp"
#include "service/payments/attempts.hpp"
#include "service/payments/receipts.hpp"
#include "service/runtime/db_executor.hpp"

namespace mg::payments {

namespace asio = boost::asio;
using Kind = Failure::Kind;

domain::Amount tax_free_of_cancel(const domain::Payment& payment, domain::Amount cancelled,
                                  std::optional<domain::Amount> asked) {
    const auto balance = payment.cancellable_balance();
    // What is left tax-free can't be more than what is left at all.
    const auto tax_free_left = std::min(payment.tax_free_balance(), balance);
    if (asked) {
        if (*asked > tax_free_left || *asked > cancelled) {
            throw Failure(Failure::Kind::invalid, "tax_free_exceeds_balance",
                          "tax_free must be at most the tax-free balance (" +
                              std::to_string(tax_free_left) + ") and at most the amount cancelled",
                          "tax_free");
        }
        return *asked;
    }
    if (cancelled >= balance) {
        return tax_free_left;  // a full cancel refunds every tax-free won still held
    }
    // The tax-free share of the cancelled amount, rounded down: floor(A × T / B) keeps what stays
    // tax-free (T − share) within what stays at all (B − A). 128 bits: A × T may pass 2^63.
    __extension__ using Wide = __int128;
    const auto share = static_cast<Wide>(cancelled) * tax_free_left / balance;
    return static_cast<domain::Amount>(share);
}

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
    if (begun.order.tax_free > 0) {
        request.tax_free = begun.order.tax_free;
    }
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
            if (update.amount && *update.amount < order.tax_free) {
                throw Failure(Kind::invalid, "validation_failed",
                              "amount must be at least the order's tax_free (" +
                                  std::to_string(order.tax_free) + ")",
                              "amount");
            }
            imp_uid = vbank->imp_uid;
            return AttemptPlan{update.amount, vbank->imp_uid, std::nullopt, std::nullopt};
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

namespace {

// A receipt that no longer fits the sale is the receipts' business: the refund stands whatever
// becomes of it.
asio::awaitable<Answer> then_follow_receipt(CallDeps& deps, const Call& call, Answer answer,
                                            std::optional<ReceiptAsk> reissue_to) {
    if (answer.unknown) {
        co_return answer;
    }
    try {
        co_await follow_refund(deps, call.merchant_uid, std::move(reissue_to));
        answer.view = co_await deps.db.transact([&](pqxx::work& work) {
            auto order = db::find_order(work, call.merchant_uid);
            return load_view(work, std::move(*order));
        });
    } catch (const std::exception& e) {
        log::error("the cash receipt could not follow a refund; an operator must look",
                   {{"merchant_uid", call.merchant_uid}, {"error", e.what()}});
    }
    co_return answer;
}

}  // namespace

asio::awaitable<Answer> cancel_payment(CallDeps& deps, const Call& call,
                                       iamport::CancelRequest request,
                                       std::optional<ReceiptAsk> reissue_to) {
    const auto status = co_await deps.db.transact([&](pqxx::work& work) {
        auto order = db::find_order(work, call.merchant_uid);
        call.authorize(order);
        return order->status;
    });
    if (status == domain::OrderStatus::awaiting_deposit) {
        // Nothing was paid yet: cancelling closes the virtual account at iamport.
        if (request.amount || request.tax_free) {
            throw Failure(Kind::invalid, "validation_failed",
                          "the order awaits its deposit: nothing was paid that could be partly "
                          "refunded; a cancel without amount revokes its virtual account",
                          request.amount ? "amount" : "tax_free");
        }
        auto revoked = co_await revoke_vbank(deps, call);
        co_return co_await then_follow_receipt(deps, call, std::move(revoked), std::nullopt);
    }
    const auto amount = request.amount;
    const auto asked_tax_free = request.tax_free;
    const auto begun = co_await begin_attempt(
        deps, call, db::AttemptKind::cancel,
        [&](const domain::Order& order, const std::vector<domain::Payment>& payments) {
            const domain::Payment* paid = nullptr;
            for (const auto& payment : payments) {
                if (payment.status == "paid" && payment.cancellable_balance() > 0 &&
                    domain::counts_for_order(payment)) {
                    paid = &payment;
                }
            }
            if (!domain::is_cancellable(order.status) || paid == nullptr) {
                throw conflict("order_not_cancellable",
                               "the order is " + status_text(order) +
                                   "; only a paid order (or one awaiting its deposit) can be "
                                   "cancelled");
            }
            const auto balance = paid->cancellable_balance();
            if (amount && *amount > balance) {
                throw Failure(Kind::invalid, "amount_exceeds_balance",
                              "at most " + std::to_string(balance) + " can still be cancelled",
                              "amount");
            }
            require_refund_account(*paid, request.refund_holder, request.refund_bank,
                                   request.refund_account);
            const auto cancelled = amount.value_or(balance);
            const auto tax_free = tax_free_of_cancel(*paid, cancelled, asked_tax_free);
            request.imp_uid = paid->imp_uid;
            request.checksum = balance;
            request.amount = cancelled;
            if (tax_free > 0 || asked_tax_free) {
                request.tax_free = tax_free;
            }
            return AttemptPlan{cancelled, paid->imp_uid, tax_free, paid->cancel_amount};
        });
    if (begun.earlier) {
        co_return answer_from_earlier(begun);
    }
    const auto checksum = request.checksum;
    const auto imp_uid = *request.imp_uid;
    const auto tax_free = request.tax_free.value_or(0);
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
    auto answer = co_await finish_attempt(deps, call, begun, result, {},
                                          [&](pqxx::work& work, domain::Order&) {
                                              db::add_tax_free_cancelled(work, imp_uid, tax_free);
                                          });
    co_return co_await then_follow_receipt(deps, call, std::move(answer), std::move(reissue_to));
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
