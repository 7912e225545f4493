// Raw bytes as a client sends them on one connection → Beast's request parser with the
// server's limits, request after request as Server::run_session reads them → the server's head
// checks (501, 400) → the router on each parsed target, as Api::handle routes it, the 404/405
// answer written back, and the request counted in the metrics as Api::handle counts it. After
// every input the metrics hold only label values from fixed sets: no input can grow them.
#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstddef>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "service/http/error.hpp"
#include "service/http/request_head.hpp"
#include "service/http/router.hpp"
#include "service/http/server.hpp"
#include "service/metrics/metrics.hpp"
#include "tests/fuzz/check.hpp"

namespace {

namespace beast_http = boost::beast::http;
using mg::http::Router;
using mg::http::Status;
using mg::http::Verb;

// Requests one connection may carry before the target stops reading: keeps one input's work
// bounded while still covering keep-alive and pipelining.
constexpr int kMaxRequestsPerInput = 8;

mg::http::Handler no_handler() {
    return [](mg::http::RequestContext&) -> boost::asio::awaitable<mg::http::Response> {
        co_return mg::http::Response{};
    };
}

// The service's route table, as service/api/{health,orders,payments,webhooks}.cpp register it.
// The real table is built by mg::api::Api, which needs a database pool and an iamport client;
// the patterns and methods here are the same.
struct Route {
    Verb method;
    const char* pattern;
};
constexpr Route kRoutes[] = {
    {Verb::get, "/healthz"},
    {Verb::get, "/readyz"},
    {Verb::get, "/metrics"},
    {Verb::post, "/v1/orders"},
    {Verb::get, "/v1/orders"},
    {Verb::get, "/v1/orders/{merchant_uid}"},
    {Verb::post, "/v1/orders/{merchant_uid}/benepia-payment"},
    {Verb::post, "/v1/orders/{merchant_uid}/vbank"},
    {Verb::patch, "/v1/orders/{merchant_uid}/vbank"},
    {Verb::post, "/v1/orders/{merchant_uid}/complete"},
    {Verb::post, "/v1/orders/{merchant_uid}/cancel"},
    {Verb::post, "/v1/orders/{merchant_uid}/sync"},
    {Verb::post, "/webhooks/iamport"},
};

Router make_router() {
    Router router;
    for (const auto& route : kRoutes) {
        router.add(route.method, route.pattern, no_handler());
    }
    return router;
}

const Router& router() {
    static const Router instance = make_router();
    return instance;
}

void check_match(const Router::Match& match, std::string_view path) {
    MG_FUZZ_CHECK(match.handler != nullptr && match.pattern != nullptr);
    std::vector<std::string_view> pattern_segments;
    std::vector<std::string_view> path_segments;
    MG_FUZZ_CHECK(mg::http::split_path(*match.pattern, pattern_segments));
    MG_FUZZ_CHECK(mg::http::split_path(path, path_segments));
    MG_FUZZ_CHECK(pattern_segments.size() == path_segments.size());
    std::size_t parameters = 0;
    for (std::size_t i = 0; i < pattern_segments.size(); ++i) {
        if (pattern_segments[i].front() == '{') {
            ++parameters;
        } else {
            MG_FUZZ_CHECK(pattern_segments[i] == path_segments[i]);
        }
    }
    MG_FUZZ_CHECK(match.params.size() == parameters);
    for (const auto& [name, value] : match.params) {
        MG_FUZZ_CHECK(!name.empty());
        // A decoded parameter can never smuggle a path separator or a NUL into a handler.
        MG_FUZZ_CHECK(value.find('/') == std::string::npos);
        MG_FUZZ_CHECK(value.find('\0') == std::string::npos);
    }
}

void check_wrong_method(const Router::WrongMethod& wrong, Verb method) {
    MG_FUZZ_CHECK(!wrong.allow.empty());
    std::vector<std::string> names;
    std::string_view rest = wrong.allow;
    while (!rest.empty()) {
        const auto comma = rest.find(", ");
        names.emplace_back(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 2);
    }
    MG_FUZZ_CHECK(std::is_sorted(names.begin(), names.end()));
    for (const auto& name : names) {
        const auto verb = beast_http::string_to_verb(name);
        MG_FUZZ_CHECK(verb != Verb::unknown);
        MG_FUZZ_CHECK(verb != method);
    }
}

// Counted as Api::handle counts a request.
void count(const mg::http::Request& request, std::string_view route, const mg::http::Response& r) {
    mg::metrics::observe_request(std::string_view(request.method_string()), route,
                                 static_cast<int>(r.result_int()), 0.001);
}

// The values a label of mg_http_requests_total may take: the methods we know and "other", the
// route patterns and "unmatched", and the statuses this target answers.
void check_metric_labels() {
    static const std::set<std::string> kMethods = {"GET",   "HEAD",   "POST",    "PUT",
                                                   "PATCH", "DELETE", "OPTIONS", "other"};
    static const std::set<std::string> kStatuses = {"200", "400", "404", "405", "501"};
    std::set<std::string> routes = {"unmatched"};
    for (const auto& route : kRoutes) {
        routes.insert(route.pattern);
    }
    const auto text = mg::metrics::scrape({});
    std::istringstream lines(text);
    std::string line;
    std::size_t series = 0;
    const auto label = [&](std::string_view name) {
        const auto key = std::string(name) + "=\"";
        const auto start = line.find(key);
        MG_FUZZ_CHECK(start != std::string::npos);
        const auto from = start + key.size();
        return line.substr(from, line.find('"', from) - from);
    };
    while (std::getline(lines, line)) {
        if (!line.starts_with("mg_http_requests_total{")) {
            continue;
        }
        ++series;
        MG_FUZZ_CHECK(kMethods.contains(label("method")));
        MG_FUZZ_CHECK(routes.contains(label("route")));
        MG_FUZZ_CHECK(kStatuses.contains(label("status")));
    }
    MG_FUZZ_CHECK(series <= kMethods.size() * routes.size() * kStatuses.size());
}

// What Api::handle does with a parsed request, without a handler: route it, and answer a
// miss with the same error responses, written out as the session would.
void route(mg::http::Request& request) {
    const auto target = request.target();
    const auto path = target.substr(0, target.find('?'));
    auto result = router().match(request.method(), path);
    mg::http::Response response;
    std::string_view route_label;
    if (auto* match = std::get_if<Router::Match>(&result)) {
        route_label = *match->pattern;
        check_match(*match, path);
        const mg::http::ConnectionInfo connection;
        mg::http::RequestContext ctx{request, connection, "req", *match->pattern,
                                     std::move(match->params)};
        const auto& merchant_uid = ctx.param("merchant_uid");
        MG_FUZZ_CHECK(merchant_uid.empty() ||
                      match->pattern->find("{merchant_uid}") != std::string::npos);
        static_cast<void>(ctx.header("Idempotency-Key"));
        static_cast<void>(ctx.header("X-Client-Secret"));
        response = mg::http::json_response(Status::ok, boost::json::object{{"matched", true}});
    } else if (auto* wrong = std::get_if<Router::WrongMethod>(&result)) {
        check_wrong_method(*wrong, request.method());
        response = mg::http::error_response(Status::method_not_allowed, "method_not_allowed",
                                            "this route does not take that method");
        response.set(beast_http::field::allow, wrong->allow);
    } else {
        response =
            mg::http::error_response(mg::http::not_found("route_not_found", "no such route"));
    }
    response.version(request.version());
    response.keep_alive(request.keep_alive());
    std::ostringstream written;
    written << response;
    MG_FUZZ_CHECK(!written.str().empty());
    count(request, route_label, response);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const mg::http::ServerLimits limits;
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    for (int n = 0; n < kMaxRequestsPerInput && !rest.empty(); ++n) {
        beast_http::request_parser<beast_http::string_body> parser;
        parser.body_limit(limits.body_bytes);
        parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
        boost::system::error_code ec;
        // Everything left is in the buffer at once, as after a large read; a parser that wants
        // more than there is has reached the end of the stream.
        while (!parser.is_done()) {
            const auto used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
            MG_FUZZ_CHECK(used <= rest.size());
            rest.remove_prefix(used);
            if (ec == beast_http::error::need_more) {
                ec = {};
            } else if (ec) {
                break;
            }
            if (used == 0 && !parser.is_done()) {
                parser.put_eof(ec);
                break;
            }
        }
        if (ec || !parser.is_done()) {
            return 0;  // the server answers 400/413/431 or closes the connection
        }
        if (parser.get()[beast_http::field::expect] == "100-continue" && parser.content_length() &&
            *parser.content_length() > limits.body_bytes) {
            return 0;  // the server refuses it before the body is sent
        }
        MG_FUZZ_CHECK(parser.get().body().size() <= limits.body_bytes);
        auto request = parser.release();
        if (const auto refused = mg::http::refuse_head(request)) {
            MG_FUZZ_CHECK(!refused->keep_alive());
            count(request, {}, *refused);
            break;  // the server closes the connection after a refusal
        }
        const bool keep_alive = request.keep_alive();
        route(request);
        if (!keep_alive) {
            break;
        }
    }
    check_metric_labels();
    return 0;
}
