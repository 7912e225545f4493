// The HTTP server's own rules: limits, slow clients, probes, start-up errors, graceful stop.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <thread>

#include "tests/e2e/gateway.hpp"

namespace mg::test {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class Server : public GatewayTest {
  protected:
    Headers extra_env() const override { return {{"REQUEST_TIMEOUT", "1"}}; }
};

TEST_F(Server, ProbesAnswer) {
    auto response = gateway_->request("GET", "/healthz");
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.json().at("status").as_string(), "ok");
    response = gateway_->request("GET", "/readyz");
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.json().at("status").as_string(), "ready");
}

TEST_F(Server, BodyOverTheLimitIs413) {
    auto headers = auth();
    headers.emplace_back("Content-Type", "application/json");
    const std::string big = "{\"name\":\"" + std::string(70 * 1024, 'a') + "\",\"amount\":1}";
    const auto response = gateway_->request("POST", "/v1/orders", big, headers);
    EXPECT_EQ(response.status, 413);
    EXPECT_EQ(response.json().at("error").at("code").as_string(), "payload_too_large");
    // Just under the limit is parsed normally (and refused for its content instead).
    const std::string fits = "{\"name\":\"" + std::string(60 * 1024, 'a') + "\",\"amount\":1}";
    EXPECT_EQ(gateway_->request("POST", "/v1/orders", fits, headers).status, 422);
}

TEST_F(Server, OversizedHeadersAre431) {
    const auto reply = raw_exchange(
        gateway_->port(),
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 431", 0), 0u) << reply.substr(0, 200);
}

TEST_F(Server, GarbageIs400) {
    const auto reply = raw_exchange(gateway_->port(), "NOT HTTP AT ALL\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply.substr(0, 200);
}

TEST_F(Server, SlowClientIsCutOffWhileOthersAreServed) {
    asio::io_context io;
    tcp::socket slow(io);
    slow.connect({asio::ip::make_address("127.0.0.1"), gateway_->port()});
    asio::write(slow, asio::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n")));
    // Others are answered while it dawdles.
    EXPECT_EQ(gateway_->request("GET", "/healthz").status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // REQUEST_TIMEOUT is 1 s
    boost::system::error_code ec;
    asio::write(slow, asio::buffer(std::string("X-Late: 1\r\n\r\n")), ec);
    char buffer[256];
    slow.read_some(asio::buffer(buffer), ec);
    EXPECT_TRUE(ec) << "the server still answered a request that took longer than its deadline";
}

TEST_F(Server, KeepAliveServesSeveralRequestsOnOneConnection) {
    const std::string one = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    const auto reply =
        raw_exchange(gateway_->port(),
                     one + one + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    std::size_t count = 0;
    for (auto pos = reply.find("HTTP/1.1 200"); pos != std::string::npos;
         pos = reply.find("HTTP/1.1 200", pos + 1)) {
        ++count;
    }
    EXPECT_EQ(count, 3u);
}

TEST_F(Server, SigtermStopsCleanly) {
    // An idle keep-alive connection must not hold the process up.
    asio::io_context io;
    tcp::socket idle(io);
    idle.connect({asio::ip::make_address("127.0.0.1"), gateway_->port()});
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(gateway_->process().stop(SIGTERM, std::chrono::seconds(20)), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
    EXPECT_NE(gateway_->log().find("\"stopped\""), std::string::npos);
}

TEST(ServerStartup, BadConfigurationExitsWithOneLineNamingTheKey) {
    TestDatabase database;
    const auto result = run_gateway_command({"serve"},
                                            {{"DATABASE_URL", database.url()},
                                             {"IAMPORT_IMP_KEY", "k"},
                                             {"IAMPORT_IMP_SECRET", "s"},
                                             {"GATEWAY_SECRET_KEY", kTestSecretKey},
                                             {"LISTEN", "not-a-port"}},
                                            true);
    EXPECT_EQ(result.status, 2);
    EXPECT_EQ(result.out,
              "merchant-gateway: configuration error: LISTEN: must be host:port, got "
              "'not-a-port'\n");

    const auto missing = run_gateway_command({"serve"}, {{"DATABASE_URL", ""}}, true);
    EXPECT_EQ(missing.status, 2);
    EXPECT_NE(missing.out.find("DATABASE_URL"), std::string::npos);
    EXPECT_EQ(std::count(missing.out.begin(), missing.out.end(), '\n'), 1);
}

TEST(ServerStartup, MigrateSubcommandAppliesTheSchemaAndIsRepeatable) {
    TestDatabase database;
    EXPECT_EQ(run_gateway_command({"migrate"}, {{"DATABASE_URL", database.url()}}).status, 0);
    EXPECT_EQ(run_gateway_command({"migrate"}, {{"DATABASE_URL", database.url()}}).status, 0);
}

}  // namespace
}  // namespace mg::test
