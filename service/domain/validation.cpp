#include "service/domain/validation.hpp"

#include <cstdint>

namespace mg::domain {
namespace {

ValidationError error(std::string_view field, std::string message) {
    return ValidationError{std::string(field), std::move(message)};
}

bool has_control_characters(std::string_view text) {
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7F) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::optional<std::size_t> utf8_length(std::string_view text) {
    std::size_t count = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t extra = 0;
        std::uint32_t code = 0;
        if (lead < 0x80) {
            code = lead;
        } else if ((lead & 0xE0) == 0xC0) {
            extra = 1;
            code = lead & 0x1F;
        } else if ((lead & 0xF0) == 0xE0) {
            extra = 2;
            code = lead & 0x0F;
        } else if ((lead & 0xF8) == 0xF0) {
            extra = 3;
            code = lead & 0x07;
        } else {
            return std::nullopt;
        }
        if (i + extra >= text.size()) {
            if (extra != 0) {
                return std::nullopt;
            }
        }
        for (std::size_t k = 1; k <= extra; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xC0) != 0x80) {
                return std::nullopt;
            }
            code = (code << 6) | (next & 0x3F);
        }
        static constexpr std::uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
        if (code < kMinForLength[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
            return std::nullopt;
        }
        i += extra + 1;
        ++count;
    }
    return count;
}

std::optional<ValidationError> check_merchant_uid(std::string_view field, std::string_view value) {
    if (value.empty() || value.size() > kMaxMerchantUid) {
        return error(field, "must be 1 to 40 characters");
    }
    for (const char c : value) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) {
            return error(field, "may contain only letters, digits, '_' and '-'");
        }
    }
    return std::nullopt;
}

std::optional<ValidationError> check_text(std::string_view field, std::string_view value,
                                          std::size_t min_chars, std::size_t max_chars) {
    const auto length = utf8_length(value);
    if (!length) {
        return error(field, "must be valid UTF-8 text");
    }
    if (has_control_characters(value)) {
        return error(field, "must not contain control characters");
    }
    if (*length < min_chars) {
        return error(field, min_chars == 1
                                ? "must not be empty"
                                : "must be at least " + std::to_string(min_chars) + " characters");
    }
    if (*length > max_chars) {
        return error(field, "must be at most " + std::to_string(max_chars) + " characters");
    }
    return std::nullopt;
}

std::optional<ValidationError> check_email(std::string_view field, std::string_view value) {
    if (auto e = check_text(field, value, 3, kMaxBuyerEmail)) {
        return e;
    }
    const auto at = value.find('@');
    if (at == std::string_view::npos || at == 0 ||
        value.find('@', at + 1) != std::string_view::npos) {
        return error(field, "must be an e-mail address");
    }
    const auto domain = value.substr(at + 1);
    const auto dot = domain.find('.');
    if (domain.empty() || dot == std::string_view::npos || dot == 0 || domain.back() == '.' ||
        value.find(' ') != std::string_view::npos) {
        return error(field, "must be an e-mail address");
    }
    return std::nullopt;
}

std::optional<ValidationError> check_amount(std::string_view field, Amount value) {
    if (value <= 0) {
        return error(field, "must be a positive whole number of won");
    }
    if (value > kMaxAmount) {
        return error(field, "must be at most 1000000000000");
    }
    return std::nullopt;
}

std::optional<ValidationError> check_currency(std::string_view field, std::string_view value) {
    if (value != "KRW") {
        ValidationError e = error(field, "only KRW is supported");
        e.code = "unsupported_currency";
        return e;
    }
    return std::nullopt;
}

std::optional<ValidationError> check_bank_code(std::string_view field, std::string_view value) {
    if (value.size() != 3 || value.find_first_not_of("0123456789") != std::string_view::npos) {
        return error(field, "must be a 3-digit KFTC bank code");
    }
    return std::nullopt;
}

std::optional<ValidationError> check_stored_json(std::string_view field, std::string_view json) {
    // Serialized JSON holds U+0000 only as the escape \u0000; a backslash always starts an
    // escape, so skipping each escape's first two characters keeps the scan in step.
    for (std::size_t i = 0; i < json.size(); ++i) {
        if (json[i] == '\\') {
            if (json.substr(i + 1, 5) == "u0000") {
                return error(field, "must not contain the character U+0000");
            }
            ++i;
        }
    }
    return std::nullopt;
}

std::optional<ValidationError> validate_new_order(const NewOrder& order) {
    if (auto e = check_merchant_uid("merchant_uid", order.merchant_uid))
        return e;
    if (auto e = check_text("name", order.name, 1, kMaxName))
        return e;
    if (auto e = check_amount("amount", order.amount))
        return e;
    if (order.tax_free < 0 || order.tax_free > order.amount) {
        return ValidationError{"tax_free",
                               "tax_free must be a whole number of won from 0 to the "
                               "amount"};
    }
    if (auto e = check_currency("currency", order.currency))
        return e;
    const auto& b = order.buyer;
    if (b.name) {
        if (auto e = check_text("buyer_name", *b.name, 1, kMaxBuyerName))
            return e;
    }
    if (b.email) {
        if (auto e = check_email("buyer_email", *b.email))
            return e;
    }
    if (b.tel) {
        if (auto e = check_text("buyer_tel", *b.tel, 1, kMaxBuyerTel))
            return e;
    }
    if (b.addr) {
        if (auto e = check_text("buyer_addr", *b.addr, 1, kMaxBuyerAddr))
            return e;
    }
    if (b.postcode) {
        if (auto e = check_text("buyer_postcode", *b.postcode, 1, kMaxBuyerPostcode))
            return e;
    }
    if (order.custom_data_json) {
        if (auto e = check_stored_json("custom_data", *order.custom_data_json))
            return e;
    }
    return std::nullopt;
}

}  // namespace mg::domain
