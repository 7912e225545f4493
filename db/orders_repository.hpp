// Orders and their status history (tables orders, order_events).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <pqxx/transaction>
#include <string>
#include <string_view>
#include <vector>

#include "db/async_connection.hpp"
#include "db/async_transaction.hpp"
#include "service/domain/order.hpp"

namespace mg::db {

// Inserts a new order in status pending. Throws db::Conflict (constraint
// "orders_merchant_uid_key") if the merchant_uid is taken; the transaction stays usable then.
domain::Order insert_order(pqxx::work& txn, const domain::NewOrder& order);
// The same on an event loop (db::Conflict when the merchant_uid is taken).
boost::asio::awaitable<domain::Order> insert_order(AsyncTransaction& txn,
                                                   const domain::NewOrder& order);

// Plain reads (find_order, list_payments) take any transaction, a pqxx::nontransaction
// included: a read-only request then costs no BEGIN and COMMIT round trips.
std::optional<domain::Order> find_order(pqxx::transaction_base& txn, std::string_view merchant_uid);
// The same on an event loop, in autocommit.
boost::asio::awaitable<std::optional<domain::Order>> find_order(AsyncConnection& connection,
                                                                std::string merchant_uid);

// The order with this id (it must exist: ids come from rows that reference it).
domain::Order find_order_by_id(pqxx::transaction_base& txn, std::int64_t id);
// The same, locking the row (SELECT ... FOR UPDATE) until the transaction ends, so that a
// decision taken on its status can't race another transaction's.
std::optional<domain::Order> find_order_for_update(pqxx::work& txn, std::string_view merchant_uid);

struct OrderFilter {
    std::optional<domain::OrderStatus> status;
    // Inclusive bounds in whole UNIX seconds, compared with created_at as the API shows it.
    std::optional<domain::UnixSeconds> created_from;
    std::optional<domain::UnixSeconds> created_to;
    int limit = 20;                         // 1..; the caller clamps it
    std::optional<std::int64_t> before_id;  // the previous page's next_before_id
};

struct OrderPage {
    std::vector<domain::Order> orders;           // newest first
    std::optional<std::int64_t> next_before_id;  // set when more orders match
};

// Keyset pagination, newest first (by id descending; ids grow with creation).
OrderPage list_orders(pqxx::work& txn, const OrderFilter& filter);

struct OrderEvent {
    std::int64_t order_id = 0;
    std::optional<domain::OrderStatus> from;
    domain::OrderStatus to = domain::OrderStatus::pending;
    domain::EventCause cause = domain::EventCause::api;
    std::optional<std::string> imp_uid;
    std::optional<std::string> details_json;  // serialized JSON, stored as jsonb
};

void append_order_event(pqxx::work& txn, const OrderEvent& event);
// The same as one query, to send in a round trip with others (AsyncTransaction::exec).
Query append_order_event_query(const OrderEvent& event);

// Moves the order from `from` to `to` and appends the event, in `txn`. Does nothing and returns
// false if the order's status is not `from` (someone else changed it first).
bool set_order_status(pqxx::work& txn, std::int64_t order_id, domain::OrderStatus from,
                      domain::OrderStatus to, domain::EventCause cause,
                      const std::optional<std::string>& imp_uid,
                      const std::optional<std::string>& details_json);

struct OrderEventRow {
    std::int64_t id = 0;
    std::int64_t order_id = 0;
    std::optional<domain::OrderStatus> from;
    domain::OrderStatus to = domain::OrderStatus::pending;
    domain::EventCause cause = domain::EventCause::api;
    std::optional<std::string> imp_uid;
    std::optional<std::string> details_json;
    domain::UnixSeconds created_at = 0;
};

// The order's events, oldest first.
std::vector<OrderEventRow> list_order_events(pqxx::work& txn, std::int64_t order_id);

// Seals up to `limit` client secrets stored in the clear (before they were kept sealed) with
// `seal`; how many it sealed. Run in batches at start-up until it returns 0.
int seal_client_secrets(pqxx::work& txn, int limit,
                        const std::function<std::string(std::string_view)>& seal);

}  // namespace mg::db
