#include "db/notifications_repository.hpp"

#include <pqxx/pqxx>

#include "db/sql_values.hpp"
#include "db/statements.hpp"
#include "db/webhook_inbox_repository.hpp"

namespace mg::db {
namespace {

constexpr Statement kInsertEvent{
    "mg_insert_event",
    "WITH e AS (INSERT INTO events (id, type, order_id, merchant_uid, data) "
    "  VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id, type) "
    "INSERT INTO event_deliveries (event_id, endpoint_id) "
    "SELECT e.id, w.id FROM e, webhook_endpoints w WHERE w.enabled AND w.deleted_at IS NULL "
    "AND (w.event_types = '{}' OR e.type = ANY (w.event_types))"};

#define MG_ENDPOINT_COLUMNS                                                               \
    "id, url, event_types, enabled, description, secret_sealed, previous_secret_sealed, " \
    "coalesce(floor(extract(epoch FROM previous_secret_until))::bigint, 0), "             \
    "floor(extract(epoch FROM created_at))::bigint, floor(extract(epoch FROM updated_at))::bigint"

constexpr Statement kInsertEndpoint{
    "mg_insert_endpoint",
    "INSERT INTO webhook_endpoints (id, url, event_types, enabled, description, secret_sealed) "
    "VALUES ($1, $2, $3::text[], $4, $5, $6)"};
constexpr Statement kListEndpoints{"mg_list_endpoints",
                                   "SELECT " MG_ENDPOINT_COLUMNS
                                   " FROM webhook_endpoints WHERE deleted_at IS NULL "
                                   "ORDER BY created_at, id"};
constexpr Statement kFindEndpoint{"mg_find_endpoint",
                                  "SELECT " MG_ENDPOINT_COLUMNS
                                  " FROM webhook_endpoints WHERE id = $1 AND deleted_at IS NULL"};
constexpr Statement kUpdateEndpoint{
    "mg_update_endpoint",
    "UPDATE webhook_endpoints SET url = $2, event_types = $3::text[], enabled = $4, "
    "description = $5, updated_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING id"};
constexpr Statement kRotateEndpointSecret{
    "mg_rotate_endpoint_secret",
    "UPDATE webhook_endpoints SET previous_secret_sealed = secret_sealed, secret_sealed = $2, "
    "previous_secret_until = now() + $3::bigint * interval '1 second', updated_at = now() "
    "WHERE id = $1 AND deleted_at IS NULL RETURNING id"};
constexpr Statement kDeleteEndpoint{
    "mg_delete_endpoint",
    "WITH gone AS (UPDATE webhook_endpoints SET deleted_at = now(), enabled = false "
    "  WHERE id = $1 AND deleted_at IS NULL RETURNING id), "
    "failed AS (UPDATE event_deliveries SET state = 'failed', last_error = 'endpoint deleted' "
    "  WHERE endpoint_id IN (SELECT id FROM gone) AND state = 'pending') "
    "SELECT id FROM gone"};

// Busy endpoints come as one array parameter. Only the first pending delivery of each order to
// each endpoint may go (events of one order reach an endpoint in the order they happened; the next
// waits while the one before is under way or waiting for a retry), and at most $4 per endpoint, the
// soonest due. The candidates are picked without locks, then locked with SKIP LOCKED and checked
// again, so rows another instance claims meanwhile are passed over. The lease keeps a claimed row
// from being claimed again until its attempt has been recorded or the instance making it died.
constexpr Statement kClaimEventDeliveries{
    "mg_claim_event_deliveries",
    "WITH claimed AS ("
    "  UPDATE event_deliveries d SET attempts = attempts + 1, "
    "  next_attempt_at = now() + $2::bigint * interval '1 second' "
    "  WHERE d.id IN (SELECT id FROM event_deliveries WHERE id IN ("
    "      SELECT id FROM (SELECT id, next_attempt_at, row_number() OVER ("
    "          PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS nth "
    "        FROM (SELECT p.id, p.endpoint_id, p.next_attempt_at, row_number() OVER ("
    "            PARTITION BY p.endpoint_id, e.order_id ORDER BY e.seq) AS in_order "
    "          FROM event_deliveries p JOIN events e ON e.id = p.event_id "
    "          WHERE p.state = 'pending' AND NOT (p.endpoint_id = ANY ($3::text[]))) heads "
    "        WHERE in_order = 1 AND next_attempt_at <= now()) due "
    "      WHERE nth <= $4 ORDER BY next_attempt_at, id LIMIT $1) "
    "    AND state = 'pending' AND next_attempt_at <= now() FOR UPDATE SKIP LOCKED) "
    "  RETURNING d.id, d.event_id, d.endpoint_id, d.attempts) "
    "SELECT c.id, c.event_id, c.endpoint_id, w.url, w.secret_sealed, "
    "CASE WHEN w.previous_secret_until > now() THEN w.previous_secret_sealed END, c.attempts, "
    "jsonb_build_object('id', e.id, 'type', e.type, 'created_at', "
    "  floor(extract(epoch FROM e.created_at))::bigint, 'data', e.data)::text "
    "FROM claimed c JOIN webhook_endpoints w ON w.id = c.endpoint_id "
    "JOIN events e ON e.id = c.event_id ORDER BY c.id"};

constexpr Statement kInsertDeliveryAttempt{
    "mg_insert_delivery_attempt",
    "INSERT INTO delivery_attempts (delivery_id, http_status, latency_ms, error, response_excerpt) "
    "VALUES ($1, $2::integer, $3, $4, $5)"};
// While an attempt is under way its claim's lease keeps next_attempt_at in the future; a replay
// asked for meanwhile (mg_redeliver_event) makes it due now. Such a delivery stays pending and due,
// whatever the attempt's outcome, so the replay is made: the attempt may have carried the
// event's earlier state of the delivery, never the one asked for after it began.
constexpr Statement kFinishEventDelivery{
    "mg_finish_event_delivery",
    "UPDATE event_deliveries SET last_status = $2::integer, last_error = $3, state = CASE "
    "  WHEN next_attempt_at <= now() THEN 'pending' "
    "  WHEN $4 THEN 'delivered' WHEN $5::bigint IS NULL THEN 'failed' ELSE 'pending' END, "
    "delivered_at = CASE WHEN $4 THEN now() END, "
    "next_attempt_at = CASE WHEN next_attempt_at <= now() OR $5::bigint IS NULL "
    "  THEN next_attempt_at ELSE now() + $5::bigint * interval '1 second' END WHERE id = $1"};

#define MG_EVENT_COLUMNS \
    "id, seq, type, merchant_uid, data::text, floor(extract(epoch FROM created_at))::bigint"

constexpr Statement kListEvents{
    "mg_list_events",
    "SELECT " MG_EVENT_COLUMNS
    " FROM events WHERE seq < coalesce($1::bigint, 9223372036854775807) "
    "AND ($2::text IS NULL OR type = $2) AND ($3::text IS NULL OR merchant_uid = $3) "
    "ORDER BY seq DESC LIMIT $4"};
constexpr Statement kFindEvent{"mg_find_event",
                               "SELECT " MG_EVENT_COLUMNS " FROM events WHERE id = $1"};

constexpr Statement kListEventDeliveries{
    "mg_list_event_deliveries",
    "SELECT d.id, d.endpoint_id, d.state, d.attempts, "
    "floor(extract(epoch FROM d.next_attempt_at))::bigint, "
    "coalesce(floor(extract(epoch FROM d.delivered_at))::bigint, 0), "
    "floor(extract(epoch FROM a.attempted_at))::bigint, a.http_status, a.latency_ms, a.error, "
    "a.response_excerpt FROM event_deliveries d LEFT JOIN delivery_attempts a "
    "ON a.delivery_id = d.id WHERE d.event_id = $1 ORDER BY d.id, a.id"};

constexpr Statement kRedeliverEvent{
    "mg_redeliver_event",
    "WITH again AS (UPDATE event_deliveries SET state = 'pending', next_attempt_at = now() "
    "  WHERE event_id = $1 RETURNING id), "
    "added AS (INSERT INTO event_deliveries (event_id, endpoint_id) "
    "  SELECT e.id, w.id FROM events e, webhook_endpoints w WHERE e.id = $1 AND w.enabled "
    "  AND w.deleted_at IS NULL AND (w.event_types = '{}' OR e.type = ANY (w.event_types)) "
    "  ON CONFLICT (event_id, endpoint_id) DO NOTHING RETURNING id) "
    "SELECT (SELECT count(*) FROM again) + (SELECT count(*) FROM added)"};

// Events older than $1 seconds whose every delivery was delivered (or that had none), $2 at a
// time, with their deliveries and attempts. One statement: the foreign keys are checked at its
// end, when all three are gone. Events with a failed delivery stay for an operator to replay.
constexpr Statement kPurgeEvents{
    "mg_purge_events",
    "WITH doomed AS (SELECT e.id FROM events e "
    "  WHERE e.created_at < now() - $1::bigint * interval '1 second' AND NOT EXISTS ("
    "    SELECT 1 FROM event_deliveries d WHERE d.event_id = e.id AND d.state <> 'delivered') "
    "  ORDER BY e.seq LIMIT $2 FOR UPDATE SKIP LOCKED), "
    "deliveries AS (SELECT id FROM event_deliveries WHERE event_id IN (SELECT id FROM doomed)), "
    "attempts_gone AS (DELETE FROM delivery_attempts "
    "  WHERE delivery_id IN (SELECT id FROM deliveries)), "
    "deliveries_gone AS (DELETE FROM event_deliveries WHERE id IN (SELECT id FROM deliveries)) "
    "DELETE FROM events WHERE id IN (SELECT id FROM doomed)"};

constexpr Statement kCountEventBacklog{
    "mg_count_event_backlog",
    "SELECT count(*) FROM (SELECT 1 FROM event_deliveries WHERE state = 'pending' LIMIT $1) p"};

#undef MG_ENDPOINT_COLUMNS
#undef MG_EVENT_COLUMNS

// A PostgreSQL array literal of text values: each quoted, quotes and backslashes escaped.
std::string text_array_literal(const std::vector<std::string>& values) {
    std::string literal = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) {
            literal += ',';
        }
        literal += '"';
        for (const char c : values[i]) {
            if (c == '"' || c == '\\') {
                literal += '\\';
            }
            literal += c;
        }
        literal += '"';
    }
    literal += '}';
    return literal;
}

// The elements of a text[] as libpqxx 6 gives it (pqxx::array_parser).
std::vector<std::string> text_array_of(const pqxx::field& field) {
    std::vector<std::string> values;
    auto parser = field.as_array();
    for (auto item = parser.get_next(); item.first != pqxx::array_parser::done;
         item = parser.get_next()) {
        if (item.first == pqxx::array_parser::string_value) {
            values.push_back(item.second);
        }
    }
    return values;
}

Endpoint endpoint_from(const pqxx::row& row) {
    Endpoint e;
    e.id = row[0].as<std::string>();
    e.url = row[1].as<std::string>();
    e.event_types = text_array_of(row[2]);
    e.enabled = row[3].as<bool>();
    e.description = optional_field<std::string>(row[4]);
    e.secret_sealed = row[5].as<std::string>();
    e.previous_secret_sealed = optional_field<std::string>(row[6]);
    e.previous_secret_until = row[7].as<domain::UnixSeconds>();
    e.created_at = row[8].as<domain::UnixSeconds>();
    e.updated_at = row[9].as<domain::UnixSeconds>();
    return e;
}

EventRow event_from(const pqxx::row& row) {
    return EventRow{row[0].as<std::string>(), row[1].as<std::int64_t>(),
                    row[2].as<std::string>(), row[3].as<std::string>(),
                    row[4].as<std::string>(), row[5].as<domain::UnixSeconds>()};
}

std::optional<std::string> text_of(const std::optional<int>& value) {
    return value ? std::optional<std::string>(std::to_string(*value)) : std::nullopt;
}

}  // namespace

const std::vector<Statement>& notification_statements() {
    static const std::vector<Statement> statements = {
        kInsertEvent,           kInsertEndpoint,       kListEndpoints,     kFindEndpoint,
        kUpdateEndpoint,        kRotateEndpointSecret, kDeleteEndpoint,    kClaimEventDeliveries,
        kInsertDeliveryAttempt, kFinishEventDelivery,  kListEvents,        kFindEvent,
        kListEventDeliveries,   kRedeliverEvent,       kCountEventBacklog, kPurgeEvents,
    };
    return statements;
}

void insert_event(pqxx::work& txn, std::string_view id, std::string_view type,
                  std::int64_t order_id, std::string_view merchant_uid,
                  std::string_view data_json) {
    exec_statement(txn, kInsertEvent, std::string(id), std::string(type), order_id,
                   std::string(merchant_uid), std::string(data_json));
}

void insert_endpoint(pqxx::work& txn, const Endpoint& e) {
    exec_statement(txn, kInsertEndpoint, e.id, e.url, text_array_literal(e.event_types), e.enabled,
                   nullable(e.description), e.secret_sealed);
}

std::vector<Endpoint> list_endpoints(pqxx::work& txn) {
    std::vector<Endpoint> endpoints;
    for (const auto& row : exec_statement(txn, kListEndpoints)) {
        endpoints.push_back(endpoint_from(row));
    }
    return endpoints;
}

std::optional<Endpoint> find_endpoint(pqxx::work& txn, std::string_view id) {
    const auto result = exec_statement(txn, kFindEndpoint, std::string(id));
    if (result.empty()) {
        return std::nullopt;
    }
    return endpoint_from(result[0]);
}

bool update_endpoint(pqxx::work& txn, const Endpoint& e) {
    return !exec_statement(txn, kUpdateEndpoint, e.id, e.url, text_array_literal(e.event_types),
                           e.enabled, nullable(e.description))
                .empty();
}

bool rotate_endpoint_secret(pqxx::work& txn, std::string_view id, std::string_view new_sealed,
                            std::chrono::seconds previous_valid_for) {
    return !exec_statement(txn, kRotateEndpointSecret, std::string(id), std::string(new_sealed),
                           seconds_of(previous_valid_for))
                .empty();
}

bool delete_endpoint(pqxx::work& txn, std::string_view id) {
    return !exec_statement(txn, kDeleteEndpoint, std::string(id)).empty();
}

std::vector<DueDelivery> claim_due_event_deliveries(pqxx::work& txn, int limit,
                                                    std::chrono::seconds lease,
                                                    const std::vector<std::string>& busy,
                                                    int per_endpoint) {
    std::vector<DueDelivery> due;
    for (const auto& row : exec_statement(txn, kClaimEventDeliveries, limit, seconds_of(lease),
                                          text_array_literal(busy), per_endpoint)) {
        due.push_back(DueDelivery{row[0].as<std::int64_t>(), row[1].as<std::string>(),
                                  row[2].as<std::string>(), row[3].as<std::string>(),
                                  row[4].as<std::string>(), optional_field<std::string>(row[5]),
                                  row[6].as<int>(), row[7].as<std::string>()});
    }
    return due;
}

void record_event_attempt(pqxx::work& txn, std::int64_t delivery_id, const AttemptRecord& attempt,
                          bool delivered, std::optional<std::chrono::seconds> retry_in) {
    const auto status = text_of(attempt.http_status);
    exec_statement(txn, kInsertDeliveryAttempt, delivery_id, nullable(status), attempt.latency_ms,
                   nullable(attempt.error), nullable(attempt.response_excerpt));
    const auto retry =
        retry_in ? std::optional<std::string>(std::to_string(retry_in->count())) : std::nullopt;
    exec_statement(txn, kFinishEventDelivery, delivery_id, nullable(status),
                   nullable(attempt.error), delivered, nullable(retry));
}

std::vector<EventRow> list_events(pqxx::work& txn, const EventFilter& filter) {
    const auto before = filter.before_seq
                            ? std::optional<std::string>(std::to_string(*filter.before_seq))
                            : std::nullopt;
    std::vector<EventRow> events;
    for (const auto& row : exec_statement(txn, kListEvents, nullable(before), nullable(filter.type),
                                          nullable(filter.merchant_uid), filter.limit + 1)) {
        events.push_back(event_from(row));
    }
    return events;
}

std::optional<EventRow> find_event(pqxx::work& txn, std::string_view id) {
    const auto result = exec_statement(txn, kFindEvent, std::string(id));
    if (result.empty()) {
        return std::nullopt;
    }
    return event_from(result[0]);
}

std::vector<DeliveryView> list_event_deliveries(pqxx::work& txn, std::string_view event_id) {
    std::vector<DeliveryView> deliveries;
    for (const auto& row : exec_statement(txn, kListEventDeliveries, std::string(event_id))) {
        const auto id = row[0].as<std::int64_t>();
        if (deliveries.empty() || deliveries.back().id != id) {
            DeliveryView d;
            d.id = id;
            d.endpoint_id = row[1].as<std::string>();
            d.state = row[2].as<std::string>();
            d.attempts = row[3].as<int>();
            d.next_attempt_at = row[4].as<domain::UnixSeconds>();
            d.delivered_at = row[5].as<domain::UnixSeconds>();
            deliveries.push_back(std::move(d));
        }
        if (!row[6].is_null()) {
            deliveries.back().attempts_made.push_back(DeliveryView::Attempt{
                row[6].as<domain::UnixSeconds>(), optional_field<int>(row[7]), row[8].as<int>(),
                optional_field<std::string>(row[9]), optional_field<std::string>(row[10])});
        }
    }
    return deliveries;
}

int redeliver_event(pqxx::work& txn, std::string_view event_id) {
    return exec_statement(txn, kRedeliverEvent, std::string(event_id)).at(0).at(0).as<int>();
}

std::int64_t purge_events(pqxx::work& txn, std::chrono::seconds older_than, int limit) {
    return static_cast<std::int64_t>(
        exec_statement(txn, kPurgeEvents, seconds_of(older_than), limit).affected_rows());
}

std::int64_t count_event_backlog(pqxx::work& txn) {
    return exec_statement(txn, kCountEventBacklog, kBacklogCountCap).at(0).at(0).as<std::int64_t>();
}

}  // namespace mg::db
