#include "service/payments/order_document.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "db/notifications_repository.hpp"
#include "service/common/crypto.hpp"
#include "service/domain/order_json.hpp"

namespace mg::payments {
namespace {

boost::json::value optional_value(const std::optional<std::string>& text) {
    return text ? boost::json::value(*text) : boost::json::value();
}

boost::json::value receipt_document(const std::optional<db::CashReceipt>& receipt) {
    if (!receipt) {
        return nullptr;
    }
    boost::json::object r;
    r["state"] = receipt->state;
    r["type"] = receipt->type;
    r["identifier_masked"] = receipt->identifier_masked;
    r["identifier_type"] = optional_value(receipt->identifier_type);
    r["imp_uid"] = optional_value(receipt->imp_uid);
    r["amount"] = receipt->amount ? boost::json::value(*receipt->amount) : boost::json::value();
    r["apply_num"] = optional_value(receipt->apply_num);
    r["receipt_url"] = optional_value(receipt->receipt_url);
    r["issued_at"] = receipt->issued_at;
    r["cancelled_at"] = receipt->cancelled_at;
    return r;
}

}  // namespace

boost::json::value order_document(const OrderView& view) {
    auto value = domain::order_with_payments(view.order, view.payments);
    value.as_object()["cash_receipt"] = receipt_document(view.cash_receipt);
    return value;
}

std::string_view event_type_of(domain::OrderStatus status) {
    using S = domain::OrderStatus;
    switch (status) {
        case S::awaiting_deposit:
            return "order.awaiting_deposit";
        case S::paid:
            return "order.paid";
        case S::partially_cancelled:
            return "order.partially_cancelled";
        case S::cancelled:
            return "order.cancelled";
        case S::expired:
            return "order.expired";
        case S::needs_review:
            return "order.needs_review";
        case S::pending:
            break;
    }
    return {};
}

void emit_event(pqxx::work& txn, const domain::Order& order, std::string_view type) {
    if (type.empty()) {
        return;
    }
    const auto view = load_view(txn, order);
    db::insert_event(txn, "evt_" + crypto::random_token(16), type, order.id, order.merchant_uid,
                     boost::json::serialize(order_document(view)));
}

}  // namespace mg::payments
