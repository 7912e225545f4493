// Reading untrusted JSON request bodies: the content type (415), the syntax (400) and each
// field's type and presence (422 naming the field). Every decoder goes through here.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "service/http/types.hpp"

namespace mg::api {

// The body as a JSON object. An empty body counts as {} when `allow_empty`.
boost::json::object parse_json_object(const http::Request& request, bool allow_empty = false);

// Reads fields of one object, remembering which were read so that anything else can be
// refused: a misspelt optional field must not be silently ignored when money is involved.
class FieldReader {
  public:
    explicit FieldReader(const boost::json::object& object) : object_(object) {}

    // Absent or null → nullopt. Wrong type → 422.
    std::optional<std::string> optional_string(std::string_view name);
    std::string required_string(std::string_view name);
    // Only JSON integers: 1000.0, "1000" and 1e3 are refused, so no amount is ever rounded.
    std::optional<std::int64_t> optional_integer(std::string_view name);
    std::int64_t required_integer(std::string_view name);
    // Any JSON value (null → nullopt), serialized. 422 when it holds a number beyond the range
    // of a double, which has no JSON form once read.
    std::optional<std::string> optional_json(std::string_view name);
    // A nested object (absent or null → nullptr). Wrong type → 422.
    const boost::json::object* optional_object(std::string_view name);

    // 422 for the first field that no accessor asked for.
    void reject_unknown() const;

  private:
    const boost::json::value* find(std::string_view name);

    const boost::json::object& object_;
    std::vector<std::string> read_;
};

}  // namespace mg::api
