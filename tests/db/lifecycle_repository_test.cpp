#include "db/lifecycle_repository.hpp"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "db/errors.hpp"
#include "db/orders_repository.hpp"
#include "db/payments_repository.hpp"
#include "tests/db/migrated_database.hpp"

namespace mg::db::test {
namespace {

class LifecycleRepository : public MigratedDatabase {
  protected:
    domain::Order create_order(const std::string& merchant_uid) {
        return in_transaction(
            [&](pqxx::work& txn) { return insert_order(txn, new_order(merchant_uid, 30'000)); });
    }
    std::string one(const std::string& sql) {
        return in_transaction(
            [&](pqxx::work& txn) { return std::string(txn.exec1(sql)[0].c_str()); });
    }
    static CashReceipt waiting(std::string sealed) {
        CashReceipt receipt;
        receipt.imp_uid = "imps_1";
        receipt.state = "requested";
        receipt.type = "personal";
        receipt.identifier_masked = "*******5678";
        receipt.identifier_sealed = std::move(sealed);
        return receipt;
    }
};

TEST_F(LifecycleRepository, ADecisionMovesTheOrderAndSaysWhoAndWhy) {
    const auto order = create_order("o-1");
    in_transaction([&](pqxx::work& txn) {
        ASSERT_TRUE(set_order_status(txn, order.id, domain::OrderStatus::pending,
                                     domain::OrderStatus::needs_review, domain::EventCause::webhook,
                                     std::string("imps_1"), std::nullopt));
        EXPECT_TRUE(record_decision(txn, order.id, domain::OrderStatus::needs_review,
                                    domain::OrderStatus::pending, "imps_1", "ops-kim",
                                    R"({"action":"refund","reason":"forged","amount":100})"));
        // Decided already: the order is no longer in review.
        EXPECT_FALSE(record_decision(txn, order.id, domain::OrderStatus::needs_review,
                                     domain::OrderStatus::paid, "imps_1", "ops-kim", "{}"));
    });
    EXPECT_EQ(one("SELECT status FROM orders WHERE merchant_uid = 'o-1'"), "pending");
    EXPECT_EQ(one("SELECT actor || ' ' || cause || ' ' || (details->>'reason') FROM order_events "
                  "WHERE to_status = 'pending'"),
              "ops-kim operator forged");
    EXPECT_EQ(one("SELECT action || ' ' || actor || ' ' || amount FROM reporting.review_decisions"),
              "refund ops-kim 100");
}

TEST_F(LifecycleRepository, OneLiveReceiptPerOrderAndItsSealedIdentifierGoesOnceIssued) {
    const auto order = create_order("o-2");
    auto receipt = waiting("v1.sealed-identifier");
    receipt.id = in_transaction(
        [&](pqxx::work& txn) { return insert_cash_receipt(txn, order.id, receipt); });
    EXPECT_THROW(in_transaction([&](pqxx::work& txn) {
                     return insert_cash_receipt(txn, order.id, waiting("v1.other"));
                 }),
                 Conflict);
    receipt.state = "issued";
    receipt.amount = 30'000;
    receipt.apply_num = "123456789";
    in_transaction([&](pqxx::work& txn) { update_cash_receipt(txn, receipt); });
    const auto stored =
        in_transaction([&](pqxx::work& txn) { return find_live_cash_receipt(txn, order.id); });
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->state, "issued");
    EXPECT_FALSE(stored->identifier_sealed);
    EXPECT_EQ(*stored->amount, 30'000);
    // The database itself refuses a sealed identifier beside a receipt that no longer waits.
    EXPECT_THROW(in_transaction([&](pqxx::work& txn) {
                     txn.exec0("UPDATE cash_receipts SET identifier_sealed = 'v1.x'");
                 }),
                 std::exception);
    // Cancelled, it is no longer live: a new one may be asked for.
    receipt.state = "cancelled";
    in_transaction([&](pqxx::work& txn) { update_cash_receipt(txn, receipt); });
    EXPECT_NO_THROW(in_transaction(
        [&](pqxx::work& txn) { return insert_cash_receipt(txn, order.id, waiting("v1.again")); }));
}

TEST_F(LifecycleRepository, TaxFreeRefundedNeverPassesThePaymentsTaxFreePart) {
    const auto order = create_order("o-3");
    domain::Payment payment;
    payment.imp_uid = "imps_3";
    payment.merchant_uid = "o-3";
    payment.status = "paid";
    payment.amount = 30'000;
    payment.tax_free = 10'000;
    in_transaction([&](pqxx::work& txn) {
        upsert_payment(txn, order.id, payment, R"({"imp_uid":"imps_3"})");
        add_tax_free_cancelled(txn, "imps_3", 4'000);
        add_tax_free_cancelled(txn, "imps_3", 9'000);
    });
    EXPECT_EQ(one("SELECT tax_free || '/' || tax_free_cancelled FROM payments"), "10000/10000");
    // A rewrite from iamport keeps the gateway's own reckoning.
    payment.tax_free = 0;
    in_transaction([&](pqxx::work& txn) {
        upsert_payment(txn, order.id, payment, R"({"imp_uid":"imps_3"})");
        set_payment_aside(txn, "imps_3", "duplicate");
    });
    EXPECT_EQ(one("SELECT tax_free || '/' || tax_free_cancelled || '/' || set_aside FROM payments"),
              "10000/10000/duplicate");
    EXPECT_EQ(
        in_transaction([&](pqxx::work& txn) { return orders_with_duplicates_to_refund(txn, 10); }),
        std::vector<std::string>{"o-3"});
}

}  // namespace
}  // namespace mg::db::test
