// HTTP/1.1 to one iamport host over plain TCP or TLS, with keep-alive connections reused and
// their number bounded. It tells a caller precisely how far a request got, because for a
// payment call "never sent" and "sent, answer lost" lead to different decisions.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mg::iamport {

struct TransportConfig {
    std::string base_url;  // http://host:port or https://host[:port], optionally with a path
    std::optional<std::string>
        ca_file;  // extra trusted CA (tests); the system store is always used
    std::chrono::milliseconds connect_timeout{3000};
    std::size_t max_connections = 16;
    // Idle connections older than this are closed instead of reused: servers drop idle
    // keep-alive connections after a while, and a POST on a dropped one has an unknown outcome.
    std::chrono::milliseconds idle_timeout{20'000};
};

struct Exchange {
    enum class Failure { none, before_sent, after_sent };
    Failure failure = Failure::none;
    bool timed_out = false;
    std::string error;  // what went wrong, for logs; never contains the request
    unsigned status = 0;
    std::string body;
};

class Transport : public std::enable_shared_from_this<Transport> {
  public:
    using Clock = std::chrono::steady_clock;

    // Throws std::invalid_argument for a base_url that is not http(s)://host[:port][/path].
    Transport(boost::asio::any_io_executor executor, TransportConfig config);
    ~Transport();

    // One request. `target` is appended to the base URL's path. `authorization` may be empty.
    // The strings are references on purpose: callers pass named locals (GCC 12 mishandles
    // temporaries inside co_await expressions) that outlive the awaited call.
    boost::asio::awaitable<Exchange> exchange(boost::beast::http::verb method,
                                              const std::string& target, const std::string& body,
                                              const std::string& authorization,
                                              Clock::time_point deadline);

    std::size_t idle_connections() const;

  private:
    struct Connection;

    boost::asio::awaitable<bool> wait_for_slot(Clock::time_point deadline);
    void release_slot();
    std::unique_ptr<Connection> take_idle();
    void put_idle(std::unique_ptr<Connection> connection);
    boost::asio::awaitable<std::unique_ptr<Connection>> connect(Clock::time_point deadline,
                                                                Exchange& failure);
    boost::asio::awaitable<Exchange> exchange_on(Connection& connection, bool reused,
                                                 boost::beast::http::verb method,
                                                 const std::string& target, const std::string& body,
                                                 const std::string& authorization,
                                                 Clock::time_point deadline, bool& keep);

    boost::asio::any_io_executor executor_;
    TransportConfig config_;
    bool tls_ = false;
    std::string host_;
    std::string port_;
    std::string base_path_;
    std::string host_header_;
    std::unique_ptr<boost::asio::ssl::context> tls_context_;

    // Slot accounting lives on the strand so a release can never miss a waiter.
    boost::asio::strand<boost::asio::any_io_executor> strand_;
    std::size_t in_use_ = 0;
    std::vector<std::shared_ptr<boost::asio::steady_timer>> slot_waiters_;

    mutable std::mutex idle_mutex_;
    std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace mg::iamport
