// The order state machine of SPEC §5, in this one place. Every change of an order's status is
// checked here; what iamport's record of a payment means for its order is decided here.
//
//   pending ──▶ awaiting_deposit ──▶ paid ──▶ partially_cancelled ──▶ cancelled
//      └──────────────────────────────▲ │                                 ▲
//                     awaiting_deposit ─┴──▶ expired     paid ────────────┘
//                     awaiting_deposit ─────▶ cancelled
//   any status except needs_review ──▶ needs_review (iamport's data did not match the order)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "service/domain/order.hpp"
#include "service/domain/payment.hpp"

namespace mg::domain {

bool is_allowed_transition(OrderStatus from, OrderStatus to);

// A new payment call (Benepia, vbank issue) may start only from pending.
bool is_payable(OrderStatus status);
// Something was paid that can still be refunded.
bool is_cancellable(OrderStatus status);

// What applying iamport's record of one payment does to its order.
struct PaymentVerdict {
    // The statuses the order moves through, in order; each step is an allowed transition.
    // Empty: nothing changes.
    std::vector<OrderStatus> path;
    // Set when the path ends in needs_review: why the payment could not be believed.
    std::optional<std::string> review_reason;
    // Set when the record changes nothing although it could have: it moved no money and either
    // no call of the order's started it or it disagrees with the order (SPEC §5: third-party
    // records move nothing).
    std::optional<std::string> disregarded;
    // The review is for a second payment that took money for an order another payment already
    // settled (DUPLICATE_PAYMENT_POLICY may refund it instead).
    bool duplicate = false;
};

// `payment` is iamport's current record (fetched from iamport, never a webhook body).
// `other_payment_settled`: another payment (other imp_uid) of this order already took money.
// Verification (SPEC §4, §6): a payment that moved money is believed only if its merchant_uid,
// amount and currency equal the order's; otherwise the order goes to needs_review, never paid.
// `vouched`: a call of the order's started the payment or vouched for it (our own call's
// answer, `complete` by the order's caller, a payment already recorded as the order's own). A
// record that moved no money changes the order only when vouched for and in agreement with it.
bool took_money(const Payment& payment);
PaymentVerdict judge_payment(const Order& order, const Payment& payment, bool other_payment_settled,
                             bool vouched = true);

// Whether a payment still counts for its order: not set aside (a refunded duplicate, a payment
// refunded by an operator) and not unsolicited.
bool counts_for_order(const Payment& payment);

// The status an order in needs_review returns to after an operator's decision, from what its
// payments that count (counts_for_order, of its merchant_uid, amount and currency) imply: the
// one that holds money decides (needs_review again when several do); else cancelled when one took
// money and was refunded in full; else awaiting_deposit when a virtual account awaits a
// deposit; else pending.
OrderStatus status_implied_by(const Order& order, const std::vector<Payment>& payments);

// Where iamport's record of a payment puts its order on its own (paid, partially_cancelled,
// cancelled, awaiting_deposit); nullopt for a payment that moved nothing (failed).
std::optional<OrderStatus> status_of_payment(const Payment& payment);

}  // namespace mg::domain
