#include <gtest/gtest.h>

#include <algorithm>

#include "client_fixture.hpp"

namespace mg::iamport {
namespace {
using namespace std::chrono_literals;
using mg::test::SimProcess;
using testing::config_for;
using testing::IoThreads;
using testing::vbank_request;

class ClientTest : public ::testing::Test {
  protected:
    SimProcess sim;
    IoThreads threads;
    std::unique_ptr<Client> client =
        std::make_unique<Client>(threads.io().get_executor(), config_for(sim));

    template <class T>
    Result<T> run(boost::asio::awaitable<Result<T>> task) {
        return threads.run(std::move(task));
    }
};

TEST_F(ClientTest, HundredConcurrentCallsShareOneGetToken) {
    auto created = sim.create_checkout_payment({{"merchant_uid", "order-100"}, {"amount", 5000}});
    std::string imp_uid(created.at("imp_uid").as_string());
    std::vector<std::future<Result<Payment>>> calls;
    for (int i = 0; i < 100; ++i) {
        calls.push_back(boost::asio::co_spawn(threads.io(), client->get_payment(imp_uid),
                                              boost::asio::use_future));
    }
    for (auto& call : calls) {
        auto result = call.get();
        ASSERT_TRUE(result) << result.error().message;
        EXPECT_EQ(result->amount, 5000);
    }
    EXPECT_EQ(sim.count_requests("POST /users/getToken"), 1u);
    EXPECT_EQ(sim.count_requests("GET /payments/{imp_uid}"), 100u);
}

TEST_F(ClientTest, IamportClockAheadOrBehindChangesNothing) {
    for (auto offset : {3600s, -3600s}) {
        sim.reset();
        sim.set_clock_offset(offset);
        Client fresh(threads.io().get_executor(), config_for(sim));
        auto created =
            sim.create_checkout_payment({{"merchant_uid", "order-clock"}, {"amount", 1000}});
        std::string imp_uid(created.at("imp_uid").as_string());
        for (int i = 0; i < 3; ++i) {
            auto result = run(fresh.get_payment(imp_uid));
            ASSERT_TRUE(result) << result.error().message;
        }
        EXPECT_EQ(sim.count_requests("POST /users/getToken"), 1u) << offset.count();
        EXPECT_EQ(sim.count_requests("GET /payments/{imp_uid}"), 3u);
    }
}

TEST_F(ClientTest, TokenExpiredInFlightCostsOneRefreshAndOneRetry) {
    auto created = sim.create_checkout_payment({{"merchant_uid", "order-exp"}, {"amount", 1}});
    std::string imp_uid(created.at("imp_uid").as_string());
    ASSERT_TRUE(run(client->get_payment(imp_uid)));
    sim.expire_tokens();
    sim.reset_requests();
    auto result = run(client->get_payment(imp_uid));
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(sim.count_requests("POST /users/getToken"), 1u);
    EXPECT_EQ(sim.count_requests("GET /payments/{imp_uid}"), 2u);
    auto statuses = sim.requests("GET /payments/{imp_uid}");
    EXPECT_EQ(statuses.at(0).at("status").as_int64(), 401);
    EXPECT_EQ(statuses.at(1).at("status").as_int64(), 200);
}

TEST_F(ClientTest, UnknownImpUidIsNotFound) {
    auto result = run(client->get_payment("imps_000000000000"));
    ASSERT_FALSE(result);
    EXPECT_EQ(result.outcome(), Outcome::not_found);
    EXPECT_EQ(run(client->find_payment("no-such-order")).outcome(), Outcome::not_found);
}

TEST_F(ClientTest, NonZeroCodeIsDeclinedWithIamportsMessage) {
    BenepiaRequest request;
    request.benepia_user = "user1";
    request.benepia_password = "wrong";
    request.merchant_uid = "order-benepia-declined";
    request.amount = 3000;
    request.name = "포인트 결제";
    request.channel.channel_key = "kcp-channel";
    auto result = run(client->benepia_payment(request));
    ASSERT_FALSE(result);
    EXPECT_EQ(result.outcome(), Outcome::declined);
    EXPECT_EQ(result.error().code, -1);
    EXPECT_NE(result.error().message.find("베네피아"), std::string::npos);

    sim.set_fault({{"endpoint", "POST /vbanks"},
                   {"kind", "code"},
                   {"code", 1},
                   {"message", "가상계좌 발급 실패"}});
    auto vbank = run(client->issue_vbank(vbank_request("order-code1")));
    ASSERT_FALSE(vbank);
    EXPECT_EQ(vbank.outcome(), Outcome::declined);
    EXPECT_EQ(vbank.error().code, 1);
    EXPECT_EQ(vbank.error().message, "가상계좌 발급 실패");
}

TEST_F(ClientTest, VbankIssueUpdateDepositCancelFlow) {
    auto request = vbank_request("order-flow", 20'000);
    request.notice_url = {"http://127.0.0.1:9/webhooks/iamport"};
    auto issued = run(client->issue_vbank(request));
    ASSERT_TRUE(issued) << issued.error().message;
    EXPECT_EQ(issued->status, "ready");
    EXPECT_EQ(issued->vbank_code.value_or(""), "004");
    EXPECT_FALSE(issued->vbank_num.value_or("").empty());
    EXPECT_EQ(issued->vbank_date, request.vbank_due);

    auto updated = run(client->update_vbank(issued->imp_uid, VbankUpdate{15'000, std::nullopt}));
    ASSERT_TRUE(updated) << updated.error().message;
    EXPECT_EQ(updated->amount, 15'000);

    sim.deposit(issued->imp_uid);
    auto after_update = run(client->update_vbank(issued->imp_uid, VbankUpdate{1000, {}}));
    // HTTP 400 with iamport's envelope: a refusal, as any envelope with code ≠ 0 is for a PUT.
    EXPECT_EQ(after_update.outcome(), Outcome::declined) << "PUT /vbanks answers 400 once paid";

    CancelRequest partial;
    partial.imp_uid = issued->imp_uid;
    partial.amount = 5000;
    partial.checksum = 15'000;
    partial.reason = "부분 환불";
    partial.refund_holder = "홍길동";
    partial.refund_bank = "004";
    partial.refund_account = "12345678901234";
    auto cancelled = run(client->cancel_payment(partial));
    ASSERT_TRUE(cancelled) << cancelled.error().message;
    EXPECT_EQ(cancelled->status, "paid");
    EXPECT_EQ(cancelled->cancel_amount, 5000);
    ASSERT_EQ(cancelled->cancel_history.size(), 1u);
    EXPECT_EQ(cancelled->cancellable_balance(), 10'000);

    auto stale = partial;  // a checksum that no longer matches is refused
    auto refused = run(client->cancel_payment(stale));
    EXPECT_EQ(refused.outcome(), Outcome::declined);

    auto rest = partial;
    rest.amount.reset();
    rest.checksum = cancelled->cancellable_balance();
    auto full = run(client->cancel_payment(rest));
    ASSERT_TRUE(full) << full.error().message;
    EXPECT_EQ(full->status, "cancelled");
    EXPECT_EQ(full->cancel_receipt_urls.size(), 2u);

    auto found = run(client->find_payment("order-flow", "cancelled"));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->imp_uid, issued->imp_uid);
}

TEST_F(ClientTest, BenepiaApprovalAndReusedMerchantUid) {
    BenepiaRequest request;
    request.benepia_user = "user1";
    request.benepia_password = "correct-horse";
    request.merchant_uid = "order-benepia";
    request.amount = 7000;
    request.name = "포인트 결제";
    request.channel.pg = "kcp";
    auto paid = run(client->benepia_payment(request));
    ASSERT_TRUE(paid) << paid.error().message;
    EXPECT_EQ(paid->status, "paid");
    EXPECT_EQ(paid->pay_method.value_or(""), "point");
    auto again = run(client->issue_vbank(vbank_request("order-benepia")));
    EXPECT_EQ(again.outcome(), Outcome::declined) << "a paid merchant_uid cannot be reused";
}

TEST_F(ClientTest, FindAllReturnsEveryPaymentOfAMerchantUidNewestFirst) {
    EXPECT_EQ(run(client->find_all_payments("order-find-all")).outcome(), Outcome::not_found);
    std::vector<std::string> made;
    for (int i = 0; i < 3; ++i) {
        const auto created = sim.create_checkout_payment({{"merchant_uid", "order-find-all"},
                                                          {"amount", 1000 + i},
                                                          {"status", i == 0 ? "failed" : "paid"},
                                                          {"pay_method", "card"},
                                                          {"webhook", false}});
        made.emplace_back(created.at("imp_uid").as_string());
    }
    auto all = run(client->find_all_payments("order-find-all"));
    ASSERT_TRUE(all) << all.error().message;
    ASSERT_EQ(all->size(), 3u);
    std::vector<std::string> found;
    for (const auto& payment : all.value()) {
        found.push_back(payment.imp_uid);
        EXPECT_EQ(payment.merchant_uid, "order-find-all");
    }
    std::sort(found.begin(), found.end());
    std::sort(made.begin(), made.end());
    EXPECT_EQ(found, made);
    EXPECT_EQ(sim.count_requests("GET /payments/findAll/{merchant_uid}"), 2u);  // one page each
}

TEST_F(ClientTest, SlowPostIsUnknownOutcomeSlowGetIsRetriedThenFails) {
    auto config = config_for(sim);
    config.attempt_timeout = 300ms;
    config.get_attempts = 3;
    Client slow_client(threads.io().get_executor(), config);
    ASSERT_TRUE(threads.run(slow_client.get_token()));

    sim.set_fault({{"endpoint", "POST /vbanks"}, {"kind", "latency"}, {"latency_ms", 1000}});
    auto post = run(slow_client.issue_vbank(vbank_request("order-slow")));
    EXPECT_EQ(post.outcome(), Outcome::unknown_outcome) << post.error().message;
    EXPECT_EQ(sim.count_requests("POST /vbanks"), 1u) << "a POST is never retried";

    sim.set_fault({{"endpoint", "GET /payments/{imp_uid}"},
                   {"kind", "latency"},
                   {"latency_ms", 1000},
                   {"count", 3}});
    auto get = run(slow_client.get_payment("imps_1"));
    EXPECT_EQ(get.outcome(), Outcome::upstream_error);
    EXPECT_EQ(sim.count_requests("GET /payments/{imp_uid}"), 3u);
}

TEST_F(ClientTest, GetRetriesThrough5xx) {
    auto created = sim.create_checkout_payment({{"merchant_uid", "order-5xx"}, {"amount", 10}});
    sim.set_fault(
        {{"endpoint", "GET /payments/{imp_uid}"}, {"kind", "http_error"}, {"status", 503}});
    auto result = run(client->get_payment(std::string(created.at("imp_uid").as_string())));
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(sim.count_requests("GET /payments/{imp_uid}"), 2u);
}

TEST_F(ClientTest, DroppedConnectionAfterWorkIsUnknownOutcome) {
    sim.set_fault({{"endpoint", "POST /vbanks"}, {"kind", "drop"}});
    auto result = run(client->issue_vbank(vbank_request("order-drop")));
    EXPECT_EQ(result.outcome(), Outcome::unknown_outcome);
    auto found = run(client->find_payment("order-drop"));
    ASSERT_TRUE(found) << "the vbank was issued although the answer was lost";
    EXPECT_EQ(found->status, "ready");
}

TEST_F(ClientTest, BreakerOpensAfterFiveFailuresAndRecoversAfterTrial) {
    auto config = config_for(sim);
    config.breaker_open_duration = 500ms;
    config.get_attempts = 1;
    std::atomic<int> breaker_open_seen{0};
    config.observer = [&](std::string_view, Outcome outcome, std::chrono::milliseconds) {
        if (outcome == Outcome::breaker_open) {
            ++breaker_open_seen;
        }
    };
    Client guarded(threads.io().get_executor(), config);
    auto created = sim.create_checkout_payment({{"merchant_uid", "order-br"}, {"amount", 10}});
    std::string imp_uid(created.at("imp_uid").as_string());
    sim.set_fault({{"endpoint", "GET /payments/{imp_uid}"},
                   {"kind", "http_error"},
                   {"status", 500},
                   {"count", 5}});
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(run(guarded.get_payment(imp_uid)).outcome(), Outcome::upstream_error);
    }
    EXPECT_EQ(guarded.breaker_state(), BreakerState::open);
    sim.reset_requests();
    EXPECT_EQ(run(guarded.get_payment(imp_uid)).outcome(), Outcome::breaker_open);
    EXPECT_EQ(sim.count_requests("GET /payments/{imp_uid}"), 0u) << "fails fast while open";
    EXPECT_EQ(breaker_open_seen.load(), 1);

    std::this_thread::sleep_for(600ms);
    auto trial = run(guarded.get_payment(imp_uid));
    ASSERT_TRUE(trial) << trial.error().message;
    EXPECT_EQ(guarded.breaker_state(), BreakerState::closed);
}

TEST_F(ClientTest, DeclinesDoNotOpenTheBreaker) {
    for (int i = 0; i < 6; ++i) {
        EXPECT_EQ(run(client->get_payment("imps_missing")).outcome(), Outcome::not_found);
    }
    EXPECT_EQ(client->breaker_state(), BreakerState::closed);
}

TEST_F(ClientTest, BadCredentialsAreRejected) {
    auto config = config_for(sim);
    config.imp_secret = "not-the-secret";
    Client wrong(threads.io().get_executor(), config);
    auto result = run(wrong.get_payment("imps_1"));
    EXPECT_EQ(result.outcome(), Outcome::rejected);
    EXPECT_EQ(result.error().http_status, 401);
}

TEST_F(ClientTest, NothingListeningIsNotSent) {
    auto config = config_for(sim);
    config.base_url = "http://127.0.0.1:" + std::to_string(mg::test::free_port());
    config.get_attempts = 1;
    Client nowhere(threads.io().get_executor(), config);
    EXPECT_EQ(run(nowhere.issue_vbank(vbank_request("order-x"))).outcome(), Outcome::not_sent);
}

TEST_F(ClientTest, KeepAliveConnectionsAreReused) {
    auto created = sim.create_checkout_payment({{"merchant_uid", "order-ka"}, {"amount", 10}});
    std::string imp_uid(created.at("imp_uid").as_string());
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(run(client->get_payment(imp_uid)));
    }
    auto log = sim.requests("GET /payments/{imp_uid}");
    ASSERT_EQ(log.size(), 5u);
    EXPECT_EQ(log.at(0).at("connection"), log.at(4).at("connection"));
}

}  // namespace
}  // namespace mg::iamport
