// Keeping iamport secrets out of logs and error messages: imp_secret, access tokens and Benepia
// passwords travel in request bodies and headers, so anything that describes a request or an
// answer for humans goes through these functions first.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

namespace mg::iamport {

inline constexpr std::string_view kRedactedValue = "[redacted]";

// True for the body fields and headers whose values are secrets.
bool is_secret_field(std::string_view name);

// A copy of `value` where every secret field, at any depth, holds "[redacted]".
boost::json::value redact(const boost::json::value& value);

// The same for JSON text; text that is not JSON is not echoed at all (it may be a secret).
std::string redact_json_text(std::string_view body);

}  // namespace mg::iamport
