// A deliberately simple HTTP client for tests: one synchronous request per connection.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mg::test {

struct HttpResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    // Case-insensitive; "" when absent.
    std::string header(std::string_view name) const;
    // Parses the body; throws on bad JSON.
    boost::json::value json() const;
};

// One HTTP/1.1 request over a new connection. Throws boost::system::system_error on network
// errors and on timeout. Content-Type defaults to application/json when a body is given.
HttpResponse http_request(const std::string& host, unsigned short port, std::string_view method,
                          std::string_view target, std::string_view body = {},
                          const std::vector<std::pair<std::string, std::string>>& headers = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(15));

// A TCP port on 127.0.0.1 that was free a moment ago.
unsigned short free_port();

}  // namespace mg::test
