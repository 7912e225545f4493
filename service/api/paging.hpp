// Keyset pages and query strings, as every list of the API reads them: `limit` (20 by default,
// values above 100 clamped), an opaque `cursor` naming where the previous page ended, and only
// the query parameters a route knows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mg::api {

inline constexpr int kDefaultPageSize = 20;
inline constexpr int kMaxPageSize = 100;

// An integer query value; 422 naming `field` otherwise.
std::optional<std::int64_t> parse_query_integer(std::string_view field, std::string_view text);
// UNIX seconds from 1970 to the end of year 9999 (what PostgreSQL's timestamps hold).
std::optional<std::int64_t> parse_query_time(std::string_view field, std::string_view text);
// `limit`: at least 1, clamped to kMaxPageSize.
int parse_limit(std::string_view text);

std::string encode_cursor(std::int64_t before_id);
// 422 `cursor` for anything encode_cursor did not make.
std::int64_t decode_cursor(std::string_view cursor);

// A query key as an error may name it: printable ASCII of a sane length, else "query".
std::string echoable(std::string_view key);

}  // namespace mg::api
