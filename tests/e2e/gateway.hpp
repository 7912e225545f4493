// The real merchant-gateway binary on a free port, against its own empty database.
#pragma once

#include <gtest/gtest.h>

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_db.hpp"

namespace mg::test {

// Now as UNIX seconds, the unit of iamport's times (vbank_due, paid_at, ...).
inline std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

using Headers = std::vector<std::pair<std::string, std::string>>;

// GATEWAY_SECRET_KEY of every gateway the tests start: 32 bytes, in base64.
inline constexpr const char* kTestSecretKey = "ZTJlLWdhdGV3YXktc2VjcmV0LWtleS0zMi1ieXRlcyE=";

struct CommandResult {
    int status = 0;
    std::string out;  // standard output only
};

// Runs the gateway binary with extra environment, waiting for it to exit. `out` is standard
// output, plus standard error when `with_stderr`.
CommandResult run_gateway_command(const std::vector<std::string>& args, const Headers& env,
                                  bool with_stderr = false);

class Gateway {
  public:
    // Starts `merchant-gateway serve` (which migrates the database first) and waits until it
    // listens. `env` adds to or overrides the defaults.
    explicit Gateway(std::string database_url, Headers env = {});
    ~Gateway();

    unsigned short port() const { return port_; }
    const std::string& database_url() const { return database_url_; }
    ChildProcess& process() { return *process_; }
    std::string log() const { return process_->output(); }

    HttpResponse request(std::string_view method, std::string_view target,
                         std::string_view body = {}, const Headers& headers = {}) const;
    HttpResponse post_json(std::string_view target, const boost::json::value& body,
                           const Headers& headers = {}) const;

    // `merchant-gateway api-key create`; returns the key printed on the last line.
    std::string create_api_key(const std::string& name,
                               const std::vector<std::string>& scopes = {"read", "write"}) const;
    static Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

  private:
    std::string database_url_;
    Headers env_;
    unsigned short port_ = 0;
    std::unique_ptr<ChildProcess> process_;
};

// Sends raw bytes to 127.0.0.1:`port` and returns whatever comes back until the server closes
// (or `timeout`).
std::string raw_exchange(unsigned short port, const std::string& bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A gateway, a database and a key with every scope, for most tests.
class GatewayTest : public ::testing::Test {
  protected:
    void SetUp() override;
    void TearDown() override;
    virtual Headers extra_env() const { return {}; }

    HttpResponse create_order(const boost::json::value& body, Headers headers = {});
    Headers auth() const { return Gateway::bearer(key_); }

    std::unique_ptr<TestDatabase> database_;
    std::unique_ptr<Gateway> gateway_;
    std::string key_;
};

}  // namespace mg::test
