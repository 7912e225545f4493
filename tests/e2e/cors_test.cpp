// CORS for the storefront's origins (SPEC §4: browsers call the order and payment routes).
#include <gtest/gtest.h>

#include "tests/e2e/gateway.hpp"

namespace mg::test {
namespace {

class Cors : public GatewayTest {
  protected:
    Headers extra_env() const override {
        return {{"CORS_ALLOWED_ORIGINS", "https://shop.example, http://localhost:3000"}};
    }
};

TEST_F(Cors, PreflightAnswersAllowedOriginsOnly) {
    auto response = gateway_->request("OPTIONS", "/v1/orders/o-1/benepia-payment", {},
                                      {{"Origin", "https://shop.example"},
                                       {"Access-Control-Request-Method", "POST"},
                                       {"Access-Control-Request-Headers", "x-client-secret"}});
    EXPECT_EQ(response.status, 204);
    EXPECT_EQ(response.header("Access-Control-Allow-Origin"), "https://shop.example");
    EXPECT_NE(response.header("Access-Control-Allow-Headers").find("X-Client-Secret"),
              std::string::npos);
    EXPECT_NE(response.header("Access-Control-Allow-Methods").find("POST"), std::string::npos);
    EXPECT_EQ(response.header("Vary"), "Origin");

    response = gateway_->request(
        "OPTIONS", "/v1/orders/o-1", {},
        {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "GET"}});
    EXPECT_EQ(response.status, 403);
    EXPECT_EQ(response.header("Access-Control-Allow-Origin"), "");
}

TEST_F(Cors, ResponsesCarryTheOriginWhenAllowed) {
    const auto created = create_order({{"merchant_uid", "cors-1"}, {"name", "x"}, {"amount", 10}});
    ASSERT_EQ(created.status, 201);
    const std::string secret(created.json().at("client_secret").as_string());
    auto response =
        gateway_->request("GET", "/v1/orders/cors-1", {},
                          {{"Origin", "http://localhost:3000"}, {"X-Client-Secret", secret}});
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.header("Access-Control-Allow-Origin"), "http://localhost:3000");
    EXPECT_NE(response.header("Access-Control-Expose-Headers").find("X-Request-Id"),
              std::string::npos);
    response = gateway_->request("GET", "/v1/orders/cors-1", {},
                                 {{"Origin", "https://evil.example"}, {"X-Client-Secret", secret}});
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.header("Access-Control-Allow-Origin"), "");
}

}  // namespace
}  // namespace mg::test
