#include "service/iamport/transport.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url.hpp>
#include <cerrno>
#include <stdexcept>

namespace mg::iamport {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr std::size_t kMaxAnswerBytes = 4 * 1024 * 1024;
constexpr auto kTuple = asio::as_tuple(use_awaitable);

std::chrono::milliseconds remaining(Transport::Clock::time_point deadline) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Transport::Clock::now());
    return std::max(left, std::chrono::milliseconds(0));
}

}  // namespace

struct Transport::Connection {
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    Clock::time_point idle_since{};

    beast::tcp_stream& tcp() { return tls ? tls->next_layer() : *plain; }

    // A pooled connection the server has closed (FIN) or written to unasked is not reused.
    bool looks_alive() {
        if (buffer.size() != 0) {
            return false;
        }
        char byte = 0;
        auto fd = tcp().socket().native_handle();
        auto n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }

    void close() {
        // No TLS close_notify: iamport does not need it and waiting for it only delays us.
        beast::error_code ignored;
        tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        tcp().socket().close(ignored);
    }
};

Transport::Transport(asio::any_io_executor executor, TransportConfig config)
    : executor_(executor), config_(std::move(config)), strand_(asio::make_strand(executor)) {
    auto parsed = boost::urls::parse_absolute_uri(config_.base_url);
    if (!parsed) {
        throw std::invalid_argument("iamport base URL is not an absolute URL");
    }
    const auto& url = *parsed;
    if (url.scheme() == "https") {
        tls_ = true;
    } else if (url.scheme() != "http") {
        throw std::invalid_argument("iamport base URL must be http or https");
    }
    host_ = url.host();
    if (host_.empty()) {
        throw std::invalid_argument("iamport base URL has no host");
    }
    port_ = url.has_port() ? std::string(url.port()) : (tls_ ? "443" : "80");
    host_header_ = url.has_port() ? host_ + ":" + port_ : host_;
    base_path_ = url.path();
    while (!base_path_.empty() && base_path_.back() == '/') {
        base_path_.pop_back();
    }
    if (tls_) {
        tls_context_ = std::make_unique<ssl::context>(ssl::context::tls_client);
        tls_context_->set_default_verify_paths();
        if (config_.ca_file) {
            tls_context_->load_verify_file(*config_.ca_file);
        }
        tls_context_->set_verify_mode(ssl::verify_peer);
        tls_context_->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    }
    if (config_.max_connections == 0) {
        config_.max_connections = 1;
    }
}

Transport::~Transport() {
    std::lock_guard lock(idle_mutex_);
    for (auto& connection : idle_) {
        connection->close();
    }
}

std::size_t Transport::idle_connections() const {
    std::lock_guard lock(idle_mutex_);
    return idle_.size();
}

awaitable<bool> Transport::wait_for_slot(Clock::time_point deadline) {
    // Runs on strand_.
    while (in_use_ >= config_.max_connections) {
        if (Clock::now() >= deadline) {
            co_return false;
        }
        auto timer = std::make_shared<asio::steady_timer>(strand_, deadline);
        slot_waiters_.push_back(timer);
        co_await timer->async_wait(kTuple);
        std::erase(slot_waiters_, timer);
    }
    ++in_use_;
    co_return true;
}

void Transport::release_slot() {
    asio::post(strand_, [self = shared_from_this()] {
        --self->in_use_;
        if (!self->slot_waiters_.empty()) {
            self->slot_waiters_.front()->cancel();
        }
    });
}

std::unique_ptr<Transport::Connection> Transport::take_idle() {
    std::lock_guard lock(idle_mutex_);
    auto now = Clock::now();
    while (!idle_.empty()) {
        auto connection = std::move(idle_.back());
        idle_.pop_back();
        if (now - connection->idle_since < config_.idle_timeout && connection->looks_alive()) {
            return connection;
        }
        connection->close();
    }
    return nullptr;
}

void Transport::put_idle(std::unique_ptr<Connection> connection) {
    connection->idle_since = Clock::now();
    std::lock_guard lock(idle_mutex_);
    idle_.push_back(std::move(connection));
}

awaitable<std::unique_ptr<Transport::Connection>> Transport::connect(Clock::time_point deadline,
                                                                     Exchange& failure) {
    failure.failure = Exchange::Failure::before_sent;
    auto connect_deadline = std::min(deadline, Clock::now() + config_.connect_timeout);

    asio::ip::tcp::resolver resolver(executor_);
    asio::steady_timer resolve_timer(executor_, connect_deadline);
    auto resolved =
        co_await (resolver.async_resolve(host_, port_, kTuple) || resolve_timer.async_wait(kTuple));
    if (resolved.index() == 1) {
        failure.timed_out = true;
        failure.error = "timed out resolving the iamport host";
        co_return nullptr;
    }
    auto [resolve_error, endpoints] = std::get<0>(std::move(resolved));
    if (resolve_error) {
        failure.error = "cannot resolve the iamport host: " + resolve_error.message();
        co_return nullptr;
    }

    auto connection = std::make_unique<Connection>();
    beast::tcp_stream stream(executor_);
    stream.expires_after(remaining(connect_deadline));
    auto [connect_error, endpoint] = co_await stream.async_connect(endpoints, kTuple);
    if (connect_error) {
        failure.timed_out = connect_error == beast::error::timeout;
        failure.error = "cannot connect to iamport: " + connect_error.message();
        co_return nullptr;
    }
    stream.socket().set_option(asio::ip::tcp::no_delay(true));
    if (!tls_) {
        connection->plain = std::make_unique<beast::tcp_stream>(std::move(stream));
        co_return connection;
    }

    connection->tls =
        std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(stream), *tls_context_);
    // SNI, and the certificate must name the host we asked for.
    if (!SSL_set_tlsext_host_name(connection->tls->native_handle(), host_.c_str())) {
        failure.error = "cannot set TLS server name";
        co_return nullptr;
    }
    connection->tls->set_verify_callback(ssl::host_name_verification(host_));
    connection->tcp().expires_after(remaining(connect_deadline));
    auto [handshake_error] =
        co_await connection->tls->async_handshake(ssl::stream_base::client, kTuple);
    if (handshake_error) {
        failure.timed_out = handshake_error == beast::error::timeout;
        failure.error = "TLS handshake with iamport failed: " + handshake_error.message();
        co_return nullptr;
    }
    co_return connection;
}

awaitable<Exchange> Transport::exchange_on(Connection& connection, bool reused, http::verb method,
                                           const std::string& target, const std::string& body,
                                           const std::string& authorization,
                                           Clock::time_point deadline, bool& keep) {
    keep = false;
    Exchange result;
    http::request<http::string_body> request{method, base_path_ + target, 11};
    request.set(http::field::host, host_header_);
    request.set(http::field::user_agent, "merchant-gateway");
    request.set(http::field::accept, "application/json");
    if (!authorization.empty()) {
        request.set(http::field::authorization, authorization);
    }
    if (method != http::verb::get) {
        request.set(http::field::content_type, "application/json");
        request.body() = body;
    }
    request.prepare_payload();

    connection.tcp().expires_after(remaining(deadline));
    beast::error_code write_error;
    if (connection.tls) {
        std::tie(write_error, std::ignore) =
            co_await http::async_write(*connection.tls, request, kTuple);
    } else {
        std::tie(write_error, std::ignore) =
            co_await http::async_write(*connection.plain, request, kTuple);
    }
    if (write_error) {
        result.failure = Exchange::Failure::before_sent;
        result.timed_out = write_error == beast::error::timeout;
        result.error =
            (reused ? "reused connection failed while sending: " : "sending to iamport failed: ") +
            write_error.message();
        co_return result;
    }

    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxAnswerBytes);
    beast::error_code read_error;
    if (connection.tls) {
        std::tie(read_error, std::ignore) =
            co_await http::async_read(*connection.tls, connection.buffer, parser, kTuple);
    } else {
        std::tie(read_error, std::ignore) =
            co_await http::async_read(*connection.plain, connection.buffer, parser, kTuple);
    }
    if (read_error) {
        // The request went out; whatever iamport did with it, we cannot know.
        result.failure = Exchange::Failure::after_sent;
        result.timed_out = read_error == beast::error::timeout || Clock::now() >= deadline;
        result.error = result.timed_out ? "timed out waiting for iamport's answer"
                                        : "no answer from iamport: " + read_error.message();
        co_return result;
    }
    auto& response = parser.get();
    result.status = response.result_int();
    result.body = std::move(response.body());
    keep = response.keep_alive();
    co_return result;
}

awaitable<Exchange> Transport::exchange(http::verb method, const std::string& target,
                                        const std::string& body, const std::string& authorization,
                                        Clock::time_point deadline) {
    auto slot_task = wait_for_slot(deadline);
    bool got_slot = co_await asio::co_spawn(strand_, std::move(slot_task), use_awaitable);
    if (!got_slot) {
        Exchange timed_out;
        timed_out.failure = Exchange::Failure::before_sent;
        timed_out.timed_out = true;
        timed_out.error = "timed out waiting for a free connection to iamport";
        co_return timed_out;
    }
    struct SlotGuard {
        Transport* transport;
        ~SlotGuard() { transport->release_slot(); }
    } guard{this};
    auto keep_alive_self = shared_from_this();

    // A pooled connection may have been closed by the server a moment ago; if sending on it
    // fails, nothing was sent, so one more try on a fresh connection is safe for any method.
    for (int round = 0; round < 2; ++round) {
        auto connection = take_idle();
        bool reused = connection != nullptr;
        if (!connection) {
            Exchange failure;
            connection = co_await connect(deadline, failure);
            if (!connection) {
                co_return failure;
            }
        }
        bool keep = false;
        auto result = co_await exchange_on(*connection, reused, method, target, body, authorization,
                                           deadline, keep);
        if (result.failure == Exchange::Failure::before_sent && reused && !result.timed_out &&
            round == 0) {
            connection->close();
            continue;
        }
        if (result.failure == Exchange::Failure::none && keep) {
            put_idle(std::move(connection));
        } else {
            connection->close();
        }
        co_return result;
    }
    Exchange unreachable;
    unreachable.failure = Exchange::Failure::before_sent;
    unreachable.error = "no usable connection to iamport";
    co_return unreachable;
}

}  // namespace mg::iamport
