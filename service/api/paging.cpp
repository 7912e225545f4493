#include "service/api/paging.hpp"

#include <algorithm>
#include <charconv>

#include "service/common/crypto.hpp"
#include "service/http/error.hpp"

namespace mg::api {
namespace {

constexpr std::string_view kCursorPrefix = "o1:";
constexpr std::int64_t kLatestSecond = 253402300799;

}  // namespace

std::optional<std::int64_t> parse_query_integer(std::string_view field, std::string_view text) {
    std::int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty()) {
        throw http::validation_failed(std::string(field),
                                      std::string(field) + " must be an integer");
    }
    return value;
}

std::optional<std::int64_t> parse_query_time(std::string_view field, std::string_view text) {
    const auto value = parse_query_integer(field, text);
    if (*value < 0 || *value > kLatestSecond) {
        throw http::validation_failed(
            std::string(field),
            std::string(field) + " must be UNIX seconds between 0 and 253402300799");
    }
    return value;
}

int parse_limit(std::string_view text) {
    const auto limit = *parse_query_integer("limit", text);
    if (limit < 1) {
        throw http::validation_failed("limit", "limit must be at least 1");
    }
    // Above the maximum is clamped, not refused (SPEC §4).
    return static_cast<int>(std::min<std::int64_t>(limit, kMaxPageSize));
}

std::string encode_cursor(std::int64_t before_id) {
    return crypto::base64url_encode(std::string(kCursorPrefix) + std::to_string(before_id));
}

std::int64_t decode_cursor(std::string_view cursor) {
    std::string decoded;
    std::int64_t id = 0;
    if (crypto::base64url_decode(cursor, decoded) && decoded.starts_with(kCursorPrefix)) {
        const std::string_view digits = std::string_view(decoded).substr(kCursorPrefix.size());
        const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
        if (ec == std::errc{} && ptr == digits.data() + digits.size() && id > 0) {
            return id;
        }
    }
    throw http::validation_failed("cursor", "cursor is not one this API returned");
}

std::string echoable(std::string_view key) {
    const bool printable =
        !key.empty() && key.size() <= 64 && std::all_of(key.begin(), key.end(), [](char c) {
            return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
        });
    return printable ? std::string(key) : std::string("query");
}

}  // namespace mg::api
