// What the server refuses in a request's head before anything routes it: pure functions of the
// head, so that the fuzz target runs the very checks the server does.
#pragma once

#include <optional>
#include <string_view>

#include "service/http/types.hpp"

namespace mg::http {

// An error response of the server's own (a request id, and the connection closed after it).
Response refusal(Status status, std::string_view code, std::string_view message);

// What a request's head may not be, whatever Beast would make of it: a method we do not know
// (501, before routing, so that no made-up method reaches a handler, a log or a metric), an
// HTTP/1.1 request without exactly one Host, and any framing a proxy could read otherwise than
// we do (a Transfer-Encoding other than exactly `chunked`, several of them, or one beside a
// Content-Length). nullopt when the head is acceptable.
std::optional<Response> refuse_head(const Request& head);

}  // namespace mg::http
