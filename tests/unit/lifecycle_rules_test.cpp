// The lifecycle's pure rules: where an order returns after a review decision, how an account
// closed unpaid ends its order, duplicates, and the tax-free share of a cancel.
#include <gtest/gtest.h>

#include "service/domain/order_state.hpp"
#include "service/payments/calls.hpp"

namespace mg::domain {
namespace {

using S = OrderStatus;

Order order_in(OrderStatus status, Amount amount = 30000) {
    Order order;
    order.merchant_uid = "order-1";
    order.amount = amount;
    order.currency = "KRW";
    order.status = status;
    return order;
}

Payment payment(std::string imp_uid, std::string status, Amount amount = 30000,
                Amount cancelled = 0) {
    Payment p;
    p.imp_uid = std::move(imp_uid);
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

TEST(StatusImpliedBy, NothingHoldingMoneyIsPendingAgain) {
    auto refunded = payment("imp_tampered", "cancelled", 100, 100);
    refunded.set_aside = "refunded_by_operator";
    EXPECT_EQ(status_implied_by(order_in(S::needs_review), {refunded}), S::pending);
    EXPECT_EQ(status_implied_by(order_in(S::needs_review), {}), S::pending);
    EXPECT_EQ(status_implied_by(order_in(S::needs_review), {payment("imp_f", "failed")}),
              S::pending);
}

TEST(StatusImpliedBy, TheRemainingPaymentOfTheRightAmountDecides) {
    auto duplicate = payment("imp_2", "cancelled", 30000, 30000);
    duplicate.set_aside = "refunded_by_operator";
    const auto order = order_in(S::needs_review);
    EXPECT_EQ(status_implied_by(order, {payment("imp_1", "paid"), duplicate}), S::paid);
    EXPECT_EQ(status_implied_by(order, {payment("imp_1", "paid", 30000, 1000), duplicate}),
              S::partially_cancelled);
    EXPECT_EQ(status_implied_by(order, {payment("imp_1", "ready")}), S::awaiting_deposit);
    // A payment of another amount implies nothing; two holding money still need a person.
    EXPECT_EQ(status_implied_by(order, {payment("imp_1", "paid", 100)}), S::pending);
    EXPECT_EQ(status_implied_by(order, {payment("imp_1", "paid"), payment("imp_2", "paid")}),
              S::needs_review);
    // Paid, then refunded in full by the shop (not set aside): the order is cancelled.
    EXPECT_EQ(status_implied_by(order, {payment("imp_1", "cancelled", 30000, 30000)}),
              S::cancelled);
}

TEST(JudgePayment, AnAccountClosedUnpaidAfterItsDueTimeExpiresTheOrder) {
    auto closed = payment("imp_v", "cancelled");
    closed.pay_method = "vbank";
    closed.vbank_date = 1'700'000'000;
    closed.cancelled_at = 1'700'000'100;
    EXPECT_EQ(judge_payment(order_in(S::awaiting_deposit), closed, false).path,
              std::vector<S>{S::expired});
    closed.cancelled_at = 1'699'999'000;  // closed before its due time: the shop cancelled
    EXPECT_EQ(judge_payment(order_in(S::awaiting_deposit), closed, false).path,
              std::vector<S>{S::cancelled});
}

TEST(JudgePayment, ASecondPaymentTakingMoneyIsADuplicate) {
    const auto verdict = judge_payment(order_in(S::paid), payment("imp_2", "paid"), true);
    EXPECT_TRUE(verdict.duplicate);
    ASSERT_TRUE(verdict.review_reason);
    EXPECT_FALSE(judge_payment(order_in(S::paid), payment("imp_1", "paid"), false).duplicate);
}

TEST(CountsForOrder, SetAsideAndUnsolicitedPaymentsDoNot) {
    auto p = payment("imp_1", "paid");
    EXPECT_TRUE(counts_for_order(p));
    p.set_aside = "duplicate";
    EXPECT_FALSE(counts_for_order(p));
    p.set_aside.reset();
    p.unsolicited = true;
    EXPECT_FALSE(counts_for_order(p));
}

TEST(TaxFreeOfCancel, FullSharedOrGiven) {
    auto p = payment("imp_1", "paid", 33000);
    p.tax_free = 11000;
    // A full cancel refunds every tax-free won still held.
    EXPECT_EQ(payments::tax_free_of_cancel(p, 33000, std::nullopt), 11000);
    // A partial one its share, rounded down.
    EXPECT_EQ(payments::tax_free_of_cancel(p, 3300, std::nullopt), 1100);
    EXPECT_EQ(payments::tax_free_of_cancel(p, 1, std::nullopt), 0);
    EXPECT_EQ(payments::tax_free_of_cancel(p, 32999, std::nullopt), 10999);
    EXPECT_EQ(payments::tax_free_of_cancel(p, 1000, 700), 700);
    EXPECT_THROW(payments::tax_free_of_cancel(p, 1000, 1001), payments::Failure);
    p.tax_free_cancelled = 10500;
    EXPECT_THROW(payments::tax_free_of_cancel(p, 1000, 600), payments::Failure);
    // Amounts near the limit do not overflow: A × T passes 2^63.
    auto big = payment("imp_2", "paid", 1'000'000'000'000);
    big.tax_free = 900'000'000'000;
    EXPECT_EQ(payments::tax_free_of_cancel(big, 500'000'000'000, std::nullopt), 450'000'000'000);
}

TEST(TaxFreeOfCancel, TheTaxablePartNeverExceedsTheTaxableBalance) {
    for (Amount balance : {7, 100, 33001}) {
        for (Amount tax_free = 0; tax_free <= balance;
             tax_free += std::max<Amount>(1, balance / 7)) {
            auto p = payment("imp_1", "paid", balance);
            p.tax_free = tax_free;
            for (Amount cancelled = 1; cancelled <= balance;
                 cancelled += std::max<Amount>(1, balance / 13)) {
                const auto share = payments::tax_free_of_cancel(p, cancelled, std::nullopt);
                EXPECT_LE(share, cancelled);
                EXPECT_LE(share, tax_free);
                EXPECT_LE(cancelled - share, balance - tax_free)
                    << balance << " " << tax_free << " " << cancelled;
            }
        }
    }
}

}  // namespace
}  // namespace mg::domain
