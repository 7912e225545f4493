#include "service/http/request_head.hpp"

#include <algorithm>
#include <cctype>
#include <iterator>

#include "service/common/crypto.hpp"
#include "service/http/error.hpp"

namespace mg::http {

namespace beast = boost::beast;

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

}  // namespace

// The server's own refusals carry a request id too, like every other response.
Response refusal(Status status, std::string_view code, std::string_view message) {
    auto response = error_response(status, code, message);
    response.set("X-Request-Id", crypto::random_token(12));
    response.keep_alive(false);
    return response;
}

std::optional<Response> refuse_head(const Request& head) {
    if (head.method() == beast::http::verb::unknown) {
        return refusal(Status::not_implemented, "method_not_implemented",
                       "this method is not supported");
    }
    const auto hosts = std::distance(head.equal_range(beast::http::field::host).first,
                                     head.equal_range(beast::http::field::host).second);
    if ((head.version() >= 11 && hosts != 1) || hosts > 1) {
        return refusal(Status::bad_request, "malformed_request",
                       "an HTTP/1.1 request needs exactly one Host header");
    }
    const auto encodings = head.equal_range(beast::http::field::transfer_encoding);
    const auto encoding_lines = std::distance(encodings.first, encodings.second);
    if (encoding_lines > 0) {
        const bool chunked = encoding_lines == 1 &&
                             equals_ignoring_case(trimmed(encodings.first->value()), "chunked");
        if (!chunked || head.count(beast::http::field::content_length) > 0) {
            return refusal(Status::bad_request, "unsupported_transfer_encoding",
                           "only Transfer-Encoding: chunked is accepted, without Content-Length");
        }
    }
    return std::nullopt;
}

}  // namespace mg::http
