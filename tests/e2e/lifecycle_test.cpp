// The payment lifecycle through the real binary against the simulator (SPEC §5): amounts
// registered for browser checkouts, operators' review decisions, duplicate payments under each
// policy, revoked virtual accounts, and tax-free amounts.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "tests/e2e/payments_fixture.hpp"

namespace mg::test {
namespace {

using namespace std::chrono_literals;

class Lifecycle : public LifecycleTest {};

TEST_F(Lifecycle, ACheckoutOfTheRegisteredAmountCompletes) {
    auto [uid, secret] = new_order("ck-1");
    const auto registered = post(uid, "checkout", json::object{}, {{"X-Client-Secret", secret}});
    ASSERT_EQ(registered.status, 200) << registered.body;
    const auto params = registered.json().as_object();
    EXPECT_EQ(params.at("merchant_uid").as_string(), uid);
    EXPECT_EQ(params.at("amount").as_int64(), 32000);
    EXPECT_EQ(params.at("pg"), "kcp");
    EXPECT_EQ(params.at("notice_url"), "http://127.0.0.1:9/webhooks/iamport");
    EXPECT_EQ(params.at("buyer_name"), "홍길동");
    EXPECT_FALSE(params.contains("client_secret"));
    const auto prepared = sim_->control("GET", "/__sim/prepared").at("prepared").as_array();
    ASSERT_EQ(prepared.size(), 1u);
    EXPECT_EQ(prepared[0].at("amount").as_int64(), 32000);

    // Asked again: iamport already holds this amount, nothing is sent.
    ASSERT_EQ(post(uid, "checkout", json::object{}).status, 200);
    EXPECT_EQ(sim_->count_requests("POST /payments/prepare"), 1u);
    EXPECT_EQ(sim_->count_requests("PUT /payments/prepare"), 0u);

    const auto payment = checkout_payment(uid, 32000, false);
    const auto completed =
        post(uid, "complete", {{"imp_uid", payment.at("imp_uid")}}, {{"X-Client-Secret", secret}});
    ASSERT_EQ(completed.status, 200) << completed.body;
    EXPECT_EQ(completed.json().at("status"), "paid");
    // Paid: no more checkouts.
    const auto again = post(uid, "checkout", json::object{});
    EXPECT_EQ(again.status, 409);
    EXPECT_EQ(code_of(again), "order_not_payable");
}

TEST_F(Lifecycle, AWindowOpenedWithAnotherAmountIsRefusedByIamport) {
    auto [uid, secret] = new_order("ck-2");
    ASSERT_EQ(post(uid, "checkout", json::object{}, {{"X-Client-Secret", secret}}).status, 200);
    const auto refused = http_request(
        "127.0.0.1", sim_->port(), "POST", "/__sim/payments",
        json::serialize(json::object{{"merchant_uid", uid}, {"amount", 100}, {"webhook", false}}));
    ASSERT_EQ(refused.status, 409) << refused.body;
    const auto failed_uid = std::string(refused.json().at("payment").at("imp_uid").as_string());
    const auto completed =
        post(uid, "complete", {{"imp_uid", failed_uid}}, {{"X-Client-Secret", secret}});
    EXPECT_EQ(completed.status, 402) << completed.body;
    EXPECT_EQ(status_of(uid), "pending");
    EXPECT_EQ(pay_benepia(uid).status, 200);
}

TEST_F(Lifecycle, AnAmountRegisteredBeforeWithAnotherValueIsChanged) {
    auto [uid, secret] = new_order("ck-3");
    // iamport holds another amount for this merchant_uid (registered elsewhere, or an answer of
    // ours that was lost): the gateway's POST is refused and a PUT changes it.
    const auto token = sim_token();
    const auto other =
        http_request("127.0.0.1", sim_->port(), "POST", "/payments/prepare",
                     json::serialize(json::object{{"merchant_uid", uid}, {"amount", 1000}}),
                     {{"Authorization", token}, {"Content-Type", "application/json"}});
    ASSERT_EQ(other.status, 200) << other.body;
    const auto registered = post(uid, "checkout", json::object{});
    ASSERT_EQ(registered.status, 200) << registered.body;
    EXPECT_EQ(sim_->count_requests("POST /payments/prepare"), 2u);
    EXPECT_EQ(sim_->count_requests("PUT /payments/prepare"), 1u);
    const auto prepared = sim_->control("GET", "/__sim/prepared").at("prepared").as_array();
    ASSERT_EQ(prepared.size(), 1u);
    EXPECT_EQ(prepared[0].at("amount").as_int64(), 32000);
}

TEST_F(Lifecycle, ATamperedPaymentRefundedByReviewLeavesTheOrderPayableAgain) {
    auto [uid, secret] = new_order("rv-1");
    ASSERT_EQ(post(uid, "checkout", json::object{}, {{"X-Client-Secret", secret}}).status, 200);
    const auto tampered = checkout_payment(uid, 100, true);
    const auto imp_uid = std::string(tampered.at("imp_uid").as_string());
    ASSERT_EQ(post(uid, "complete", {{"imp_uid", imp_uid}}).json().at("status"), "needs_review");

    // Only the review scope decides; a decision names a payment of the order.
    const auto no_scope =
        post(uid, "review", {{"action", "refund"}, {"imp_uid", imp_uid}, {"reason", "x"}});
    EXPECT_EQ(no_scope.status, 403);
    const auto stranger =
        review(uid, {{"action", "refund"}, {"imp_uid", "imp_nope"}, {"reason", "위변조 의심"}});
    EXPECT_EQ(stranger.status, 422);
    EXPECT_EQ(sim_->count_requests("POST /payments/cancel"), 0u);

    const auto decided =
        review(uid, {{"action", "refund"}, {"imp_uid", imp_uid}, {"reason", "위변조 의심 결제"}});
    ASSERT_EQ(decided.status, 200) << decided.body;
    EXPECT_EQ(decided.json().at("status"), "pending");
    EXPECT_EQ(sim_payment(imp_uid).at("status"), "cancelled");
    const auto sent = sim_->requests("POST /payments/cancel");
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].at("body").at("checksum").as_int64(), 100);

    // Recorded with who decided and why; the stuck-orders view lets it go.
    EXPECT_EQ(
        database_->query_int("SELECT count(*) FROM order_events WHERE cause = 'operator' "
                             "AND actor = 'ops-kim' AND from_status = 'needs_review' AND "
                             "to_status = 'pending' AND details->>'reason' = '위변조 의심 결제'"),
        1);
    EXPECT_EQ(database_->query_int("SELECT count(*) FROM reporting.review_decisions WHERE "
                                   "action = 'refund' AND actor = 'ops-kim'"),
              1);
    EXPECT_EQ(database_->query_int("SELECT count(*) FROM reporting.stuck_orders"), 0);

    // Not in review any more: a second decision is refused; the order is payable again.
    const auto twice =
        review(uid, {{"action", "refund"}, {"imp_uid", imp_uid}, {"reason", "again"}});
    EXPECT_EQ(twice.status, 409);
    EXPECT_EQ(code_of(twice), "order_not_in_review");
    // (iamport refuses a merchant_uid once paid for Benepia and virtual accounts; a checkout of
    // the registered amount goes through.)
    ASSERT_EQ(post(uid, "checkout", json::object{}, {{"X-Client-Secret", secret}}).status, 200);
    const auto honest = checkout_payment(uid, 32000, false);
    const auto paid =
        post(uid, "complete", {{"imp_uid", honest.at("imp_uid")}}, {{"X-Client-Secret", secret}});
    ASSERT_EQ(paid.status, 200) << paid.body;
    EXPECT_EQ(paid.json().at("status"), "paid");
    // The refunded payment stays out of the order's reckoning: a sync keeps it paid.
    EXPECT_EQ(post(uid, "sync", json::object{}).json().at("status"), "paid");
}

TEST_F(Lifecycle, AnAcceptMustRestateIamportsAmount) {
    auto [uid, secret] = new_order("rv-2");
    const auto tampered = checkout_payment(uid, 31000, true);
    const auto imp_uid = std::string(tampered.at("imp_uid").as_string());
    ASSERT_EQ(post(uid, "complete", {{"imp_uid", imp_uid}}).json().at("status"), "needs_review");

    const auto wrong = review(uid, {{"action", "accept"},
                                    {"imp_uid", imp_uid},
                                    {"amount", 32000},
                                    {"reason", "쿠폰 할인 적용"}});
    EXPECT_EQ(wrong.status, 422) << wrong.body;
    EXPECT_EQ(code_of(wrong), "amount_mismatch");
    EXPECT_EQ(status_of(uid), "needs_review");
    const auto missing = review(uid, {{"action", "accept"}, {"imp_uid", imp_uid}, {"reason", "x"}});
    EXPECT_EQ(missing.status, 422);

    const auto accepted = review(uid, {{"action", "accept"},
                                       {"imp_uid", imp_uid},
                                       {"amount", 31000},
                                       {"reason", "쿠폰 할인 적용"}});
    ASSERT_EQ(accepted.status, 200) << accepted.body;
    EXPECT_EQ(accepted.json().at("status"), "paid");
    EXPECT_EQ(accepted.json().at("amount").as_int64(), 31000);
    EXPECT_EQ(sim_->count_requests("POST /payments/cancel"), 0u);
    // iamport's record now agrees with the order: a sync leaves it paid.
    EXPECT_EQ(post(uid, "sync", json::object{}).json().at("status"), "paid");
}

TEST_F(Lifecycle, ADuplicatePaymentGoesToReviewByDefault) {
    auto [uid, secret] = new_order("dp-1");
    const auto first = pay_benepia(uid);
    ASSERT_EQ(first.status, 200);
    const auto second = checkout_payment(uid, 32000, false);
    const auto synced = post(uid, "sync", json::object{});
    ASSERT_EQ(synced.status, 200) << synced.body;
    EXPECT_EQ(synced.json().at("status"), "needs_review");
    EXPECT_EQ(sim_payment(std::string(second.at("imp_uid").as_string())).at("status"), "paid");

    // The operator refunds the second: the first still pays the order.
    const auto decided = review(
        uid, {{"action", "refund"}, {"imp_uid", second.at("imp_uid")}, {"reason", "중복 결제"}});
    ASSERT_EQ(decided.status, 200) << decided.body;
    EXPECT_EQ(decided.json().at("status"), "paid");
    EXPECT_EQ(sim_payment(imp_uid_of(first)).at("status"), "paid");
}

class LifecycleRefundingDuplicates : public Lifecycle {
  protected:
    Headers extra_env() const override {
        auto env = Lifecycle::extra_env();
        env.emplace_back("DUPLICATE_PAYMENT_POLICY", "refund");
        return env;
    }
};

TEST_F(LifecycleRefundingDuplicates, ADuplicatePaymentIsRefundedAndTheOrderStaysPaid) {
    auto [uid, secret] = new_order("dp-2");
    const auto first = pay_benepia(uid);
    ASSERT_EQ(first.status, 200);
    const auto second = checkout_payment(uid, 32000, false);
    const auto second_uid = std::string(second.at("imp_uid").as_string());
    const auto synced = post(uid, "sync", json::object{});
    ASSERT_EQ(synced.status, 200) << synced.body;
    EXPECT_EQ(synced.json().at("status"), "paid");

    // The reconciler refunds it in full, once.
    const auto until = std::chrono::steady_clock::now() + 15s;
    while (sim_payment(second_uid).at("status") != "cancelled" &&
           std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(200ms);
    }
    EXPECT_EQ(sim_payment(second_uid).at("status"), "cancelled");
    EXPECT_EQ(sim_payment(imp_uid_of(first)).at("status"), "paid");
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(sim_->count_requests("POST /payments/cancel"), 1u);
    EXPECT_EQ(status_of(uid), "paid");
    // Both audited: the duplicate seen, and its refund.
    EXPECT_EQ(database_->query_int("SELECT count(*) FROM order_events WHERE imp_uid = '" +
                                   second_uid + "' AND details ? 'duplicate_payment'"),
              1);
    EXPECT_EQ(database_->query_int("SELECT count(*) FROM order_events WHERE imp_uid = '" +
                                   second_uid + "' AND details ? 'duplicate_refunded'"),
              1);
    // The shop can still refund the order itself, from its own payment.
    const auto cancelled = post(uid, "cancel", {{"reason", "고객 변심"}});
    ASSERT_EQ(cancelled.status, 200) << cancelled.body;
    EXPECT_EQ(cancelled.json().at("status"), "cancelled");
}

TEST_F(Lifecycle, CancellingAnOrderAwaitingItsDepositRevokesTheAccount) {
    auto [uid, secret] = new_order("rk-1");
    const auto issued = issue_vbank(uid);
    ASSERT_EQ(issued.status, 200) << issued.body;
    const auto imp_uid = imp_uid_of(issued);
    const auto partial = post(uid, "cancel", {{"amount", 1000}, {"reason", "x"}});
    EXPECT_EQ(partial.status, 422);
    EXPECT_EQ(sim_->count_requests("DELETE /vbanks/{imp_uid}"), 0u);

    const auto cancelled = post(uid, "cancel", {{"reason", "주문 취소"}});
    ASSERT_EQ(cancelled.status, 200) << cancelled.body;
    EXPECT_EQ(cancelled.json().at("status"), "cancelled");
    EXPECT_EQ(sim_->count_requests("DELETE /vbanks/{imp_uid}"), 1u);
    EXPECT_GT(sim_payment(imp_uid).at("revoked_at").as_int64(), 0);
    // The bank refuses a deposit into the closed account.
    const auto deposit = http_request("127.0.0.1", sim_->port(), "POST", "/__sim/deposit",
                                      json::serialize(json::object{{"imp_uid", imp_uid}}));
    EXPECT_EQ(deposit.status, 409);
    EXPECT_EQ(post(uid, "sync", json::object{}).json().at("status"), "cancelled");
}

TEST_F(Lifecycle, ARevokeRacingTheDepositEndsPaid) {
    auto [uid, secret] = new_order("rk-2");
    const auto issued = issue_vbank(uid);
    ASSERT_EQ(issued.status, 200);
    // The deposit lands, its notice not yet here.
    sim_->control("POST", "/__sim/deposit",
                  json::object{{"imp_uid", imp_uid_of(issued)}, {"webhook", false}});
    const auto refused = post(uid, "cancel", {{"reason", "주문 취소"}});
    ASSERT_EQ(refused.status, 409) << refused.body;
    EXPECT_EQ(code_of(refused), "deposit_arrived");
    EXPECT_EQ(refused.json().at("order").at("status"), "paid");
    EXPECT_EQ(status_of(uid), "paid");
}

TEST_F(Lifecycle, TheReconcilerClosesTheAccountOfAnOrderItExpires) {
    auto [uid, secret] = new_order("rk-3");
    const auto issued =
        post(uid, "vbank", {{"vbank_code", "004"}, {"vbank_due", now_seconds() + 2}}, auth());
    ASSERT_EQ(issued.status, 200) << issued.body;
    EXPECT_EQ(wait_for_status(uid, "expired"), "expired");
    const auto imp_uid = imp_uid_of(issued);
    EXPECT_GT(sim_payment(imp_uid).at("revoked_at").as_int64(), 0);
    const auto deposit = http_request("127.0.0.1", sim_->port(), "POST", "/__sim/deposit",
                                      json::serialize(json::object{{"imp_uid", imp_uid}}));
    EXPECT_EQ(deposit.status, 409);
}

TEST_F(Lifecycle, TaxFreeAmountsMatchWhatIamportRecorded) {
    const auto created = create_order(
        {{"merchant_uid", "tf-1"}, {"name", "도서 3권"}, {"amount", 33000}, {"tax_free", 11000}});
    ASSERT_EQ(created.status, 201) << created.body;
    EXPECT_EQ(created.json().at("tax_free").as_int64(), 11000);
    const auto over = create_order({{"name", "x"}, {"amount", 1000}, {"tax_free", 1001}});
    EXPECT_EQ(over.status, 422);
    EXPECT_EQ(over.json().at("error").at("field"), "tax_free");

    const auto issued = issue_vbank("tf-1");
    ASSERT_EQ(issued.status, 200) << issued.body;
    const auto imp_uid = imp_uid_of(issued);
    EXPECT_EQ(sim_payment(imp_uid).at("tax_free").as_int64(), 11000);
    sim_->deposit(imp_uid);
    ASSERT_EQ(wait_for_status("tf-1", "paid"), "paid");

    const json::object refund_to{
        {"refund_holder", "홍길동"}, {"refund_bank", "088"}, {"refund_account", "110123456789"}};
    auto with_refund = [&](json::object body) {
        for (const auto& item : refund_to) {
            body[item.key()] = item.value();
        }
        return body;
    };
    const auto too_much = post(
        "tf-1", "cancel", with_refund({{"amount", 3300}, {"tax_free", 3301}, {"reason", "x"}}));
    EXPECT_EQ(too_much.status, 422);
    EXPECT_EQ(code_of(too_much), "tax_free_exceeds_balance");

    // Without tax_free: its share of what is cancelled, 3,300 × 11,000 / 33,000 = 1,100.
    const auto partial =
        post("tf-1", "cancel", with_refund({{"amount", 3300}, {"reason", "1권 반품"}}));
    ASSERT_EQ(partial.status, 200) << partial.body;
    const auto payment = partial.json().at("payments").as_array()[0];
    EXPECT_EQ(payment.at("tax_free_balance").as_int64(), 9900);
    EXPECT_EQ(partial.json().at("tax_free_balance").as_int64(), 9900);
    // With tax_free named: as given.
    const auto named = post("tf-1", "cancel",
                            with_refund({{"amount", 1000}, {"tax_free", 700}, {"reason", "파손"}}));
    ASSERT_EQ(named.status, 200) << named.body;
    // A full cancel sends the whole remaining tax-free balance.
    const auto rest = post("tf-1", "cancel", with_refund({{"reason", "전체 취소"}}));
    ASSERT_EQ(rest.status, 200) << rest.body;
    EXPECT_EQ(rest.json().at("status"), "cancelled");

    const auto recorded = sim_payment(imp_uid);
    const auto& history = recorded.at("cancel_history").as_array();
    ASSERT_EQ(history.size(), 3u);
    EXPECT_EQ(history[0].at("tax_free").as_int64(), 1100);
    EXPECT_EQ(history[1].at("tax_free").as_int64(), 700);
    EXPECT_EQ(history[2].at("tax_free").as_int64(), 9200);
    EXPECT_EQ(recorded.at("tax_free_cancelled").as_int64(), 11000);
    EXPECT_EQ(order("tf-1").at("tax_free_balance").as_int64(), 0);
    EXPECT_EQ(
        database_->query_int("SELECT tax_free_balance FROM reporting.payments WHERE imp_uid = '" +
                             imp_uid + "'"),
        0);
}

}  // namespace
}  // namespace mg::test
