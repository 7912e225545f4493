#include "service/payments/receipts.hpp"

#include "db/errors.hpp"
#include "db/lifecycle_repository.hpp"
#include "db/orders_repository.hpp"
#include "db/payments_repository.hpp"
#include "service/common/crypto.hpp"
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

// The sealed identifier opens only in this column.
constexpr std::string_view kIdentifierContext = "cash_receipts.identifier";

// The order's virtual-account payment that counts for it: what a cash receipt is issued for.
const domain::Payment* cash_payment(const std::vector<domain::Payment>& payments) {
    for (auto it = payments.rbegin(); it != payments.rend(); ++it) {
        if (it->pay_method == "vbank" && domain::counts_for_order(*it) &&
            (it->status == "ready" || it->status == "paid")) {
            return &*it;
        }
    }
    return nullptr;
}

bool is_paid(OrderStatus status) {
    return status == OrderStatus::paid || status == OrderStatus::partially_cancelled;
}

// A receipt about to be issued, and what the call needs.
struct Issue {
    db::CashReceipt receipt;
    std::string identifier;
    domain::Order order;
    domain::Amount tax_free = 0;
};

const crypto::SecretKey& secrets_of(const CallDeps& deps) {
    if (deps.secrets == nullptr) {
        throw std::logic_error("cash receipts need the gateway's secret key");
    }
    return *deps.secrets;
}

// Writes the receipt; one issued or cancelled now is told to the shop (an event, in the same
// transaction).
void record(pqxx::work& work, const db::CashReceipt& receipt) {
    db::update_cash_receipt(work, receipt);
    if (receipt.state == "issued" || (receipt.state == "cancelled" && receipt.issued_at > 0)) {
        const auto order = db::find_order_by_id(work, receipt.order_id);
        emit_event(work, order,
                   receipt.state == "issued" ? "order.cash_receipt_issued"
                                             : "order.cash_receipt_cancelled");
    }
}

// Calls iamport for `issue` and writes what came of it. `retry_later`: a call that was not sent
// puts the request back to wait (the reconciler's); else it fails (the caller may ask again).
asio::awaitable<iamport::Result<iamport::Receipt>> issue_now(CallDeps& deps, Issue& issue,
                                                             bool retry_later) {
    auto& receipt = issue.receipt;
    iamport::ReceiptRequest request;
    request.identifier = issue.identifier;
    request.identifier_type = receipt.identifier_type;
    request.type = receipt.type == "company" ? "company" : "person";  // iamport's names
    request.buyer_name = issue.order.buyer.name;
    request.buyer_email = issue.order.buyer.email;
    request.buyer_tel = issue.order.buyer.tel;
    if (issue.tax_free > 0) {
        request.tax_free = issue.tax_free;
    }
    auto result = co_await deps.iamport.issue_receipt(*receipt.imp_uid, std::move(request));
    using iamport::Outcome;
    switch (result.outcome()) {
        case Outcome::success:
            receipt.state = "issued";
            receipt.amount = result->amount;
            receipt.tax_free = issue.tax_free;
            receipt.apply_num = result->apply_num;
            receipt.receipt_url = result->receipt_url;
            receipt.issued_at = result->applied_at;
            receipt.error_message.reset();
            break;
        case Outcome::unknown_outcome:
            receipt.state = "unknown";  // the reconciler looks it up
            break;
        case Outcome::declined:
        case Outcome::rejected:
        case Outcome::not_found:
            receipt.state = "failed";
            receipt.error_message = result.error().message;
            break;
        case Outcome::not_sent:
        case Outcome::breaker_open:
        case Outcome::upstream_error:
            receipt.state = retry_later ? "requested" : "failed";
            receipt.error_message = result.error().message;
            break;
    }
    co_await deps.db.transact([&](pqxx::work& work) { record(work, receipt); });
    log::info("cash receipt issue", {{"merchant_uid", issue.order.merchant_uid},
                                     {"imp_uid", *receipt.imp_uid},
                                     {"state", receipt.state}});
    co_return result;
}

// The tax-free part of what the receipt is for: the payment's tax-free balance.
domain::Amount receipt_tax_free(const domain::Payment& payment) {
    return std::min(payment.tax_free_balance(), payment.cancellable_balance());
}

asio::awaitable<OrderView> view_of(CallDeps& deps, const std::string& merchant_uid) {
    co_return co_await deps.db.transact([&](pqxx::work& work) {
        auto order = db::find_order(work, merchant_uid);
        return load_view(work, std::move(*order));
    });
}

// With the order locked: a new receipt for `payment`, in `state` (issuing or requested).
db::CashReceipt insert_receipt(pqxx::work& work, const CallDeps& deps, const domain::Order& order,
                               const domain::Payment& payment, const ReceiptAsk& ask,
                               std::string state) {
    db::CashReceipt receipt;
    receipt.order_id = order.id;
    receipt.imp_uid = payment.imp_uid;
    receipt.state = std::move(state);
    receipt.type = ask.type;
    receipt.identifier_type = ask.identifier_type;
    receipt.identifier_masked = mask_identifier(ask.identifier);
    receipt.identifier_sealed = secrets_of(deps).seal(ask.identifier, kIdentifierContext);
    try {
        receipt.id = db::insert_cash_receipt(work, order.id, receipt);
    } catch (const db::Conflict&) {
        throw conflict("cash_receipt_exists",
                       "the order already has a cash receipt, issued or on its way");
    }
    return receipt;
}

}  // namespace

std::string mask_identifier(std::string_view identifier) {
    constexpr std::size_t kShown = 4;
    if (identifier.size() <= kShown) {
        return std::string(identifier.size(), '*');
    }
    return std::string(identifier.size() - kShown, '*') +
           std::string(identifier.substr(identifier.size() - kShown));
}

asio::awaitable<Answer> request_cash_receipt(CallDeps& deps, const Call& call, ReceiptAsk ask) {
    auto issue = co_await deps.db.transact([&](pqxx::work& work) -> std::optional<Issue> {
        auto order = db::find_order_for_update(work, call.merchant_uid);
        call.authorize(order);
        const auto payments = db::list_payments(work, order->id);
        const auto* payment = cash_payment(payments);
        if (payment == nullptr) {
            throw conflict("not_a_cash_sale",
                           "a cash receipt is issued for an order paid by virtual account");
        }
        if (order->status == OrderStatus::awaiting_deposit) {
            insert_receipt(work, deps, *order, *payment, ask, "requested");
            return std::nullopt;  // issued once the deposit lands
        }
        if (!is_paid(order->status)) {
            throw conflict("order_not_eligible", "the order is " + status_text(*order) +
                                                     "; a cash receipt needs a paid order");
        }
        auto receipt = insert_receipt(work, deps, *order, *payment, ask, "issuing");
        return Issue{std::move(receipt), ask.identifier, *order, receipt_tax_free(*payment)};
    });
    bool unknown = false;
    if (issue) {
        const auto result = co_await issue_now(deps, *issue, false);
        const auto outcome = result.outcome();
        if (outcome == iamport::Outcome::unknown_outcome) {
            unknown = true;
        } else if (!result && (outcome == iamport::Outcome::declined ||
                               outcome == iamport::Outcome::rejected ||
                               outcome == iamport::Outcome::not_found)) {
            // iamport's words stay in the log and the row: they may be about the identifier.
            throw conflict("cash_receipt_refused", "iamport refused to issue the cash receipt");
        } else if (!result) {
            throw iamport_failure(result.error(), false);
        }
    }
    // Named first: GCC 12 can destroy a temporary inside a co_await expression twice.
    auto view = co_await view_of(deps, call.merchant_uid);
    co_return Answer{std::move(view), unknown};
}

asio::awaitable<void> follow_refund(CallDeps& deps, const std::string& merchant_uid,
                                    std::optional<ReceiptAsk> reissue_to) {
    enum class Step { none, cancel, cancel_and_reissue };
    std::optional<db::CashReceipt> live;
    Step step = Step::none;
    co_await deps.db.transact([&](pqxx::work& work) {
        auto order = db::find_order_for_update(work, merchant_uid);
        live = db::find_live_cash_receipt(work, order->id);
        if (!live) {
            return;
        }
        const bool refunded =
            order->status == OrderStatus::cancelled || order->status == OrderStatus::expired;
        if (live->state == "requested") {
            if (refunded) {
                live->state = "cancelled";  // nothing was issued; the request goes with the sale
                record(work, *live);
            }
            return;
        }
        if (live->state != "issued") {
            return;  // an issue still settling; the reconciler and an operator take it from here
        }
        if (refunded) {
            step = Step::cancel;
        } else if (order->status == OrderStatus::partially_cancelled) {
            if (reissue_to) {
                step = Step::cancel_and_reissue;
            } else {
                live->state = "needs_operator";
                live->error_message =
                    "a partial refund changed the sale; re-issue the receipt for what remains";
                record(work, *live);
            }
        }
    });
    if (step == Step::none) {
        co_return;
    }
    const auto cancelled = co_await deps.iamport.cancel_receipt(*live->imp_uid);
    if (cancelled) {
        live->state = "cancelled";
        live->cancelled_at = cancelled->cancelled_at;
    } else {
        live->state = "needs_operator";
        live->error_message = "cancelling the receipt at iamport failed: " +
                              std::string(iamport::to_string(cancelled.outcome()));
    }
    co_await deps.db.transact([&](pqxx::work& work) { record(work, *live); });
    log::info("cash receipt cancelled after a refund",
              {{"merchant_uid", merchant_uid}, {"state", live->state}});
    if (step != Step::cancel_and_reissue || !cancelled) {
        co_return;
    }
    auto issue = co_await deps.db.transact([&](pqxx::work& work) -> std::optional<Issue> {
        auto order = db::find_order_for_update(work, merchant_uid);
        const auto payments = db::list_payments(work, order->id);
        const auto* payment = cash_payment(payments);
        if (payment == nullptr || !is_paid(order->status)) {
            return std::nullopt;
        }
        auto receipt = insert_receipt(work, deps, *order, *payment, *reissue_to, "issuing");
        return Issue{std::move(receipt), reissue_to->identifier, *order,
                     receipt_tax_free(*payment)};
    });
    if (issue) {
        co_await issue_now(deps, *issue, true);
    }
}

asio::awaitable<void> settle_cash_receipts(CallDeps& deps, std::string merchant_uid) {
    std::optional<Issue> issue;
    std::optional<db::CashReceipt> lookup;
    co_await deps.db.transact([&](pqxx::work& work) {
        auto order = db::find_order_for_update(work, merchant_uid);
        auto live = db::find_live_cash_receipt(work, order->id);
        if (!live) {
            return;
        }
        if (live->state == "issuing" || live->state == "unknown") {
            lookup = live;
            return;
        }
        if (live->state != "requested" || !is_paid(order->status)) {
            return;
        }
        const auto payments = db::list_payments(work, order->id);
        const auto* payment = cash_payment(payments);
        std::string identifier;
        if (payment == nullptr || !live->identifier_sealed ||
            !secrets_of(deps).open(*live->identifier_sealed, kIdentifierContext, identifier)) {
            live->state = "needs_operator";
            live->error_message = "the request can no longer be issued: ask the buyer again";
            record(work, *live);
            return;
        }
        live->state = "issuing";
        live->imp_uid = payment->imp_uid;
        record(work, *live);
        issue = Issue{*live, std::move(identifier), *order, receipt_tax_free(*payment)};
    });
    if (issue) {
        co_await issue_now(deps, *issue, true);
        co_return;
    }
    if (!lookup) {
        co_return;
    }
    // Issued or not: iamport's record of the payment's receipt says.
    const auto found = co_await deps.iamport.get_receipt(*lookup->imp_uid);
    if (found && found->cancelled_at == 0) {
        lookup->state = "issued";
        lookup->amount = found->amount;
        lookup->apply_num = found->apply_num;
        lookup->receipt_url = found->receipt_url;
        lookup->issued_at = found->applied_at;
    } else if (found || found.outcome() == iamport::Outcome::not_found) {
        // Never issued: asked again while the identifier is still held, else given up.
        lookup->state = lookup->identifier_sealed ? "requested" : "failed";
    } else {
        co_return;  // iamport did not answer: next pass
    }
    co_await deps.db.transact([&](pqxx::work& work) { record(work, *lookup); });
    log::info("cash receipt settled", {{"merchant_uid", merchant_uid}, {"state", lookup->state}});
}

}  // namespace mg::payments
