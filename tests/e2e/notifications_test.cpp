// The shop's signed events through the real binary (SPEC §11): every delivery is verified by a
// receiver that uses the official `standardwebhooks` npm package (tests/notifications/receiver),
// so a signature the ecosystem cannot check fails here.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "test_paths.hpp"
#include "tests/e2e/payments_fixture.hpp"
#include "tests/support/process.hpp"

namespace mg::test {
namespace {

using namespace std::chrono_literals;

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The Node receiver, on a free loopback port.
class Receiver {
  public:
    // One log per receiver: tests run in parallel processes, each with its own.
    static std::string log_path() {
        static int count = 0;
        return ::testing::TempDir() + "mg-receiver-" + std::to_string(getpid()) + "-" +
               std::to_string(count++) + ".log";
    }
    Receiver() {
        process_ = std::make_unique<ChildProcess>(ChildProcess::Options{
            {"node", std::string(kSourceDir) + "/tests/notifications/receiver/receiver.mjs",
             "--port", "0"},
            {},
            log_path()});
        const std::string marker = "LISTENING ";
        if (!process_->wait_for_output(marker, 15s)) {
            throw std::runtime_error("the receiver did not start:\n" + process_->output());
        }
        const auto text = process_->output();
        const auto at = text.find(marker) + marker.size();
        port_ = static_cast<unsigned short>(std::stoi(text.substr(at, text.find('\n', at) - at)));
    }
    std::string url(const std::string& name) const {
        return "http://127.0.0.1:" + std::to_string(port_) + "/hooks/" + name;
    }
    void configure(const std::string& name, json::object config) {
        const auto answer = http_request("127.0.0.1", port_, "PUT", "/__control/endpoints/" + name,
                                         json::serialize(config));
        ASSERT_EQ(answer.status, 200) << answer.body;
    }
    json::array deliveries(const std::string& name, std::size_t at_least = 0,
                           std::chrono::milliseconds wait = 20s) {
        const auto answer = http_request("127.0.0.1", port_, "GET",
                                         "/__control/endpoints/" + name +
                                             "/deliveries?count=" + std::to_string(at_least) +
                                             "&timeout_ms=" + std::to_string(wait.count()),
                                         {}, {}, wait + 5s);
        return answer.json().at("deliveries").as_array();
    }
    // The deliveries it answered 2xx, verified.
    json::array accepted(const std::string& name) {
        json::array out;
        for (const auto& d : deliveries(name, 0, 0ms)) {
            if (d.at("accepted").as_bool()) {
                out.push_back(d);
            }
        }
        return out;
    }

  private:
    std::unique_ptr<ChildProcess> process_;
    unsigned short port_ = 0;
};

class Notifications : public LifecycleTest {
  protected:
    void SetUp() override {
        receiver_ = std::make_unique<Receiver>();
        LifecycleTest::SetUp();
        admin_ = gateway_->create_api_key("ops-admin", {"admin"});
    }
    Headers extra_env() const override {
        auto env = LifecycleTest::extra_env();
        env.emplace_back("NOTIFY_ALLOW_PRIVATE", "true");
        env.emplace_back("NOTIFY_RETRY_SCHEDULE", "1,1,1,1,2,2,2,2");
        env.emplace_back("NOTIFY_POLL_MS", "50");
        env.emplace_back("NOTIFY_TIMEOUT_MS", "15000");
        return env;
    }
    Headers admin() const { return Gateway::bearer(admin_); }
    // A new endpoint for `name` at the receiver, verifying with its secret; returns {id, secret}.
    std::pair<std::string, std::string> endpoint(const std::string& name, json::object extra = {},
                                                 json::object receiver_config = {}) {
        extra["url"] = receiver_->url(name);
        const auto created = gateway_->post_json("/v1/webhook-endpoints", extra, admin());
        EXPECT_EQ(created.status, 201) << created.body;
        const auto secret = std::string(created.json().at("secret").as_string());
        receiver_config["secrets"] = json::array{json::value(secret)};
        receiver_->configure(name, receiver_config);
        return {std::string(created.json().at("id").as_string()), secret};
    }
    std::vector<std::string> types_of(const json::array& deliveries) {
        std::vector<std::string> types;
        for (const auto& d : deliveries) {
            types.emplace_back(d.at("payload").at("type").as_string());
        }
        return types;
    }
    void expect_all_verified(const json::array& deliveries) {
        for (const auto& d : deliveries) {
            EXPECT_TRUE(d.at("verified").as_bool()) << json::serialize(d);
        }
    }
    // Benepia payments of `count` new orders: each a paid event.
    std::vector<std::string> paid_orders(const std::string& prefix, int count) {
        std::vector<std::string> uids;
        for (int i = 0; i < count; ++i) {
            const auto uid = prefix + std::to_string(i);
            new_order(uid);
            EXPECT_EQ(pay_benepia(uid).status, 200);
            uids.push_back(uid);
        }
        return uids;
    }

    std::unique_ptr<Receiver> receiver_;
    std::string admin_;
};

TEST_F(Notifications, AVirtualAccountsLifeArrivesInOrderEachEventVerified) {
    endpoint("shop");
    auto [uid, secret] = new_order("ev-1");
    const auto issued = issue_vbank(uid);
    ASSERT_EQ(issued.status, 200);
    sim_->deposit(imp_uid_of(issued));
    ASSERT_EQ(wait_for_status(uid, "paid"), "paid");
    const json::object refund{{"refund_holder", "홍길동"},
                              {"refund_bank", "088"},
                              {"refund_account", "110123456789"},
                              {"reason", "부분 환불"},
                              {"amount", 2000}};
    ASSERT_EQ(post(uid, "cancel", refund).status, 200);
    auto rest = refund;
    rest.erase("amount");
    ASSERT_EQ(post(uid, "cancel", rest).status, 200);

    const auto got = receiver_->deliveries("shop", 4);
    ASSERT_EQ(got.size(), 4u);
    expect_all_verified(got);
    EXPECT_EQ(types_of(got),
              (std::vector<std::string>{"order.awaiting_deposit", "order.paid",
                                        "order.partially_cancelled", "order.cancelled"}));
    for (const auto& d : got) {
        const auto& payload = d.at("payload");
        EXPECT_EQ(payload.at("data").at("merchant_uid"), "ev-1");
        EXPECT_FALSE(payload.at("data").as_object().contains("client_secret"));
        EXPECT_EQ(d.at("headers").at("webhook-id"), payload.at("id"));
    }
    EXPECT_EQ(got[1].at("payload").at("data").at("status"), "paid");
    // The events API lists them too, newest first, with their attempts.
    const auto listed = gateway_->request("GET", "/v1/events?order=ev-1", {}, admin());
    ASSERT_EQ(listed.status, 200) << listed.body;
    const auto listed_body = listed.json();
    const auto& data = listed_body.at("data").as_array();
    ASSERT_EQ(data.size(), 4u);
    EXPECT_EQ(data[0].at("type"), "order.cancelled");
    const auto one = gateway_->request(
        "GET", "/v1/events/" + std::string(data[0].at("id").as_string()), {}, admin());
    ASSERT_EQ(one.status, 200);
    const auto one_body = one.json();
    const auto& deliveries = one_body.at("deliveries").as_array();
    ASSERT_EQ(deliveries.size(), 1u);
    EXPECT_EQ(deliveries[0].at("state"), "delivered");
    EXPECT_EQ(deliveries[0].at("attempts_made").as_array()[0].at("http_status").as_int64(), 200);
    // Only the admin scope sees them.
    EXPECT_EQ(gateway_->request("GET", "/v1/events", {}, auth()).status, 403);
}

TEST_F(Notifications, AReceiverDownForAWhileGetsEverythingOnceItIsBack) {
    auto [id, secret] = endpoint("flaky", {}, {{"mode", "fail"}, {"status", 503}});
    paid_orders("dn-", 3);
    // Each event tried at least twice while the receiver fails.
    const auto failing = receiver_->deliveries("flaky", 6);
    EXPECT_GE(failing.size(), 6u);
    EXPECT_TRUE(receiver_->accepted("flaky").empty());
    receiver_->configure("flaky", {{"mode", "ok"}, {"secrets", json::array{json::value(secret)}}});
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (receiver_->accepted("flaky").size() < 3 && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(200ms);
    }
    std::this_thread::sleep_for(1s);
    const auto accepted = receiver_->accepted("flaky");
    ASSERT_EQ(accepted.size(), 3u);
    expect_all_verified(accepted);
    std::set<std::string> ids;
    for (const auto& d : accepted) {
        ids.insert(std::string(d.at("headers").at("webhook-id").as_string()));
    }
    EXPECT_EQ(ids.size(), 3u);  // each event accepted once
    // Every attempt is on record.
    EXPECT_GE(
        database_->query_int("SELECT count(*) FROM delivery_attempts WHERE http_status = 503"), 6);
    EXPECT_EQ(database_->query_int("SELECT count(*) FROM event_deliveries WHERE state <> "
                                   "'delivered'"),
              0);
    EXPECT_GE(database_->query_int("SELECT coalesce(sum(retried), 0) FROM "
                                   "reporting.notification_health"),
              3);
}

TEST_F(Notifications, ASlowEndpointDelaysNoOtherEndpointsEvents) {
    endpoint("slow", {}, {{"mode", "slow"}, {"delay_ms", 10000}});
    endpoint("fast");
    std::vector<std::int64_t> changed_at;
    for (int i = 0; i < 6; ++i) {
        const auto uid = "sl-" + std::to_string(i);
        new_order(uid);
        changed_at.push_back(now_ms());
        ASSERT_EQ(pay_benepia(uid).status, 200);
    }
    const auto fast = receiver_->deliveries("fast", 6, 15s);
    ASSERT_EQ(fast.size(), 6u);
    expect_all_verified(fast);
    for (std::size_t i = 0; i < fast.size(); ++i) {
        const auto uid =
            std::string(fast[i].at("payload").at("data").at("merchant_uid").as_string());
        const auto index = static_cast<std::size_t>(std::stoi(uid.substr(3)));
        const auto delay = fast[i].at("received_at").as_int64() - changed_at[index];
        EXPECT_LT(delay, 1000) << uid << " reached the fast endpoint " << delay << " ms after";
    }
}

TEST_F(Notifications, AReplayArrivesWithTheSameEventId) {
    endpoint("shop");
    paid_orders("rp-", 1);
    const auto first = receiver_->deliveries("shop", 1);
    ASSERT_EQ(first.size(), 1u);
    const auto event_id = std::string(first[0].at("headers").at("webhook-id").as_string());
    const auto replay =
        gateway_->post_json("/v1/events/" + event_id + "/redeliver", json::object{}, admin());
    ASSERT_EQ(replay.status, 202) << replay.body;
    const auto both = receiver_->deliveries("shop", 2);
    ASSERT_EQ(both.size(), 2u);
    EXPECT_EQ(both[1].at("headers").at("webhook-id").as_string(), event_id);
    expect_all_verified(both);
    EXPECT_EQ(
        gateway_->post_json("/v1/events/evt_nopenopenopenope/redeliver", json::object{}, admin())
            .status,
        404);
}

TEST_F(Notifications, DuringARotationBothSecretsVerify) {
    auto [id, old_secret] = endpoint("rot");
    const auto rotated = gateway_->post_json("/v1/webhook-endpoints/" + id + "/rotate-secret",
                                             {{"previous_secret_valid_seconds", 3600}}, admin());
    ASSERT_EQ(rotated.status, 200) << rotated.body;
    const auto new_secret = std::string(rotated.json().at("secret").as_string());
    EXPECT_NE(new_secret, old_secret);
    EXPECT_TRUE(rotated.json().at("previous_secret_valid_until").is_int64());
    // A shop that has not switched yet still verifies, and so does one that has.
    receiver_->configure("rot", {{"secrets", json::array{json::value(old_secret)}}});
    paid_orders("ro-", 1);
    auto got = receiver_->deliveries("rot", 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(got[0].at("verified").as_bool());
    receiver_->configure("rot", {{"secrets", json::array{json::value(new_secret)}}});
    paid_orders("rn-", 1);
    got = receiver_->deliveries("rot", 2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(got[1].at("verified").as_bool());
    // Once the window is over (rotated again with none), the old secret verifies nothing.
    const auto again = gateway_->post_json("/v1/webhook-endpoints/" + id + "/rotate-secret",
                                           {{"previous_secret_valid_seconds", 0}}, admin());
    ASSERT_EQ(again.status, 200);
    const auto newest = std::string(again.json().at("secret").as_string());
    receiver_->configure("rot", {{"secrets", json::array{json::value(new_secret)}}});
    paid_orders("rx-", 1);
    got = receiver_->deliveries("rot", 3);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_FALSE(got[2].at("verified").as_bool());
    // No secret is ever listed again.
    const auto listed = gateway_->request("GET", "/v1/webhook-endpoints/" + id, {}, admin());
    EXPECT_EQ(listed.body.find(newest), std::string::npos);
    EXPECT_EQ(gateway_->log().find(newest), std::string::npos);
    EXPECT_EQ(gateway_->log().find(old_secret), std::string::npos);
}

TEST_F(Notifications, ARedirectIsNotFollowed) {
    endpoint("moved", {}, {{"mode", "redirect"}, {"location", receiver_->url("elsewhere")}});
    paid_orders("rd-", 1);
    receiver_->deliveries("moved", 1);
    std::this_thread::sleep_for(500ms);
    EXPECT_TRUE(receiver_->deliveries("elsewhere", 0, 0ms).empty());
    EXPECT_GE(database_->query_int("SELECT count(*) FROM delivery_attempts WHERE http_status = 302 "
                                   "AND error = 'redirect refused'"),
              1);
}

// iamport's notices as the inbox holds them, for an operator: a delivery given up while iamport
// was down is listed as failed and processed again on request.
class InboxForOperators : public Notifications {
  protected:
    Headers extra_env() const override {
        auto env = Notifications::extra_env();
        env.emplace_back("WEBHOOK_MAX_ATTEMPTS", "1");
        return env;
    }
};

TEST_F(InboxForOperators, AFailedNoticeIsListedAndRetriedOnRequest) {
    new_order("ib-1");
    const auto payment = sim_->create_checkout_payment(
        {{"merchant_uid", "ib-1"}, {"amount", 32000}, {"webhook", false}});
    const auto imp_uid = std::string(payment.at("imp_uid").as_string());
    // iamport answers no read: the one attempt allowed fails.
    sim_->set_fault({{"endpoint", "GET /payments/{imp_uid}"},
                     {"kind", "http_error"},
                     {"status", 503},
                     {"count", 1000}});
    const auto notice = gateway_->post_json(
        "/webhooks/iamport", {{"imp_uid", imp_uid}, {"merchant_uid", "ib-1"}, {"status", "paid"}});
    ASSERT_EQ(notice.status, 200);
    json::array failed;
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (failed.empty() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(200ms);
        const auto listed =
            gateway_->request("GET", "/v1/webhook-deliveries?state=failed", {}, admin());
        ASSERT_EQ(listed.status, 200) << listed.body;
        failed = listed.json().at("data").as_array();
    }
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ(failed[0].at("imp_uid").as_string(), imp_uid);
    EXPECT_EQ(status_of("ib-1"), "pending");
    // iamport is back; the operator retries it.
    sim_->clear_faults();
    const auto id = std::to_string(failed[0].at("id").as_int64());
    const auto retried =
        gateway_->post_json("/v1/webhook-deliveries/" + id + "/retry", json::object{}, admin());
    ASSERT_EQ(retried.status, 202) << retried.body;
    EXPECT_EQ(retried.json().at("state"), "pending");
    EXPECT_EQ(wait_for_status("ib-1", "paid"), "paid");
    // Processed now: nothing left to retry, and a bad id is refused.
    EXPECT_EQ(
        gateway_->post_json("/v1/webhook-deliveries/999999/retry", json::object{}, admin()).status,
        409);
    EXPECT_EQ(gateway_->request("GET", "/v1/webhook-deliveries?state=bogus", {}, admin()).status,
              422);
}

// Short attempts, so that the claim a killed instance held lapses soon (timeout + 5 s).
class NotificationsAcrossInstances : public Notifications {
  protected:
    Headers extra_env() const override {
        auto env = Notifications::extra_env();
        env.emplace_back("NOTIFY_TIMEOUT_MS", "2000");
        return env;
    }
};

TEST_F(NotificationsAcrossInstances, AKilledGatewayLosesNoEventAndTwoInstancesSendEachOnce) {
    auto [id, secret] = endpoint("shop", {}, {{"mode", "fail"}, {"status", 500}});
    // Changes committed with their events; every delivery fails so far, then the gateway dies.
    paid_orders("kl-", 3);
    receiver_->deliveries("shop", 3);
    gateway_->process().kill_now();
    receiver_->configure("shop", {{"mode", "ok"}, {"secrets", json::array{json::value(secret)}}});
    // Two instances on the same database take over, and make more changes between them.
    gateway_ = std::make_unique<Gateway>(database_->url(), extra_env());
    auto second = std::make_unique<Gateway>(database_->url(), extra_env());
    for (int i = 0; i < 10; ++i) {
        const auto uid = "two-" + std::to_string(i);
        auto& instance = i % 2 == 0 ? *gateway_ : *second;
        ASSERT_EQ(instance
                      .post_json("/v1/orders",
                                 {{"merchant_uid", uid}, {"name", "x"}, {"amount", 1000}}, auth())
                      .status,
                  201);
        ASSERT_EQ(
            instance
                .post_json("/v1/orders/" + uid + "/benepia-payment",
                           {{"benepia_user", "member01"}, {"benepia_password", kPassword}}, auth())
                .status,
            200);
    }
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (receiver_->accepted("shop").size() < 13 && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(200ms);
    }
    std::this_thread::sleep_for(1s);
    const auto accepted = receiver_->accepted("shop");
    expect_all_verified(accepted);
    std::map<std::string, int> per_event;
    for (const auto& d : accepted) {
        ++per_event[std::string(d.at("headers").at("webhook-id").as_string())];
    }
    EXPECT_EQ(per_event.size(), 13u);
    for (const auto& [event, count] : per_event) {
        EXPECT_EQ(count, 1) << event << " was accepted " << count << " times";
    }
    // Every delivery the receiver took is one attempt on record (an attempt the kill cut short
    // was not recorded, and was made again).
    EXPECT_EQ(
        static_cast<std::int64_t>(accepted.size()),
        database_->query_int("SELECT count(*) FROM delivery_attempts WHERE http_status = 200"));
    EXPECT_EQ(
        database_->query_int("SELECT count(*) FROM event_deliveries WHERE state = 'delivered'"),
        13);
}

class NotificationsToTheInternet : public Notifications {
  protected:
    Headers extra_env() const override {
        auto env = LifecycleTest::extra_env();
        env.emplace_back("NOTIFY_RETRY_SCHEDULE", "1,1");
        return env;
    }
};

TEST_F(NotificationsToTheInternet, PrivateAndPlainTargetsAreRefused) {
    for (const char* url :
         {"http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://10.1.2.3/hook",
          "https://169.254.169.254/latest", "https://localhost/hook", "https://[::1]/hook",
          "ftp://shop.example/x", "https://user:pw@shop.example/hook"}) {
        const auto refused = gateway_->post_json("/v1/webhook-endpoints", {{"url", url}}, admin());
        EXPECT_EQ(refused.status, 422) << url << " " << refused.body;
    }
    const auto unknown_type = gateway_->post_json(
        "/v1/webhook-endpoints",
        {{"url", "https://shop.example/hook"}, {"event_types", json::array{"order.shipped"}}},
        admin());
    EXPECT_EQ(unknown_type.status, 422);
    EXPECT_EQ(unknown_type.json().at("error").at("field"), "event_types");
    // A public name that resolves inside is refused when sending: localhost.localdomain here.
    const auto created = gateway_->post_json("/v1/webhook-endpoints",
                                             {{"url", "https://shop.example/hook"}}, admin());
    ASSERT_EQ(created.status, 201) << created.body;
    const auto patched = gateway_->request(
        "PATCH", "/v1/webhook-endpoints/" + std::string(created.json().at("id").as_string()),
        R"({"url":"https://127.0.0.2/x"})",
        {{"Authorization", "Bearer " + admin_}, {"Content-Type", "application/json"}});
    EXPECT_EQ(patched.status, 422);
    EXPECT_EQ(database_->query_int("SELECT count(*) FROM webhook_endpoints"), 1);
}

}  // namespace
}  // namespace mg::test
