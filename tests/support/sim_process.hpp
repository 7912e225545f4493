// The iamport simulator (tests/iamport-sim/iamport_sim.py) as a child process on a free port,
// with helpers for its control endpoints under /__sim/ (see tests/iamport-sim/README.md).
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

namespace mg::test {

class SimProcess {
  public:
    struct Options {
        std::string imp_key = "sandbox_imp_key";
        std::string imp_secret = "sandbox_imp_secret";
        std::string webhook_format = "json";  // or "form"
        // Both set: the simulator speaks HTTPS only (control helpers then do not work).
        std::string tls_cert;
        std::string tls_key;
        std::vector<std::string> extra_args;
        std::string log_path;  // default: <build>/test-logs/iamport-sim-<pid>-<n>.log
    };

    // Starts the simulator and waits (up to 15 s) for its LISTENING line; throws otherwise.
    SimProcess();
    explicit SimProcess(Options options);

    unsigned short port() const { return port_; }
    // "http://127.0.0.1:<port>", or "https://localhost:<port>" with TLS.
    std::string base_url() const;
    const Options& options() const { return options_; }
    ChildProcess& process() { return *process_; }

    // Any control call; throws when the answer is not 200.
    boost::json::value control(std::string_view method, std::string_view target,
                               const boost::json::value& body = nullptr) const;

    // Marks a `ready` vbank paid (and fires its webhook); returns the payment.
    boost::json::object deposit(std::string_view imp_uid,
                                std::optional<std::int64_t> amount = std::nullopt) const;
    // A payment as if made in the browser: {merchant_uid, amount, currency?, status?,
    // pay_method?, name?, notice_url?: [..], webhook?: bool}. Returns the payment.
    boost::json::object create_checkout_payment(const boost::json::object& spec) const;
    // {endpoint: "POST /vbanks" | "*", kind: latency|http_error|code|drop, count, latency_ms,
    //  status, code, message}
    void set_fault(const boost::json::object& spec) const;
    void clear_faults() const;
    void expire_tokens() const;
    void set_clock_offset(std::chrono::seconds offset) const;
    // The request log, optionally only one endpoint ("POST /users/getToken", ...).
    boost::json::array requests(std::string_view endpoint = {}) const;
    std::size_t count_requests(std::string_view endpoint) const;
    void reset_requests() const;
    boost::json::array webhook_deliveries() const;
    // Waits until at least `count` webhook deliveries are recorded.
    boost::json::array wait_for_webhooks(std::size_t count,
                                         std::chrono::milliseconds timeout) const;
    void reset() const;

  private:
    Options options_;
    std::unique_ptr<ChildProcess> process_;
    unsigned short port_ = 0;
};

}  // namespace mg::test
