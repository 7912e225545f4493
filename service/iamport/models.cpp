#include "service/iamport/models.hpp"

#include <charconv>
#include <cmath>
#include <limits>

namespace mg::iamport {
namespace json = boost::json;

namespace {

const json::object& as_object(const json::value& value, std::string_view what) {
    if (!value.is_object()) {
        throw DecodeError(std::string(what) + " is not an object");
    }
    return value.get_object();
}

const json::value* field(const json::object& object, std::string_view name) {
    auto it = object.find(name);
    if (it == object.end() || it->value().is_null()) {
        return nullptr;
    }
    return &it->value();
}

std::optional<std::string> optional_string(const json::object& object, std::string_view name) {
    const auto* value = field(object, name);
    if (value == nullptr) {
        return std::nullopt;
    }
    if (value->is_string()) {
        return std::string(value->get_string());
    }
    // iamport documents some codes as strings but has sent numbers (card_type 0/1).
    if (value->is_int64() || value->is_uint64() || value->is_bool()) {
        return json::serialize(*value);
    }
    throw DecodeError(std::string(name) + " is not a string");
}

std::string required_string(const json::object& object, std::string_view name) {
    auto value = optional_string(object, name);
    if (!value) {
        throw DecodeError(std::string(name) + " is missing");
    }
    return *value;
}

std::int64_t integer_or_zero(const json::object& object, std::string_view name) {
    const auto* value = field(object, name);
    if (value == nullptr) {
        return 0;
    }
    // The API pages document timestamps as "string (UNIX timestamp)"; accept digits in a string.
    if (value->is_string()) {
        const auto& text = value->get_string();
        if (text.empty()) {
            return 0;
        }
        std::int64_t out = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
        if (ec != std::errc() || end != text.data() + text.size()) {
            throw DecodeError(std::string(name) + " is not an integer");
        }
        return out;
    }
    return decode_amount(*value, name);
}

bool bool_or_false(const json::object& object, std::string_view name) {
    const auto* value = field(object, name);
    if (value == nullptr) {
        return false;
    }
    if (!value->is_bool()) {
        throw DecodeError(std::string(name) + " is not a boolean");
    }
    return value->get_bool();
}

// JSON has no infinity, but Boost.JSON reads a number beyond the range of a double (1e400) as
// one, and would write it back as `Infinity`: text that is not JSON, which the payments table
// (jsonb) refuses. What is kept of an answer holds null there instead.
void null_non_finite_numbers(json::value& value) {
    if (value.is_double() && !std::isfinite(value.get_double())) {
        value = nullptr;
    } else if (auto* array = value.if_array()) {
        for (auto& element : *array) {
            null_non_finite_numbers(element);
        }
    } else if (auto* object = value.if_object()) {
        for (auto& item : *object) {
            null_non_finite_numbers(item.value());
        }
    }
}

void put_optional(json::object& out, std::string_view name, const std::optional<std::string>& v) {
    if (v) {
        out[name] = *v;
    } else {
        out[name] = nullptr;
    }
}

}  // namespace

Amount decode_amount(const json::value& value, std::string_view name) {
    if (value.is_int64()) {
        return value.get_int64();
    }
    if (value.is_uint64()) {
        if (value.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<Amount>::max())) {
            throw DecodeError(std::string(name) + " is out of range");
        }
        return static_cast<Amount>(value.get_uint64());
    }
    if (value.is_double()) {
        // Some answers carry amounts as 1000.0; anything with a fraction is refused rather than
        // rounded, since KRW has no minor unit and a fraction means we misunderstood the answer.
        double number = value.get_double();
        constexpr double kLimit = 9007199254740992.0;  // 2^53: beyond it doubles skip integers
        if (!std::isfinite(number) || std::trunc(number) != number || std::fabs(number) > kLimit) {
            throw DecodeError(std::string(name) + " is not an exact integer");
        }
        return static_cast<Amount>(number);
    }
    throw DecodeError(std::string(name) + " is not a number");
}

AccessToken tag_invoke(json::value_to_tag<AccessToken>, const json::value& value) {
    const auto& object = as_object(value, "token response");
    AccessToken token;
    token.access_token = required_string(object, "access_token");
    token.expired_at = integer_or_zero(object, "expired_at");
    token.now = integer_or_zero(object, "now");
    return token;
}

CancelHistoryEntry tag_invoke(json::value_to_tag<CancelHistoryEntry>, const json::value& value) {
    const auto& object = as_object(value, "cancel_history entry");
    CancelHistoryEntry entry;
    entry.pg_tid = optional_string(object, "pg_tid").value_or("");
    const auto* amount = field(object, "amount");
    if (amount == nullptr) {
        throw DecodeError("cancel_history.amount is missing");
    }
    entry.amount = decode_amount(*amount, "cancel_history.amount");
    entry.cancelled_at = integer_or_zero(object, "cancelled_at");
    entry.reason = optional_string(object, "reason").value_or("");
    entry.receipt_url = optional_string(object, "receipt_url").value_or("");
    entry.cancellation_id = optional_string(object, "cancellation_id");
    return entry;
}

Payment tag_invoke(json::value_to_tag<Payment>, const json::value& value) {
    const auto& o = as_object(value, "payment");
    Payment p;
    p.imp_uid = required_string(o, "imp_uid");
    p.merchant_uid = required_string(o, "merchant_uid");
    p.pay_method = optional_string(o, "pay_method");
    p.channel = optional_string(o, "channel");
    p.pg_provider = optional_string(o, "pg_provider");
    p.emb_pg_provider = optional_string(o, "emb_pg_provider");
    p.pg_tid = optional_string(o, "pg_tid");
    p.pg_id = optional_string(o, "pg_id");
    p.escrow = bool_or_false(o, "escrow");
    p.apply_num = optional_string(o, "apply_num");
    p.bank_code = optional_string(o, "bank_code");
    p.bank_name = optional_string(o, "bank_name");
    p.card_code = optional_string(o, "card_code");
    p.card_name = optional_string(o, "card_name");
    p.card_quota = integer_or_zero(o, "card_quota");
    p.card_number = optional_string(o, "card_number");
    p.card_type = optional_string(o, "card_type");
    p.vbank_code = optional_string(o, "vbank_code");
    p.vbank_name = optional_string(o, "vbank_name");
    p.vbank_num = optional_string(o, "vbank_num");
    p.vbank_holder = optional_string(o, "vbank_holder");
    p.vbank_date = integer_or_zero(o, "vbank_date");
    p.vbank_issued_at = integer_or_zero(o, "vbank_issued_at");
    p.name = optional_string(o, "name");
    const auto* amount = field(o, "amount");
    if (amount == nullptr) {
        throw DecodeError("amount is missing");
    }
    p.amount = decode_amount(*amount, "amount");
    const auto* cancel_amount = field(o, "cancel_amount");
    p.cancel_amount = cancel_amount ? decode_amount(*cancel_amount, "cancel_amount") : 0;
    p.currency = optional_string(o, "currency");
    p.buyer_name = optional_string(o, "buyer_name");
    p.buyer_email = optional_string(o, "buyer_email");
    p.buyer_tel = optional_string(o, "buyer_tel");
    p.buyer_addr = optional_string(o, "buyer_addr");
    p.buyer_postcode = optional_string(o, "buyer_postcode");
    if (const auto* custom = field(o, "custom_data")) {
        if (custom->is_string()) {
            p.custom_data = std::string(custom->get_string());
        } else {
            json::value kept = *custom;
            null_non_finite_numbers(kept);
            p.custom_data = json::serialize(kept);
        }
    }
    p.user_agent = optional_string(o, "user_agent");
    p.status = required_string(o, "status");
    p.started_at = integer_or_zero(o, "started_at");
    p.paid_at = integer_or_zero(o, "paid_at");
    p.failed_at = integer_or_zero(o, "failed_at");
    p.cancelled_at = integer_or_zero(o, "cancelled_at");
    p.fail_reason = optional_string(o, "fail_reason");
    p.cancel_reason = optional_string(o, "cancel_reason");
    p.receipt_url = optional_string(o, "receipt_url");
    if (const auto* history = field(o, "cancel_history")) {
        if (!history->is_array()) {
            throw DecodeError("cancel_history is not an array");
        }
        for (const auto& entry : history->get_array()) {
            p.cancel_history.push_back(json::value_to<CancelHistoryEntry>(entry));
        }
    }
    if (const auto* urls = field(o, "cancel_receipt_urls")) {
        if (!urls->is_array()) {
            throw DecodeError("cancel_receipt_urls is not an array");
        }
        for (const auto& url : urls->get_array()) {
            if (url.is_string()) {
                p.cancel_receipt_urls.emplace_back(url.get_string());
            }
        }
    }
    p.cash_receipt_issued = bool_or_false(o, "cash_receipt_issued");
    p.customer_uid = optional_string(o, "customer_uid");
    p.customer_uid_usage = optional_string(o, "customer_uid_usage");
    if (p.amount < 0 || p.cancel_amount < 0 || p.cancel_amount > p.amount) {
        throw DecodeError("cancel_amount is outside 0..amount");
    }
    p.raw = o;
    for (auto& item : p.raw) {
        null_non_finite_numbers(item.value());
    }
    return p;
}

void tag_invoke(json::value_from_tag, json::value& out, const CancelHistoryEntry& entry) {
    json::object o;
    o["pg_tid"] = entry.pg_tid;
    o["amount"] = entry.amount;
    o["cancelled_at"] = entry.cancelled_at;
    o["reason"] = entry.reason;
    o["receipt_url"] = entry.receipt_url;
    put_optional(o, "cancellation_id", entry.cancellation_id);
    out = std::move(o);
}

void tag_invoke(json::value_from_tag, json::value& out, const Payment& p) {
    json::object o;
    o["imp_uid"] = p.imp_uid;
    o["merchant_uid"] = p.merchant_uid;
    put_optional(o, "pay_method", p.pay_method);
    put_optional(o, "channel", p.channel);
    put_optional(o, "pg_provider", p.pg_provider);
    put_optional(o, "emb_pg_provider", p.emb_pg_provider);
    put_optional(o, "pg_tid", p.pg_tid);
    put_optional(o, "pg_id", p.pg_id);
    o["escrow"] = p.escrow;
    put_optional(o, "apply_num", p.apply_num);
    put_optional(o, "bank_code", p.bank_code);
    put_optional(o, "bank_name", p.bank_name);
    put_optional(o, "card_code", p.card_code);
    put_optional(o, "card_name", p.card_name);
    o["card_quota"] = p.card_quota;
    put_optional(o, "card_number", p.card_number);
    put_optional(o, "card_type", p.card_type);
    put_optional(o, "vbank_code", p.vbank_code);
    put_optional(o, "vbank_name", p.vbank_name);
    put_optional(o, "vbank_num", p.vbank_num);
    put_optional(o, "vbank_holder", p.vbank_holder);
    o["vbank_date"] = p.vbank_date;
    o["vbank_issued_at"] = p.vbank_issued_at;
    put_optional(o, "name", p.name);
    o["amount"] = p.amount;
    o["cancel_amount"] = p.cancel_amount;
    put_optional(o, "currency", p.currency);
    put_optional(o, "buyer_name", p.buyer_name);
    put_optional(o, "buyer_email", p.buyer_email);
    put_optional(o, "buyer_tel", p.buyer_tel);
    put_optional(o, "buyer_addr", p.buyer_addr);
    put_optional(o, "buyer_postcode", p.buyer_postcode);
    put_optional(o, "custom_data", p.custom_data);
    put_optional(o, "user_agent", p.user_agent);
    o["status"] = p.status;
    o["started_at"] = p.started_at;
    o["paid_at"] = p.paid_at;
    o["failed_at"] = p.failed_at;
    o["cancelled_at"] = p.cancelled_at;
    put_optional(o, "fail_reason", p.fail_reason);
    put_optional(o, "cancel_reason", p.cancel_reason);
    put_optional(o, "receipt_url", p.receipt_url);
    o["cancel_history"] = json::value_from(p.cancel_history);
    o["cancel_receipt_urls"] = json::value_from(p.cancel_receipt_urls);
    o["cash_receipt_issued"] = p.cash_receipt_issued;
    put_optional(o, "customer_uid", p.customer_uid);
    put_optional(o, "customer_uid_usage", p.customer_uid_usage);
    out = std::move(o);
}

domain::Payment to_domain(const Payment& p) {
    domain::Payment d;
    d.imp_uid = p.imp_uid;
    d.merchant_uid = p.merchant_uid;
    d.status = p.status;
    d.pay_method = p.pay_method;
    d.pg_provider = p.pg_provider;
    d.pg_tid = p.pg_tid;
    d.channel = p.channel;
    d.currency = p.currency;
    d.amount = p.amount;
    d.cancel_amount = p.cancel_amount;
    d.started_at = p.started_at;
    d.paid_at = p.paid_at;
    d.failed_at = p.failed_at;
    d.cancelled_at = p.cancelled_at;
    d.vbank_code = p.vbank_code;
    d.vbank_name = p.vbank_name;
    d.vbank_num = p.vbank_num;
    d.vbank_holder = p.vbank_holder;
    d.vbank_date = p.vbank_date;
    d.vbank_issued_at = p.vbank_issued_at;
    d.receipt_url = p.receipt_url;
    d.fail_reason = p.fail_reason;
    d.cancel_reason = p.cancel_reason;
    for (const auto& entry : p.cancel_history) {
        d.cancel_history.push_back(domain::PaymentCancellation{
            entry.pg_tid, entry.amount, entry.cancelled_at, entry.reason,
            entry.receipt_url.empty() ? std::nullopt
                                      : std::optional<std::string>(entry.receipt_url),
            entry.cancellation_id});
    }
    d.raw_json = boost::json::serialize(p.raw);
    return d;
}

}  // namespace mg::iamport
