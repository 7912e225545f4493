// Orders as the merchant sees them. Pure data and rules: no I/O here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mg::domain {

// KRW has no minor unit, so an amount is a whole number of won. Never a floating-point number.
using Amount = std::int64_t;
inline constexpr Amount kMaxAmount = 1'000'000'000'000;  // 10^12 won

// UNIX seconds, as iamport's API uses them.
using UnixSeconds = std::int64_t;

enum class OrderStatus {
    pending,
    awaiting_deposit,
    paid,
    partially_cancelled,
    cancelled,
    expired,
    needs_review,
};

std::string_view to_string(OrderStatus status);
std::optional<OrderStatus> parse_order_status(std::string_view text);

struct BuyerInfo {
    std::optional<std::string> name;
    std::optional<std::string> email;
    std::optional<std::string> tel;
    std::optional<std::string> addr;
    std::optional<std::string> postcode;
};

// What a storefront asks for; already validated when it reaches the database.
struct NewOrder {
    std::string merchant_uid;
    std::string name;
    Amount amount = 0;
    // The tax-free part of the amount (0 … amount), whole won.
    Amount tax_free = 0;
    std::string currency = "KRW";
    BuyerInfo buyer;
    // Any JSON value the storefront attached, kept as serialized JSON text (stored as jsonb).
    std::optional<std::string> custom_data_json;
    // Random secret that lets the buyer's browser act on this one order.
    std::string client_secret;
};

struct Order {
    std::int64_t id = 0;
    std::string merchant_uid;
    std::string name;
    Amount amount = 0;
    Amount tax_free = 0;
    std::string currency;
    OrderStatus status = OrderStatus::pending;
    std::string client_secret;
    BuyerInfo buyer;
    std::optional<std::string> custom_data_json;
    UnixSeconds created_at = 0;
    UnixSeconds updated_at = 0;
    // The amount registered at iamport for browser checkouts (payments/prepare), if any.
    std::optional<Amount> registered_amount;
};

// Who or what caused a change of status (order_events.cause).
// operator: a decision on an order in needs_review (POST …/review).
enum class EventCause { api, webhook, reconciler, sync, operator_decision };
std::string_view to_string(EventCause cause);

}  // namespace mg::domain
