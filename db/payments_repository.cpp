#include "db/payments_repository.hpp"

#include <pqxx/pqxx>
#include <stdexcept>
#include <utility>

#include "db/errors.hpp"
#include "db/order_columns.hpp"
#include "db/receipt_columns.hpp"
#include "db/sql_values.hpp"
#include "db/statements.hpp"

namespace mg::db {
namespace {

// iamport's times are UNIX seconds with 0 for "has not happened"; the tables hold NULL then.
// Times leave the database as whole seconds (rounded down), NULL as 0.
//
// A payment is read with its cancellations in one LEFT JOIN: one row per cancellation, or one
// row with NULL cancellation columns. The rows of one payment are adjacent, by ordinal.
#define MG_PAYMENT_COLUMNS                                                        \
    "p.id, p.order_id, p.imp_uid, p.merchant_uid, p.status, p.pay_method, "       \
    "p.pg_provider, p.pg_tid, p.channel, p.currency, p.amount, p.cancel_amount, " \
    "coalesce(floor(extract(epoch FROM p.started_at))::bigint, 0), "              \
    "coalesce(floor(extract(epoch FROM p.paid_at))::bigint, 0), "                 \
    "coalesce(floor(extract(epoch FROM p.failed_at))::bigint, 0), "               \
    "coalesce(floor(extract(epoch FROM p.cancelled_at))::bigint, 0), "            \
    "p.vbank_code, p.vbank_name, p.vbank_num, p.vbank_holder, "                   \
    "coalesce(floor(extract(epoch FROM p.vbank_date))::bigint, 0), "              \
    "coalesce(floor(extract(epoch FROM p.vbank_issued_at))::bigint, 0), "         \
    "p.receipt_url, p.fail_reason, p.cancel_reason, p.unsolicited, "              \
    "p.tax_free, p.tax_free_cancelled, p.set_aside, "                             \
    "c.ordinal, c.pg_tid, c.amount, "                                             \
    "coalesce(floor(extract(epoch FROM c.cancelled_at))::bigint, 0), "            \
    "c.reason, c.receipt_url, c.cancellation_id "

#define MG_PAYMENT_SELECT        \
    "SELECT " MG_PAYMENT_COLUMNS \
    "FROM payments p LEFT JOIN payment_cancellations c ON c.payment_id = p.id "

#define MG_ATTEMPT_COLUMNS                                                                \
    "id, order_id, kind, state, imp_uid, amount, request_id, error_code, error_message, " \
    "floor(extract(epoch FROM created_at))::bigint, floor(extract(epoch FROM "            \
    "updated_at))::bigint, "                                                              \
    "tax_free, prior_cancel_amount"

// id and created_at survive an update: they say when the payment was first seen, which is the
// order list_payments returns.
constexpr Statement kUpsertPayment{
    "mg_upsert_payment",
    "INSERT INTO payments (imp_uid, order_id, merchant_uid, status, pay_method, pg_provider, "
    "pg_tid, channel, currency, amount, cancel_amount, started_at, paid_at, failed_at, "
    "cancelled_at, vbank_code, vbank_name, vbank_num, vbank_holder, vbank_date, vbank_issued_at, "
    "receipt_url, fail_reason, cancel_reason, raw, unsolicited, tax_free) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
    "to_timestamp(nullif($12::bigint, 0)), to_timestamp(nullif($13::bigint, 0)), "
    "to_timestamp(nullif($14::bigint, 0)), to_timestamp(nullif($15::bigint, 0)), "
    "$16, $17, $18, $19, "
    "to_timestamp(nullif($20::bigint, 0)), to_timestamp(nullif($21::bigint, 0)), "
    "$22, $23, $24, $25::jsonb, $26, $27) "
    "ON CONFLICT (imp_uid) DO UPDATE SET "
    "order_id = excluded.order_id, merchant_uid = excluded.merchant_uid, "
    "status = excluded.status, pay_method = excluded.pay_method, "
    "pg_provider = excluded.pg_provider, pg_tid = excluded.pg_tid, channel = excluded.channel, "
    "currency = excluded.currency, amount = excluded.amount, "
    "cancel_amount = excluded.cancel_amount, started_at = excluded.started_at, "
    "paid_at = excluded.paid_at, failed_at = excluded.failed_at, "
    "cancelled_at = excluded.cancelled_at, vbank_code = excluded.vbank_code, "
    "vbank_name = excluded.vbank_name, vbank_num = excluded.vbank_num, "
    "vbank_holder = excluded.vbank_holder, vbank_date = excluded.vbank_date, "
    "vbank_issued_at = excluded.vbank_issued_at, receipt_url = excluded.receipt_url, "
    "fail_reason = excluded.fail_reason, cancel_reason = excluded.cancel_reason, "
    "raw = excluded.raw, updated_at = now(), "
    // Once started or vouched for by a call of ours, a payment stays the order's own.
    "unsolicited = payments.unsolicited AND excluded.unsolicited "
    "RETURNING id"};

constexpr Statement kDeletePaymentCancellations{
    "mg_delete_payment_cancellations", "DELETE FROM payment_cancellations WHERE payment_id = $1"};

constexpr Statement kInsertPaymentCancellation{
    "mg_insert_payment_cancellation",
    "INSERT INTO payment_cancellations (payment_id, ordinal, pg_tid, amount, cancelled_at, "
    "reason, receipt_url, cancellation_id) "
    "VALUES ($1, $2, $3, $4, to_timestamp(nullif($5::bigint, 0)), $6, $7, $8)"};

constexpr Statement kListPayments{
    "mg_list_payments", MG_PAYMENT_SELECT "WHERE p.order_id = $1 ORDER BY p.id, c.ordinal"};

// The ids come as one array parameter ('{1,2,3}'), so any number of orders is one statement.
constexpr Statement kListPaymentsForOrders{
    "mg_list_payments_for_orders",
    MG_PAYMENT_SELECT "WHERE p.order_id = ANY ($1::bigint[]) ORDER BY p.order_id, p.id, c.ordinal"};

// GET /v1/orders/{merchant_uid}: the order and its payments in one statement, so one round trip
// and one snapshot. One row per cancellation as above, or one row with NULL payment columns for
// an order without payments.
// The order's newest cash receipt rides along on every row (the same on each).
constexpr Statement kFindOrderWithPayments{
    "mg_find_order_with_payments",
    "SELECT " MG_ORDER_COLUMNS ", " MG_PAYMENT_COLUMNS ", " MG_RECEIPT_COLUMNS
    " FROM orders o LEFT JOIN payments p ON p.order_id = o.id "
    "LEFT JOIN payment_cancellations c ON c.payment_id = p.id "
    "LEFT JOIN LATERAL (SELECT * FROM cash_receipts x WHERE x.order_id = o.id "
    "ORDER BY x.id DESC LIMIT 1) r ON true "
    "WHERE o.merchant_uid = $1 ORDER BY p.id, c.ordinal"};

constexpr Statement kFindPayment{"mg_find_payment",
                                 MG_PAYMENT_SELECT "WHERE p.imp_uid = $1 ORDER BY c.ordinal"};

constexpr Statement kSetOrderAmount{
    "mg_set_order_amount",
    "UPDATE orders SET amount = $2, tax_free = least(tax_free, $2), updated_at = now() "
    "WHERE id = $1 RETURNING id"};

// DO NOTHING on the partial unique index rather than catching the unique violation: the
// transaction stays usable (a failed statement would abort it), as with insert_order. A
// concurrent insert for the same order waits for the first to commit or roll back.
constexpr Statement kInsertAttempt{
    "mg_insert_attempt",
    "INSERT INTO payment_attempts (order_id, kind, state, amount, imp_uid, request_id, "
    "idempotency_token) VALUES ($1, $2, 'in_flight', $3::bigint, $4, $5, $6) "
    "ON CONFLICT (order_id) WHERE state IN ('in_flight', 'unknown') DO NOTHING "
    "RETURNING id"};

// Only an open attempt moves: a settled answer (succeeded, failed, resolved) is history and is
// never rewritten. An imp_uid once known is kept when the new answer has none.
constexpr Statement kFinishAttempt{
    "mg_finish_attempt",
    "UPDATE payment_attempts SET state = $2, imp_uid = coalesce($3, imp_uid), error_code = $4, "
    "error_message = $5, updated_at = now() "
    "WHERE id = $1 AND state IN ('in_flight', 'unknown') RETURNING id"};

// The newest $3 declined payment calls of the order within the last $2 seconds: how many, and in
// how many seconds the oldest of them leaves the window.
constexpr Statement kRecentDeclines{
    "mg_recent_declines",
    "SELECT count(*), coalesce(ceil(extract(epoch FROM min(updated_at) + $2 * interval '1 second' "
    "- now())), 0)::bigint FROM (SELECT updated_at FROM payment_attempts WHERE order_id = $1 "
    "AND kind IN ('benepia', 'vbank') AND state = 'failed' AND error_code = 'declined' "
    "AND updated_at > now() - $2 * interval '1 second' ORDER BY updated_at DESC LIMIT $3) AS d"};

constexpr Statement kFindAttemptByToken{
    "mg_find_attempt_by_token",
    "SELECT " MG_ATTEMPT_COLUMNS
    " FROM payment_attempts WHERE order_id = $1 AND idempotency_token = $2"};

constexpr Statement kReleaseAttemptToken{
    "mg_release_attempt_token",
    "UPDATE payment_attempts SET idempotency_token = NULL WHERE id = $1"};

constexpr Statement kListOpenAttempts{
    "mg_list_open_attempts",
    "SELECT " MG_ATTEMPT_COLUMNS
    ", floor(extract(epoch FROM now() - created_at) * 1000)::bigint"
    " FROM payment_attempts WHERE order_id = $1 AND state IN ('in_flight', 'unknown') "
    "ORDER BY id"};

constexpr Statement kListAttempts{"mg_list_attempts",
                                  "SELECT " MG_ATTEMPT_COLUMNS
                                  " FROM payment_attempts WHERE order_id = $1 ORDER BY id"};

#undef MG_PAYMENT_SELECT
#undef MG_PAYMENT_COLUMNS
#undef MG_ATTEMPT_COLUMNS

// Column positions of MG_PAYMENT_SELECT's cancellation part.
constexpr int kFirstCancellationColumn = 29;
// Columns of MG_PAYMENT_COLUMNS, its cancellation part included.
constexpr int kPaymentColumnCount = kFirstCancellationColumn + 7;

template <class Row>
domain::Payment payment_from(const Row& row) {
    domain::Payment payment;
    payment.imp_uid = row[2].template as<std::string>();
    payment.merchant_uid = row[3].template as<std::string>();
    payment.status = row[4].template as<std::string>();
    payment.pay_method = optional_field<std::string>(row[5]);
    payment.pg_provider = optional_field<std::string>(row[6]);
    payment.pg_tid = optional_field<std::string>(row[7]);
    payment.channel = optional_field<std::string>(row[8]);
    payment.currency = optional_field<std::string>(row[9]);
    payment.amount = row[10].template as<domain::Amount>();
    payment.cancel_amount = row[11].template as<domain::Amount>();
    payment.started_at = row[12].template as<domain::UnixSeconds>();
    payment.paid_at = row[13].template as<domain::UnixSeconds>();
    payment.failed_at = row[14].template as<domain::UnixSeconds>();
    payment.cancelled_at = row[15].template as<domain::UnixSeconds>();
    payment.vbank_code = optional_field<std::string>(row[16]);
    payment.vbank_name = optional_field<std::string>(row[17]);
    payment.vbank_num = optional_field<std::string>(row[18]);
    payment.vbank_holder = optional_field<std::string>(row[19]);
    payment.vbank_date = row[20].template as<domain::UnixSeconds>();
    payment.vbank_issued_at = row[21].template as<domain::UnixSeconds>();
    payment.receipt_url = optional_field<std::string>(row[22]);
    payment.fail_reason = optional_field<std::string>(row[23]);
    payment.cancel_reason = optional_field<std::string>(row[24]);
    payment.unsolicited = row[25].template as<bool>();
    payment.tax_free = row[26].template as<domain::Amount>();
    payment.tax_free_cancelled = row[27].template as<domain::Amount>();
    payment.set_aside = optional_field<std::string>(row[28]);
    return payment;
}

// The row's cancellation, if the payment has any (ordinal is NULL for none).
template <class Row>
std::optional<domain::PaymentCancellation> cancellation_from(const Row& row) {
    constexpr int c = kFirstCancellationColumn;
    if (row[c].is_null()) {
        return std::nullopt;
    }
    domain::PaymentCancellation cancellation;
    cancellation.pg_tid = row[c + 1].template as<std::string>();
    cancellation.amount = row[c + 2].template as<domain::Amount>();
    cancellation.cancelled_at = row[c + 3].template as<domain::UnixSeconds>();
    cancellation.reason = row[c + 4].template as<std::string>();
    cancellation.receipt_url = optional_field<std::string>(row[c + 5]);
    cancellation.cancellation_id = optional_field<std::string>(row[c + 6]);
    return cancellation;
}

struct StoredPayment {
    std::int64_t order_id = 0;
    domain::Payment payment;
};

// Folds the joined rows back into payments, in the order of the rows. The payment columns start
// at `first_column`; rows whose payment id is NULL (an order without payments) hold none.
pqxx::row columns_from(const pqxx::row& row, int first) {
    return row.slice(static_cast<pqxx::row::size_type>(first), row.size());
}

PgRow columns_from(const PgRow& row, int first) {
    return row.slice(first, row.size());
}

// `result` is a pqxx::result or a db::PgResult.
template <class Result>
std::vector<StoredPayment> payments_from(const Result& result, int first_column = 0) {
    std::vector<StoredPayment> payments;
    std::int64_t current_id = 0;
    for (const auto& whole : result) {
        const auto row = columns_from(whole, first_column);
        if (row[0].is_null()) {
            continue;
        }
        const auto id = row[0].template as<std::int64_t>();
        if (payments.empty() || id != current_id) {
            current_id = id;
            payments.push_back({row[1].template as<std::int64_t>(), payment_from(row)});
        }
        if (auto cancellation = cancellation_from(row)) {
            payments.back().payment.cancel_history.push_back(std::move(*cancellation));
        }
    }
    return payments;
}

template <class Enum, std::size_t N>
Enum enum_from(const pqxx::field& field, const Enum (&values)[N], const char* what) {
    const auto text = field.as<std::string>();
    for (auto value : values) {
        if (to_string(value) == text) {
            return value;
        }
    }
    // The CHECK constraints make this unreachable unless a newer migration added a value.
    throw std::runtime_error(std::string("unknown payment attempt ") + what +
                             " in database: " + text);
}

constexpr AttemptKind kAttemptKinds[] = {AttemptKind::benepia, AttemptKind::vbank,
                                         AttemptKind::vbank_update, AttemptKind::vbank_revoke,
                                         AttemptKind::cancel};
constexpr AttemptState kAttemptStates[] = {AttemptState::in_flight, AttemptState::succeeded,
                                           AttemptState::failed, AttemptState::unknown,
                                           AttemptState::resolved};

Attempt attempt_from(const pqxx::row& row) {
    Attempt attempt;
    attempt.id = row[0].as<std::int64_t>();
    attempt.order_id = row[1].as<std::int64_t>();
    attempt.kind = enum_from(row[2], kAttemptKinds, "kind");
    attempt.state = enum_from(row[3], kAttemptStates, "state");
    attempt.imp_uid = optional_field<std::string>(row[4]);
    attempt.amount = optional_field<domain::Amount>(row[5]);
    attempt.request_id = optional_field<std::string>(row[6]);
    attempt.error_code = optional_field<std::string>(row[7]);
    attempt.error_message = optional_field<std::string>(row[8]);
    attempt.created_at = row[9].as<domain::UnixSeconds>();
    attempt.updated_at = row[10].as<domain::UnixSeconds>();
    attempt.tax_free = optional_field<domain::Amount>(row[11]);
    attempt.prior_cancel_amount = optional_field<domain::Amount>(row[12]);
    return attempt;
}

std::vector<Attempt> attempts_from(const pqxx::result& result) {
    std::vector<Attempt> attempts;
    attempts.reserve(result.size());
    for (const auto& row : result) {
        attempts.push_back(attempt_from(row));
    }
    return attempts;
}

// A PostgreSQL array literal of the ids, e.g. "{1,2,3}" (numbers need no quoting).
std::string bigint_array_literal(const std::vector<std::int64_t>& ids) {
    std::string literal = "{";
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) {
            literal += ',';
        }
        literal += std::to_string(ids[i]);
    }
    literal += '}';
    return literal;
}

}  // namespace

const std::vector<Statement>& payment_statements() {
    static const std::vector<Statement> statements = {
        kUpsertPayment,
        kDeletePaymentCancellations,
        kInsertPaymentCancellation,
        kListPayments,
        kListPaymentsForOrders,
        kFindOrderWithPayments,
        kFindPayment,
        kSetOrderAmount,
        kInsertAttempt,
        kFinishAttempt,
        kRecentDeclines,
        kFindAttemptByToken,
        kReleaseAttemptToken,
        kListOpenAttempts,
        kListAttempts,
    };
    return statements;
}

std::string_view to_string(AttemptKind kind) {
    switch (kind) {
        case AttemptKind::benepia:
            return "benepia";
        case AttemptKind::vbank:
            return "vbank";
        case AttemptKind::vbank_update:
            return "vbank_update";
        case AttemptKind::vbank_revoke:
            return "vbank_revoke";
        case AttemptKind::cancel:
            return "cancel";
    }
    throw std::invalid_argument("invalid AttemptKind");
}

std::string_view to_string(AttemptState state) {
    switch (state) {
        case AttemptState::in_flight:
            return "in_flight";
        case AttemptState::succeeded:
            return "succeeded";
        case AttemptState::failed:
            return "failed";
        case AttemptState::unknown:
            return "unknown";
        case AttemptState::resolved:
            return "resolved";
    }
    throw std::invalid_argument("invalid AttemptState");
}

void upsert_payment(pqxx::work& txn, std::int64_t order_id, const domain::Payment& payment,
                    std::string_view raw_json) {
    const auto& p = payment;
    const auto payment_id =
        exec_statement(txn, kUpsertPayment, p.imp_uid, order_id, p.merchant_uid, p.status,
                       nullable(p.pay_method), nullable(p.pg_provider), nullable(p.pg_tid),
                       nullable(p.channel), nullable(p.currency), p.amount, p.cancel_amount,
                       p.started_at, p.paid_at, p.failed_at, p.cancelled_at, nullable(p.vbank_code),
                       nullable(p.vbank_name), nullable(p.vbank_num), nullable(p.vbank_holder),
                       p.vbank_date, p.vbank_issued_at, nullable(p.receipt_url),
                       nullable(p.fail_reason), nullable(p.cancel_reason), std::string(raw_json),
                       p.unsolicited, p.tax_free)
            .at(0)
            .at(0)
            .as<std::int64_t>();
    // iamport always sends the whole cancel_history, so the stored one is replaced, not merged.
    // The upsert holds the payment row's lock until commit, so concurrent writers of the same
    // payment replace the history one after the other.
    exec_statement(txn, kDeletePaymentCancellations, payment_id);
    int ordinal = 0;
    for (const auto& cancellation : p.cancel_history) {
        exec_statement(txn, kInsertPaymentCancellation, payment_id, ordinal++, cancellation.pg_tid,
                       cancellation.amount, cancellation.cancelled_at, cancellation.reason,
                       nullable(cancellation.receipt_url), nullable(cancellation.cancellation_id));
    }
}

std::vector<domain::Payment> list_payments(pqxx::transaction_base& txn, std::int64_t order_id) {
    std::vector<domain::Payment> payments;
    for (auto& stored : payments_from(exec_statement(txn, kListPayments, order_id))) {
        payments.push_back(std::move(stored.payment));
    }
    return payments;
}

std::map<std::int64_t, std::vector<domain::Payment>> list_payments_for_orders(
    pqxx::work& txn, const std::vector<std::int64_t>& order_ids) {
    std::map<std::int64_t, std::vector<domain::Payment>> by_order;
    if (order_ids.empty()) {
        return by_order;
    }
    const auto result =
        exec_statement(txn, kListPaymentsForOrders, bigint_array_literal(order_ids));
    for (auto& stored : payments_from(result)) {
        by_order[stored.order_id].push_back(std::move(stored.payment));
    }
    return by_order;
}

namespace {

template <class Result>
std::optional<OrderWithPayments> order_with_payments_from(const Result& result) {
    if (result.empty()) {
        return std::nullopt;
    }
    OrderWithPayments found{order_from_row(result[0]), {}, std::nullopt};
    found.cash_receipt = cash_receipt_in(result[0], kOrderColumnCount + kPaymentColumnCount);
    for (auto& stored : payments_from(result, kOrderColumnCount)) {
        found.payments.push_back(std::move(stored.payment));
    }
    return found;
}

}  // namespace

std::optional<OrderWithPayments> find_order_with_payments(pqxx::transaction_base& txn,
                                                          std::string_view merchant_uid) {
    return order_with_payments_from(
        exec_statement(txn, kFindOrderWithPayments, std::string(merchant_uid)));
}

boost::asio::awaitable<std::optional<OrderWithPayments>> find_order_with_payments(
    AsyncConnection& connection, std::string merchant_uid) {
    auto query = Query(kFindOrderWithPayments, {std::move(merchant_uid)});
    const auto result = co_await connection.exec(std::move(query));
    co_return order_with_payments_from(result);
}

std::optional<domain::Payment> find_payment(pqxx::work& txn, std::string_view imp_uid) {
    auto payments = payments_from(exec_statement(txn, kFindPayment, std::string(imp_uid)));
    if (payments.empty()) {
        return std::nullopt;
    }
    return std::move(payments.front().payment);
}

void set_order_amount(pqxx::work& txn, std::int64_t order_id, domain::Amount amount) {
    if (exec_statement(txn, kSetOrderAmount, order_id, amount).empty()) {
        throw std::invalid_argument("set_order_amount: no order with id " +
                                    std::to_string(order_id));
    }
}

std::int64_t insert_attempt(pqxx::work& txn, std::int64_t order_id, AttemptKind kind,
                            std::optional<domain::Amount> amount,
                            std::optional<std::string> imp_uid, std::string_view request_id,
                            const std::optional<std::string>& idempotency_token) {
    const auto amount_text =
        amount ? std::optional<std::string>(std::to_string(*amount)) : std::nullopt;
    // An empty request id (a call made outside any HTTP request, e.g. by a tool) is stored NULL.
    const auto request = request_id.empty() ? std::nullopt : std::optional<std::string>(request_id);
    const auto result = exec_statement(txn, kInsertAttempt, order_id, std::string(to_string(kind)),
                                       nullable(amount_text), nullable(imp_uid), nullable(request),
                                       nullable(idempotency_token));
    if (result.empty()) {
        throw Conflict(std::string(kOneOpenAttemptPerOrder),
                       "order " + std::to_string(order_id) +
                           " already has an open (in_flight or unknown) payment attempt");
    }
    return result[0][0].as<std::int64_t>();
}

bool finish_attempt(pqxx::work& txn, std::int64_t attempt_id, AttemptState state,
                    const std::optional<std::string>& imp_uid,
                    const std::optional<std::string>& error_code,
                    const std::optional<std::string>& error_message) {
    if (state == AttemptState::in_flight) {
        throw std::logic_error("finish_attempt: an attempt never moves back to in_flight");
    }
    const auto result =
        exec_statement(txn, kFinishAttempt, attempt_id, std::string(to_string(state)),
                       nullable(imp_uid), nullable(error_code), nullable(error_message));
    return !result.empty();
}

std::optional<Attempt> find_attempt_by_token(pqxx::work& txn, std::int64_t order_id,
                                             std::string_view token) {
    const auto result = exec_statement(txn, kFindAttemptByToken, order_id, std::string(token));
    if (result.empty()) {
        return std::nullopt;
    }
    return attempt_from(result[0]);
}

void release_attempt_token(pqxx::work& txn, std::int64_t attempt_id) {
    exec_statement(txn, kReleaseAttemptToken, attempt_id);
}

RecentDeclines recent_declines(pqxx::work& txn, std::int64_t order_id, std::chrono::seconds window,
                               int limit) {
    const auto row = exec_statement(txn, kRecentDeclines, order_id, window.count(), limit).at(0);
    return RecentDeclines{row[0].as<int>(), std::chrono::seconds(row[1].as<std::int64_t>())};
}

std::vector<Attempt> list_open_attempts(pqxx::work& txn, std::int64_t order_id) {
    const auto rows = exec_statement(txn, kListOpenAttempts, order_id);
    auto attempts = attempts_from(rows);
    for (std::size_t i = 0; i < attempts.size(); ++i) {
        attempts[i].age_ms = rows[static_cast<int>(i)][13].as<std::int64_t>();
    }
    return attempts;
}

std::vector<Attempt> list_attempts(pqxx::work& txn, std::int64_t order_id) {
    return attempts_from(exec_statement(txn, kListAttempts, order_id));
}

}  // namespace mg::db
