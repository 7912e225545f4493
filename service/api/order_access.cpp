#include "service/api/order_access.hpp"

#include <boost/json/value_from.hpp>

#include "service/common/crypto.hpp"
#include "service/domain/order_json.hpp"
#include "service/http/error.hpp"
#include "service/payments/order_document.hpp"

namespace mg::api {

namespace {
constexpr std::string_view kSecretContext = "orders.client_secret";
}

std::string seal_client_secret(const crypto::SecretKey& secrets, std::string_view secret) {
    return secrets.seal(secret, kSecretContext);
}

std::string client_secret_of(const Caller& caller, const domain::Order& order) {
    if (!crypto::SecretKey::is_sealed(order.client_secret)) {
        return order.client_secret;  // stored before secrets were sealed; sealed at start-up
    }
    std::string plain;
    if (caller.secrets == nullptr ||
        !caller.secrets->open(order.client_secret, kSecretContext, plain)) {
        throw std::runtime_error("an order's client secret does not open under GATEWAY_SECRET_KEY");
    }
    return plain;
}

void require_order_access(const Caller& caller, const domain::Order* order) {
    if (caller.is_browser()) {
        if (!order ||
            !crypto::constant_time_equals(caller.client_secret, client_secret_of(caller, *order))) {
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
        value.as_object()["client_secret"] = client_secret_of(caller, order);
    }
    return value;
}

boost::json::value order_json(const domain::Order& order,
                              const std::vector<domain::Payment>& payments,
                              const std::optional<db::CashReceipt>& receipt, const Caller& caller) {
    return order_json(payments::OrderView{order, payments, receipt}, caller);
}

boost::json::value order_json(const payments::OrderView& view, const Caller& caller) {
    auto value = payments::order_document(view);
    if (!caller.is_browser()) {
        value.as_object()["client_secret"] = client_secret_of(caller, view.order);
    }
    return value;
}

}  // namespace mg::api
