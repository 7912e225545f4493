// Idempotency-Key: replay, reuse with another body, concurrent use (SPEC §4).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <thread>

#include "tests/e2e/gateway.hpp"

namespace mg::test {
namespace {

class Idempotency : public GatewayTest {
  protected:
    Headers with_key(const std::string& key) {
        auto headers = auth();
        headers.emplace_back("Idempotency-Key", key);
        return headers;
    }
    std::size_t order_count() {
        return gateway_->request("GET", "/v1/orders?limit=100", {}, auth())
            .json()
            .at("data")
            .as_array()
            .size();
    }
};

TEST_F(Idempotency, SameKeySameBodyReplaysTheStoredResponse) {
    const boost::json::value body{{"name", "Tea"}, {"amount", 4500}};
    const auto first = create_order(body, with_key("k-1"));
    ASSERT_EQ(first.status, 201) << first.body;
    EXPECT_EQ(first.header("Idempotent-Replayed"), "");
    const auto second = create_order(body, with_key("k-1"));
    EXPECT_EQ(second.status, 201);
    EXPECT_EQ(second.header("Idempotent-Replayed"), "true");
    EXPECT_EQ(second.body, first.body);
    EXPECT_EQ(order_count(), 1u);
}

// The order and the answer its key replays are written by one transaction (they share its
// now()): a crash between the two cannot leave an order whose retry creates another.
TEST_F(Idempotency, AnOrderAndItsStoredAnswerCommitTogether) {
    const auto created = create_order({{"name", "Tea"}, {"amount", 4500}}, with_key("k-tx"));
    ASSERT_EQ(created.status, 201) << created.body;
    EXPECT_EQ(
        database_->query_int("SELECT count(*) FROM orders o JOIN idempotency_keys k "
                             "ON k.completed_at = o.created_at WHERE k.key = 'k-tx' AND k.state = "
                             "'completed' AND o.merchant_uid = '" +
                             std::string(created.json().at("merchant_uid").as_string()) + "'"),
        1);
    // A refusal is stored after the fact, as before.
    const auto taken = create_order(
        {{"merchant_uid", created.json().at("merchant_uid")}, {"name", "Tea"}, {"amount", 4500}},
        with_key("k-taken"));
    EXPECT_EQ(taken.status, 409);
    EXPECT_EQ(create_order({{"merchant_uid", created.json().at("merchant_uid")},
                            {"name", "Tea"},
                            {"amount", 4500}},
                           with_key("k-taken"))
                  .header("Idempotent-Replayed"),
              "true");
    EXPECT_EQ(order_count(), 1u);
}

TEST_F(Idempotency, SameKeyOtherBodyIs422AndChangesNothing) {
    ASSERT_EQ(create_order({{"name", "Tea"}, {"amount", 4500}}, with_key("k-2")).status, 201);
    const auto reused = create_order({{"name", "Tea"}, {"amount", 9000}}, with_key("k-2"));
    EXPECT_EQ(reused.status, 422);
    EXPECT_EQ(reused.json().at("error").at("code").as_string(), "idempotency_key_reused");
    EXPECT_EQ(order_count(), 1u);
}

TEST_F(Idempotency, KeysAreScopedPerApiKey) {
    const auto other = gateway_->create_api_key("other-shop", {"read", "write"});
    auto other_headers = Gateway::bearer(other);
    other_headers.emplace_back("Idempotency-Key", "shared");
    ASSERT_EQ(create_order({{"name", "A"}, {"amount", 1}}, with_key("shared")).status, 201);
    const auto response = create_order({{"name", "B"}, {"amount", 2}}, other_headers);
    EXPECT_EQ(response.status, 201);
    EXPECT_EQ(response.header("Idempotent-Replayed"), "");
    EXPECT_EQ(order_count(), 2u);
}

TEST_F(Idempotency, RefusalsAreReplayedToo) {
    const boost::json::value bad{{"name", "x"}, {"amount", -1}};
    EXPECT_EQ(create_order(bad, with_key("k-bad")).status, 422);
    const auto again = create_order(bad, with_key("k-bad"));
    EXPECT_EQ(again.status, 422);
    EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
}

TEST_F(Idempotency, OverlongKeyIsRefused) {
    const auto response =
        create_order({{"name", "x"}, {"amount", 1}}, with_key(std::string(256, 'k')));
    EXPECT_EQ(response.status, 422);
    EXPECT_EQ(response.json().at("error").at("field").as_string(), "Idempotency-Key");
    EXPECT_EQ(create_order({{"name", "x"}, {"amount", 1}}, with_key(std::string(255, 'k'))).status,
              201);
}

TEST_F(Idempotency, FiftyConcurrentCreatesWithOneKeyMakeOneOrder) {
    constexpr int kCalls = 50;
    std::vector<int> statuses(kCalls);
    std::vector<std::string> uids(kCalls);
    std::vector<std::thread> threads;
    for (int i = 0; i < kCalls; ++i) {
        threads.emplace_back([&, i] {
            const auto response =
                create_order({{"name", "Once"}, {"amount", 777}}, with_key("once"));
            statuses[i] = response.status;
            if (response.status == 201) {
                uids[i] = std::string(response.json().at("merchant_uid").as_string());
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    std::set<std::string> created;
    for (int i = 0; i < kCalls; ++i) {
        // Either the original or its replay (201), or "still running" (409).
        EXPECT_TRUE(statuses[i] == 201 || statuses[i] == 409) << statuses[i];
        if (statuses[i] == 201)
            created.insert(uids[i]);
    }
    EXPECT_EQ(created.size(), 1u);
    EXPECT_EQ(order_count(), 1u);
}

}  // namespace
}  // namespace mg::test
