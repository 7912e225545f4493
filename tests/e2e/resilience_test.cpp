// Surviving outages without a restart (SPEC §9): PostgreSQL going away and coming back.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <pqxx/pqxx>
#include <thread>

#include "test_paths.hpp"
#include "tests/e2e/gateway.hpp"

namespace mg::test {
namespace {

using namespace std::chrono_literals;

// A cluster of this test's own, so stopping it disturbs no other test.
class PrivateCluster {
  public:
    PrivateCluster() {
        dir_ = (std::filesystem::temp_directory_path() /
                ("mg-pg-private-" + std::to_string(::getpid())))
                   .string();
        run("destroy");
        run("init");
        port_ = free_port();
        start();
        pqxx::connection admin(url("postgres"));
        pqxx::nontransaction work(admin);
        work.exec0("CREATE DATABASE merchant_gateway");
    }
    ~PrivateCluster() { run("destroy", false); }
    void start() { run("start " + std::to_string(port_)); }
    void stop() { run("stop"); }
    std::string url(const std::string& database = "merchant_gateway") const {
        return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
    }

  private:
    void run(const std::string& args, bool must = true) {
        std::string command = kSourceDir;
        command += "/tests/support/pg-cluster ";
        if (args.starts_with("start")) {
            command += "start ";
            command += dir_;
            command += args.substr(5);
        } else {
            command += args;
            command += ' ';
            command += dir_;
        }
        const int status = std::system(command.c_str());
        if (must && status != 0) {
            throw std::runtime_error("failed: " + command);
        }
    }
    std::string dir_;
    unsigned short port_ = 0;
};

TEST(Resilience, APostgresRestartMeans503sThenRecoveryWithoutARestart) {
    PrivateCluster cluster;
    Gateway gateway(cluster.url(), {{"DB_POOL_SIZE", "4"}});
    const auto key = gateway.create_api_key("shop", {"read", "write"});
    const auto auth = Gateway::bearer(key);
    ASSERT_EQ(
        gateway
            .post_json("/v1/orders", {{"merchant_uid", "r-1"}, {"name", "x"}, {"amount", 5}}, auth)
            .status,
        201);
    // Warm every pooled connection, so that all of them are cut by the restart.
    for (int i = 0; i < 8; ++i) {
        ASSERT_EQ(gateway.request("GET", "/v1/orders/r-1", {}, auth).status, 200);
    }

    cluster.stop();
    for (int i = 0; i < 3; ++i) {
        const auto response = gateway.request("GET", "/v1/orders/r-1", {}, auth);
        EXPECT_EQ(response.status, 503) << response.body;
        EXPECT_FALSE(response.header("Retry-After").empty());
    }
    EXPECT_EQ(gateway.request("GET", "/readyz").status, 503);
    EXPECT_EQ(gateway.request("GET", "/healthz").status, 200);
    EXPECT_EQ(gateway.post_json("/v1/orders", {{"name", "y"}, {"amount", 6}}, auth).status, 503);
    EXPECT_TRUE(gateway.process().running());

    cluster.start();
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (gateway.request("GET", "/readyz").status != 200) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "never ready again";
        std::this_thread::sleep_for(200ms);
    }
    // Back for good: every request succeeds, whichever pooled connection it gets.
    for (int i = 0; i < 12; ++i) {
        EXPECT_EQ(gateway.request("GET", "/v1/orders/r-1", {}, auth).status, 200) << i;
    }
    EXPECT_EQ(
        gateway
            .post_json("/v1/orders", {{"merchant_uid", "r-2"}, {"name", "y"}, {"amount", 6}}, auth)
            .status,
        201);
}

}  // namespace
}  // namespace mg::test
