#include "service/iamport/receipts.hpp"

#include <boost/json.hpp>

namespace mg::iamport {
namespace json = boost::json;
namespace {

const json::object& object_of(const json::value& value, std::string_view what) {
    if (!value.is_object()) {
        throw DecodeError(std::string(what) + " is not an object");
    }
    return value.get_object();
}

const json::value* present(const json::object& object, std::string_view name) {
    const auto it = object.find(name);
    return it == object.end() || it->value().is_null() ? nullptr : &it->value();
}

std::optional<std::string> text(const json::object& object, std::string_view name) {
    const auto* value = present(object, name);
    if (value == nullptr) {
        return std::nullopt;
    }
    if (!value->is_string()) {
        throw DecodeError(std::string(name) + " is not a string");
    }
    return std::string(value->get_string());
}

Amount number(const json::object& object, std::string_view name, bool required) {
    const auto* value = present(object, name);
    if (value == nullptr) {
        if (required) {
            throw DecodeError(std::string(name) + " is missing");
        }
        return 0;
    }
    return decode_amount(*value, name);
}

}  // namespace

Prepared tag_invoke(json::value_to_tag<Prepared>, const json::value& value) {
    const auto& o = object_of(value, "prepared payment");
    Prepared prepared;
    prepared.merchant_uid = text(o, "merchant_uid").value_or("");
    prepared.amount = number(o, "amount", true);
    return prepared;
}

Receipt tag_invoke(json::value_to_tag<Receipt>, const json::value& value) {
    const auto& o = object_of(value, "receipt");
    Receipt receipt;
    receipt.imp_uid = text(o, "imp_uid").value_or("");
    receipt.receipt_tid = text(o, "receipt_tid");
    receipt.apply_num = text(o, "apply_num");
    receipt.type = text(o, "type");
    receipt.amount = number(o, "amount", true);
    receipt.vat = number(o, "vat", false);
    receipt.receipt_url = text(o, "receipt_url");
    receipt.applied_at = number(o, "applied_at", false);
    receipt.cancelled_at = number(o, "cancelled_at", false);
    return receipt;
}

}  // namespace mg::iamport
