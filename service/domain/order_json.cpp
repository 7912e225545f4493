#include "service/domain/order_json.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "service/common/exact_json.hpp"

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
    o["tax_free"] = order.tax_free;
    o["currency"] = order.currency;
    o["status"] = to_string(order.status);
    o["buyer_name"] = optional_string(order.buyer.name);
    o["buyer_email"] = optional_string(order.buyer.email);
    o["buyer_tel"] = optional_string(order.buyer.tel);
    o["buyer_addr"] = optional_string(order.buyer.addr);
    o["buyer_postcode"] = optional_string(order.buyer.postcode);
    // Stored as jsonb, which we wrote ourselves from a parsed value: it parses back, and with
    // its numbers read exactly it is the value the storefront sent.
    o["custom_data"] =
        order.custom_data_json ? parse_exact_json(*order.custom_data_json) : boost::json::value();
    o["created_at"] = order.created_at;
    o["updated_at"] = order.updated_at;
    o["payments"] = boost::json::array();
    out = std::move(o);
}

void tag_invoke(boost::json::value_from_tag, boost::json::value& out,
                const PaymentCancellation& cancellation) {
    boost::json::object o;
    o["pg_tid"] = cancellation.pg_tid;
    o["amount"] = cancellation.amount;
    o["cancelled_at"] = cancellation.cancelled_at;
    o["reason"] = cancellation.reason;
    o["receipt_url"] = optional_string(cancellation.receipt_url);
    out = std::move(o);
}

void tag_invoke(boost::json::value_from_tag, boost::json::value& out, const Payment& payment) {
    boost::json::object o;
    o["imp_uid"] = payment.imp_uid;
    o["status"] = payment.status;
    o["pay_method"] = optional_string(payment.pay_method);
    o["amount"] = payment.amount;
    o["cancel_amount"] = payment.cancel_amount;
    o["paid_at"] = payment.paid_at;
    o["vbank_code"] = optional_string(payment.vbank_code);
    o["vbank_name"] = optional_string(payment.vbank_name);
    o["vbank_num"] = optional_string(payment.vbank_num);
    o["vbank_holder"] = optional_string(payment.vbank_holder);
    o["vbank_date"] = payment.vbank_date;
    o["receipt_url"] = optional_string(payment.receipt_url);
    o["fail_reason"] = optional_string(payment.fail_reason);
    o["unsolicited"] = payment.unsolicited;
    o["tax_free"] = payment.tax_free;
    o["tax_free_balance"] = payment.tax_free_balance();
    o["set_aside"] = optional_string(payment.set_aside);
    boost::json::array history;
    for (const auto& cancellation : payment.cancel_history) {
        history.push_back(boost::json::value_from(cancellation));
    }
    o["cancel_history"] = std::move(history);
    out = std::move(o);
}

boost::json::value order_with_payments(const Order& order, const std::vector<Payment>& payments) {
    auto value = boost::json::value_from(order);
    auto& object = value.as_object();
    auto& list = object["payments"].emplace_array();
    // The tax-free part still held: the paid payment's balance, else the order's own.
    Amount tax_free_balance = order.tax_free;
    for (const auto& payment : payments) {
        list.push_back(boost::json::value_from(payment));
        if (!payment.set_aside && !payment.unsolicited &&
            (payment.status == "paid" || payment.cancel_amount > 0)) {
            tax_free_balance = payment.tax_free_balance();
        }
    }
    object["tax_free_balance"] = tax_free_balance;
    return value;
}

}  // namespace mg::domain
