#include "service/domain/order.hpp"

#include <array>
#include <utility>

namespace mg::domain {
namespace {

constexpr std::array<std::pair<OrderStatus, std::string_view>, 7> kStatusNames{{
    {OrderStatus::pending, "pending"},
    {OrderStatus::awaiting_deposit, "awaiting_deposit"},
    {OrderStatus::paid, "paid"},
    {OrderStatus::partially_cancelled, "partially_cancelled"},
    {OrderStatus::cancelled, "cancelled"},
    {OrderStatus::expired, "expired"},
    {OrderStatus::needs_review, "needs_review"},
}};

}  // namespace

std::string_view to_string(OrderStatus status) {
    for (const auto& [value, name] : kStatusNames) {
        if (value == status) {
            return name;
        }
    }
    return "unknown";
}

std::optional<OrderStatus> parse_order_status(std::string_view text) {
    for (const auto& [value, name] : kStatusNames) {
        if (name == text) {
            return value;
        }
    }
    return std::nullopt;
}

std::string_view to_string(EventCause cause) {
    switch (cause) {
        case EventCause::api:
            return "api";
        case EventCause::webhook:
            return "webhook";
        case EventCause::reconciler:
            return "reconciler";
        case EventCause::sync:
            return "sync";
        case EventCause::operator_decision:
            return "operator";
    }
    return "api";
}

}  // namespace mg::domain
