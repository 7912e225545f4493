// How a cash receipt is read: the column list every statement that reads receipts selects (with
// the cash_receipts table aliased `r`), and the function that turns those columns back into a
// CashReceipt. Shared by lifecycle_repository and by payments_repository's read of an order.
#pragma once

#include <optional>
#include <pqxx/row>

#include "db/lifecycle_repository.hpp"
#include "db/pg_result.hpp"

#define MG_RECEIPT_COLUMNS                                                                   \
    "r.id, r.order_id, r.imp_uid, r.state, r.type, r.identifier_type, r.identifier_masked, " \
    "r.identifier_sealed, r.amount, r.tax_free, r.apply_num, r.receipt_url, "                \
    "r.error_message, coalesce(floor(extract(epoch FROM r.issued_at))::bigint, 0), "         \
    "coalesce(floor(extract(epoch FROM r.cancelled_at))::bigint, 0), "                       \
    "floor(extract(epoch FROM r.created_at))::bigint"

namespace mg::db {

// The receipt in the columns of `row` from `first` on (MG_RECEIPT_COLUMNS); nullopt when its id
// is NULL (an outer join that found none).
// `row` is a pqxx::row or a db::PgRow.
template <class Row>
std::optional<CashReceipt> cash_receipt_in(const Row& row, int first);
extern template std::optional<CashReceipt> cash_receipt_in(const pqxx::row&, int);
extern template std::optional<CashReceipt> cash_receipt_in(const PgRow&, int);

}  // namespace mg::db
