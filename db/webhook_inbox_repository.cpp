#include "db/webhook_inbox_repository.hpp"

#include <pqxx/pqxx>
#include <stdexcept>

#include "db/async_connection.hpp"
#include "db/sql_values.hpp"
#include "db/statements.hpp"

namespace mg::db {
namespace {

// received_at leaves the database as whole UNIX seconds (rounded down), as other times do.
#define MG_DELIVERY_COLUMNS                                                             \
    "id, imp_uid, merchant_uid, claimed_status, state, attempts, outcome, last_error, " \
    "floor(extract(epoch FROM received_at))::bigint"

constexpr Statement kInsertDelivery{
    "mg_insert_delivery",
    "INSERT INTO webhook_inbox (body, content_type, source_ip, imp_uid, merchant_uid, "
    "claimed_status) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"};

// Claims are one UPDATE over a locking sub-select: SKIP LOCKED passes over rows another
// transaction is claiming right now, and a row whose claim committed meanwhile is re-checked on
// its new version (next_attempt_at is then in the future), so no row is claimed twice. The
// lease (next_attempt_at = now() + $2 s) is what keeps the row from being claimed again after
// this transaction commits, until the worker processing it gives up or dies.
constexpr Statement kClaimDueDeliveries{
    "mg_claim_due_deliveries",
    "WITH claimed AS ("
    "  UPDATE webhook_inbox SET attempts = attempts + 1, "
    "  next_attempt_at = now() + $2::bigint * interval '1 second' "
    "  WHERE id IN ("
    "    SELECT id FROM webhook_inbox WHERE state = 'pending' AND next_attempt_at <= now() "
    "    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) "
    "  RETURNING " MG_DELIVERY_COLUMNS ") SELECT * FROM claimed ORDER BY id"};

constexpr Statement kClaimDelivery{
    "mg_claim_delivery",
    "UPDATE webhook_inbox SET attempts = attempts + 1, "
    "next_attempt_at = now() + $2::bigint * interval '1 second' "
    "WHERE id IN ("
    "  SELECT id FROM webhook_inbox WHERE id = $1 AND state = 'pending' "
    "  AND next_attempt_at <= now() FOR UPDATE SKIP LOCKED) "
    "RETURNING " MG_DELIVERY_COLUMNS};

constexpr Statement kMarkDeliveryProcessed{
    "mg_mark_delivery_processed",
    "UPDATE webhook_inbox SET state = 'processed', outcome = $2, processed_at = now() "
    "WHERE id = $1 RETURNING id"};

// Only a pending delivery is retried: one that another worker processed meanwhile (its lease
// ran out while this one waited on iamport) keeps what that worker recorded.
constexpr Statement kRetryDelivery{
    "mg_retry_delivery",
    "UPDATE webhook_inbox SET last_error = $2, "
    "state = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'pending' END, "
    "next_attempt_at = CASE WHEN attempts >= $4 THEN next_attempt_at "
    "  ELSE now() + $3::bigint * interval '1 second' END "
    "WHERE id = $1 AND state = 'pending' RETURNING state"};

constexpr Statement kDeliveryState{"mg_delivery_state",
                                   "SELECT state FROM webhook_inbox WHERE id = $1"};

constexpr Statement kFindDelivery{
    "mg_find_delivery", "SELECT " MG_DELIVERY_COLUMNS " FROM webhook_inbox WHERE id = $1"};

// An operator's view of the inbox, newest first; the state filter is optional.
constexpr Statement kListInbox{
    "mg_list_inbox",
    "SELECT " MG_DELIVERY_COLUMNS
    " FROM webhook_inbox WHERE id < coalesce($1::bigint, "
    "9223372036854775807) AND ($2::text IS NULL OR state = $2) ORDER BY id DESC LIMIT $3"};

// An operator asks for a delivery to be processed again: due now, its attempts counted afresh.
constexpr Statement kRetryInbox{
    "mg_retry_inbox",
    "UPDATE webhook_inbox SET state = 'pending', attempts = 0, next_attempt_at = now(), "
    "processed_at = NULL, outcome = NULL WHERE id = $1 AND state IN ('failed', 'processed') "
    "RETURNING " MG_DELIVERY_COLUMNS};

// The backlog gauges: each count reads a partial index and stops at $1, so a scrape costs the
// same however large the table (or a flood's backlog) grows.
constexpr Statement kCountBacklog{
    "mg_count_backlog",
    "SELECT (SELECT count(*) FROM (SELECT 1 FROM webhook_inbox WHERE state = 'pending' LIMIT $1) "
    "AS p), (SELECT count(*) FROM (SELECT 1 FROM webhook_inbox WHERE state = 'failed' LIMIT $1) "
    "AS f)"};

// Retention: deliveries processed before the window, a batch at a time, oldest first; failed
// deliveries and those that sent an order to review are kept for operators.
constexpr Statement kPurgeDeliveries{
    "mg_purge_deliveries",
    "DELETE FROM webhook_inbox WHERE id IN ("
    "  SELECT id FROM webhook_inbox WHERE state = 'processed' "
    "  AND outcome IS DISTINCT FROM 'needs_review' "
    "  AND processed_at < now() - $1::bigint * interval '1 second' "
    "  ORDER BY processed_at LIMIT $2 FOR UPDATE SKIP LOCKED)"};

// The candidates come from two small sets, each read through a partial index: orders awaiting
// deposit by due time, and orders with an open payment attempt (at most one per order; the
// status test keeps the two sets apart). Only they are looked up and locked in orders: an OR
// over every order, or an IN over the union, lets the planner scan all of orders. The due test
// on o is re-checked after locking, so an order whose claim committed meanwhile is skipped like
// a locked one. The old next_reconcile_at is carried through `due` so that the result can be
// ordered by it, oldest claim first. updated_at is not touched: a claim is not a change of the
// order.
constexpr Statement kClaimOrdersToReconcile{
    "mg_claim_orders_to_reconcile",
    "WITH due AS ("
    "  SELECT o.id, c.next_reconcile_at FROM ("
    "    SELECT id, next_reconcile_at FROM orders "
    "    WHERE status = 'awaiting_deposit' AND next_reconcile_at <= now() "
    "    UNION ALL "
    "    SELECT p.id, p.next_reconcile_at FROM payment_attempts a "
    "    JOIN orders p ON p.id = a.order_id "
    "    WHERE a.state IN ('in_flight', 'unknown') AND p.status <> 'awaiting_deposit' "
    "    AND p.next_reconcile_at <= now() "
    "    UNION "
    "    SELECT id, next_reconcile_at FROM orders "
    "    WHERE status = 'pending' AND next_reconcile_at <= now() "
    "    AND created_at <= now() - $4::bigint * interval '1 second' "
    "    AND updated_at > now() - $3::bigint * interval '1 second') c "
    "  JOIN orders o ON o.id = c.id "
    "  WHERE o.next_reconcile_at <= now() "
    "  ORDER BY c.next_reconcile_at, c.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED), "
    "claimed AS ("
    "  UPDATE orders o SET next_reconcile_at = now() + $2::bigint * interval '1 second' "
    "  FROM due WHERE o.id = due.id "
    "  RETURNING o.id, o.merchant_uid, due.next_reconcile_at AS was_due) "
    "SELECT merchant_uid FROM claimed ORDER BY was_due, id"};

// The lost-checkout schedule (SPEC §5): after a pass, a pending order with no open attempt is due
// again after as long as it has been since it was last acted on, between 60 s and 30 min.
constexpr Statement kScheduleLookup{
    "mg_schedule_lookup",
    "UPDATE orders o SET next_reconcile_at = now() + "
    "  least($3::bigint, greatest($2::bigint, floor(extract(epoch FROM now() - o.updated_at)))) "
    "  * interval '1 second' "
    "WHERE o.merchant_uid = $1 AND o.status = 'pending' AND NOT EXISTS ("
    "  SELECT 1 FROM payment_attempts a "
    "  WHERE a.order_id = o.id AND a.state IN ('in_flight', 'unknown'))"};

// Right after an unknown outcome: the order is due at once.
constexpr Statement kLookupSoon{"mg_lookup_soon",
                                "UPDATE orders SET next_reconcile_at = now() WHERE id = $1"};

#undef MG_DELIVERY_COLUMNS

constexpr DeliveryState kDeliveryStates[] = {DeliveryState::pending, DeliveryState::processed,
                                             DeliveryState::failed};

DeliveryState state_from(const pqxx::field& field) {
    const auto text = field.as<std::string>();
    for (auto state : kDeliveryStates) {
        if (to_string(state) == text) {
            return state;
        }
    }
    // The CHECK constraint makes this unreachable unless a newer migration added a state.
    throw std::runtime_error("unknown webhook delivery state in database: " + text);
}

Delivery delivery_from(const pqxx::row& row) {
    Delivery delivery;
    delivery.id = row[0].as<std::int64_t>();
    delivery.imp_uid = row[1].as<std::string>();
    delivery.merchant_uid = optional_field<std::string>(row[2]);
    delivery.status = optional_field<std::string>(row[3]);
    delivery.state = state_from(row[4]);
    delivery.attempts = row[5].as<int>();
    delivery.outcome = optional_field<std::string>(row[6]);
    delivery.last_error = optional_field<std::string>(row[7]);
    delivery.received_at = row[8].as<domain::UnixSeconds>();
    return delivery;
}

// An empty header or address (unknown) is stored NULL.
std::optional<std::string> unless_empty(const std::string& text) {
    return text.empty() ? std::nullopt : std::optional<std::string>(text);
}

}  // namespace

const std::vector<Statement>& webhook_inbox_statements() {
    static const std::vector<Statement> statements = {
        kInsertDelivery,  kClaimDueDeliveries,
        kClaimDelivery,   kMarkDeliveryProcessed,
        kRetryDelivery,   kDeliveryState,
        kFindDelivery,    kCountBacklog,
        kPurgeDeliveries, kClaimOrdersToReconcile,
        kScheduleLookup,  kLookupSoon,
        kListInbox,       kRetryInbox,
    };
    return statements;
}

std::string_view to_string(DeliveryState state) {
    switch (state) {
        case DeliveryState::pending:
            return "pending";
        case DeliveryState::processed:
            return "processed";
        case DeliveryState::failed:
            return "failed";
    }
    throw std::invalid_argument("invalid DeliveryState");
}

std::int64_t insert_delivery(pqxx::work& txn, const NewDelivery& delivery) {
    const auto content_type = unless_empty(delivery.content_type);
    const auto source_ip = unless_empty(delivery.source_ip);
    return exec_statement(txn, kInsertDelivery, delivery.body, nullable(content_type),
                          nullable(source_ip), delivery.imp_uid, nullable(delivery.merchant_uid),
                          nullable(delivery.status))
        .at(0)
        .at(0)
        .as<std::int64_t>();
}

boost::asio::awaitable<std::int64_t> insert_delivery(AsyncConnection& connection,
                                                     NewDelivery delivery) {
    const auto content_type = unless_empty(delivery.content_type);
    const auto source_ip = unless_empty(delivery.source_ip);
    auto query = Query(kInsertDelivery,
                       {std::move(delivery.body), content_type, source_ip,
                        std::move(delivery.imp_uid), delivery.merchant_uid, delivery.status});
    const auto result = co_await connection.exec(std::move(query));
    co_return result.at(0)[0].as<std::int64_t>();
}

std::vector<Delivery> claim_due_deliveries(pqxx::transaction_base& txn, int limit,
                                           std::chrono::seconds lease) {
    require(limit >= 1, "claim_due_deliveries: limit must be at least 1");
    require(lease.count() > 0, "claim_due_deliveries: lease must be positive");
    std::vector<Delivery> deliveries;
    for (const auto& row : exec_statement(txn, kClaimDueDeliveries, limit, seconds_of(lease))) {
        deliveries.push_back(delivery_from(row));
    }
    return deliveries;
}

std::optional<Delivery> claim_delivery(pqxx::transaction_base& txn, std::int64_t id,
                                       std::chrono::seconds lease) {
    require(lease.count() > 0, "claim_delivery: lease must be positive");
    const auto result = exec_statement(txn, kClaimDelivery, id, seconds_of(lease));
    if (result.empty()) {
        return std::nullopt;
    }
    return delivery_from(result[0]);
}

void mark_delivery_processed(pqxx::work& txn, std::int64_t id, std::string_view outcome) {
    if (exec_statement(txn, kMarkDeliveryProcessed, id, std::string(outcome)).empty()) {
        throw std::invalid_argument("mark_delivery_processed: no delivery with id " +
                                    std::to_string(id));
    }
}

DeliveryState retry_delivery(pqxx::work& txn, std::int64_t id, std::string_view error,
                             std::chrono::seconds retry_in, int max_attempts) {
    require(retry_in.count() >= 0, "retry_delivery: retry_in must not be negative");
    require(max_attempts >= 1, "retry_delivery: max_attempts must be at least 1");
    const auto retried = exec_statement(txn, kRetryDelivery, id, std::string(error),
                                        seconds_of(retry_in), max_attempts);
    if (!retried.empty()) {
        return state_from(retried[0][0]);
    }
    // Not pending (already processed or failed): left as it is.
    const auto current = exec_statement(txn, kDeliveryState, id);
    if (current.empty()) {
        throw std::invalid_argument("retry_delivery: no delivery with id " + std::to_string(id));
    }
    return state_from(current[0][0]);
}

std::optional<Delivery> find_delivery(pqxx::work& txn, std::int64_t id) {
    const auto result = exec_statement(txn, kFindDelivery, id);
    if (result.empty()) {
        return std::nullopt;
    }
    return delivery_from(result[0]);
}

std::vector<Delivery> list_inbox(pqxx::work& txn, std::optional<DeliveryState> state,
                                 std::optional<std::int64_t> before_id, int limit) {
    const auto before =
        before_id ? std::optional<std::string>(std::to_string(*before_id)) : std::nullopt;
    const auto state_text =
        state ? std::optional<std::string>(std::string(to_string(*state))) : std::nullopt;
    std::vector<Delivery> deliveries;
    for (const auto& row :
         exec_statement(txn, kListInbox, nullable(before), nullable(state_text), limit + 1)) {
        deliveries.push_back(delivery_from(row));
    }
    return deliveries;
}

std::optional<Delivery> retry_inbox_delivery(pqxx::work& txn, std::int64_t id) {
    const auto result = exec_statement(txn, kRetryInbox, id);
    if (result.empty()) {
        return std::nullopt;
    }
    return delivery_from(result[0]);
}

InboxCounts count_backlog(pqxx::work& txn) {
    const auto row = exec_statement(txn, kCountBacklog, kBacklogCountCap).at(0);
    return {row[0].as<std::int64_t>(), row[1].as<std::int64_t>()};
}

std::int64_t purge_deliveries(pqxx::work& txn, std::chrono::seconds older_than, int limit) {
    require(limit >= 1, "purge_deliveries: limit must be at least 1");
    return exec_statement(txn, kPurgeDeliveries, seconds_of(older_than), limit).affected_rows();
}

std::vector<std::string> claim_orders_to_reconcile(pqxx::work& txn, int limit,
                                                   std::chrono::seconds lease) {
    require(limit >= 1, "claim_orders_to_reconcile: limit must be at least 1");
    require(lease.count() > 0, "claim_orders_to_reconcile: lease must be positive");
    std::vector<std::string> merchant_uids;
    for (const auto& row :
         exec_statement(txn, kClaimOrdersToReconcile, limit, seconds_of(lease),
                        seconds_of(kLookupPendingFor), seconds_of(kFirstLookupAfter))) {
        merchant_uids.push_back(row[0].as<std::string>());
    }
    return merchant_uids;
}

void schedule_lookup(pqxx::work& txn, std::string_view merchant_uid) {
    exec_statement(txn, kScheduleLookup, std::string(merchant_uid), seconds_of(kLookupMinInterval),
                   seconds_of(kLookupMaxInterval));
}

void lookup_soon(pqxx::work& txn, std::int64_t order_id) {
    exec_statement(txn, kLookupSoon, order_id);
}

}  // namespace mg::db
