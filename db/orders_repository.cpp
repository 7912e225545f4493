#include "db/orders_repository.hpp"

#include <functional>
#include <limits>
#include <pqxx/pqxx>
#include <stdexcept>

#include "db/async_transaction.hpp"
#include "db/errors.hpp"
#include "db/order_columns.hpp"
#include "db/sql_values.hpp"
#include "db/statements.hpp"

namespace mg::db {
namespace {

constexpr Statement kInsertOrder{
    "mg_insert_order",
    "INSERT INTO orders AS o (merchant_uid, name, amount, currency, client_secret, buyer_name, "
    "buyer_email, buyer_tel, buyer_addr, buyer_postcode, custom_data, tax_free) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12) "
    "ON CONFLICT (merchant_uid) DO NOTHING "
    "RETURNING " MG_ORDER_COLUMNS};

constexpr Statement kFindOrder{
    "mg_find_order", "SELECT " MG_ORDER_COLUMNS " FROM orders o WHERE o.merchant_uid = $1"};

constexpr Statement kFindOrderById{"mg_find_order_by_id",
                                   "SELECT " MG_ORDER_COLUMNS " FROM orders o WHERE o.id = $1"};

constexpr Statement kFindOrderForUpdate{"mg_find_order_for_update",
                                        "SELECT " MG_ORDER_COLUMNS
                                        " FROM orders o WHERE o.merchant_uid = $1 FOR UPDATE"};

// Two statements rather than one with "$1 IS NULL OR status = $1", so that each has a plan that
// uses its index. Absent bounds are passed as NULL and widened with coalesce.
constexpr Statement kListOrders{
    "mg_list_orders", "SELECT " MG_ORDER_COLUMNS
                      " FROM orders o "
                      "WHERE o.id < coalesce($1::bigint, 9223372036854775807) "
                      "AND o.created_at >= coalesce(to_timestamp($2::bigint), '-infinity') "
                      "AND o.created_at < coalesce(to_timestamp($3::bigint + 1), 'infinity') "
                      "ORDER BY o.id DESC LIMIT $4"};

constexpr Statement kListOrdersByStatus{
    "mg_list_orders_by_status",
    "SELECT " MG_ORDER_COLUMNS
    " FROM orders o "
    "WHERE o.status = $5 AND o.id < coalesce($1::bigint, 9223372036854775807) "
    "AND o.created_at >= coalesce(to_timestamp($2::bigint), '-infinity') "
    "AND o.created_at < coalesce(to_timestamp($3::bigint + 1), 'infinity') "
    "ORDER BY o.id DESC LIMIT $4"};

constexpr Statement kAppendOrderEvent{
    "mg_append_order_event",
    "INSERT INTO order_events (order_id, from_status, to_status, cause, imp_uid, details) "
    "VALUES ($1, $2, $3, $4, $5, $6::jsonb)"};

// One statement, so the status change and its event can't be separated. An order that starts
// awaiting a deposit is due for the reconciler's deposit look-up from now on, whatever the
// lost-checkout schedule had set while it was pending (up to 30 min away): a deposit whose notice
// never comes must be found on the deposit schedule, not that one.
constexpr Statement kSetOrderStatus{
    "mg_set_order_status",
    "WITH changed AS ("
    "  UPDATE orders SET status = $3, updated_at = now(), next_reconcile_at = CASE "
    "    WHEN $3 = 'awaiting_deposit' THEN least(next_reconcile_at, now()) "
    "    ELSE next_reconcile_at END "
    "  WHERE id = $1 AND status = $2"
    "  RETURNING id) "
    "INSERT INTO order_events (order_id, from_status, to_status, cause, imp_uid, details) "
    "SELECT id, $2, $3, $4, $5, $6::jsonb FROM changed RETURNING id"};

constexpr Statement kListOrderEvents{
    "mg_list_order_events",
    "SELECT id, order_id, from_status, to_status, cause, imp_uid, details::text, "
    "floor(extract(epoch FROM created_at))::bigint "
    "FROM order_events WHERE order_id = $1 ORDER BY id"};

template <class Field>
domain::OrderStatus status_from(const Field& field) {
    const auto text = field.template as<std::string>();
    if (auto status = domain::parse_order_status(text)) {
        return *status;
    }
    // The CHECK constraint makes this unreachable unless a newer migration added a status.
    throw std::runtime_error("unknown order status in database: " + text);
}

domain::EventCause cause_from(const pqxx::field& field) {
    const auto text = field.as<std::string>();
    for (auto cause :
         {domain::EventCause::api, domain::EventCause::webhook, domain::EventCause::reconciler,
          domain::EventCause::sync, domain::EventCause::operator_decision}) {
        if (domain::to_string(cause) == text) {
            return cause;
        }
    }
    throw std::runtime_error("unknown order event cause in database: " + text);
}

std::optional<std::string> text_of(const std::optional<domain::OrderStatus>& status) {
    if (!status) {
        return std::nullopt;
    }
    return std::string(domain::to_string(*status));
}

std::optional<std::string> text_of(const std::optional<std::int64_t>& number) {
    if (!number) {
        return std::nullopt;
    }
    return std::to_string(*number);
}

std::optional<domain::Order> find_with(pqxx::transaction_base& txn, const Statement& statement,
                                       std::string_view merchant_uid) {
    const auto result = exec_statement(txn, statement, std::string(merchant_uid));
    if (result.empty()) {
        return std::nullopt;
    }
    return order_from_row(result[0]);
}

}  // namespace

template <class Row>
domain::Order order_from_row(const Row& row) {
    domain::Order order;
    order.id = row[0].template as<std::int64_t>();
    order.merchant_uid = row[1].template as<std::string>();
    order.name = row[2].template as<std::string>();
    order.amount = row[3].template as<domain::Amount>();
    order.currency = row[4].template as<std::string>();
    order.status = status_from(row[5]);
    order.client_secret = row[6].template as<std::string>();
    order.buyer.name = optional_field<std::string>(row[7]);
    order.buyer.email = optional_field<std::string>(row[8]);
    order.buyer.tel = optional_field<std::string>(row[9]);
    order.buyer.addr = optional_field<std::string>(row[10]);
    order.buyer.postcode = optional_field<std::string>(row[11]);
    order.custom_data_json = optional_field<std::string>(row[12]);
    order.created_at = row[13].template as<domain::UnixSeconds>();
    order.updated_at = row[14].template as<domain::UnixSeconds>();
    order.tax_free = row[15].template as<domain::Amount>();
    order.registered_amount = optional_field<domain::Amount>(row[16]);
    return order;
}

template domain::Order order_from_row(const pqxx::row&);
template domain::Order order_from_row(const PgRow&);

// Client secrets stored before they were sealed (sealed ones start with "v1."), a batch at a
// time; instances starting together skip each other's rows.
constexpr Statement kListUnsealedSecrets{
    "mg_list_unsealed_secrets",
    "SELECT id, client_secret FROM orders WHERE client_secret NOT LIKE 'v1.%' "
    "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"};
constexpr Statement kSetClientSecret{"mg_set_client_secret",
                                     "UPDATE orders SET client_secret = $2 WHERE id = $1"};

const std::vector<Statement>& order_statements() {
    static const std::vector<Statement> statements = {
        kInsertOrder,     kFindOrder,           kFindOrderById,    kFindOrderForUpdate,
        kListOrders,      kListOrdersByStatus,  kAppendOrderEvent, kSetOrderStatus,
        kListOrderEvents, kListUnsealedSecrets, kSetClientSecret,
    };
    return statements;
}

domain::Order insert_order(pqxx::work& txn, const domain::NewOrder& order) {
    const auto result = exec_statement(
        txn, kInsertOrder, order.merchant_uid, order.name, order.amount, order.currency,
        order.client_secret, nullable(order.buyer.name), nullable(order.buyer.email),
        nullable(order.buyer.tel), nullable(order.buyer.addr), nullable(order.buyer.postcode),
        nullable(order.custom_data_json), order.tax_free);
    if (result.empty()) {
        throw Conflict("orders_merchant_uid_key",
                       "an order with merchant_uid '" + order.merchant_uid + "' already exists");
    }
    return order_from_row(result[0]);
}

std::optional<domain::Order> find_order(pqxx::transaction_base& txn,
                                        std::string_view merchant_uid) {
    return find_with(txn, kFindOrder, merchant_uid);
}

domain::Order find_order_by_id(pqxx::transaction_base& txn, std::int64_t id) {
    return order_from_row(exec_statement(txn, kFindOrderById, id).at(0));
}

boost::asio::awaitable<std::optional<domain::Order>> find_order(AsyncConnection& connection,
                                                                std::string merchant_uid) {
    auto query = Query(kFindOrder, {std::move(merchant_uid)});
    const auto result = co_await connection.exec(std::move(query));
    if (result.empty()) {
        co_return std::nullopt;
    }
    co_return order_from_row(result[0]);
}

boost::asio::awaitable<domain::Order> insert_order(AsyncTransaction& txn,
                                                   const domain::NewOrder& order) {
    auto query = Query(kInsertOrder, {order.merchant_uid, order.name, order.amount, order.currency,
                                      order.client_secret, order.buyer.name, order.buyer.email,
                                      order.buyer.tel, order.buyer.addr, order.buyer.postcode,
                                      order.custom_data_json, order.tax_free});
    const auto result = co_await txn.exec(std::move(query));
    if (result.empty()) {
        throw Conflict("orders_merchant_uid_key",
                       "an order with merchant_uid '" + order.merchant_uid + "' already exists");
    }
    co_return order_from_row(result[0]);
}

Query append_order_event_query(const OrderEvent& event) {
    return Query(kAppendOrderEvent,
                 {event.order_id, text_of(event.from), std::string(domain::to_string(event.to)),
                  std::string(domain::to_string(event.cause)), event.imp_uid, event.details_json});
}

std::optional<domain::Order> find_order_for_update(pqxx::work& txn, std::string_view merchant_uid) {
    return find_with(txn, kFindOrderForUpdate, merchant_uid);
}

OrderPage list_orders(pqxx::work& txn, const OrderFilter& filter) {
    if (filter.limit < 1) {
        throw std::invalid_argument("list_orders: limit must be at least 1");
    }
    const auto before_id = text_of(filter.before_id);
    const auto created_from = text_of(filter.created_from);
    const auto created_to = text_of(filter.created_to);
    // One more than asked, to learn whether another page exists.
    const std::int64_t fetch = static_cast<std::int64_t>(filter.limit) + 1;
    const auto result = filter.status
                            ? exec_statement(txn, kListOrdersByStatus, nullable(before_id),
                                             nullable(created_from), nullable(created_to), fetch,
                                             std::string(domain::to_string(*filter.status)))
                            : exec_statement(txn, kListOrders, nullable(before_id),
                                             nullable(created_from), nullable(created_to), fetch);
    OrderPage page;
    for (const auto& row : result) {
        if (page.orders.size() == static_cast<std::size_t>(filter.limit)) {
            page.next_before_id = page.orders.back().id;
            break;
        }
        page.orders.push_back(order_from_row(row));
    }
    return page;
}

void append_order_event(pqxx::work& txn, const OrderEvent& event) {
    const auto from = text_of(event.from);
    exec_statement(txn, kAppendOrderEvent, event.order_id, nullable(from),
                   std::string(domain::to_string(event.to)),
                   std::string(domain::to_string(event.cause)), nullable(event.imp_uid),
                   nullable(event.details_json));
}

bool set_order_status(pqxx::work& txn, std::int64_t order_id, domain::OrderStatus from,
                      domain::OrderStatus to, domain::EventCause cause,
                      const std::optional<std::string>& imp_uid,
                      const std::optional<std::string>& details_json) {
    const auto result =
        exec_statement(txn, kSetOrderStatus, order_id, std::string(domain::to_string(from)),
                       std::string(domain::to_string(to)), std::string(domain::to_string(cause)),
                       nullable(imp_uid), nullable(details_json));
    return result.size() == 1;
}

std::vector<OrderEventRow> list_order_events(pqxx::work& txn, std::int64_t order_id) {
    std::vector<OrderEventRow> events;
    for (const auto& row : exec_statement(txn, kListOrderEvents, order_id)) {
        OrderEventRow event;
        event.id = row[0].as<std::int64_t>();
        event.order_id = row[1].as<std::int64_t>();
        if (!row[2].is_null()) {
            event.from = status_from(row[2]);
        }
        event.to = status_from(row[3]);
        event.cause = cause_from(row[4]);
        event.imp_uid = optional_field<std::string>(row[5]);
        event.details_json = optional_field<std::string>(row[6]);
        event.created_at = row[7].as<domain::UnixSeconds>();
        events.push_back(std::move(event));
    }
    return events;
}

int seal_client_secrets(pqxx::work& txn, int limit,
                        const std::function<std::string(std::string_view)>& seal) {
    int sealed = 0;
    for (const auto& row : exec_statement(txn, kListUnsealedSecrets, limit)) {
        exec_statement(txn, kSetClientSecret, row[0].as<std::int64_t>(),
                       seal(row[1].as<std::string>()));
        ++sealed;
    }
    return sealed;
}

}  // namespace mg::db
