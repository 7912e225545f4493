// One outbound POST of an event to a shop's endpoint: https (certificate and host name verified)
// or, where private targets are allowed, plain http; connect and total timeouts; no redirect
// followed; addresses that are private, loopback or link-local refused unless allowed, checked
// on what the name resolves to, so a public name pointing inside is refused too.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace mg::notify {

struct SendPolicy {
    bool allow_private = false;  // NOTIFY_ALLOW_PRIVATE
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds total_timeout{10'000};  // NOTIFY_TIMEOUT_MS
};

struct SendResult {
    std::optional<int> status;         // the answer's HTTP status, when one came
    std::string excerpt;               // its first 512 bytes
    std::optional<std::string> error;  // why it did not count as delivered
    int latency_ms = 0;
    bool delivered() const { return !error && status && *status >= 200 && *status < 300; }
};

// Why `url` may not be an endpoint (scheme, host, a literal private address): nullopt when it may.
std::optional<std::string> check_endpoint_url(const std::string& url, bool allow_private);

boost::asio::awaitable<SendResult> send_event(
    boost::asio::any_io_executor executor, boost::asio::ssl::context& tls, const std::string& url,
    const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
    const SendPolicy& policy);

}  // namespace mg::notify
