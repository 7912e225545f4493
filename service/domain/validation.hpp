// Validation rules of SPEC §4, shared by every route that takes the same fields.
// Lengths count Unicode characters (code points): Korean text is the common case, and
// "홍길동" is 3 characters though 9 bytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "service/domain/order.hpp"

namespace mg::domain {

struct ValidationError {
    std::string field;
    std::string message;
    std::string code = "validation_failed";
};

// Number of code points, or nullopt when `text` is not valid UTF-8 (overlongs, surrogates
// and code points above U+10FFFF are invalid).
std::optional<std::size_t> utf8_length(std::string_view text);

inline constexpr std::size_t kMaxMerchantUid = 40;
inline constexpr std::size_t kMaxName = 40;
inline constexpr std::size_t kMaxBuyerName = 16;
inline constexpr std::size_t kMaxBuyerEmail = 64;
inline constexpr std::size_t kMaxBuyerTel = 16;
inline constexpr std::size_t kMaxBuyerAddr = 128;
inline constexpr std::size_t kMaxBuyerPostcode = 8;
inline constexpr std::size_t kMaxVbankHolder = 16;

// 1–40 characters of [A-Za-z0-9_-].
std::optional<ValidationError> check_merchant_uid(std::string_view field, std::string_view value);
// Text of min..max characters without control characters.
std::optional<ValidationError> check_text(std::string_view field, std::string_view value,
                                          std::size_t min_chars, std::size_t max_chars);
std::optional<ValidationError> check_email(std::string_view field, std::string_view value);
// A positive whole number of won, at most 10^12.
std::optional<ValidationError> check_amount(std::string_view field, Amount value);
// Only KRW: it has no minor unit, which every amount here relies on.
std::optional<ValidationError> check_currency(std::string_view field, std::string_view value);
// A 3-digit KFTC bank code.
std::optional<ValidationError> check_bank_code(std::string_view field, std::string_view value);

// JSON text (as serialized) that PostgreSQL can store as jsonb, which refuses U+0000 in any
// string or key.
std::optional<ValidationError> check_stored_json(std::string_view field, std::string_view json);

// Every rule for a new order, in field order; the first failure.
std::optional<ValidationError> validate_new_order(const NewOrder& order);

}  // namespace mg::domain
