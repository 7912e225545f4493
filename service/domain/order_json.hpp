// JSON form of orders, as the merchant API shows them (SPEC §4). The client secret is not part
// of it: the API adds it only for callers allowed to see it.
#pragma once

#include <boost/json/fwd.hpp>
#include <boost/json/value_from.hpp>

#include "service/domain/order.hpp"

namespace mg::domain {

void tag_invoke(boost::json::value_from_tag, boost::json::value& out, OrderStatus status);
void tag_invoke(boost::json::value_from_tag, boost::json::value& out, const Order& order);

}  // namespace mg::domain
