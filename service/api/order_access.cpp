#include "service/api/order_access.hpp"

#include <boost/json/value_from.hpp>

#include "service/common/crypto.hpp"
#include "service/domain/order_json.hpp"
#include "service/http/error.hpp"

namespace mg::api {

void require_order_access(const Caller& caller, const domain::Order* order) {
    if (caller.is_browser()) {
        if (!order || !crypto::constant_time_equals(caller.client_secret, order->client_secret)) {
            throw http::HttpError(http::Status::unauthorized, "invalid_client_secret",
                                  "the client secret does not grant access to this order");
        }
        return;
    }
    if (!order) {
        throw http::not_found("order_not_found", "no order has this merchant_uid");
    }
}

boost::json::value order_json(const domain::Order& order,
                              const std::vector<domain::Payment>& payments, const Caller& caller) {
    auto value = domain::order_with_payments(order, payments);
    if (!caller.is_browser()) {
        value.as_object()["client_secret"] = order.client_secret;
    }
    return value;
}

}  // namespace mg::api
