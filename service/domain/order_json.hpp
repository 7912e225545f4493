// JSON form of orders, as the merchant API shows them (SPEC §4). The client secret is not part
// of it: the API adds it only for callers allowed to see it.
#pragma once

#include <boost/json/fwd.hpp>
#include <boost/json/value_from.hpp>

#include "service/domain/order.hpp"
#include "service/domain/payment.hpp"

namespace mg::domain {

void tag_invoke(boost::json::value_from_tag, boost::json::value& out, OrderStatus status);
// The order with "payments": [] (the API fills them in with order_with_payments).
void tag_invoke(boost::json::value_from_tag, boost::json::value& out, const Order& order);
void tag_invoke(boost::json::value_from_tag, boost::json::value& out,
                const PaymentCancellation& cancellation);
// The fields of iamport's Payment that a storefront shows (SPEC §4).
void tag_invoke(boost::json::value_from_tag, boost::json::value& out, const Payment& payment);

// The order as the API shows it, with its payments.
boost::json::value order_with_payments(const Order& order, const std::vector<Payment>& payments);

}  // namespace mg::domain
