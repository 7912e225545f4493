// Orders over HTTP against the real binary and a real database.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <thread>

#include "tests/e2e/gateway.hpp"

namespace mg::test {
namespace {

namespace json = boost::json;

std::string repeat(std::string_view unit, std::size_t times) {
    std::string out;
    for (std::size_t i = 0; i < times; ++i)
        out += unit;
    return out;
}

class Orders : public GatewayTest {};

TEST_F(Orders, CreateThenReadBack) {
    const auto created = create_order({{"merchant_uid", "order-1"},
                                       {"name", "원두 1kg"},
                                       {"amount", 32000},
                                       {"buyer_name", "홍길동"},
                                       {"buyer_email", "hong@example.com"},
                                       {"buyer_tel", "010-1234-5678"},
                                       {"custom_data", {{"cart", json::array{1, 2}}}}});
    ASSERT_EQ(created.status, 201) << created.body;
    const auto order = created.json().as_object();
    EXPECT_EQ(order.at("merchant_uid").as_string(), "order-1");
    EXPECT_EQ(order.at("name").as_string(), "원두 1kg");
    EXPECT_EQ(order.at("amount").as_int64(), 32000);
    EXPECT_EQ(order.at("currency").as_string(), "KRW");
    EXPECT_EQ(order.at("status").as_string(), "pending");
    EXPECT_EQ(order.at("buyer_addr"), nullptr);
    EXPECT_EQ(order.at("custom_data").at("cart").as_array().size(), 2u);
    EXPECT_TRUE(order.at("payments").as_array().empty());
    EXPECT_GT(order.at("created_at").as_int64(), 1'700'000'000);
    const std::string secret(order.at("client_secret").as_string());
    // ≥ 128 bits of randomness, base64url: at least 22 characters after the prefix.
    EXPECT_GE(secret.size(), 25u);

    const auto read = gateway_->request("GET", "/v1/orders/order-1", {}, auth());
    ASSERT_EQ(read.status, 200) << read.body;
    EXPECT_EQ(read.json().at("name").as_string(), "원두 1kg");
    EXPECT_EQ(read.json().at("client_secret").as_string(), secret);
    EXPECT_FALSE(read.header("X-Request-Id").empty());
}

TEST_F(Orders, MerchantUidGeneratedWhenAbsentAndTakenOneConflicts) {
    const auto first = create_order({{"name", "Tea"}, {"amount", 5000}});
    ASSERT_EQ(first.status, 201) << first.body;
    const std::string uid(first.json().at("merchant_uid").as_string());
    EXPECT_FALSE(uid.empty());
    EXPECT_LE(uid.size(), 40u);

    const auto again = create_order({{"merchant_uid", uid}, {"name", "Tea"}, {"amount", 5000}});
    EXPECT_EQ(again.status, 409);
    EXPECT_EQ(again.json().at("error").at("code").as_string(), "merchant_uid_taken");
}

TEST_F(Orders, ValidationErrorsNameTheField) {
    struct Case {
        json::value body;
        std::string field;
        std::string code = "validation_failed";
    };
    const std::vector<Case> cases = {
        {{{"amount", 100}}, "name"},
        {{{"name", ""}, {"amount", 100}}, "name"},
        {{{"name", repeat("가", 41)}, {"amount", 100}}, "name"},
        {{{"name", "x"}}, "amount"},
        {{{"name", "x"}, {"amount", 0}}, "amount"},
        {{{"name", "x"}, {"amount", -5}}, "amount"},
        {{{"name", "x"}, {"amount", 1000000000001}}, "amount"},
        {{{"name", "x"}, {"amount", 10.5}}, "amount"},
        {{{"name", "x"}, {"amount", 1000.0}}, "amount"},
        {{{"name", "x"}, {"amount", "1000"}}, "amount"},
        {{{"name", "x"}, {"amount", 100}, {"currency", "USD"}}, "currency", "unsupported_currency"},
        {{{"name", "x"}, {"amount", 100}, {"merchant_uid", "주문-1"}}, "merchant_uid"},
        {{{"name", "x"}, {"amount", 100}, {"merchant_uid", repeat("a", 41)}}, "merchant_uid"},
        {{{"name", "x"}, {"amount", 100}, {"buyer_name", repeat("김", 17)}}, "buyer_name"},
        {{{"name", "x"}, {"amount", 100}, {"buyer_email", "not-an-email"}}, "buyer_email"},
        {{{"name", "x"}, {"amount", 100}, {"buyer_tel", repeat("0", 17)}}, "buyer_tel"},
        {{{"name", "x"}, {"amount", 100}, {"buyer_addr", repeat("서", 129)}}, "buyer_addr"},
        {{{"name", "x"}, {"amount", 100}, {"buyer_postcode", "123456789"}}, "buyer_postcode"},
        {{{"name", "x"}, {"amount", 100}, {"amout", 100}}, "amout"},
        {{{"name", 7}, {"amount", 100}}, "name"},
    };
    for (const auto& c : cases) {
        const auto response = create_order(c.body);
        EXPECT_EQ(response.status, 422) << json::serialize(c.body) << " → " << response.body;
        if (response.status == 422) {
            EXPECT_EQ(response.json().at("error").at("field").as_string(), c.field)
                << json::serialize(c.body);
            EXPECT_EQ(response.json().at("error").at("code").as_string(), c.code);
        }
    }
    // Nothing was stored by any of them.
    const auto list = gateway_->request("GET", "/v1/orders", {}, auth());
    EXPECT_TRUE(list.json().at("data").as_array().empty());
}

TEST_F(Orders, KoreanTextAtTheLimitsIsAccepted) {
    const auto response = create_order({{"name", repeat("가", 40)},
                                        {"amount", 1000000000000},
                                        {"buyer_name", repeat("김", 16)},
                                        {"buyer_addr", repeat("서", 128)}});
    ASSERT_EQ(response.status, 201) << response.body;
    EXPECT_EQ(response.json().at("amount").as_int64(), 1000000000000);
}

TEST_F(Orders, MalformedBodiesAndMediaTypes) {
    auto headers = auth();
    headers.emplace_back("Content-Type", "application/json");
    auto response = gateway_->request("POST", "/v1/orders", "{\"name\":", headers);
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(response.json().at("error").at("code").as_string(), "malformed_json");

    response = gateway_->request("POST", "/v1/orders", "[1,2]", headers);
    EXPECT_EQ(response.status, 400);

    response =
        gateway_->request("POST", "/v1/orders", "{\"name\":\"\xff\xfe\",\"amount\":1}", headers);
    EXPECT_EQ(response.status, 400);

    response = gateway_->request("POST", "/v1/orders", repeat("[", 10000), headers);
    EXPECT_EQ(response.status, 400);

    auto text_headers = auth();
    text_headers.emplace_back("Content-Type", "text/plain");
    response =
        gateway_->request("POST", "/v1/orders", "{\"name\":\"x\",\"amount\":1}", text_headers);
    EXPECT_EQ(response.status, 415);
    EXPECT_EQ(response.json().at("error").at("code").as_string(), "unsupported_media_type");
}

TEST_F(Orders, NotFoundAndWrongMethod) {
    auto response = gateway_->request("GET", "/v1/orders/nope", {}, auth());
    EXPECT_EQ(response.status, 404);
    EXPECT_EQ(response.json().at("error").at("code").as_string(), "order_not_found");

    response = gateway_->request("GET", "/v1/nothing-here", {}, auth());
    EXPECT_EQ(response.status, 404);

    response = gateway_->request("DELETE", "/v1/orders", {}, auth());
    EXPECT_EQ(response.status, 405);
    EXPECT_EQ(response.header("Allow"), "GET, HEAD, POST");
}

TEST_F(Orders, ListIsNewestFirstWithKeysetPagesAndFilters) {
    for (int i = 0; i < 25; ++i) {
        ASSERT_EQ(create_order({{"merchant_uid", "list-" + std::to_string(i)},
                                {"name", "item"},
                                {"amount", 1000 + i}})
                      .status,
                  201);
    }
    std::vector<std::string> seen;
    std::string target = "/v1/orders?limit=10";
    for (int page = 0; page < 5; ++page) {
        const auto response = gateway_->request("GET", target, {}, auth());
        ASSERT_EQ(response.status, 200) << response.body;
        const auto body = response.json().as_object();
        for (const auto& order : body.at("data").as_array()) {
            seen.emplace_back(order.at("merchant_uid").as_string());
        }
        if (body.at("next_cursor").is_null()) {
            break;
        }
        target = "/v1/orders?limit=10&cursor=" + std::string(body.at("next_cursor").as_string());
    }
    ASSERT_EQ(seen.size(), 25u);
    EXPECT_EQ(seen.front(), "list-24");
    EXPECT_EQ(seen.back(), "list-0");
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 25u);

    auto response = gateway_->request("GET", "/v1/orders?status=paid", {}, auth());
    EXPECT_TRUE(response.json().at("data").as_array().empty());
    response = gateway_->request("GET", "/v1/orders?status=pending&limit=1000", {}, auth());
    EXPECT_EQ(response.json().at("data").as_array().size(), 25u);  // clamped to 100, 25 exist
    response = gateway_->request("GET", "/v1/orders?created_from=4102444800", {}, auth());
    EXPECT_TRUE(response.json().at("data").as_array().empty());  // year 2100

    for (const auto* bad :
         {"/v1/orders?status=shipped", "/v1/orders?limit=0", "/v1/orders?limit=abc",
          "/v1/orders?cursor=bogus", "/v1/orders?created_to=yesterday", "/v1/orders?colour=red"}) {
        response = gateway_->request("GET", bad, {}, auth());
        EXPECT_EQ(response.status, 422) << bad << " → " << response.body;
    }
}

TEST_F(Orders, TwoHundredConcurrentCreatesAreAllStored) {
    constexpr int kOrders = 200;
    std::vector<int> statuses(kOrders);
    std::vector<std::thread> threads;
    for (int i = 0; i < kOrders; ++i) {
        threads.emplace_back([&, i] {
            statuses[i] = create_order({{"merchant_uid", "bulk-" + std::to_string(i)},
                                        {"name", "bulk"},
                                        {"amount", 100 + i}})
                              .status;
        });
    }
    for (auto& thread : threads)
        thread.join();
    for (int i = 0; i < kOrders; ++i) {
        EXPECT_EQ(statuses[i], 201) << "order " << i;
    }
    std::set<std::string> stored;
    std::string target = "/v1/orders?limit=100";
    for (;;) {
        const auto page = gateway_->request("GET", target, {}, auth()).json().as_object();
        for (const auto& order : page.at("data").as_array()) {
            stored.emplace(order.at("merchant_uid").as_string());
        }
        if (page.at("next_cursor").is_null())
            break;
        target = "/v1/orders?limit=100&cursor=" + std::string(page.at("next_cursor").as_string());
    }
    EXPECT_EQ(stored.size(), static_cast<std::size_t>(kOrders));
}

TEST_F(Orders, RequestIdIsEchoedOrGenerated) {
    auto headers = auth();
    headers.emplace_back("X-Request-Id", "trace-abc-123");
    auto response = gateway_->request("GET", "/v1/orders", {}, headers);
    EXPECT_EQ(response.header("X-Request-Id"), "trace-abc-123");
    response = gateway_->request("GET", "/v1/orders", {}, auth());
    EXPECT_GE(response.header("X-Request-Id").size(), 16u);
    // Something that could forge log lines is replaced.
    headers = auth();
    headers.emplace_back("X-Request-Id", "a\"b c");
    response = gateway_->request("GET", "/v1/orders", {}, headers);
    EXPECT_NE(response.header("X-Request-Id"), "a\"b c");
    EXPECT_FALSE(response.header("X-Request-Id").empty());
}

}  // namespace
}  // namespace mg::test
