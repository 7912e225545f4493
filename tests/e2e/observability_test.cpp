// What the on-call engineer reads: /metrics in Prometheus text format, and logs without
// secrets or unmasked contact data (SPEC §9).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <regex>
#include <sstream>

#include "tests/e2e/gateway.hpp"

namespace mg::test {
namespace {

using Samples = std::map<std::string, double>;  // "name{labels}" -> value

// Parses the text exposition format strictly enough to catch a malformed line.
Samples parse_prometheus(const std::string& text) {
    static const std::regex sample(
        R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")"
        R"((?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$)");
    static const std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
    Samples samples;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty()) {
            continue;
        }
        std::smatch match;
        if (std::regex_match(line, comment)) {
            continue;
        }
        if (!std::regex_match(line, match, sample)) {
            ADD_FAILURE() << "not Prometheus text: " << line;
            continue;
        }
        samples[match[1].str() + match[2].str()] = std::stod(match[3].str());
    }
    return samples;
}

double value_of(const Samples& samples, const std::string& key) {
    const auto it = samples.find(key);
    return it == samples.end() ? 0 : it->second;
}

class Observability : public GatewayTest {};

TEST_F(Observability, MetricsParseAndMoveWithTraffic) {
    auto response = gateway_->request("GET", "/metrics");
    ASSERT_EQ(response.status, 200);
    EXPECT_NE(response.header("Content-Type").find("text/plain"), std::string::npos);
    auto before = parse_prometheus(response.body);
    const std::string created =
        R"(mg_http_requests_total{method="POST",route="/v1/orders",status="201"})";

    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(create_order({{"name", "x"}, {"amount", 100 + i}}).status, 201);
    }
    EXPECT_EQ(create_order({{"name", "x"}, {"amount", -1}}).status, 422);

    response = gateway_->request("GET", "/metrics");
    auto after = parse_prometheus(response.body);
    EXPECT_EQ(value_of(after, created) - value_of(before, created), 3);
    EXPECT_EQ(
        value_of(after, R"(mg_http_requests_total{method="POST",route="/v1/orders",status="422"})"),
        1);
    EXPECT_GE(
        value_of(after,
                 R"(mg_http_request_duration_seconds_count{method="POST",route="/v1/orders"})"),
        4);
    EXPECT_GT(value_of(after, R"(mg_db_pool_connections{state="total"})"), 0);
    // The event loops' own connections: the orders above were created on them.
    EXPECT_GT(value_of(after, R"(mg_db_loop_connections{loop="0",state="size"})"), 0);
    EXPECT_GE(value_of(after, R"(mg_db_loop_connections{loop="0",state="open"})") +
                  value_of(after, R"(mg_db_loop_connections{loop="1",state="open"})"),
              1);
    EXPECT_EQ(value_of(after, R"(mg_db_loop_jobs_waiting{loop="0"})"), 0);
    EXPECT_EQ(value_of(after, "mg_iamport_breaker_state"), 0);
    EXPECT_EQ(value_of(after, R"(mg_webhook_inbox_deliveries{state="pending"})"), 0);
    EXPECT_TRUE(after.contains(R"(mg_webhook_inbox_deliveries{state="failed"})"));
}

class ObservabilityAdmin : public GatewayTest {
  protected:
    Headers extra_env() const override {
        return {{"ADMIN_LISTEN", "127.0.0.1:" + std::to_string(admin_port_)}};
    }
    unsigned short admin_port_ = free_port();
};

// ADMIN_LISTEN serves /metrics apart from the API (and the probes on both); the API port no
// longer shows metrics, the admin port no API.
TEST_F(ObservabilityAdmin, MetricsMoveToTheAdminListener) {
    const auto admin = [&](std::string_view target) {
        return http_request("127.0.0.1", admin_port_, "GET", target);
    };
    const auto metrics = admin("/metrics");
    ASSERT_EQ(metrics.status, 200);
    EXPECT_TRUE(parse_prometheus(metrics.body).contains("mg_iamport_breaker_state"));
    EXPECT_EQ(admin("/healthz").status, 200);
    EXPECT_EQ(admin("/readyz").status, 200);
    EXPECT_EQ(admin("/v1/orders").status, 404);
    EXPECT_EQ(http_request("127.0.0.1", admin_port_, "POST", "/v1/orders", "{}", auth()).status,
              404);

    EXPECT_EQ(gateway_->request("GET", "/metrics").status, 404);
    EXPECT_EQ(gateway_->request("GET", "/healthz").status, 200);
    EXPECT_EQ(gateway_->request("GET", "/readyz").status, 200);
    EXPECT_EQ(create_order({{"name", "x"}, {"amount", 100}}).status, 201);
    EXPECT_NE(gateway_->log().find("admin listening"), std::string::npos);
}

TEST_F(Observability, LogsHoldNoSecretAndNoContactData) {
    const auto created = create_order({{"merchant_uid", "log-1"},
                                       {"name", "원두"},
                                       {"amount", 32000},
                                       {"buyer_name", "홍길동"},
                                       {"buyer_email", "gildong.hong@example.com"},
                                       {"buyer_tel", "010-9876-5432"},
                                       {"buyer_addr", "서울특별시 강남구 테헤란로 987"}});
    ASSERT_EQ(created.status, 201);
    const std::string secret(created.json().at("client_secret").as_string());
    gateway_->request("GET", "/v1/orders/log-1", {}, {{"X-Client-Secret", secret}});
    gateway_->request("GET", "/v1/orders/log-1", {}, {{"X-Client-Secret", secret + "x"}});
    gateway_->request("GET", "/v1/orders", {}, {{"Authorization", "Bearer mgk_not_a_key_123"}});
    gateway_->request("GET", "/v1/orders/log-1", {}, {{"X-Request-Id", "trace-abc-123"}});

    const auto log = gateway_->log();
    for (const std::string& needle :
         {key_, secret, std::string("mgk_not_a_key_123"), std::string("e2e_imp_secret_do_not_log"),
          std::string("gildong.hong@example.com"), std::string("9876-5432"),
          std::string("01098765432"), std::string("테헤란로 987"), std::string("홍길동")}) {
        EXPECT_EQ(log.find(needle), std::string::npos) << needle;
    }
    // Every line is one JSON object; a request's lines carry its id.
    std::istringstream lines(log);
    std::string line;
    bool traced = false;
    while (std::getline(lines, line)) {
        if (line.empty()) {
            continue;
        }
        boost::system::error_code ec;
        const auto value = boost::json::parse(line, ec);
        ASSERT_FALSE(ec) << line;
        ASSERT_TRUE(value.is_object()) << line;
        if (const auto* id = value.as_object().if_contains("request_id");
            id && *id == "trace-abc-123") {
            traced = true;
        }
    }
    EXPECT_TRUE(traced);
}

}  // namespace
}  // namespace mg::test
