// How an order is read: the column list every statement that reads orders selects (with the
// orders table aliased `o`), and the function that turns those columns back into an Order. Shared
// by orders_repository and by payments_repository's read of an order with its payments.
#pragma once

#include <pqxx/row>

#include "db/pg_result.hpp"
#include "service/domain/order.hpp"

// Timestamps leave the database as whole UNIX seconds (rounded down, as iamport shows them).
#define MG_ORDER_COLUMNS                                                              \
    "o.id, o.merchant_uid, o.name, o.amount, o.currency, o.status, o.client_secret, " \
    "o.buyer_name, o.buyer_email, o.buyer_tel, o.buyer_addr, o.buyer_postcode, "      \
    "o.custom_data::text, floor(extract(epoch FROM o.created_at))::bigint, "          \
    "floor(extract(epoch FROM o.updated_at))::bigint, o.tax_free, o.registered_amount"

namespace mg::db {

// The number of columns in MG_ORDER_COLUMNS.
inline constexpr int kOrderColumnCount = 17;

// The order in the first kOrderColumnCount columns of `row` (a pqxx::row or a db::PgRow).
template <class Row>
domain::Order order_from_row(const Row& row);
extern template domain::Order order_from_row(const pqxx::row&);
extern template domain::Order order_from_row(const PgRow&);

}  // namespace mg::db
