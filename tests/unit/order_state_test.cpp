#include "service/domain/order_state.hpp"

#include <gtest/gtest.h>

namespace mg::domain {
namespace {

using S = OrderStatus;

Order order_in(OrderStatus status, Amount amount = 32000) {
    Order order;
    order.id = 1;
    order.merchant_uid = "order-1";
    order.amount = amount;
    order.currency = "KRW";
    order.status = status;
    return order;
}

Payment payment(std::string status, Amount amount = 32000, Amount cancelled = 0) {
    Payment p;
    p.imp_uid = "imp_1";
    p.merchant_uid = "order-1";
    p.status = std::move(status);
    p.amount = amount;
    p.cancel_amount = cancelled;
    p.currency = "KRW";
    if (p.status == "paid" || cancelled > 0) {
        p.paid_at = 1'700'000'000;
    }
    return p;
}

std::vector<S> path(const PaymentVerdict& v) {
    return v.path;
}

TEST(OrderState, AllowedTransitionsFollowTheSpec) {
    EXPECT_TRUE(is_allowed_transition(S::pending, S::awaiting_deposit));
    EXPECT_TRUE(is_allowed_transition(S::pending, S::paid));
    EXPECT_TRUE(is_allowed_transition(S::awaiting_deposit, S::paid));
    EXPECT_TRUE(is_allowed_transition(S::awaiting_deposit, S::expired));
    EXPECT_TRUE(is_allowed_transition(S::awaiting_deposit, S::cancelled));
    EXPECT_TRUE(is_allowed_transition(S::paid, S::partially_cancelled));
    EXPECT_TRUE(is_allowed_transition(S::paid, S::cancelled));
    EXPECT_TRUE(is_allowed_transition(S::partially_cancelled, S::cancelled));
    for (auto from : {S::pending, S::awaiting_deposit, S::paid, S::partially_cancelled,
                      S::cancelled, S::expired}) {
        EXPECT_TRUE(is_allowed_transition(from, S::needs_review));
    }

    EXPECT_FALSE(is_allowed_transition(S::paid, S::pending));
    EXPECT_FALSE(is_allowed_transition(S::paid, S::paid));
    EXPECT_FALSE(is_allowed_transition(S::cancelled, S::paid));
    EXPECT_FALSE(is_allowed_transition(S::expired, S::paid));
    EXPECT_FALSE(is_allowed_transition(S::pending, S::cancelled));
    EXPECT_FALSE(is_allowed_transition(S::pending, S::partially_cancelled));
    EXPECT_FALSE(is_allowed_transition(S::needs_review, S::paid));
    EXPECT_FALSE(is_allowed_transition(S::needs_review, S::needs_review));
    EXPECT_TRUE(is_payable(S::pending));
    EXPECT_FALSE(is_payable(S::awaiting_deposit));
    EXPECT_FALSE(is_payable(S::paid));
    EXPECT_TRUE(is_cancellable(S::partially_cancelled));
    EXPECT_FALSE(is_cancellable(S::awaiting_deposit));
}

TEST(OrderState, PaymentsMoveTheOrderForward) {
    EXPECT_EQ(path(judge_payment(order_in(S::pending), payment("ready"), false)),
              std::vector<S>{S::awaiting_deposit});
    EXPECT_EQ(path(judge_payment(order_in(S::pending), payment("paid"), false)),
              std::vector<S>{S::paid});
    EXPECT_EQ(path(judge_payment(order_in(S::awaiting_deposit), payment("paid"), false)),
              std::vector<S>{S::paid});
    EXPECT_EQ(path(judge_payment(order_in(S::paid), payment("paid", 32000, 2000), false)),
              std::vector<S>{S::partially_cancelled});
    EXPECT_EQ(path(judge_payment(order_in(S::partially_cancelled),
                                 payment("cancelled", 32000, 32000), false)),
              std::vector<S>{S::cancelled});
    EXPECT_EQ(path(judge_payment(order_in(S::paid), payment("cancelled", 32000, 32000), false)),
              std::vector<S>{S::cancelled});
    // Learned late: every step is recorded, none skipped.
    EXPECT_EQ(path(judge_payment(order_in(S::pending), payment("paid", 32000, 500), false)),
              (std::vector<S>{S::paid, S::partially_cancelled}));
    EXPECT_EQ(path(judge_payment(order_in(S::pending), payment("cancelled", 32000, 32000), false)),
              (std::vector<S>{S::paid, S::cancelled}));
    // A vbank closed before any deposit.
    auto closed = payment("cancelled");
    closed.paid_at = 0;
    EXPECT_EQ(path(judge_payment(order_in(S::awaiting_deposit), closed, false)),
              std::vector<S>{S::cancelled});
    EXPECT_TRUE(path(judge_payment(order_in(S::pending), closed, false)).empty());
}

TEST(OrderState, RepeatsStaleNewsAndFailuresChangeNothing) {
    EXPECT_TRUE(path(judge_payment(order_in(S::paid), payment("paid"), false)).empty());
    EXPECT_TRUE(path(judge_payment(order_in(S::paid), payment("ready"), false)).empty());
    EXPECT_TRUE(
        path(judge_payment(order_in(S::awaiting_deposit), payment("ready"), false)).empty());
    EXPECT_TRUE(path(judge_payment(order_in(S::pending), payment("failed"), false)).empty());
    EXPECT_TRUE(
        path(judge_payment(order_in(S::partially_cancelled), payment("paid", 32000, 100), false))
            .empty());
    EXPECT_TRUE(path(judge_payment(order_in(S::needs_review), payment("paid"), false)).empty());
    // A failed payment of another amount moved no money: nothing to review.
    EXPECT_TRUE(path(judge_payment(order_in(S::pending), payment("failed", 1), false)).empty());
}

TEST(OrderState, MismatchesGoToReviewNeverPaid) {
    const auto other_amount = judge_payment(order_in(S::pending), payment("paid", 100), false);
    EXPECT_EQ(path(other_amount), std::vector<S>{S::needs_review});
    ASSERT_TRUE(other_amount.review_reason);
    EXPECT_NE(other_amount.review_reason->find("100"), std::string::npos);

    auto foreign = payment("paid");
    foreign.merchant_uid = "order-2";
    EXPECT_EQ(path(judge_payment(order_in(S::pending), foreign, false)),
              std::vector<S>{S::needs_review});

    auto dollars = payment("paid");
    dollars.currency = "USD";
    EXPECT_EQ(path(judge_payment(order_in(S::pending), dollars, false)),
              std::vector<S>{S::needs_review});

    // A vbank issued for another amount is not believed either; it took no money, so it moves
    // nothing (until a deposit into it does: that needs review).
    const auto one_won = judge_payment(order_in(S::pending), payment("ready", 1), false);
    EXPECT_EQ(path(one_won), std::vector<S>{});
    ASSERT_TRUE(one_won.disregarded);
    EXPECT_FALSE(one_won.review_reason);
    auto deposited = payment("paid", 1);
    EXPECT_EQ(path(judge_payment(order_in(S::pending), deposited, false, false)),
              std::vector<S>{S::needs_review});
    // Money after expiry, a second payment, and iamport behind our record need a person.
    EXPECT_EQ(path(judge_payment(order_in(S::expired), payment("paid"), false)),
              std::vector<S>{S::needs_review});
    EXPECT_EQ(path(judge_payment(order_in(S::paid), payment("paid"), true)),
              std::vector<S>{S::needs_review});
    EXPECT_EQ(path(judge_payment(order_in(S::cancelled), payment("paid"), false)),
              std::vector<S>{S::needs_review});
}

TEST(OrderState, RecordsThatMovedNoMoneyAndWereNotOursMoveNothing) {
    // An account of the right amount that no call of ours opened (someone who knows the
    // merchant_uid, through iamport's browser SDK) neither holds nor closes the order.
    const auto opened = judge_payment(order_in(S::pending), payment("ready"), false, false);
    EXPECT_EQ(path(opened), std::vector<S>{});
    EXPECT_TRUE(opened.disregarded);
    EXPECT_EQ(
        path(judge_payment(order_in(S::awaiting_deposit), payment("cancelled"), false, false)),
        std::vector<S>{});
    // Vouched for, the same record moves the order; and money is judged whoever started it.
    EXPECT_EQ(path(judge_payment(order_in(S::pending), payment("ready"), false, true)),
              std::vector<S>{S::awaiting_deposit});
    EXPECT_EQ(path(judge_payment(order_in(S::pending), payment("paid"), false, false)),
              std::vector<S>{S::paid});
    auto other_order = payment("ready");
    other_order.merchant_uid = "order-2";
    EXPECT_EQ(path(judge_payment(order_in(S::pending), other_order, false, true)),
              std::vector<S>{});
}

TEST(OrderState, EveryVerdictPathIsMadeOfAllowedSteps) {
    const std::vector<Payment> payments{payment("ready"),
                                        payment("paid"),
                                        payment("paid", 32000, 1000),
                                        payment("cancelled", 32000, 32000),
                                        payment("failed"),
                                        payment("paid", 5)};
    for (auto status : {S::pending, S::awaiting_deposit, S::paid, S::partially_cancelled,
                        S::cancelled, S::expired, S::needs_review}) {
        for (const auto& p : payments) {
            for (bool other : {false, true}) {
                auto current = status;
                for (auto next : judge_payment(order_in(status), p, other).path) {
                    EXPECT_TRUE(is_allowed_transition(current, next))
                        << to_string(current) << " -> " << to_string(next);
                    current = next;
                }
            }
        }
    }
}

}  // namespace
}  // namespace mg::domain
