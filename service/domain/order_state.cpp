#include "service/domain/order_state.hpp"

namespace mg::domain {
namespace {

using S = OrderStatus;

// Where iamport's record of a payment puts its order, ignoring where the order is now.
std::optional<OrderStatus> target_of(const Payment& payment) {
    if (payment.status == "ready") {
        return S::awaiting_deposit;
    }
    if (payment.status == "paid") {
        if (payment.cancel_amount <= 0) {
            return S::paid;
        }
        return payment.cancel_amount < payment.amount ? S::partially_cancelled : S::cancelled;
    }
    if (payment.status == "cancelled") {
        return S::cancelled;
    }
    return std::nullopt;  // failed, or a status we do not know: it moved no money
}

PaymentVerdict review(std::string reason) {
    return PaymentVerdict{{S::needs_review}, std::move(reason), std::nullopt};
}

// Rank along the paid branch: pending < awaiting_deposit < paid < partially_cancelled < cancelled.
int rank(OrderStatus status) {
    switch (status) {
        case S::pending:
            return 0;
        case S::awaiting_deposit:
            return 1;
        case S::paid:
            return 2;
        case S::partially_cancelled:
            return 3;
        case S::cancelled:
            return 4;
        case S::expired:
        case S::needs_review:
            break;
    }
    return -1;
}

PaymentVerdict disregard(std::string reason) {
    PaymentVerdict verdict;
    verdict.disregarded = std::move(reason);
    return verdict;
}

}  // namespace

bool took_money(const Payment& payment) {
    return payment.paid_at > 0 || payment.cancel_amount > 0 || payment.status == "paid";
}

bool is_allowed_transition(OrderStatus from, OrderStatus to) {
    if (from == to) {
        return false;
    }
    if (to == S::needs_review) {
        return from != S::needs_review;
    }
    switch (from) {
        case S::pending:
            return to == S::awaiting_deposit || to == S::paid;
        case S::awaiting_deposit:
            return to == S::paid || to == S::expired || to == S::cancelled;
        case S::paid:
            return to == S::partially_cancelled || to == S::cancelled;
        case S::partially_cancelled:
            return to == S::cancelled;
        case S::cancelled:
        case S::expired:
        case S::needs_review:
            return false;
    }
    return false;
}

bool is_payable(OrderStatus status) {
    return status == S::pending;
}

bool is_cancellable(OrderStatus status) {
    return status == S::paid || status == S::partially_cancelled;
}

PaymentVerdict judge_payment(const Order& order, const Payment& payment, bool other_payment_settled,
                             bool vouched) {
    if (order.status == S::needs_review) {
        return {};  // an operator decides from here
    }
    const auto target = target_of(payment);
    if (!target) {
        return {};
    }
    const bool money = took_money(payment);
    if (!money && !vouched) {
        // Anyone who knows a merchant_uid can open an unpaid account for it through iamport's
        // browser SDK: what moved no money and was not ours moves nothing.
        return disregard("payment " + payment.imp_uid +
                         " moved no money and no call of this order's started it");
    }
    std::optional<std::string> disagreement;
    if (payment.merchant_uid != order.merchant_uid) {
        disagreement = "payment " + payment.imp_uid + " belongs to merchant_uid " +
                       payment.merchant_uid + ", not to this order";
    } else if (const auto currency = payment.currency.value_or("KRW"); currency != order.currency) {
        disagreement = "payment " + payment.imp_uid + " is in " + currency + ", the order in " +
                       order.currency;
    } else if (payment.amount != order.amount) {
        disagreement = "payment " + payment.imp_uid + " is of " + std::to_string(payment.amount) +
                       ", the order of " + std::to_string(order.amount);
    }
    if (disagreement) {
        // Only a record that took money and disagrees needs a person.
        return money ? review(*disagreement) : disregard(*disagreement + "; it moved no money");
    }
    if (other_payment_settled && money) {
        auto verdict = review("payment " + payment.imp_uid +
                              " took money for an order another payment already settled");
        verdict.duplicate = true;
        return verdict;
    }

    if (*target == S::awaiting_deposit) {
        // An issued vbank matters only to an order still waiting for a payment.
        if (order.status == S::pending) {
            return {{S::awaiting_deposit}, std::nullopt, std::nullopt};
        }
        return {};
    }
    if (!money) {
        // Cancelled before any money arrived: a vbank closed unpaid — revoked by the shop, or
        // closed once its due time had passed (the order expired).
        if (order.status == S::awaiting_deposit) {
            const bool past_due =
                payment.vbank_date > 0 && payment.cancelled_at >= payment.vbank_date;
            return {{past_due ? S::expired : S::cancelled}, std::nullopt, std::nullopt};
        }
        return {};
    }
    if (order.status == S::expired) {
        return review("payment " + payment.imp_uid + " took money after the order expired");
    }
    const int from = rank(order.status);
    const int to = rank(*target);
    if (to < from) {
        // iamport shows less cancelled than we recorded: our record is wrong somewhere.
        return review("iamport reports payment " + payment.imp_uid + " as " + payment.status +
                      " with " + std::to_string(payment.cancel_amount) +
                      " cancelled, behind the order's status " +
                      std::string(to_string(order.status)));
    }
    PaymentVerdict verdict;
    for (const auto step : {S::paid, S::partially_cancelled, S::cancelled}) {
        if (rank(step) > from && rank(step) <= to) {
            if (step == S::partially_cancelled && *target == S::cancelled) {
                continue;  // fully cancelled: straight from paid to cancelled
            }
            verdict.path.push_back(step);
        }
    }
    return verdict;
}

std::optional<OrderStatus> status_of_payment(const Payment& payment) {
    return target_of(payment);
}

bool counts_for_order(const Payment& payment) {
    return !payment.set_aside && !payment.unsolicited;
}

OrderStatus status_implied_by(const Order& order, const std::vector<Payment>& payments) {
    int holding = 0;
    std::optional<OrderStatus> held;
    bool refunded = false;
    bool awaiting = false;
    for (const auto& payment : payments) {
        if (!counts_for_order(payment) || payment.merchant_uid != order.merchant_uid ||
            payment.amount != order.amount || payment.currency.value_or("KRW") != order.currency) {
            continue;
        }
        const auto target = target_of(payment);
        if (!target) {
            continue;
        }
        if (*target == S::awaiting_deposit) {
            awaiting = true;
        } else if (*target == S::cancelled) {
            refunded = refunded || took_money(payment);
        } else {
            ++holding;
            held = *target;
        }
    }
    if (holding > 1) {
        return S::needs_review;
    }
    if (held) {
        return *held;
    }
    if (refunded) {
        return S::cancelled;
    }
    return awaiting ? S::awaiting_deposit : S::pending;
}

}  // namespace mg::domain
