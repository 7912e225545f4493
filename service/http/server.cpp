#include "service/http/server.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>
#include <optional>

#include "service/common/crypto.hpp"
#include "service/common/log.hpp"
#include "service/http/error.hpp"
#include "service/http/request_head.hpp"

namespace mg::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

struct Server::Session {
    explicit Session(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    bool busy = false;  // a request is being handled; touched only on the thread of its loop
};

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

}  // namespace

Server::Server(std::vector<asio::io_context*> loops, ServerLimits limits, RequestHandler handler)
    : loops_(std::move(loops)),
      limits_(limits),
      handler_(std::move(handler)),
      acceptor_(*loops_.at(0)) {}

Server::~Server() = default;

tcp::endpoint Server::listen(const tcp::endpoint& endpoint) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    const auto bound = acceptor_.local_endpoint();
    asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
    return bound;
}

asio::awaitable<void> Server::accept_loop() {
    while (!draining_) {
        auto& loop = *loops_[next_loop_++ % loops_.size()];
        auto [ec, socket] = co_await acceptor_.async_accept(loop, kUseTuple);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor_.is_open()) {
                break;
            }
            // Running out of file descriptors must not end the accept loop for good.
            log::warn("accept failed", {{"error", ec.message()}});
            asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(50));
            co_await pause.async_wait(kUseTuple);
            continue;
        }
        if (open_connections_.load() >= limits_.max_connections) {
            beast::error_code ignored;
            socket.close(ignored);
            continue;
        }
        ++open_connections_;
        auto executor = socket.get_executor();
        asio::co_spawn(executor, run_session(std::move(socket)), asio::detached);
    }
}

asio::awaitable<void> Server::run_session(tcp::socket socket) {
    auto session = std::make_shared<Session>(std::move(socket));
    {
        std::lock_guard lock(mutex_);
        sessions_.emplace(session.get(), session);
    }
    ConnectionInfo info;
    beast::error_code endpoint_error;
    const auto remote = session->stream.socket().remote_endpoint(endpoint_error);
    if (!endpoint_error) {
        info.remote_address = remote.address();
    }

    beast::flat_buffer buffer;
    try {
        while (!draining_) {
            beast::http::request_parser<beast::http::string_body> parser;
            parser.body_limit(limits_.body_bytes);
            parser.header_limit(static_cast<std::uint32_t>(limits_.header_bytes));
            // One deadline for the whole request, headers and body: a client that trickles
            // bytes (slow loris) is cut off after request_timeout however it paces them.
            session->stream.expires_after(limits_.request_timeout);

            auto [header_ec, header_bytes] =
                co_await beast::http::async_read_header(session->stream, buffer, parser, kUseTuple);
            if (!header_ec && parser.get()[beast::http::field::expect] == "100-continue") {
                if (parser.content_length() && *parser.content_length() > limits_.body_bytes) {
                    header_ec = beast::http::error::body_limit;
                } else {
                    beast::http::response<beast::http::empty_body> go_on{Status::continue_, 11};
                    co_await beast::http::async_write(session->stream, go_on, kUseTuple);
                }
            }
            if (!header_ec) {
                if (auto refused = refuse_head(parser.get())) {
                    if (protocol_error_hook_) {
                        protocol_error_hook_(refused->result(), "request head refused");
                    }
                    session->stream.expires_after(std::chrono::seconds(5));
                    co_await beast::http::async_write(session->stream, *refused, kUseTuple);
                    break;
                }
            }
            beast::error_code ec = header_ec;
            if (!ec && !parser.is_done()) {
                auto [body_ec, body_bytes] =
                    co_await beast::http::async_read(session->stream, buffer, parser, kUseTuple);
                ec = body_ec;
            }
            if (ec) {
                std::optional<Response> answer;
                if (ec == beast::http::error::body_limit) {
                    answer = refusal(Status::payload_too_large, "payload_too_large",
                                     "the request body is larger than " +
                                         std::to_string(limits_.body_bytes) + " bytes");
                } else if (ec == beast::http::error::header_limit) {
                    answer = refusal(Status::request_header_fields_too_large, "headers_too_large",
                                     "the request headers are larger than " +
                                         std::to_string(limits_.header_bytes) + " bytes");
                } else if (ec.category() ==
                               beast::http::make_error_code(beast::http::error::bad_target)
                                   .category() &&
                           ec != beast::http::error::end_of_stream &&
                           ec != beast::http::error::partial_message) {
                    answer = refusal(Status::bad_request, "malformed_request",
                                     "the request is not valid HTTP/1.1");
                }
                if (answer) {
                    if (protocol_error_hook_) {
                        protocol_error_hook_(answer->result(), ec.message());
                    }
                    session->stream.expires_after(std::chrono::seconds(5));
                    co_await beast::http::async_write(session->stream, *answer, kUseTuple);
                }
                break;
            }

            session->busy = true;
            Request request = parser.release();
            const bool keep_alive = request.keep_alive();
            const bool head = request.method() == beast::http::verb::head;
            Response response;
            try {
                response = co_await handler_(request, info);
            } catch (const std::exception& e) {
                log::error("request handler failed", {{"error", e.what()}});
                response = refusal(Status::internal_server_error, "internal_error",
                                   "an internal error occurred");
            }
            response.version(request.version());
            response.keep_alive(keep_alive && !draining_);
            session->stream.expires_after(limits_.request_timeout);
            beast::error_code write_ec;
            if (head) {
                // The head GET would answer, Content-Length included, and never a body.
                response.prepare_payload();
                beast::http::response_serializer<beast::http::string_body> serializer(response);
                auto [head_ec, written] = co_await beast::http::async_write_header(
                    session->stream, serializer, kUseTuple);
                write_ec = head_ec;
            } else {
                auto [body_ec, written] =
                    co_await beast::http::async_write(session->stream, response, kUseTuple);
                write_ec = body_ec;
            }
            session->busy = false;
            if (write_ec || !response.keep_alive()) {
                break;
            }
        }
    } catch (const std::exception& e) {
        // Nothing may escape a session; the connection is simply closed.
        log::debug("session ended", {{"error", e.what()}});
    }

    beast::error_code ignored;
    session->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    session->stream.socket().close(ignored);
    {
        std::lock_guard lock(mutex_);
        sessions_.erase(session.get());
    }
    session_closed();
}

void Server::session_closed() {
    const auto remaining = --open_connections_;
    if (remaining == 0 && draining_) {
        std::function<void()> done;
        {
            std::lock_guard lock(mutex_);
            done = std::exchange(on_drained_, nullptr);
        }
        if (done) {
            done();
        }
    }
}

void Server::shutdown(std::function<void()> on_drained) {
    draining_ = true;
    asio::post(acceptor_.get_executor(), [this] {
        beast::error_code ignored;
        acceptor_.close(ignored);
    });
    std::vector<std::shared_ptr<Session>> sessions;
    {
        std::lock_guard lock(mutex_);
        on_drained_ = std::move(on_drained);
        for (auto& [raw, weak] : sessions_) {
            if (auto session = weak.lock()) {
                sessions.push_back(std::move(session));
            }
        }
    }
    for (auto& session : sessions) {
        // Idle keep-alive connections are closed now; busy ones close after their response.
        asio::post(session->stream.get_executor(), [session] {
            if (!session->busy) {
                session->stream.cancel();
            }
        });
    }
    if (open_connections_.load() == 0) {
        std::function<void()> done;
        {
            std::lock_guard lock(mutex_);
            done = std::exchange(on_drained_, nullptr);
        }
        if (done) {
            done();
        }
    }
}

}  // namespace mg::http
