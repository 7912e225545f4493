// Surviving outages without a restart (SPEC §9): PostgreSQL going away and coming back, or
// hanging.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "test_paths.hpp"
#include "tests/e2e/gateway.hpp"
#include "tests/support/http_client.hpp"

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

// An API key with every scope, and an order `merchant_uid` created with it; the key's headers.
Headers key_and_first_order(const Gateway& gateway, const std::string& merchant_uid) {
    const auto auth = Gateway::bearer(gateway.create_api_key("shop", {"read", "write"}));
    EXPECT_EQ(gateway
                  .post_json("/v1/orders",
                             {{"merchant_uid", merchant_uid}, {"name", "x"}, {"amount", 5}}, auth)
                  .status,
              201);
    return auth;
}

TEST(Resilience, APostgresRestartMeans503sThenRecoveryWithoutARestart) {
    PrivateCluster cluster;
    Gateway gateway(cluster.url(), {{"DB_POOL_SIZE", "4"}});
    const auto auth = key_and_first_order(gateway, "r-1");
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

// Database jobs run on the request's own thread when a connection is idle; however many of them
// hang on PostgreSQL, IO_THREADS threads stay free to serve what needs no database.
TEST(Resilience, RequestsHangingOnTheDatabaseLeaveTheNetworkServed) {
    TestDatabase database;
    // The key stays cached while every connection is taken.
    Gateway gateway(database.url(),
                    {{"DB_POOL_SIZE", "4"}, {"IO_THREADS", "2"}, {"API_KEY_CACHE_SECONDS", "600"}});
    const auto auth = key_and_first_order(gateway, "h-1");
    // Open every connection of the event loops (the request path's, 2 × 2): concurrent reads until
    // the gateway holds 4 (its thread pool's connections, for the background, are not counted).
    pqxx::connection observer(database.url());
    auto gateway_connections = [&] {
        return pqxx::nontransaction(observer)
            .exec1(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND application_name = 'merchant-gateway/loop'")[0]
            .as<int>();
    };
    for (int round = 0; round < 50 && gateway_connections() < 4; ++round) {
        std::vector<std::thread> warmers;
        for (int i = 0; i < 8; ++i) {
            warmers.emplace_back(
                [&] { EXPECT_EQ(gateway.request("GET", "/v1/orders/h-1", {}, auth).status, 200); });
        }
        for (auto& warmer : warmers) {
            warmer.join();
        }
    }
    ASSERT_EQ(gateway_connections(), 4);

    // Every read of orders now waits for this lock, on as many connections as the pool has and
    // more (those queue for a connection).
    pqxx::connection locker(database.url());
    pqxx::work lock(locker);
    lock.exec0("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE");
    std::vector<int> statuses(8, 0);
    std::vector<std::thread> readers;
    for (std::size_t i = 0; i < statuses.size(); ++i) {
        readers.emplace_back([&, i] {
            statuses[i] =
                http_request("127.0.0.1", gateway.port(), "GET", "/v1/orders/h-1", {}, auth, 30s)
                    .status;
        });
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (pqxx::nontransaction(observer)
               .exec1("SELECT count(*) FROM pg_locks WHERE NOT granted")[0]
               .as<int>() < 4) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the reads never reached the lock";
        std::this_thread::sleep_for(20ms);
    }

    for (int i = 0; i < 20; ++i) {
        const auto started = std::chrono::steady_clock::now();
        const auto health =
            http_request("127.0.0.1", gateway.port(), "GET", "/healthz", {}, {}, 2s);
        EXPECT_EQ(health.status, 200);
        EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
    }
    // Refused before any database work: an order id no order can have.
    EXPECT_EQ(gateway.request("GET", "/v1/orders/no.such.order", {}, auth).status, 404);

    lock.abort();
    for (auto& reader : readers) {
        reader.join();
    }
    for (const int status : statuses) {
        EXPECT_EQ(status, 200);
    }
    EXPECT_EQ(gateway.request("GET", "/v1/orders/h-1", {}, auth).status, 200);
}

}  // namespace
}  // namespace mg::test
