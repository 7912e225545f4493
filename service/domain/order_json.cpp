#include "service/domain/order_json.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace mg::domain {
namespace {

boost::json::value optional_string(const std::optional<std::string>& value) {
    if (!value) {
        return nullptr;
    }
    return boost::json::value(*value);
}

}  // namespace

void tag_invoke(boost::json::value_from_tag, boost::json::value& out, OrderStatus status) {
    out = to_string(status);
}

void tag_invoke(boost::json::value_from_tag, boost::json::value& out, const Order& order) {
    boost::json::object o;
    o["merchant_uid"] = order.merchant_uid;
    o["name"] = order.name;
    o["amount"] = order.amount;
    o["currency"] = order.currency;
    o["status"] = to_string(order.status);
    o["buyer_name"] = optional_string(order.buyer.name);
    o["buyer_email"] = optional_string(order.buyer.email);
    o["buyer_tel"] = optional_string(order.buyer.tel);
    o["buyer_addr"] = optional_string(order.buyer.addr);
    o["buyer_postcode"] = optional_string(order.buyer.postcode);
    // Stored as jsonb, which we wrote ourselves from a parsed value: it parses back.
    o["custom_data"] =
        order.custom_data_json ? boost::json::parse(*order.custom_data_json) : boost::json::value();
    o["created_at"] = order.created_at;
    o["updated_at"] = order.updated_at;
    o["payments"] = boost::json::array();
    out = std::move(o);
}

}  // namespace mg::domain
