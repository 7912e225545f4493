// The payment lifecycle beyond taking money (SPEC §5): the amount registered for a browser
// checkout, operators' decisions on orders in needs_review, and the automatic refund of
// duplicate charges. Revoking a virtual account is calls.hpp's revoke_vbank.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "service/payments/calls.hpp"

namespace mg::payments {

// POST /v1/orders/{merchant_uid}/checkout: registers the pending order's amount at iamport
// (POST /payments/prepare, or PUT when it was registered before with another amount; nothing is
// sent when iamport already holds this amount), so that iamport stops a payment window opened
// with any other amount. The order counts as a checkout started from now (its first look-up for
// a lost result comes within 60 s).
boost::asio::awaitable<OrderView> register_checkout(CallDeps& deps, const Call& call);

// POST /v1/orders/{merchant_uid}/review, for an order in needs_review.
struct Decision {
    enum class Action { refund, accept };
    Action action = Action::refund;
    std::string imp_uid;
    std::string reason;
    std::optional<domain::Amount> amount;  // accept: iamport's amount, restated
    // refund of a virtual-account payment: where iamport sends the money back.
    std::optional<std::string> refund_holder;
    std::optional<std::string> refund_bank;
    std::optional<std::string> refund_account;
    std::optional<std::string> refund_tel;
    std::string actor;  // the deciding API key's name
};

// refund: cancels the payment in full at iamport (checksum = its balance) and returns the order
// to what its remaining payments imply (domain::status_implied_by). accept: with the amount
// restated as iamport has it, the order takes that payment's status and amount. Each decision is
// an order_events row with cause operator, the actor and the reason. Decided from records fetched
// just before, under the order's lock. Refused (conflict) for an order not in review; an unknown
// outcome of the refund is 202 and the decision waits for a repeat once it is settled.
boost::asio::awaitable<Answer> decide_review(CallDeps& deps, const Call& call, Decision decision);

// Refunds in full the order's payments set aside as duplicates (DUPLICATE_PAYMENT_POLICY=refund)
// that still hold money. Run by the reconciler; errors are logged and retried on its next pass.
boost::asio::awaitable<void> refund_duplicates(CallDeps& deps, std::string merchant_uid);

}  // namespace mg::payments
