// JSON parsing that keeps numbers exact. Boost 1.81's parser may round a number with a fraction
// or an exponent to a neighbour of the nearest double (it has no precise mode), so a value read
// and written back can drift by one unit in the last place each time. Here every such number is
// converted from its own text by std::from_chars, which rounds correctly: our output (shortest
// round-trip form) then reads back as the same double.
#pragma once

#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>
#include <string_view>

namespace mg {

// What a member named twice in one object means: the last one wins (as Boost.JSON reads it;
// iamport's answers), or the text is refused with duplicate_key_error() (requests to us, where
// `"amount":1000,"amount":1` must not quietly be 1).
enum class DuplicateKeys { last_wins, refuse };
boost::system::error_code duplicate_key_error();

// As boost::json::parse; on failure `ec` is set and null is returned.
boost::json::value parse_exact_json(std::string_view text, boost::system::error_code& ec,
                                    const boost::json::parse_options& options = {},
                                    DuplicateKeys duplicates = DuplicateKeys::last_wins);

// As boost::json::parse; throws boost::system::system_error.
boost::json::value parse_exact_json(std::string_view text);

}  // namespace mg
