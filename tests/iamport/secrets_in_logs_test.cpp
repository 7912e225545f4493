// imp_secret, access tokens and Benepia passwords never reach a log line or an error message.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "client_fixture.hpp"

namespace mg::iamport {
namespace {
using namespace std::chrono_literals;

TEST(SecretsInLogs, NoSecretInCapturedLogsOrErrors) {
    mg::test::SimProcess::Options options;
    options.imp_secret = "SIM-SECRET-9f8e7d";
    mg::test::SimProcess sim(options);
    testing::IoThreads threads;

    std::ostringstream captured;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
    auto logger = spdlog::default_logger();
    logger->sinks().push_back(sink);
    auto previous_level = logger->level();
    logger->set_level(spdlog::level::trace);

    std::vector<std::string> messages;
    std::string token;
    {
        auto config = testing::config_for(sim);
        config.attempt_timeout = 300ms;
        Client client(threads.io().get_executor(), config);
        auto fetched = threads.run(client.get_token());
        ASSERT_TRUE(fetched);
        token = fetched->access_token;

        BenepiaRequest request;
        request.benepia_user = "user1";
        request.benepia_password = "BENEPIA-PW-1a2b3c";
        request.merchant_uid = "order-secret";
        request.amount = 1000;
        request.name = "포인트";
        request.channel.channel_key = "ck";
        sim.set_fault({{"endpoint", "POST /benepia/payment"}, {"kind", "http_error"}});
        messages.push_back(threads.run(client.benepia_payment(request)).error().message);
        sim.set_fault(
            {{"endpoint", "POST /benepia/payment"}, {"kind", "latency"}, {"latency_ms", 600}});
        messages.push_back(threads.run(client.benepia_payment(request)).error().message);
        request.benepia_password = "wrong";
        messages.push_back(threads.run(client.benepia_payment(request)).error().message);
        sim.expire_tokens();
        messages.push_back(threads.run(client.get_payment("imps_none")).error().message);

        Client wrong_secret(threads.io().get_executor(), [&] {
            auto bad = testing::config_for(sim);
            bad.imp_secret = "WRONG-SECRET-5e6f";
            return bad;
        }());
        messages.push_back(threads.run(wrong_secret.get_payment("imps_1")).error().message);
    }
    logger->flush();
    logger->set_level(previous_level);
    std::erase(logger->sinks(), sink);

    auto text = captured.str();
    EXPECT_FALSE(text.empty()) << "the failures above should have been logged";
    for (const auto& secret : {std::string("SIM-SECRET-9f8e7d"), std::string("BENEPIA-PW-1a2b3c"),
                               token, std::string("WRONG-SECRET-5e6f")}) {
        EXPECT_EQ(text.find(secret), std::string::npos) << "log leaks a secret:\n" << text;
        for (const auto& message : messages) {
            EXPECT_EQ(message.find(secret), std::string::npos) << message;
        }
    }
    // The simulator's request log masks them as well.
    auto requests = boost::json::serialize(sim.requests());
    EXPECT_EQ(requests.find("BENEPIA-PW-1a2b3c"), std::string::npos);
    EXPECT_EQ(requests.find("SIM-SECRET-9f8e7d"), std::string::npos);
}

}  // namespace
}  // namespace mg::iamport
