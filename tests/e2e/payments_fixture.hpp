// A gateway against its own iamport simulator, with the helpers the payment tests share.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "tests/e2e/gateway.hpp"
#include "tests/support/sim_process.hpp"

namespace mg::test {

namespace json = boost::json;

inline std::string code_of(const HttpResponse& response) {
    return std::string(response.json().at("error").at("code").as_string());
}

inline constexpr const char* kPassword = "Bnp-Secret-7731!";

class PaymentsTest : public GatewayTest {
  protected:
    void SetUp() override {
        sim_ = std::make_unique<SimProcess>();
        GatewayTest::SetUp();
    }
    Headers extra_env() const override {
        return {{"IAMPORT_BASE_URL", sim_->base_url()},
                {"IAMPORT_IMP_KEY", "sandbox_imp_key"},
                {"IAMPORT_IMP_SECRET", "sandbox_imp_secret"},
                {"IAMPORT_PG", "kcp"},
                {"IAMPORT_TIMEOUT_MS", "2000"},
                {"IAMPORT_CALL_TIMEOUT_MS", "4000"},
                // Nothing listens there yet: webhooks are another test's business.
                {"PUBLIC_BASE_URL", "http://127.0.0.1:9"}};
    }

    // A new order; returns its merchant_uid and client secret.
    std::pair<std::string, std::string> new_order(const std::string& uid,
                                                  std::int64_t amount = 32000) {
        const auto response = create_order({{"merchant_uid", uid},
                                            {"name", "원두 1kg"},
                                            {"amount", amount},
                                            {"buyer_name", "홍길동"},
                                            {"buyer_tel", "010-1234-5678"}});
        EXPECT_EQ(response.status, 201) << response.body;
        return {uid, std::string(response.json().at("client_secret").as_string())};
    }
    HttpResponse post(const std::string& uid, const std::string& action, const json::value& body,
                      const Headers& headers) {
        return gateway_->post_json("/v1/orders/" + uid + "/" + action, body, headers);
    }
    HttpResponse post(const std::string& uid, const std::string& action, const json::value& body) {
        return post(uid, action, body, auth());
    }
    HttpResponse pay_benepia(const std::string& uid, const std::string& password = kPassword,
                             const Headers* headers = nullptr) {
        return post(uid, "benepia-payment",
                    {{"benepia_user", "member01"}, {"benepia_password", password}},
                    headers ? *headers : auth());
    }
    HttpResponse issue_vbank(const std::string& uid, const Headers* headers = nullptr) {
        return post(uid, "vbank",
                    {{"vbank_code", "004"},
                     {"vbank_due", now_seconds() + 86400},
                     {"vbank_holder", "예시상점"}},
                    headers ? *headers : auth());
    }
    json::object order(const std::string& uid) {
        const auto response = gateway_->request("GET", "/v1/orders/" + uid, {}, auth());
        EXPECT_EQ(response.status, 200) << response.body;
        return response.json().as_object();
    }
    std::string status_of(const std::string& uid) {
        return std::string(order(uid).at("status").as_string());
    }
    std::string sim_token() {
        const auto response =
            http_request("127.0.0.1", sim_->port(), "POST", "/users/getToken",
                         R"({"imp_key":"sandbox_imp_key","imp_secret":"sandbox_imp_secret"})");
        return std::string(response.json().at("response").at("access_token").as_string());
    }

    // Sync settles the order's unknown Benepia call as paid; iamport was called once in all.
    void expect_sync_settles_as_paid_with_one_charge(const std::string& uid) {
        const auto synced = post(uid, "sync", json::object{});
        ASSERT_EQ(synced.status, 200) << synced.body;
        EXPECT_EQ(synced.json().at("status"), "paid");
        EXPECT_EQ(pay_benepia(uid).status, 409);
        EXPECT_EQ(sim_->count_requests("POST /benepia/payment"), 1u);
    }

    // The whole database as pg_dump writes it.
    std::string dump() {
        std::string command = "pg_dump --no-owner '" + database_->url() + "' 2>&1";
        std::string out;
        if (FILE* pipe = popen(command.c_str(), "r")) {
            char buffer[4096];
            std::size_t n = 0;
            while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) {
                out.append(buffer, n);
            }
            EXPECT_EQ(pclose(pipe), 0) << out;
        }
        return out;
    }

    std::unique_ptr<SimProcess> sim_;
};

// With a key of scope review, reconciler passes every second, and helpers for the lifecycle.
class LifecycleTest : public PaymentsTest {
  protected:
    void SetUp() override {
        PaymentsTest::SetUp();
        reviewer_ = gateway_->create_api_key("ops-kim", {"read", "review"});
    }
    Headers extra_env() const override {
        auto env = PaymentsTest::extra_env();
        env.emplace_back("RECONCILE_INTERVAL", "1");
        return env;
    }
    HttpResponse review(const std::string& uid, const json::object& body) {
        return post(uid, "review", body, Gateway::bearer(reviewer_));
    }
    // The simulator's own record of a payment (with what iamport keeps beyond its Payment
    // object: tax_free, tax_free_cancelled, revoked_at).
    json::object sim_payment(const std::string& imp_uid) {
        const auto all = sim_->control("GET", "/__sim/payments").at("payments").as_array();
        for (const auto& payment : all) {
            if (payment.at("imp_uid").as_string() == imp_uid) {
                return payment.as_object();
            }
        }
        ADD_FAILURE() << "the simulator has no payment " << imp_uid;
        return {};
    }
    // Polls the order until its status is `status` (or `limit` passes); the last status seen.
    std::string wait_for_status(const std::string& uid, const std::string& status,
                                std::chrono::seconds limit = std::chrono::seconds(15)) {
        const auto until = std::chrono::steady_clock::now() + limit;
        auto seen = status_of(uid);
        while (seen != status && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            seen = status_of(uid);
        }
        return seen;
    }
    // A checkout payment made in the simulator's window, bypassing a registered amount when
    // `tampered` (a payment that completes despite iamport's rule).
    json::object checkout_payment(const std::string& uid, std::int64_t amount, bool tampered) {
        return sim_->create_checkout_payment({{"merchant_uid", uid},
                                              {"amount", amount},
                                              {"ignore_prepare", tampered},
                                              {"webhook", false}});
    }
    std::string imp_uid_of(const HttpResponse& response, std::size_t index = 0) {
        return std::string(
            response.json().at("payments").as_array().at(index).at("imp_uid").as_string());
    }

    std::string reviewer_;
};

}  // namespace mg::test
