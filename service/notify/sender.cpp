#include "service/notify/sender.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

#include "service/common/cidr.hpp"

namespace mg::notify {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr std::size_t kExcerptBytes = 512;
constexpr std::size_t kMaxAnswerBytes = 64 * 1024;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct Target {
    bool tls = false;
    std::string host;
    std::string port;
    std::string path;
};

std::optional<Target> parse(const std::string& url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed || parsed->has_userinfo() || parsed->host().empty()) {
        return std::nullopt;
    }
    Target target;
    const auto scheme = parsed->scheme();
    if (scheme == "https") {
        target.tls = true;
    } else if (scheme != "http") {
        return std::nullopt;
    }
    target.host = parsed->host_address().empty() ? std::string(parsed->host())
                                                 : std::string(parsed->host_address());
    target.port = parsed->has_port() ? std::string(parsed->port()) : (target.tls ? "443" : "80");
    target.path = std::string(parsed->encoded_target());
    if (target.path.empty()) {
        target.path = "/";
    }
    return target;
}

// Private (RFC 1918, unique local), loopback, link-local, carrier-grade NAT, unspecified.
bool is_inside(const asio::ip::address& raw) {
    static const std::vector<Cidr> inside = [] {
        std::vector<Cidr> networks;
        for (const char* text :
             {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
              "100.64.0.0/10", "0.0.0.0/8", "::1/128", "::/128", "fc00::/7", "fe80::/10"}) {
            networks.push_back(*Cidr::parse(text));
        }
        return networks;
    }();
    return contains_any(inside, unmapped(raw));
}

SendResult failure(std::string error, std::chrono::steady_clock::time_point started) {
    SendResult result;
    result.error = std::move(error);
    result.latency_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::steady_clock::now() - started)
                                             .count());
    return result;
}

template <class Stream>
asio::awaitable<SendResult> exchange(
    Stream& stream, const Target& target,
    const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
    std::chrono::steady_clock::time_point started) {
    http::request<http::string_body> request{http::verb::post, target.path, 11};
    request.set(http::field::host, target.host);
    request.set(http::field::user_agent, "merchant-gateway");
    request.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : headers) {
        request.set(name, value);
    }
    request.body() = body;
    request.prepare_payload();
    auto [write_error, written] = co_await http::async_write(stream, request, kTuple);
    if (write_error) {
        co_return failure("sending failed: " + write_error.message(), started);
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxAnswerBytes);
    auto [read_error, read] = co_await http::async_read(stream, buffer, parser, kTuple);
    SendResult result;
    result.latency_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::steady_clock::now() - started)
                                             .count());
    if (read_error && !parser.is_header_done()) {
        result.error = read_error == beast::error::timeout ? "timed out"
                                                           : "no answer: " + read_error.message();
        co_return result;
    }
    const auto& answer = parser.get();
    result.status = static_cast<int>(answer.result_int());
    result.excerpt = answer.body().substr(0, kExcerptBytes);
    if (*result.status >= 300 && *result.status < 400) {
        result.error = "redirect refused";
    } else if (*result.status < 200 || *result.status >= 300) {
        result.error = "answered " + std::to_string(*result.status);
    }
    co_return result;
}

}  // namespace

std::optional<std::string> check_endpoint_url(const std::string& url, bool allow_private) {
    const auto target = parse(url);
    if (!target) {
        return "url must be an absolute http(s) URL with a host and no user info";
    }
    if (!target->tls && !allow_private) {
        return "url must be https (plain http only where NOTIFY_ALLOW_PRIVATE is set)";
    }
    boost::system::error_code ec;
    const auto literal = asio::ip::make_address(target->host, ec);
    if (!ec && is_inside(literal) && !allow_private) {
        return "url names a private, loopback or link-local address";
    }
    if (target->host == "localhost" && !allow_private) {
        return "url names a private, loopback or link-local address";
    }
    return std::nullopt;
}

asio::awaitable<SendResult> send_event(
    asio::any_io_executor executor, asio::ssl::context& tls, const std::string& url,
    const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
    const SendPolicy& policy) {
    const auto started = std::chrono::steady_clock::now();
    const auto target = parse(url);
    if (!target || (!target->tls && !policy.allow_private)) {
        co_return failure("refused: not an allowed URL", started);
    }
    tcp::resolver resolver(executor);
    asio::steady_timer resolve_timer(executor, policy.connect_timeout);
    resolve_timer.async_wait([&resolver](boost::system::error_code ec) {
        if (!ec) {
            resolver.cancel();
        }
    });
    auto [resolve_error, resolved] =
        co_await resolver.async_resolve(target->host, target->port, kTuple);
    resolve_timer.cancel();
    if (resolve_error) {
        co_return failure("name not resolved: " + resolve_error.message(), started);
    }
    std::vector<tcp::endpoint> endpoints;
    for (const auto& entry : resolved) {
        if (is_inside(entry.endpoint().address()) && !policy.allow_private) {
            co_return failure(
                "refused: the host resolves to a private, loopback or link-local "
                "address",
                started);
        }
        endpoints.push_back(entry.endpoint());
    }
    const auto deadline = started + policy.total_timeout;
    beast::tcp_stream stream(executor);
    stream.expires_after(policy.connect_timeout);
    auto [connect_error, connected] = co_await stream.async_connect(endpoints, kTuple);
    if (connect_error) {
        co_return failure("connect failed: " + connect_error.message(), started);
    }
    if (!target->tls) {
        stream.expires_at(deadline);
        auto result = co_await exchange(stream, *target, headers, body, started);
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        co_return result;
    }
    beast::ssl_stream<beast::tcp_stream> secure(std::move(stream), tls);
    if (!SSL_set_tlsext_host_name(secure.native_handle(), target->host.c_str())) {
        co_return failure("TLS: the host name could not be set", started);
    }
    secure.set_verify_mode(asio::ssl::verify_peer);
    secure.set_verify_callback(asio::ssl::host_name_verification(target->host));
    beast::get_lowest_layer(secure).expires_at(deadline);
    auto [handshake_error] =
        co_await secure.async_handshake(asio::ssl::stream_base::client, kTuple);
    if (handshake_error) {
        co_return failure("TLS handshake failed: " + handshake_error.message(), started);
    }
    co_return co_await exchange(secure, *target, headers, body, started);
}

}  // namespace mg::notify
