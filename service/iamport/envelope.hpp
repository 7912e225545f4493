// iamport's answer envelope {code, message, response} read out of one HTTP exchange, and what
// it means for the call: success (the `response` value), or how it failed (SPEC §7).
#pragma once

#include <boost/json/value.hpp>

#include "service/iamport/result.hpp"
#include "service/iamport/transport.hpp"

namespace mg::iamport {

// `idempotent` decides what an answer that is not iamport's own means. For a read (GET) nothing
// happened that matters. For a call that moves money (POST/PUT) only an envelope with code ≠ 0,
// at any HTTP status, is a refusal (declined; POST /benepia/payment refuses with HTTP 500); a
// 401 is the token refused (rejected); anything else after the request was sent — a 5xx or 4xx
// without an envelope, an unreadable body, a reset, a timeout — is unknown_outcome.
Result<boost::json::value> interpret(const Exchange& exchange, bool idempotent);

}  // namespace mg::iamport
