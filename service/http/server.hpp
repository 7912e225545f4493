// HTTP/1.1 server on Asio coroutines: one accept loop that spawns one session per connection,
// each on one of the event loops it was given (round robin), where it stays: every request of a
// connection is read, handled and answered on the thread of that loop.
// The session is a short loop — read (with a deadline) → handle → write → keep-alive? — and
// everything about the request itself is decided by the RequestHandler, a plain function of
// the request that can be tested without sockets.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "service/http/types.hpp"

namespace mg::http {

struct ServerLimits {
    std::size_t body_bytes = 64 * 1024;
    std::size_t header_bytes = 8 * 1024;
    std::chrono::seconds request_timeout{10};
    std::size_t max_connections = 10'000;
};

using RequestHandler =
    std::function<boost::asio::awaitable<Response>(Request&, const ConnectionInfo&)>;

// Answers requests the server itself refuses before a handler sees them (too large, malformed).
using ProtocolErrorHook = std::function<void(Status, std::string_view reason)>;

class Server {
  public:
    // `loops` are single-threaded event loops (each io_context run by one thread); the first
    // also accepts.
    Server(std::vector<boost::asio::io_context*> loops, ServerLimits limits,
           RequestHandler handler);
    ~Server();

    // Binds and starts accepting; returns the bound endpoint (port 0 picks a free port).
    boost::asio::ip::tcp::endpoint listen(const boost::asio::ip::tcp::endpoint& endpoint);

    // Stops accepting, closes idle keep-alive connections and lets requests in flight finish.
    // Thread-safe; returns at once. `on_drained` runs when the last connection has closed.
    void shutdown(std::function<void()> on_drained);

    std::size_t open_connections() const { return open_connections_.load(); }
    void set_protocol_error_hook(ProtocolErrorHook hook) { protocol_error_hook_ = std::move(hook); }

  private:
    struct Session;
    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> run_session(boost::asio::ip::tcp::socket socket);
    void session_closed();

    std::vector<boost::asio::io_context*> loops_;
    std::size_t next_loop_ = 0;
    ServerLimits limits_;
    RequestHandler handler_;
    ProtocolErrorHook protocol_error_hook_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::atomic<std::size_t> open_connections_{0};
    std::atomic<bool> draining_{false};

    std::mutex mutex_;  // guards sessions_ and on_drained_
    std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
    std::function<void()> on_drained_;
};

}  // namespace mg::http
