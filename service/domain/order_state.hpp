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
};

// `payment` is iamport's current record (fetched from iamport, never a webhook body).
// `other_payment_settled`: another payment (other imp_uid) of this order already took money.
// Verification (SPEC §4, §6): a payment that moved money is believed only if its merchant_uid,
// amount and currency equal the order's; otherwise the order goes to needs_review, never paid.
PaymentVerdict judge_payment(const Order& order, const Payment& payment,
                             bool other_payment_settled);

}  // namespace mg::domain
