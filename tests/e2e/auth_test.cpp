// API keys, scopes, client secrets and rate limits.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "tests/e2e/gateway.hpp"

namespace mg::test {
namespace {

class Auth : public GatewayTest {};

TEST_F(Auth, MissingOrInvalidKeyIs401) {
    auto response = gateway_->request("GET", "/v1/orders");
    EXPECT_EQ(response.status, 401);
    EXPECT_EQ(response.json().at("error").at("code").as_string(), "unauthorized");
    EXPECT_NE(response.header("WWW-Authenticate").find("Bearer"), std::string::npos);

    response = gateway_->request("GET", "/v1/orders", {}, Gateway::bearer("mgk_wrong"));
    EXPECT_EQ(response.status, 401);
    EXPECT_EQ(response.json().at("error").at("code").as_string(), "invalid_api_key");

    response = gateway_->request("GET", "/v1/orders", {}, {{"Authorization", "Basic abc"}});
    EXPECT_EQ(response.status, 401);

    // Authorization wins over a client secret: a bad key is not rescued by one.
    response = gateway_->request("GET", "/v1/orders", {},
                                 {{"Authorization", "Bearer nope"}, {"X-Client-Secret", "x"}});
    EXPECT_EQ(response.status, 401);
}

TEST_F(Auth, ScopesAreEnforced) {
    const auto reader = gateway_->create_api_key("reader", {"read"});
    const auto writer = gateway_->create_api_key("writer", {"write"});

    auto response =
        gateway_->post_json("/v1/orders", {{"name", "x"}, {"amount", 1}}, Gateway::bearer(reader));
    EXPECT_EQ(response.status, 403);
    EXPECT_EQ(response.json().at("error").at("code").as_string(), "insufficient_scope");

    response =
        gateway_->post_json("/v1/orders", {{"merchant_uid", "w1"}, {"name", "x"}, {"amount", 1}},
                            Gateway::bearer(writer));
    EXPECT_EQ(response.status, 201);

    response = gateway_->request("GET", "/v1/orders/w1", {}, Gateway::bearer(writer));
    EXPECT_EQ(response.status, 403);
    response = gateway_->request("GET", "/v1/orders/w1", {}, Gateway::bearer(reader));
    EXPECT_EQ(response.status, 200);
}

TEST_F(Auth, RevokedKeyStopsWorking) {
    const auto key = gateway_->create_api_key("temporary", {"read"});
    EXPECT_EQ(gateway_->request("GET", "/v1/orders", {}, Gateway::bearer(key)).status, 200);
    const auto revoked = run_gateway_command({"api-key", "revoke", "--name", "temporary"},
                                             {{"DATABASE_URL", gateway_->database_url()}});
    EXPECT_EQ(revoked.status, 0) << revoked.out;
    EXPECT_EQ(gateway_->request("GET", "/v1/orders", {}, Gateway::bearer(key)).status, 401);

    const auto again = run_gateway_command({"api-key", "revoke", "--name", "temporary"},
                                           {{"DATABASE_URL", gateway_->database_url()}});
    EXPECT_NE(again.status, 0);
}

TEST_F(Auth, ApiKeyCreatePrintsTheKeyAloneOnTheLastLine) {
    const auto result =
        run_gateway_command({"api-key", "create", "--name", "cli", "--scope", "read"},
                            {{"DATABASE_URL", gateway_->database_url()}});
    ASSERT_EQ(result.status, 0);
    auto out = result.out;
    while (!out.empty() && out.back() == '\n')
        out.pop_back();
    const auto key = out.substr(out.rfind('\n') + 1);
    EXPECT_EQ(key.rfind("mgk_", 0), 0u) << out;
    EXPECT_EQ(gateway_->request("GET", "/v1/orders", {}, Gateway::bearer(key)).status, 200);

    // A second active key with the same name is refused; a bad scope is a usage error.
    EXPECT_NE(run_gateway_command({"api-key", "create", "--name", "cli"},
                                  {{"DATABASE_URL", gateway_->database_url()}})
                  .status,
              0);
    EXPECT_NE(run_gateway_command({"api-key", "create", "--name", "x", "--scope", "owner"},
                                  {{"DATABASE_URL", gateway_->database_url()}})
                  .status,
              0);
}

TEST_F(Auth, ClientSecretGrantsOneOrderAndNothingElse) {
    const auto mine = create_order({{"merchant_uid", "mine"}, {"name", "x"}, {"amount", 100}});
    const auto other = create_order({{"merchant_uid", "other"}, {"name", "y"}, {"amount", 200}});
    ASSERT_EQ(mine.status, 201);
    ASSERT_EQ(other.status, 201);
    const std::string secret(mine.json().at("client_secret").as_string());
    const Headers browser{{"X-Client-Secret", secret}};

    auto response = gateway_->request("GET", "/v1/orders/mine", {}, browser);
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.json().at("amount").as_int64(), 100);
    EXPECT_FALSE(response.json().as_object().contains("client_secret"));

    response = gateway_->request("GET", "/v1/orders/other", {}, browser);
    EXPECT_EQ(response.status, 401);
    // An order that does not exist looks the same to a browser as one that is not its own.
    response = gateway_->request("GET", "/v1/orders/missing", {}, browser);
    EXPECT_EQ(response.status, 401);

    // Listing and creating need the storefront's key: a client secret counts as no key.
    response = gateway_->request("GET", "/v1/orders", {}, browser);
    EXPECT_EQ(response.status, 401);
    EXPECT_EQ(response.json().at("error").at("code"), "api_key_required");
    response = gateway_->post_json("/v1/orders", {{"name", "z"}, {"amount", 1}}, browser);
    EXPECT_EQ(response.status, 401);
    EXPECT_EQ(response.json().at("error").at("code"), "api_key_required");

    response = gateway_->request("GET", "/v1/orders/mine", {}, {{"X-Client-Secret", secret + "x"}});
    EXPECT_EQ(response.status, 401);
}

class RateLimited : public GatewayTest {
  protected:
    Headers extra_env() const override {
        return {{"RATE_LIMIT_PER_SECOND", "1"}, {"RATE_LIMIT_BURST", "5"}};
    }
};

TEST_F(RateLimited, BeyondTheBurstIs429WithRetryAfter) {
    int limited = 0;
    std::string retry_after;
    for (int i = 0; i < 10; ++i) {
        const auto response = gateway_->request("GET", "/v1/orders", {}, auth());
        if (response.status == 429) {
            ++limited;
            retry_after = response.header("Retry-After");
            EXPECT_EQ(response.json().at("error").at("code").as_string(), "rate_limited");
        } else {
            EXPECT_EQ(response.status, 200);
        }
    }
    EXPECT_GE(limited, 4);
    EXPECT_FALSE(retry_after.empty());
    // Other keys have their own bucket.
    const auto other = gateway_->create_api_key("other", {"read"});
    EXPECT_EQ(gateway_->request("GET", "/v1/orders", {}, Gateway::bearer(other)).status, 200);
}

}  // namespace
}  // namespace mg::test
