#include "db/lifecycle_repository.hpp"

#include <pqxx/pqxx>
#include <stdexcept>

#include "db/errors.hpp"
#include "db/receipt_columns.hpp"
#include "db/sql_values.hpp"
#include "db/statements.hpp"

namespace mg::db {
namespace {

constexpr Statement kSetRegisteredAmount{
    "mg_set_registered_amount",
    "UPDATE orders SET registered_amount = $2, registered_at = now(), updated_at = now(), "
    // A registered order counts as a checkout started: its first look-up for a lost result
    // comes on the lost-checkout schedule from now.
    "next_reconcile_at = least(next_reconcile_at, "
    "now() + interval '25 seconds') WHERE id = $1"};

constexpr Statement kSetPaymentAside{
    "mg_set_payment_aside",
    "UPDATE payments SET set_aside = $2, updated_at = now() WHERE imp_uid = $1"};

constexpr Statement kAddTaxFreeCancelled{
    "mg_add_tax_free_cancelled",
    "UPDATE payments SET tax_free_cancelled = least(tax_free, tax_free_cancelled + $2) "
    "WHERE imp_uid = $1"};

constexpr Statement kSetCancelDetails{
    "mg_set_cancel_details",
    "UPDATE payment_attempts SET tax_free = $2, prior_cancel_amount = $3 WHERE id = $1"};

constexpr Statement kRecordDecision{
    "mg_record_decision",
    "WITH changed AS ("
    "  UPDATE orders SET status = $3, updated_at = now(), "
    "  next_reconcile_at = least(next_reconcile_at, now()) "
    "  WHERE id = $1 AND status = $2 RETURNING id) "
    "INSERT INTO order_events (order_id, from_status, to_status, cause, imp_uid, details, actor) "
    "SELECT id, $2, $3, 'operator', $4, $6::jsonb, $5 FROM changed RETURNING id"};

constexpr Statement kOrdersWithDuplicates{
    "mg_orders_with_duplicates",
    "SELECT DISTINCT o.merchant_uid FROM payments p JOIN orders o ON o.id = p.order_id "
    "WHERE p.set_aside = 'duplicate' AND p.status = 'paid' AND p.cancel_amount < p.amount "
    "LIMIT $1"};

constexpr Statement kListCashReceipts{"mg_list_cash_receipts",
                                      "SELECT " MG_RECEIPT_COLUMNS
                                      " FROM cash_receipts r WHERE order_id = $1 ORDER BY id"};

constexpr Statement kLatestCashReceipt{
    "mg_latest_cash_receipt", "SELECT " MG_RECEIPT_COLUMNS
                              " FROM cash_receipts r WHERE order_id = $1 ORDER BY id DESC LIMIT 1"};

constexpr Statement kFindLiveCashReceipt{
    "mg_find_live_cash_receipt", "SELECT " MG_RECEIPT_COLUMNS
                                 " FROM cash_receipts r WHERE order_id = $1 AND state IN "
                                 "('requested', 'issuing', 'unknown', 'issued', 'needs_operator')"};

constexpr Statement kInsertCashReceipt{
    "mg_insert_cash_receipt",
    "INSERT INTO cash_receipts (order_id, imp_uid, state, type, identifier_type, "
    "identifier_masked, identifier_sealed, amount, tax_free) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::bigint, $9::bigint) "
    "ON CONFLICT (order_id) WHERE state IN ('requested', 'issuing', 'unknown', 'issued', "
    "'needs_operator') DO NOTHING RETURNING id"};

constexpr Statement kUpdateCashReceipt{
    "mg_update_cash_receipt",
    "UPDATE cash_receipts SET imp_uid = $2, state = $3, amount = $4::bigint, "
    "tax_free = $5::bigint, apply_num = $6, receipt_url = $7, error_message = $8, "
    "issued_at = to_timestamp(nullif($9::bigint, 0)), "
    "cancelled_at = to_timestamp(nullif($10::bigint, 0)), "
    "identifier_sealed = CASE WHEN $3 IN ('requested', 'issuing', 'unknown') "
    "  THEN identifier_sealed END, updated_at = now() WHERE id = $1"};

constexpr Statement kOrdersWithOpenReceipts{
    "mg_orders_with_open_receipts",
    "SELECT DISTINCT o.merchant_uid FROM cash_receipts r JOIN orders o ON o.id = r.order_id "
    "WHERE (r.state = 'requested' AND o.status IN ('paid', 'partially_cancelled')) "
    "OR (r.state IN ('issuing', 'unknown') "
    "    AND r.updated_at < now() - $1::bigint * interval '1 second') LIMIT $2"};

std::optional<std::string> text_of(const std::optional<domain::Amount>& amount) {
    if (!amount) {
        return std::nullopt;
    }
    return std::to_string(*amount);
}

CashReceipt receipt_from(const pqxx::row& row) {
    return *cash_receipt_in(row, 0);
}

std::vector<std::string> merchant_uids(const pqxx::result& result) {
    std::vector<std::string> uids;
    uids.reserve(result.size());
    for (const auto& row : result) {
        uids.push_back(row[0].as<std::string>());
    }
    return uids;
}

}  // namespace

template <class Row>
std::optional<CashReceipt> cash_receipt_in(const Row& row, int first) {
    const auto f = [&](int i) { return row[first + i]; };
    if (f(0).is_null()) {
        return std::nullopt;
    }
    CashReceipt r;
    r.id = f(0).template as<std::int64_t>();
    r.order_id = f(1).template as<std::int64_t>();
    r.imp_uid = optional_field<std::string>(f(2));
    r.state = f(3).template as<std::string>();
    r.type = f(4).template as<std::string>();
    r.identifier_type = optional_field<std::string>(f(5));
    r.identifier_masked = f(6).template as<std::string>();
    r.identifier_sealed = optional_field<std::string>(f(7));
    r.amount = optional_field<domain::Amount>(f(8));
    r.tax_free = optional_field<domain::Amount>(f(9));
    r.apply_num = optional_field<std::string>(f(10));
    r.receipt_url = optional_field<std::string>(f(11));
    r.error_message = optional_field<std::string>(f(12));
    r.issued_at = f(13).template as<domain::UnixSeconds>();
    r.cancelled_at = f(14).template as<domain::UnixSeconds>();
    r.created_at = f(15).template as<domain::UnixSeconds>();
    return r;
}

template std::optional<CashReceipt> cash_receipt_in(const pqxx::row&, int);
template std::optional<CashReceipt> cash_receipt_in(const PgRow&, int);

const std::vector<Statement>& lifecycle_statements() {
    static const std::vector<Statement> statements = {
        kSetRegisteredAmount, kSetPaymentAside,      kAddTaxFreeCancelled,    kSetCancelDetails,
        kRecordDecision,      kOrdersWithDuplicates, kListCashReceipts,       kFindLiveCashReceipt,
        kInsertCashReceipt,   kUpdateCashReceipt,    kOrdersWithOpenReceipts,
    };
    return statements;
}

void set_registered_amount(pqxx::work& txn, std::int64_t order_id, domain::Amount amount) {
    exec_statement(txn, kSetRegisteredAmount, order_id, amount);
}

void set_payment_aside(pqxx::work& txn, std::string_view imp_uid, std::string_view reason) {
    exec_statement(txn, kSetPaymentAside, std::string(imp_uid), std::string(reason));
}

void add_tax_free_cancelled(pqxx::work& txn, std::string_view imp_uid, domain::Amount tax_free) {
    require(tax_free >= 0, "add_tax_free_cancelled: a negative amount");
    exec_statement(txn, kAddTaxFreeCancelled, std::string(imp_uid), tax_free);
}

void set_cancel_details(pqxx::work& txn, std::int64_t attempt_id, domain::Amount tax_free,
                        domain::Amount prior_cancel_amount) {
    exec_statement(txn, kSetCancelDetails, attempt_id, tax_free, prior_cancel_amount);
}

bool record_decision(pqxx::work& txn, std::int64_t order_id, domain::OrderStatus from,
                     domain::OrderStatus to, std::string_view imp_uid, std::string_view actor,
                     std::string_view details_json) {
    const auto result =
        exec_statement(txn, kRecordDecision, order_id, std::string(domain::to_string(from)),
                       std::string(domain::to_string(to)), std::string(imp_uid), std::string(actor),
                       std::string(details_json));
    return result.size() == 1;
}

std::vector<std::string> orders_with_duplicates_to_refund(pqxx::work& txn, int limit) {
    return merchant_uids(exec_statement(txn, kOrdersWithDuplicates, limit));
}

std::optional<CashReceipt> latest_cash_receipt(pqxx::transaction_base& txn, std::int64_t order_id) {
    const auto result = exec_statement(txn, kLatestCashReceipt, order_id);
    if (result.empty()) {
        return std::nullopt;
    }
    return receipt_from(result[0]);
}

std::vector<CashReceipt> list_cash_receipts(pqxx::transaction_base& txn, std::int64_t order_id) {
    std::vector<CashReceipt> receipts;
    for (const auto& row : exec_statement(txn, kListCashReceipts, order_id)) {
        receipts.push_back(receipt_from(row));
    }
    return receipts;
}

std::optional<CashReceipt> find_live_cash_receipt(pqxx::work& txn, std::int64_t order_id) {
    const auto result = exec_statement(txn, kFindLiveCashReceipt, order_id);
    if (result.empty()) {
        return std::nullopt;
    }
    return receipt_from(result[0]);
}

std::int64_t insert_cash_receipt(pqxx::work& txn, std::int64_t order_id, const CashReceipt& r) {
    const auto amount = text_of(r.amount);
    const auto tax_free = text_of(r.tax_free);
    const auto result =
        exec_statement(txn, kInsertCashReceipt, order_id, nullable(r.imp_uid), r.state, r.type,
                       nullable(r.identifier_type), r.identifier_masked,
                       nullable(r.identifier_sealed), nullable(amount), nullable(tax_free));
    if (result.empty()) {
        throw Conflict("cash_receipts_one_live_per_order",
                       "the order already has a cash receipt issued or on its way");
    }
    return result[0][0].as<std::int64_t>();
}

void update_cash_receipt(pqxx::work& txn, const CashReceipt& r) {
    const auto amount = text_of(r.amount);
    const auto tax_free = text_of(r.tax_free);
    exec_statement(txn, kUpdateCashReceipt, r.id, nullable(r.imp_uid), r.state, nullable(amount),
                   nullable(tax_free), nullable(r.apply_num), nullable(r.receipt_url),
                   nullable(r.error_message), r.issued_at, r.cancelled_at);
}

std::vector<std::string> orders_with_open_cash_receipts(pqxx::work& txn, int stale_seconds,
                                                        int limit) {
    return merchant_uids(exec_statement(txn, kOrdersWithOpenReceipts, stale_seconds, limit));
}

}  // namespace mg::db
