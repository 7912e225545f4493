// Cash receipts for virtual-account sales through the real binary against the simulator
// (SPEC §5): asked before the deposit and issued when it lands, cancelled on a full refund,
// re-issued on a partial one, and the buyer's identifier nowhere but masked.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "tests/e2e/payments_fixture.hpp"

namespace mg::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPhone = "010-9876-5432";
constexpr const char* kPhoneDigits = "01098765432";

class CashReceipts : public LifecycleTest {
  protected:
    void TearDown() override {
        if (HasFailure()) {
            std::fprintf(stderr, "gateway log:\n%s\n", gateway_->log().c_str());
        }
        LifecycleTest::TearDown();
    }
    const json::object kRefundTo{
        {"refund_holder", "홍길동"}, {"refund_bank", "088"}, {"refund_account", "110123456789"}};

    // A virtual-account order, paid by its deposit; its imp_uid.
    std::string paid_by_deposit(const std::string& uid) {
        new_order(uid);
        const auto issued = issue_vbank(uid);
        EXPECT_EQ(issued.status, 200) << issued.body;
        const auto imp_uid = imp_uid_of(issued);
        sim_->deposit(imp_uid);
        EXPECT_EQ(wait_for_status(uid, "paid"), "paid");
        return imp_uid;
    }
    json::object receipt_of(const std::string& uid) {
        const auto value = order(uid).at("cash_receipt");
        return value.is_object() ? value.as_object() : json::object{};
    }
    // Polls the order until its receipt is in `state`; the last state seen.
    std::string receipt_state(const std::string& uid) {
        const auto receipt = receipt_of(uid);
        const auto* state = receipt.if_contains("state");
        return state != nullptr && state->is_string() ? std::string(state->as_string()) : "";
    }
    std::string wait_for_receipt(const std::string& uid, const std::string& state) {
        const auto until = std::chrono::steady_clock::now() + 15s;
        auto seen = receipt_state(uid);
        while (seen != state && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(200ms);
            seen = receipt_state(uid);
        }
        return seen;
    }
    json::array sim_receipts(const std::string& imp_uid) {
        return sim_->control("GET", "/__sim/receipts?imp_uid=" + imp_uid).at("receipts").as_array();
    }
    json::object with_refund(json::object body) {
        for (const auto& item : kRefundTo) {
            body[item.key()] = item.value();
        }
        return body;
    }
};

TEST_F(CashReceipts, AskedBeforeTheDepositItIsIssuedWhenItLandsAndCancelledOnAFullRefund) {
    auto [uid, secret] = new_order("cr-1");
    const auto issued = issue_vbank(uid);
    ASSERT_EQ(issued.status, 200);
    const auto imp_uid = imp_uid_of(issued);
    // The buyer asks in the browser, with the order's secret.
    const auto asked = post(uid, "cash-receipt", {{"identifier", kPhone}, {"type", "personal"}},
                            {{"X-Client-Secret", secret}});
    ASSERT_EQ(asked.status, 200) << asked.body;
    const auto requested = asked.json().at("cash_receipt");
    EXPECT_EQ(requested.at("state"), "requested");
    EXPECT_EQ(requested.at("identifier_masked"), "*******5432");
    EXPECT_EQ(sim_->count_requests("POST /receipts/{imp_uid}"), 0u);
    const auto twice = post(uid, "cash-receipt", {{"identifier", kPhone}});
    EXPECT_EQ(twice.status, 409);
    EXPECT_EQ(code_of(twice), "cash_receipt_exists");

    sim_->deposit(imp_uid);
    ASSERT_EQ(wait_for_receipt(uid, "issued"), "issued");
    const auto receipt = receipt_of(uid);
    EXPECT_EQ(receipt.at("amount").as_int64(), 32000);
    EXPECT_TRUE(receipt.at("apply_num").is_string());
    auto at_iamport = sim_receipts(imp_uid);
    ASSERT_EQ(at_iamport.size(), 1u);
    EXPECT_EQ(at_iamport[0].at("type"), "person");
    EXPECT_EQ(at_iamport[0].at("identifier"), "*******5432");
    EXPECT_EQ(at_iamport[0].at("state"), "issued");

    const auto refunded = post(uid, "cancel", with_refund({{"reason", "전체 환불"}}));
    ASSERT_EQ(refunded.status, 200) << refunded.body;
    EXPECT_EQ(refunded.json().at("status"), "cancelled");
    EXPECT_EQ(refunded.json().at("cash_receipt").at("state"), "cancelled");
    at_iamport = sim_receipts(imp_uid);
    ASSERT_EQ(at_iamport.size(), 1u);
    EXPECT_EQ(at_iamport[0].at("state"), "cancelled");
}

TEST_F(CashReceipts, APartialRefundReissuesForWhatRemainsOrLeavesItToAnOperator) {
    const auto imp_uid = paid_by_deposit("cr-2");
    const auto asked = post(
        "cr-2", "cash-receipt",
        {{"identifier", "123-45-67890"}, {"type", "company"}, {"identifier_type", "business"}});
    ASSERT_EQ(asked.status, 200) << asked.body;
    EXPECT_EQ(asked.json().at("cash_receipt").at("state"), "issued");
    EXPECT_EQ(sim_receipts(imp_uid)[0].at("amount").as_int64(), 32000);

    // Given the buyer's identifier again: cancelled and issued anew for what remains.
    auto body = with_refund({{"amount", 2000}, {"reason", "1개 반품"}});
    body["cash_receipt"] = {{"identifier", "1234567890"}, {"type", "company"}};
    const auto partial = post("cr-2", "cancel", body);
    ASSERT_EQ(partial.status, 200) << partial.body;
    EXPECT_EQ(partial.json().at("cash_receipt").at("state"), "issued");
    EXPECT_EQ(partial.json().at("cash_receipt").at("amount").as_int64(), 30000);
    auto at_iamport = sim_receipts(imp_uid);
    ASSERT_EQ(at_iamport.size(), 2u);
    EXPECT_EQ(at_iamport[0].at("state"), "cancelled");
    EXPECT_EQ(at_iamport[1].at("state"), "issued");
    EXPECT_EQ(at_iamport[1].at("amount").as_int64(), 30000);

    // Without it: the receipt no longer fits the sale and an operator is told.
    const auto again = post("cr-2", "cancel", with_refund({{"amount", 1000}, {"reason", "파손"}}));
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(again.json().at("cash_receipt").at("state"), "needs_operator");
    EXPECT_EQ(database_->query_int(
                  "SELECT count(*) FROM reporting.cash_receipts WHERE merchant_uid = 'cr-2' AND "
                  "state = 'needs_operator'"),
              1);
    EXPECT_EQ(sim_receipts(imp_uid).size(), 2u);
}

TEST_F(CashReceipts, OnlyForAVirtualAccountSale) {
    auto [uid, secret] = new_order("cr-3");
    ASSERT_EQ(pay_benepia(uid).status, 200);
    const auto refused = post(uid, "cash-receipt", {{"identifier", kPhone}});
    EXPECT_EQ(refused.status, 409);
    EXPECT_EQ(code_of(refused), "not_a_cash_sale");
    new_order("cr-4");
    EXPECT_EQ(post("cr-4", "cash-receipt", {{"identifier", kPhone}}).status, 409);
    const auto bad = post("cr-4", "cash-receipt", {{"identifier", "call me"}});
    EXPECT_EQ(bad.status, 422);
    EXPECT_EQ(bad.json().at("error").at("field"), "identifier");
    EXPECT_EQ(bad.body.find("call me"), std::string::npos);
    EXPECT_EQ(sim_->count_requests("POST /receipts/{imp_uid}"), 0u);
}

TEST_F(CashReceipts, TheIdentifierIsInNoLogAndNoDump) {
    auto [uid, secret] = new_order("cr-5");
    const auto issued = issue_vbank(uid);
    ASSERT_EQ(issued.status, 200);
    ASSERT_EQ(post(uid, "cash-receipt", {{"identifier", kPhone}}).status, 200);
    // While it waits for the deposit it is held sealed: not in the clear.
    auto dumped = dump();
    EXPECT_EQ(dumped.find(kPhoneDigits), std::string::npos);
    EXPECT_EQ(dumped.find(kPhone), std::string::npos);

    sim_->deposit(imp_uid_of(issued));
    ASSERT_EQ(wait_for_receipt(uid, "issued"), "issued");
    dumped = dump();
    EXPECT_EQ(dumped.find(kPhoneDigits), std::string::npos);
    EXPECT_EQ(database_->query_int("SELECT count(*) FROM cash_receipts WHERE identifier_sealed "
                                   "IS NOT NULL"),
              0);
    const auto log = gateway_->log();
    EXPECT_EQ(log.find(kPhoneDigits), std::string::npos);
    EXPECT_EQ(log.find("9876-5432"), std::string::npos);
    // iamport got it (its record shows the last four digits).
    EXPECT_EQ(sim_receipts(imp_uid_of(issued))[0].at("identifier"), "*******5432");
}

}  // namespace
}  // namespace mg::test
