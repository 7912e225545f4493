// What a caller may see of an order, and whether it may act on it at all.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <vector>

#include "service/api/caller.hpp"
#include "service/domain/order.hpp"
#include "service/domain/payment.hpp"
#include "service/payments/settlement.hpp"

namespace mg::api {

// Throws 404 when the order does not exist (nullptr) (to an API key) and 401 when a browser's
// secret does not belong to it — a browser learns nothing about orders that are not its own, not
// even whether they exist.
void require_order_access(const Caller& caller, const domain::Order* order);
inline void require_order_access(const Caller& caller, const std::optional<domain::Order>& order) {
    require_order_access(caller, order ? &*order : nullptr);
}

// Client secrets are kept sealed under GATEWAY_SECRET_KEY (orders.client_secret); these seal a
// new one and open an order's (a secret stored before sealing existed reads as it is).
std::string seal_client_secret(const crypto::SecretKey& secrets, std::string_view secret);
std::string client_secret_of(const Caller& caller, const domain::Order& order);

// The order as JSON with its payments; the client secret only for API-key callers.
boost::json::value order_json(const domain::Order& order,
                              const std::vector<domain::Payment>& payments, const Caller& caller);
// The same with the order's newest cash receipt (`cash_receipt`, null when none): the form of
// one order's reads and of every action's answer.
boost::json::value order_json(const domain::Order& order,
                              const std::vector<domain::Payment>& payments,
                              const std::optional<db::CashReceipt>& receipt, const Caller& caller);
boost::json::value order_json(const payments::OrderView& view, const Caller& caller);

}  // namespace mg::api
