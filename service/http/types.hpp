// The HTTP vocabulary shared by the server, the router and the handlers.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mg::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;
using Status = beast_http::status;
using Verb = beast_http::verb;

struct ConnectionInfo {
    boost::asio::ip::address remote_address;
};

using PathParams = std::vector<std::pair<std::string, std::string>>;

// Everything a handler knows about the request it answers.
struct RequestContext {
    const Request& request;
    const ConnectionInfo& connection;
    std::string request_id;
    std::string route;  // the matched pattern, e.g. "/v1/orders/{merchant_uid}"
    PathParams params;

    // A path parameter by name (percent-decoded); "" when absent.
    const std::string& param(std::string_view name) const;
    // A request header; "" when absent.
    std::string_view header(std::string_view name) const;
};

using Handler = std::function<boost::asio::awaitable<Response>(RequestContext&)>;

// A JSON response with the given status.
Response json_response(Status status, const boost::json::value& body, unsigned version = 11);

}  // namespace mg::http
