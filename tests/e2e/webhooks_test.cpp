// Webhooks and the reconciler through the real binary and the iamport simulator (SPEC §6):
// every notice believed only after re-fetching, none lost, none applied twice.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <iostream>
#include <pqxx/pqxx>
#include <thread>

#include "tests/e2e/gateway.hpp"
#include "tests/support/sim_process.hpp"

namespace mg::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class Webhooks : public ::testing::Test {
  protected:
    void SetUp() override {
        sim_ = std::make_unique<SimProcess>();
        database_ = std::make_unique<TestDatabase>();
        gateway_ = start_gateway();
        key_ = gateway_->create_api_key("storefront", {"read", "write", "refund"});
    }

    // A gateway whose notice_url is its own webhook route (or a dead one when `deaf`).
    std::unique_ptr<Gateway> start_gateway(bool deaf = false, Headers extra = {}) {
        const auto port = free_port();
        Headers env{{"IAMPORT_BASE_URL", sim_->base_url()},
                    {"IAMPORT_IMP_KEY", "sandbox_imp_key"},
                    {"IAMPORT_IMP_SECRET", "sandbox_imp_secret"},
                    {"IAMPORT_PG", "kcp"},
                    {"IAMPORT_TIMEOUT_MS", "2000"},
                    {"IAMPORT_CALL_TIMEOUT_MS", "4000"},
                    {"RECONCILE_INTERVAL", "1"},
                    {"LISTEN", "127.0.0.1:" + std::to_string(port)},
                    {"PUBLIC_BASE_URL", deaf ? std::string("http://127.0.0.1:9")
                                             : "http://127.0.0.1:" + std::to_string(port)}};
        for (auto& item : extra) {
            std::erase_if(env, [&](const auto& e) { return e.first == item.first; });
            env.push_back(item);
        }
        return std::make_unique<Gateway>(database_->url(), env);
    }

    Headers auth() const { return Gateway::bearer(key_); }
    std::string notice_url() const {
        return "http://127.0.0.1:" + std::to_string(gateway_->port()) + "/webhooks/iamport";
    }

    void new_order(Gateway& gateway, const std::string& uid, std::int64_t amount = 32000) {
        const auto response = gateway.post_json(
            "/v1/orders", {{"merchant_uid", uid}, {"name", "원두 1kg"}, {"amount", amount}},
            auth());
        ASSERT_EQ(response.status, 201) << response.body;
    }
    // Issues a vbank through the gateway; returns its imp_uid.
    std::string issue_vbank(Gateway& gateway, const std::string& uid,
                            std::int64_t due = now_seconds() + 86400) {
        const auto response = gateway.post_json(
            "/v1/orders/" + uid + "/vbank", {{"vbank_code", "088"}, {"vbank_due", due}}, auth());
        EXPECT_EQ(response.status, 200) << response.body;
        return std::string(response.json().at("payments").as_array()[0].at("imp_uid").as_string());
    }
    std::string status_of(Gateway& gateway, const std::string& uid) {
        const auto response = gateway.request("GET", "/v1/orders/" + uid, {}, auth());
        EXPECT_EQ(response.status, 200) << response.body;
        return std::string(response.json().at("status").as_string());
    }
    bool wait_for_status(Gateway& gateway, const std::string& uid, const std::string& status,
                         std::chrono::milliseconds timeout = 15s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (status_of(gateway, uid) == status) {
                return true;
            }
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }
    HttpResponse post_webhook(Gateway& gateway, const json::value& body,
                              const Headers& headers = {}) {
        return gateway.post_json("/webhooks/iamport", body, headers);
    }
    std::int64_t query_int(const std::string& sql) { return database_->query_int(sql); }
    std::int64_t transitions_to(const std::string& uid, const std::string& status) {
        return query_int(
            "SELECT count(*) FROM order_events e JOIN orders o ON o.id = e.order_id "
            "WHERE o.merchant_uid = '" +
            uid + "' AND e.to_status = '" + status + "'");
    }
    bool wait_until_inbox_settled(std::chrono::milliseconds timeout = 20s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (query_int("SELECT count(*) FROM webhook_inbox WHERE state = 'pending'") == 0) {
                return true;
            }
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }

    // Posts a notice whose re-fetch reads iamport's record now but gets it 1.5 s later (stale by
    // then), and gives the re-fetch 300 ms to leave.
    void post_notice_with_a_slow_refetch(const std::string& imp_uid,
                                         const std::string& merchant_uid,
                                         const std::string& status) {
        sim_->set_fault({{"endpoint", "GET /payments/{imp_uid}"},
                         {"kind", "slow_answer"},
                         {"latency_ms", 1500},
                         {"count", 1}});
        ASSERT_EQ(
            post_webhook(*gateway_,
                         {{"imp_uid", imp_uid}, {"merchant_uid", merchant_uid}, {"status", status}})
                .status,
            200);
        std::this_thread::sleep_for(300ms);
    }

    std::unique_ptr<SimProcess> sim_;
    std::unique_ptr<TestDatabase> database_;
    std::unique_ptr<Gateway> gateway_;
    std::string key_;
};

TEST_F(Webhooks, ADepositNoticeMakesTheOrderPaid) {
    new_order(*gateway_, "wh-1");
    const auto imp_uid = issue_vbank(*gateway_, "wh-1");
    sim_->deposit(imp_uid);
    ASSERT_TRUE(wait_for_status(*gateway_, "wh-1", "paid"));
    EXPECT_EQ(transitions_to("wh-1", "paid"), 1);
    ASSERT_TRUE(wait_until_inbox_settled());
    // iamport's notices (ready, then paid) are stored, then processed.
    EXPECT_GE(query_int("SELECT count(*) FROM webhook_inbox WHERE state = 'processed'"), 2);
    EXPECT_EQ(query_int("SELECT count(*) FROM order_events e JOIN orders o ON o.id = e.order_id "
                        "WHERE o.merchant_uid = 'wh-1' AND e.to_status = 'paid' "
                        "AND e.cause = 'webhook'"),
              1);
}

TEST_F(Webhooks, FormDataIsAcceptedToo) {
    new_order(*gateway_, "wh-form");
    auto deaf = start_gateway(true);
    const auto imp_uid = issue_vbank(*deaf, "wh-form");
    sim_->deposit(imp_uid);
    const auto response = gateway_->request(
        "POST", "/webhooks/iamport", "imp_uid=" + imp_uid + "&merchant_uid=wh-form&status=paid",
        {{"Content-Type", "application/x-www-form-urlencoded"}});
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_TRUE(wait_for_status(*gateway_, "wh-form", "paid"));
    EXPECT_EQ(query_int("SELECT count(*) FROM webhook_inbox WHERE imp_uid = '" + imp_uid +
                        "' AND merchant_uid = 'wh-form' AND claimed_status = 'paid' "
                        "AND content_type = 'application/x-www-form-urlencoded'"),
              1);
}

TEST_F(Webhooks, FiftyCopiesAtOnceRecordOnePaidTransition) {
    // Notices only from this test, and no reconciler pass to settle the order before them.
    gateway_ = start_gateway(true, {{"RECONCILE_INTERVAL", "3600"}});
    new_order(*gateway_, "wh-50");
    const auto imp_uid = issue_vbank(*gateway_, "wh-50");
    sim_->deposit(imp_uid);
    std::vector<int> statuses(50);
    std::vector<std::thread> threads;
    for (int i = 0; i < 50; ++i) {
        threads.emplace_back([&, i] {
            statuses[i] =
                post_webhook(*gateway_,
                             {{"imp_uid", imp_uid}, {"merchant_uid", "wh-50"}, {"status", "paid"}})
                    .status;
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200), 50);
    ASSERT_TRUE(wait_until_inbox_settled());
    EXPECT_EQ(status_of(*gateway_, "wh-50"), "paid");
    EXPECT_EQ(transitions_to("wh-50", "paid"), 1);
    EXPECT_EQ(query_int("SELECT count(*) FROM webhook_inbox WHERE imp_uid = '" + imp_uid +
                        "' AND outcome = 'applied'"),
              1);
}

TEST_F(Webhooks, TwoLostCheckoutsOfOneOrderAreBothFoundAndReviewed) {
    new_order(*gateway_, "lost-twice-1", 15000);
    // The buyer paid twice in two tabs; neither notice nor `complete` arrived for either.
    for (int i = 0; i < 2; ++i) {
        sim_->create_checkout_payment({{"merchant_uid", "lost-twice-1"},
                                       {"amount", 15000},
                                       {"status", "paid"},
                                       {"pay_method", "card"},
                                       {"webhook", false}});
    }
    // The look-up asks for every payment of the merchant_uid, not only the newest.
    EXPECT_TRUE(wait_for_status(*gateway_, "lost-twice-1", "needs_review", 60s));
    EXPECT_EQ(query_int("SELECT count(*) FROM payments WHERE merchant_uid = 'lost-twice-1' "
                        "AND status = 'paid'"),
              2);
    EXPECT_GE(sim_->count_requests("GET /payments/findAll/{merchant_uid}"), 1u);
}

TEST_F(Webhooks, AccountsOpenedByAThirdPartyMoveNothing) {
    // Anyone who knows a merchant_uid can open an unpaid virtual account for it through
    // iamport's browser SDK (the shop's iamport code is public) and let its notice come.
    new_order(*gateway_, "third-1", 32000);
    const json::array notice{json::value(notice_url())};
    const auto one_won = sim_->create_checkout_payment({{"merchant_uid", "third-1"},
                                                        {"amount", 1},
                                                        {"status", "ready"},
                                                        {"pay_method", "vbank"},
                                                        {"vbank_due", now_seconds() + 3600},
                                                        {"notice_url", notice}});
    const auto right_amount = sim_->create_checkout_payment({{"merchant_uid", "third-1"},
                                                             {"amount", 32000},
                                                             {"status", "ready"},
                                                             {"pay_method", "vbank"},
                                                             {"vbank_due", now_seconds() + 2},
                                                             {"notice_url", notice}});
    ASSERT_TRUE(wait_until_inbox_settled());
    // Past the second account's due time and a few reconciler passes later: nothing moved.
    std::this_thread::sleep_for(4s);
    ASSERT_TRUE(wait_until_inbox_settled());
    EXPECT_EQ(status_of(*gateway_, "third-1"), "pending");
    EXPECT_EQ(query_int("SELECT count(*) FROM order_events e JOIN orders o ON o.id = e.order_id "
                        "WHERE o.merchant_uid = 'third-1'"),
              1);  // only its creation
    // Both are recorded with the order, flagged for operators.
    EXPECT_EQ(query_int("SELECT count(*) FROM payments WHERE merchant_uid = 'third-1' "
                        "AND unsolicited"),
              2);
    EXPECT_EQ(query_int("SELECT count(*) FROM reporting.unsolicited_payments "
                        "WHERE merchant_uid = 'third-1'"),
              2);
    // The buyer pays as usual, and the shop can still refund.
    const auto paid = gateway_->post_json(
        "/v1/orders/third-1/benepia-payment",
        {{"benepia_user", "member01"}, {"benepia_password", "pw-1234"}}, auth());
    ASSERT_EQ(paid.status, 200) << paid.body;
    EXPECT_EQ(paid.json().at("status"), "paid");
    const auto refunded =
        gateway_->post_json("/v1/orders/third-1/cancel", {{"reason", "고객 요청"}}, auth());
    EXPECT_EQ(refunded.status, 200) << refunded.body;
    EXPECT_EQ(status_of(*gateway_, "third-1"), "cancelled");
    // Money into the one-won account is another matter: that needs a person.
    sim_->deposit(std::string(one_won.at("imp_uid").as_string()));
    EXPECT_TRUE(wait_for_status(*gateway_, "third-1", "needs_review"));
    (void)right_amount;
}

TEST_F(Webhooks, AnAccountTheBuyerOpenedCountsOnceItsCheckoutIsCompleted) {
    const auto secret = [&] {
        const auto response = gateway_->post_json(
            "/v1/orders", {{"merchant_uid", "sdk-vbank-1"}, {"name", "원두"}, {"amount", 32000}},
            auth());
        EXPECT_EQ(response.status, 201) << response.body;
        return std::string(response.json().at("client_secret").as_string());
    }();
    const auto account =
        sim_->create_checkout_payment({{"merchant_uid", "sdk-vbank-1"},
                                       {"amount", 32000},
                                       {"status", "ready"},
                                       {"pay_method", "vbank"},
                                       {"vbank_due", now_seconds() + 86400},
                                       {"notice_url", json::array{json::value(notice_url())}}});
    ASSERT_TRUE(wait_until_inbox_settled());
    EXPECT_EQ(status_of(*gateway_, "sdk-vbank-1"), "pending");
    // The SDK's callback: the page names the payment with the order's own secret.
    const auto completed =
        gateway_->post_json("/v1/orders/sdk-vbank-1/complete", {{"imp_uid", account.at("imp_uid")}},
                            {{"X-Client-Secret", secret}});
    ASSERT_EQ(completed.status, 200) << completed.body;
    EXPECT_EQ(completed.json().at("status"), "awaiting_deposit");
    EXPECT_EQ(completed.json().at("payments").as_array()[0].at("unsolicited"), false);
    sim_->deposit(std::string(account.at("imp_uid").as_string()));
    EXPECT_TRUE(wait_for_status(*gateway_, "sdk-vbank-1", "paid"));
}

TEST_F(Webhooks, ForgedNoticesNeverMakeAnOrderPaid) {
    gateway_ = start_gateway(true, {{"RECONCILE_INTERVAL", "3600"}});
    auto& deaf = gateway_;
    // 1. Claims paid while iamport says ready.
    new_order(*deaf, "forge-1");
    const auto ready = issue_vbank(*deaf, "forge-1");
    EXPECT_EQ(post_webhook(*gateway_,
                           {{"imp_uid", ready}, {"merchant_uid", "forge-1"}, {"status", "paid"}})
                  .status,
              200);
    // 2. A real payment, of another amount.
    new_order(*deaf, "forge-2");
    const auto cheap = sim_->create_checkout_payment(
        {{"merchant_uid", "forge-2"}, {"amount", 100}, {"webhook", false}});
    EXPECT_EQ(post_webhook(*gateway_, {{"imp_uid", cheap.at("imp_uid")},
                                       {"merchant_uid", "forge-2"},
                                       {"status", "paid"}})
                  .status,
              200);
    // 3. Another order's payment, presented as this order's.
    new_order(*deaf, "forge-3");
    new_order(*deaf, "forge-4", 500);
    const auto others = sim_->create_checkout_payment(
        {{"merchant_uid", "forge-4"}, {"amount", 500}, {"webhook", false}});
    EXPECT_EQ(post_webhook(*gateway_, {{"imp_uid", others.at("imp_uid")},
                                       {"merchant_uid", "forge-3"},
                                       {"status", "paid"}})
                  .status,
              200);
    // 4. A payment iamport never heard of.
    EXPECT_EQ(post_webhook(
                  *gateway_,
                  {{"imp_uid", "imp_forged_000"}, {"merchant_uid", "forge-3"}, {"status", "paid"}})
                  .status,
              200);

    ASSERT_TRUE(wait_until_inbox_settled());
    EXPECT_EQ(status_of(*gateway_, "forge-1"), "awaiting_deposit");
    EXPECT_EQ(status_of(*gateway_, "forge-2"), "needs_review");
    EXPECT_EQ(status_of(*gateway_, "forge-3"), "pending");
    // The payment iamport confirms is applied to its own order, whatever the body said.
    EXPECT_EQ(status_of(*gateway_, "forge-4"), "paid");
    EXPECT_EQ(transitions_to("forge-1", "paid") + transitions_to("forge-2", "paid") +
                  transitions_to("forge-3", "paid"),
              0);
    EXPECT_EQ(query_int("SELECT count(*) FROM webhook_inbox WHERE outcome = 'unknown_payment'"), 1);
    EXPECT_NE(gateway_->log().find("needs review"), std::string::npos);
}

TEST_F(Webhooks, ANoticeWhileIamportIsDownIsAppliedWhenItIsBack) {
    gateway_ = start_gateway(true, {{"RECONCILE_INTERVAL", "3600"}});
    new_order(*gateway_, "down-1");
    const auto imp_uid = issue_vbank(*gateway_, "down-1");
    sim_->deposit(imp_uid);
    sim_->set_fault({{"endpoint", "*"}, {"kind", "http_error"}, {"status", 503}, {"count", 1000}});
    const auto response = post_webhook(
        *gateway_, {{"imp_uid", imp_uid}, {"merchant_uid", "down-1"}, {"status", "paid"}});
    EXPECT_EQ(response.status, 200);
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(status_of(*gateway_, "down-1"), "awaiting_deposit");
    EXPECT_GE(query_int("SELECT attempts FROM webhook_inbox WHERE imp_uid = '" + imp_uid +
                        "' ORDER BY id DESC LIMIT 1"),
              2);
    sim_->clear_faults();
    EXPECT_TRUE(wait_for_status(*gateway_, "down-1", "paid", 40s));
    EXPECT_EQ(query_int("SELECT count(*) FROM order_events e JOIN orders o ON o.id = e.order_id "
                        "WHERE o.merchant_uid = 'down-1' AND e.to_status = 'paid' "
                        "AND e.cause = 'webhook'"),
              1);
}

TEST_F(Webhooks, ANoticeStoredBeforeAKillIsAppliedAfterRestart) {
    gateway_ = start_gateway(true, {{"RECONCILE_INTERVAL", "3600"}});
    new_order(*gateway_, "kill-1");
    const auto imp_uid = issue_vbank(*gateway_, "kill-1");
    sim_->deposit(imp_uid);
    sim_->set_fault({{"endpoint", "*"}, {"kind", "http_error"}, {"status", 503}, {"count", 1000}});
    ASSERT_EQ(post_webhook(*gateway_, {{"imp_uid", imp_uid}, {"status", "paid"}}).status, 200);
    gateway_->process().kill_now();
    sim_->clear_faults();
    EXPECT_EQ(query_int("SELECT count(*) FROM webhook_inbox WHERE state = 'pending'"), 1);

    gateway_ = start_gateway(true, {{"RECONCILE_INTERVAL", "3600"}});
    EXPECT_TRUE(wait_for_status(*gateway_, "kill-1", "paid", 45s));
    EXPECT_EQ(transitions_to("kill-1", "paid"), 1);
    ASSERT_TRUE(wait_until_inbox_settled(45s));
    EXPECT_EQ(query_int("SELECT count(*) FROM webhook_inbox WHERE state = 'processed'"), 1);
}

TEST_F(Webhooks, TheReconcilerFindsADepositWhoseNoticeNeverCame) {
    gateway_ = start_gateway(true);  // iamport's notices go nowhere
    new_order(*gateway_, "lost-1");
    const auto imp_uid = issue_vbank(*gateway_, "lost-1");
    sim_->deposit(imp_uid);
    EXPECT_TRUE(wait_for_status(*gateway_, "lost-1", "paid"));
    EXPECT_EQ(query_int("SELECT count(*) FROM order_events e JOIN orders o ON o.id = e.order_id "
                        "WHERE o.merchant_uid = 'lost-1' AND e.to_status = 'paid' "
                        "AND e.cause = 'reconciler'"),
              1);
}

TEST_F(Webhooks, ACheckoutWhoseNoticeAndCompleteWereLostIsFoundByTheReconciler) {
    gateway_ = start_gateway(true);  // iamport's notices go nowhere
    new_order(*gateway_, "checkout-lost-1", 27000);
    new_order(*gateway_, "checkout-abandoned-1", 27000);
    // Paid in the browser at iamport; the tab was closed before `complete` was sent.
    sim_->create_checkout_payment({{"merchant_uid", "checkout-lost-1"},
                                   {"amount", 27000},
                                   {"status", "paid"},
                                   {"pay_method", "card"},
                                   {"webhook", false}});
    // The first look-up comes within 60 s of the order's creation.
    EXPECT_TRUE(wait_for_status(*gateway_, "checkout-lost-1", "paid", 60s));
    EXPECT_EQ(query_int("SELECT count(*) FROM order_events e JOIN orders o ON o.id = e.order_id "
                        "WHERE o.merchant_uid = 'checkout-lost-1' AND e.to_status = 'paid' "
                        "AND e.cause = 'reconciler'"),
              1);
    // An abandoned order was looked up too, and is not looked up again for at least a minute.
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(query_int("SELECT count(*) FROM orders WHERE merchant_uid = 'checkout-abandoned-1' "
                        "AND status = 'pending' AND next_reconcile_at > now() + interval '50 s'"),
              1);
    const auto lookups = sim_->count_requests("GET /payments/findAll/{merchant_uid}");
    EXPECT_GE(lookups, 2u);
    EXPECT_LE(lookups, 4u);
}

TEST_F(Webhooks, ARecordFetchedBeforeAnAmountChangeDecidesNothing) {
    gateway_ = start_gateway(true);
    new_order(*gateway_, "stale-vbank-1", 10000);
    const auto imp_uid = issue_vbank(*gateway_, "stale-vbank-1");
    // The notice's re-fetch reads the account at 10,000; its answer is slow to arrive.
    post_notice_with_a_slow_refetch(imp_uid, "stale-vbank-1", "ready");
    // Meanwhile the shop lowers the amount to 8,000.
    const auto patched =
        gateway_->request("PATCH", "/v1/orders/stale-vbank-1/vbank", R"({"amount":8000})", auth());
    ASSERT_EQ(patched.status, 200) << patched.body;
    ASSERT_TRUE(wait_until_inbox_settled());
    EXPECT_EQ(status_of(*gateway_, "stale-vbank-1"), "awaiting_deposit");

    // The buyer deposits the new amount: the order is paid, not in review.
    sim_->deposit(imp_uid);
    EXPECT_TRUE(wait_for_status(*gateway_, "stale-vbank-1", "paid"));
    EXPECT_EQ(transitions_to("stale-vbank-1", "needs_review"), 0);
}

TEST_F(Webhooks, ADepositDuringAnAmountChangeWaitsForItsAnswer) {
    new_order(*gateway_, "inflight-vbank-1", 10000);
    const auto imp_uid = issue_vbank(*gateway_, "inflight-vbank-1");
    ASSERT_TRUE(wait_until_inbox_settled());
    // iamport takes the new amount at once, but its answer to us is slow.
    sim_->set_fault({{"endpoint", "PUT /vbanks/{imp_uid}"},
                     {"kind", "slow_answer"},
                     {"latency_ms", 1200},
                     {"count", 1}});
    std::thread patch([&] {
        const auto patched = gateway_->request("PATCH", "/v1/orders/inflight-vbank-1/vbank",
                                               R"({"amount":7000})", auth());
        EXPECT_EQ(patched.status, 200) << patched.body;
    });
    std::this_thread::sleep_for(300ms);
    // The buyer deposits the new amount while our call is still on its way back; the notice
    // arrives before the order shows the change.
    sim_->deposit(imp_uid);
    patch.join();
    EXPECT_TRUE(wait_for_status(*gateway_, "inflight-vbank-1", "paid"));
    ASSERT_TRUE(wait_until_inbox_settled());
    EXPECT_EQ(transitions_to("inflight-vbank-1", "needs_review"), 0);
    EXPECT_EQ(status_of(*gateway_, "inflight-vbank-1"), "paid");
}

TEST_F(Webhooks, ADepositAfterAnAmountChangeWhoseAnswerWasLostIsPaid) {
    // No reconciler pass for the test's length: only the deposit's notice can settle the order.
    gateway_ = start_gateway(false, {{"RECONCILE_INTERVAL", "3600"}});
    new_order(*gateway_, "lost-patch-1", 10000);
    const auto imp_uid = issue_vbank(*gateway_, "lost-patch-1");
    ASSERT_TRUE(wait_until_inbox_settled());
    // iamport takes the new amount; the proxy in front of it answers 502.
    sim_->set_fault({{"endpoint", "PUT /vbanks/{imp_uid}"}, {"kind", "proxy_error"}, {"count", 1}});
    const auto patched =
        gateway_->request("PATCH", "/v1/orders/lost-patch-1/vbank", R"({"amount":7000})", auth());
    ASSERT_EQ(patched.status, 202) << patched.body;
    // The buyer deposits the amount iamport now holds: the notice proves the change took.
    sim_->deposit(imp_uid);
    EXPECT_TRUE(wait_for_status(*gateway_, "lost-patch-1", "paid"));
    ASSERT_TRUE(wait_until_inbox_settled());
    EXPECT_EQ(transitions_to("lost-patch-1", "needs_review"), 0);
    EXPECT_EQ(query_int("SELECT amount FROM orders WHERE merchant_uid = 'lost-patch-1'"), 7000);
}

TEST_F(Webhooks, AnAmountChangeThatLandsAfterTheGatewayGaveUpIsFollowed) {
    gateway_ = start_gateway(false, {{"RECONCILE_INTERVAL", "3600"}});
    new_order(*gateway_, "late-patch-1", 10000);
    const auto imp_uid = issue_vbank(*gateway_, "late-patch-1");
    ASSERT_TRUE(wait_until_inbox_settled());
    // iamport is slow to take the call: the gateway gives up (IAMPORT_CALL_TIMEOUT_MS 4 s)
    // before iamport makes the change, 6 s after it was sent.
    sim_->set_fault(
        {{"endpoint", "PUT /vbanks/{imp_uid}"}, {"kind", "latency"}, {"latency_ms", 6000}});
    const auto patched =
        gateway_->request("PATCH", "/v1/orders/late-patch-1/vbank", R"({"amount":7000})", auth());
    ASSERT_EQ(patched.status, 202) << patched.body;
    // A sync meanwhile sees the account still at 10,000: the change is not given up for that.
    const auto synced = gateway_->post_json("/v1/orders/late-patch-1/sync", json::object{}, auth());
    ASSERT_EQ(synced.status, 200) << synced.body;
    EXPECT_EQ(
        query_int("SELECT count(*) FROM payment_attempts a JOIN orders o ON o.id = a.order_id "
                  "WHERE o.merchant_uid = 'late-patch-1' AND a.state = 'unknown'"),
        1);
    // iamport makes the change; the buyer deposits the amount it now asks for.
    for (int i = 0; i < 100; ++i) {
        const auto records =
            json::serialize(sim_->control("GET", "/__sim/payments?merchant_uid=late-patch-1"));
        if (records.find("\"amount\":7000") != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    sim_->deposit(imp_uid);
    EXPECT_TRUE(wait_for_status(*gateway_, "late-patch-1", "paid"));
    ASSERT_TRUE(wait_until_inbox_settled());
    EXPECT_EQ(transitions_to("late-patch-1", "needs_review"), 0);
    EXPECT_EQ(query_int("SELECT amount FROM orders WHERE merchant_uid = 'late-patch-1'"), 7000);
}

TEST_F(Webhooks, ARecordFetchedBeforeACancelNeverUndoesIt) {
    gateway_ = start_gateway(true);
    new_order(*gateway_, "stale-cancel-1", 9000);
    const auto paid = gateway_->post_json(
        "/v1/orders/stale-cancel-1/benepia-payment",
        {{"benepia_user", "member01"}, {"benepia_password", "pw-1234"}}, auth());
    ASSERT_EQ(paid.status, 200) << paid.body;
    const auto imp_uid =
        std::string(paid.json().at("payments").as_array()[0].at("imp_uid").as_string());
    post_notice_with_a_slow_refetch(imp_uid, "stale-cancel-1", "paid");
    const auto cancelled = gateway_->post_json("/v1/orders/stale-cancel-1/cancel",
                                               {{"amount", 3000}, {"reason", "부분 환불"}}, auth());
    ASSERT_EQ(cancelled.status, 200) << cancelled.body;
    ASSERT_TRUE(wait_until_inbox_settled());
    EXPECT_EQ(status_of(*gateway_, "stale-cancel-1"), "partially_cancelled");
    EXPECT_EQ(transitions_to("stale-cancel-1", "needs_review"), 0);
    EXPECT_EQ(query_int("SELECT cancel_amount FROM payments WHERE imp_uid = '" + imp_uid + "'"),
              3000);
}

TEST_F(Webhooks, AVbankPastItsDueTimeExpires) {
    gateway_ = start_gateway(true);
    new_order(*gateway_, "exp-1");
    issue_vbank(*gateway_, "exp-1", now_seconds() + 2);
    EXPECT_EQ(status_of(*gateway_, "exp-1"), "awaiting_deposit");
    EXPECT_TRUE(wait_for_status(*gateway_, "exp-1", "expired", 20s));
    EXPECT_EQ(transitions_to("exp-1", "expired"), 1);
}

TEST_F(Webhooks, TwoInstancesRecordEveryTransitionOnce) {
    auto deaf = start_gateway(true, {{"RECONCILE_INTERVAL", "3600"}});
    auto second = start_gateway(true, {{"RECONCILE_INTERVAL", "1"}});
    std::vector<std::pair<std::string, std::string>> orders;
    for (int i = 0; i < 10; ++i) {
        const auto uid = "two-" + std::to_string(i);
        new_order(*deaf, uid);
        const auto imp_uid = issue_vbank(*deaf, uid);
        sim_->deposit(imp_uid);
        orders.emplace_back(uid, imp_uid);
    }
    std::vector<std::thread> threads;
    for (auto* gateway : {gateway_.get(), second.get()}) {
        for (int copy = 0; copy < 3; ++copy) {
            threads.emplace_back([&, gateway] {
                for (const auto& [uid, imp_uid] : orders) {
                    EXPECT_EQ(post_webhook(
                                  *gateway,
                                  {{"imp_uid", imp_uid}, {"merchant_uid", uid}, {"status", "paid"}})
                                  .status,
                              200);
                }
            });
        }
    }
    for (auto& thread : threads) {
        thread.join();
    }
    ASSERT_TRUE(wait_until_inbox_settled());
    for (const auto& [uid, imp_uid] : orders) {
        EXPECT_EQ(status_of(*gateway_, uid), "paid");
        EXPECT_EQ(transitions_to(uid, "paid"), 1) << uid;
        EXPECT_EQ(transitions_to(uid, "awaiting_deposit"), 1) << uid;
    }
}

TEST_F(Webhooks, BadDeliveriesAreRefusedAndStoreNothing) {
    auto response = gateway_->request("POST", "/webhooks/iamport", "{not json",
                                      {{"Content-Type", "application/json"}});
    EXPECT_EQ(response.status, 400);
    response = post_webhook(*gateway_, {{"merchant_uid", "x"}, {"status", "paid"}});
    EXPECT_EQ(response.status, 400);
    response = post_webhook(*gateway_, {{"imp_uid", 12}});
    EXPECT_EQ(response.status, 400);
    response = gateway_->request("POST", "/webhooks/iamport", "imp_uid=x",
                                 {{"Content-Type", "text/plain"}});
    EXPECT_EQ(response.status, 415);
    response = post_webhook(*gateway_, {{"imp_uid", "imp_1"}, {"pad", std::string(17000, 'x')}});
    EXPECT_EQ(response.status, 413);
    response = gateway_->request("POST", "/webhooks/iamport", std::string("imp_uid=a\xff\x00b"),
                                 {{"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(query_int("SELECT count(*) FROM webhook_inbox"), 0);
}

TEST_F(Webhooks, OnlyAllowedSourcesMayDeliver) {
    auto guarded = start_gateway(true, {{"WEBHOOK_ALLOWED_IPS", "10.0.0.0/8, 2001:db8::/32"}});
    const json::value body{{"imp_uid", "imp_1"}, {"status", "paid"}};
    auto response = post_webhook(*guarded, body);
    EXPECT_EQ(response.status, 403);
    // X-Forwarded-For counts only from a trusted proxy.
    response = post_webhook(*guarded, body, {{"X-Forwarded-For", "10.1.2.3"}});
    EXPECT_EQ(response.status, 403);
    guarded.reset();

    auto proxied = start_gateway(true, {{"WEBHOOK_ALLOWED_IPS", "203.0.113.0/24"},
                                        {"WEBHOOK_TRUSTED_PROXIES", "127.0.0.1"}});
    response = post_webhook(*proxied, body, {{"X-Forwarded-For", "203.0.113.7"}});
    EXPECT_EQ(response.status, 200);
    response = post_webhook(*proxied, body, {{"X-Forwarded-For", "203.0.113.7, 198.51.100.1"}});
    EXPECT_EQ(response.status, 403);
    response = post_webhook(*proxied, body);
    EXPECT_EQ(response.status, 403);
    // A proxy that appends a line of its own: the forged first line is the far end of one list.
    response = post_webhook(
        *proxied, body, {{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-For", "198.51.100.1"}});
    EXPECT_EQ(response.status, 403);
    response = post_webhook(
        *proxied, body, {{"X-Forwarded-For", "198.51.100.1"}, {"X-Forwarded-For", "203.0.113.8"}});
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(query_int("SELECT count(*) FROM webhook_inbox"), 2);
}

// 3,000 notices for made-up payments from 300 addresses while iamport answers each read in
// 200 ms: the re-fetches they cost are budgeted (WEBHOOK_CONCURRENCY at a time, on a client of
// their own), so payments made meanwhile are served as fast as without the flood.
TEST_F(Webhooks, AForgedFloodLeavesPaymentsServed) {
    gateway_ = start_gateway(false, {{"WEBHOOK_TRUSTED_PROXIES", "127.0.0.1"},
                                     {"IAMPORT_TIMEOUT_MS", "1500"},
                                     {"IAMPORT_CALL_TIMEOUT_MS", "3000"}});
    sim_->set_fault({{"endpoint", "GET /payments/{imp_uid}"},
                     {"kind", "latency"},
                     {"latency_ms", 200},
                     {"count", 1'000'000}});
    constexpr int kNotices = 3000;
    constexpr int kSenders = 6;
    std::atomic<int> sent{0};
    std::atomic<int> refused{0};
    std::vector<std::thread> senders;
    for (int t = 0; t < kSenders; ++t) {
        senders.emplace_back([&, t] {
            for (int n = t; n < kNotices; n += kSenders) {
                const auto source = "10.77." + std::to_string(n % 300 / 250) + "." +
                                    std::to_string(n % 300 % 250 + 1);
                const auto response = post_webhook(
                    *gateway_,
                    {{"imp_uid", "imps_forged_" + std::to_string(n)}, {"status", "paid"}},
                    {{"X-Forwarded-For", source}});
                (response.status == 200 ? sent : refused)++;
            }
        });
    }

    std::vector<double> took_ms;
    int failures = 0;
    for (int i = 0; sent + refused < kNotices || i < 10; ++i) {
        const auto uid = "flood-pay-" + std::to_string(i);
        new_order(*gateway_, uid, 12000);
        const auto started = std::chrono::steady_clock::now();
        const auto response = gateway_->post_json(
            "/v1/orders/" + uid + "/benepia-payment",
            {{"benepia_user", "member01"}, {"benepia_password", "Bnp-Secret-7731!"}}, auth());
        took_ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                .count());
        if (response.status != 200) {
            ++failures;
            ADD_FAILURE() << "payment " << uid << " answered " << response.status << " "
                          << response.body;
        }
    }
    for (auto& sender : senders) {
        sender.join();
    }
    std::sort(took_ms.begin(), took_ms.end());
    const auto percentile = [&](double p) {
        return took_ms[std::min(took_ms.size() - 1,
                                static_cast<std::size_t>(p * static_cast<double>(took_ms.size())))];
    };
    std::cout << "benepia payments during the flood: " << took_ms.size() << ", p50 "
              << percentile(0.5) << " ms, p99 " << percentile(0.99) << " ms, max " << took_ms.back()
              << " ms; notices stored " << sent << ", refused " << refused
              << "; pending in the inbox after the flood "
              << query_int("SELECT count(*) FROM webhook_inbox WHERE state = 'pending'") << "\n";
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(refused, 0);
    // Each payment makes one call and one re-fetch (200 ms here): well under a second each.
    EXPECT_LT(percentile(0.99), 1500.0);
    EXPECT_EQ(sent, kNotices);
    // Every notice is stored; they are worked off at the budget's pace, not all at once.
    EXPECT_EQ(query_int("SELECT count(*) FROM webhook_inbox WHERE imp_uid LIKE 'imps_forged_%'"),
              kNotices);
    const auto metrics = gateway_->request("GET", "/metrics");
    EXPECT_NE(metrics.body.find("mg_iamport_breaker_state 0"), std::string::npos);
}

// 24 notices at once with WEBHOOK_CONCURRENCY=4 while iamport takes 300 ms per read: four are
// taken up on receipt and the other twenty wait in the inbox. The four workers drain it between
// them as they finish, so it takes about 24 / 4 × 300 ms, neither less (more than four reads at
// a time would break the budget) nor the 20 × 300 ms of one worker after another.
TEST_F(Webhooks, ABacklogIsDrainedByTheBudgetsWorkersAtOnce) {
    gateway_ = start_gateway(false, {{"WEBHOOK_CONCURRENCY", "4"}});
    sim_->set_fault({{"endpoint", "GET /payments/{imp_uid}"},
                     {"kind", "latency"},
                     {"latency_ms", 300},
                     {"count", 1'000'000}});
    constexpr int kNotices = 24;
    const auto started = std::chrono::steady_clock::now();
    for (int n = 0; n < kNotices; ++n) {
        const auto response = post_webhook(
            *gateway_, {{"imp_uid", "imps_backlog_" + std::to_string(n)}, {"status", "paid"}});
        ASSERT_EQ(response.status, 200) << response.body;
    }
    const auto processed = [&] {
        return query_int(
            "SELECT count(*) FROM webhook_inbox WHERE imp_uid LIKE 'imps_backlog_%' "
            "AND state = 'processed'");
    };
    while (processed() < kNotices && std::chrono::steady_clock::now() - started < 20s) {
        std::this_thread::sleep_for(20ms);
    }
    const auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
    ASSERT_EQ(processed(), kNotices);
    std::cout << kNotices << " notices worked off in " << took.count() << " s\n";
    EXPECT_GE(took.count(), 0.9 * kNotices / 4 * 0.3);  // never more than 4 reads at a time
    EXPECT_LT(took.count(), 4.0);                       // not one after another (≥ 6 s)
    EXPECT_EQ(query_int("SELECT count(*) FROM webhook_inbox WHERE imp_uid LIKE 'imps_backlog_%' "
                        "AND outcome = 'unknown_payment'"),
              kNotices);
    // Each notice's payment was read once: no delivery was taken by two workers.
    EXPECT_EQ(sim_->count_requests("GET /payments/{imp_uid}"), static_cast<std::size_t>(kNotices));
}

TEST_F(Webhooks, RowsPastRetentionArePurgedAndWhatOperatorsNeedStays) {
    gateway_.reset();
    // Rows as a gateway running for months leaves them.
    pqxx::connection connection(database_->url());
    {
        pqxx::work work(connection);
        work.exec(
            "INSERT INTO webhook_inbox (body, imp_uid, state, processed_at, outcome, received_at) "
            "SELECT '{}', 'imps_old_' || n, 'processed', now() - interval '91 days', 'applied', "
            "now() - interval '91 days' FROM generate_series(1, 2500) AS n");
        work.exec(
            "INSERT INTO webhook_inbox (body, imp_uid, state, processed_at, outcome, received_at) "
            "VALUES ('{}', 'imps_reviewed', 'processed', now() - interval '91 days', "
            "'needs_review', now() - interval '91 days'), "
            "('{}', 'imps_recent', 'processed', now() - interval '89 days', 'applied', "
            "now() - interval '89 days')");
        work.exec(
            "INSERT INTO webhook_inbox (body, imp_uid, state, attempts, last_error, received_at) "
            "VALUES ('{}', 'imps_failed', 'failed', 60, 'down', now() - interval '200 days')");
        work.exec(
            "INSERT INTO idempotency_keys (scope, key, request_hash, state, response_status, "
            "response_body, response_content_type, created_at, completed_at) "
            "SELECT 'key:1', 'old-' || n, 'h', 'completed', 201, 'x', 'application/json', "
            "now() - interval '25 hours', now() - interval '25 hours' "
            "FROM generate_series(1, 1500) AS n");
        work.exec(
            "INSERT INTO idempotency_keys (scope, key, request_hash, state, response_status, "
            "response_body, response_content_type, created_at, completed_at) "
            "VALUES ('key:1', 'recent', 'h', 'completed', 201, 'x', 'application/json', "
            "now() - interval '23 hours', now() - interval '23 hours')");
        work.commit();
    }
    gateway_ = start_gateway();
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline &&
           query_int("SELECT count(*) FROM webhook_inbox") +
                   query_int("SELECT count(*) FROM idempotency_keys") >
               4) {
        std::this_thread::sleep_for(200ms);
    }
    EXPECT_EQ(query_int("SELECT count(*) FROM idempotency_keys WHERE key = 'recent'"), 1);
    EXPECT_EQ(query_int("SELECT count(*) FROM idempotency_keys"), 1);
    EXPECT_EQ(query_int("SELECT count(*) FROM webhook_inbox WHERE imp_uid IN ('imps_reviewed', "
                        "'imps_recent', 'imps_failed')"),
              3);
    EXPECT_EQ(query_int("SELECT count(*) FROM webhook_inbox"), 3);
    EXPECT_NE(gateway_->log().find("purged rows past retention"), std::string::npos);
}

TEST_F(Webhooks, RetentionFollowsWebhookRetentionDays) {
    gateway_.reset();
    database_->query_int(
        "WITH i AS (INSERT INTO webhook_inbox (body, imp_uid, state, processed_at, outcome) "
        "VALUES ('{}', 'imps_ten_days', 'processed', now() - interval '10 days', 'applied') "
        "RETURNING 1) SELECT count(*) FROM i");
    gateway_ = start_gateway(false, {{"WEBHOOK_RETENTION_DAYS", "30"}});
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(query_int("SELECT count(*) FROM webhook_inbox"), 1);
    gateway_.reset();
    gateway_ = start_gateway(false, {{"WEBHOOK_RETENTION_DAYS", "7"}});
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline &&
           query_int("SELECT count(*) FROM webhook_inbox") > 0) {
        std::this_thread::sleep_for(200ms);
    }
    EXPECT_EQ(query_int("SELECT count(*) FROM webhook_inbox"), 0);
}

}  // namespace
}  // namespace mg::test
