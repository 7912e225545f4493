// iamport's answer envelope {code, message, response} read out of one HTTP exchange, and what
// it means for the call: success (the `response` value), or how it failed (SPEC §7).
#pragma once

#include <boost/json/value.hpp>

#include "service/iamport/result.hpp"
#include "service/iamport/transport.hpp"

namespace mg::iamport {

// `idempotent` decides what a lost answer means: for a GET nothing happened that matters; for
// a POST/PUT it may have happened. `http_500_is_decline`: an HTTP 500 carrying an envelope with
// a code and message is iamport refusing (POST /benepia/payment), not iamport failing.
Result<boost::json::value> interpret(const Exchange& exchange, bool idempotent,
                                     bool http_500_is_decline = false);

}  // namespace mg::iamport
