// The gateway's own events to the shop (migration 0010): the outbox of events, the endpoints that
// receive them, and each delivery with its attempts. Deliveries are claimed with a lease, as the
// webhook inbox is, so any number of instances send them and none is lost to one that dies.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <pqxx/transaction>
#include <string>
#include <string_view>
#include <vector>

#include "service/domain/order.hpp"

namespace mg::db {

// Writes the event and, in the same statement, a pending delivery for every enabled endpoint
// that wants its type.
void insert_event(pqxx::work& txn, std::string_view id, std::string_view type,
                  std::int64_t order_id, std::string_view merchant_uid, std::string_view data_json);

struct Endpoint {
    std::string id;
    std::string url;
    std::vector<std::string> event_types;  // empty: all
    bool enabled = true;
    std::optional<std::string> description;
    std::string secret_sealed;
    std::optional<std::string> previous_secret_sealed;
    domain::UnixSeconds previous_secret_until = 0;
    domain::UnixSeconds created_at = 0;
    domain::UnixSeconds updated_at = 0;
};

void insert_endpoint(pqxx::work& txn, const Endpoint& endpoint);
std::vector<Endpoint> list_endpoints(pqxx::work& txn);
std::optional<Endpoint> find_endpoint(pqxx::work& txn, std::string_view id);
// Writes url, event_types, enabled and description. False when there is no such endpoint.
bool update_endpoint(pqxx::work& txn, const Endpoint& endpoint);
// The new secret signs from now on; the current one also until `previous_valid_for` from now.
bool rotate_endpoint_secret(pqxx::work& txn, std::string_view id, std::string_view new_sealed,
                            std::chrono::seconds previous_valid_for);
// Deleted: it receives nothing more, its pending deliveries fail. False when there was none.
bool delete_endpoint(pqxx::work& txn, std::string_view id);

// A delivery claimed for an attempt, with all it needs.
struct DueDelivery {
    std::int64_t id = 0;
    std::string event_id;
    std::string endpoint_id;
    std::string url;
    std::string secret_sealed;
    std::optional<std::string> previous_secret_sealed;  // while a rotation lets it sign
    int attempts = 0;                                   // this one included
    std::string body;                                   // the event as sent
};

// Claims up to `limit` due deliveries, soonest first and at most `per_endpoint` of any one
// endpoint, passing over those of `busy` endpoints and rows another transaction holds:
// attempts + 1, next_attempt_at = now() + lease. Of one order's deliveries to one endpoint only
// the first pending one (by event) is ever claimable: they arrive in the order they happened.
std::vector<DueDelivery> claim_due_event_deliveries(pqxx::work& txn, int limit,
                                                    std::chrono::seconds lease,
                                                    const std::vector<std::string>& busy,
                                                    int per_endpoint);

struct AttemptRecord {
    std::optional<int> http_status;
    int latency_ms = 0;
    std::optional<std::string> error;
    std::optional<std::string> response_excerpt;
};
// Records an attempt and what it leaves the delivery: delivered (2xx), due again after `retry_in`,
// or failed for good (nullopt retry_in on a failure).
void record_event_attempt(pqxx::work& txn, std::int64_t delivery_id, const AttemptRecord& attempt,
                          bool delivered, std::optional<std::chrono::seconds> retry_in);

struct EventRow {
    std::string id;
    std::int64_t seq = 0;
    std::string type;
    std::string merchant_uid;
    std::string data_json;
    domain::UnixSeconds created_at = 0;
};
struct EventFilter {
    std::optional<std::string> type;
    std::optional<std::string> merchant_uid;
    std::optional<std::int64_t> before_seq;
    int limit = 20;
};
// Newest first; one more than `limit` tells whether another page exists.
std::vector<EventRow> list_events(pqxx::work& txn, const EventFilter& filter);
std::optional<EventRow> find_event(pqxx::work& txn, std::string_view id);

struct DeliveryView {
    std::int64_t id = 0;
    std::string endpoint_id;
    std::string state;
    int attempts = 0;
    domain::UnixSeconds next_attempt_at = 0;
    domain::UnixSeconds delivered_at = 0;
    struct Attempt {
        domain::UnixSeconds attempted_at = 0;
        std::optional<int> http_status;
        int latency_ms = 0;
        std::optional<std::string> error;
        std::optional<std::string> response_excerpt;
    };
    std::vector<Attempt> attempts_made;  // oldest first
};
std::vector<DeliveryView> list_event_deliveries(pqxx::work& txn, std::string_view event_id);
// Every delivery of the event due again now, and a new one for each enabled endpoint that wants
// it and never had it. How many are due.
int redeliver_event(pqxx::work& txn, std::string_view event_id);

// Deletes up to `limit` events older than `older_than` (WEBHOOK_RETENTION_DAYS) whose every
// delivery was delivered, with their deliveries and attempts; events with a failed or pending
// delivery stay. Returns how many events went.
std::int64_t purge_events(pqxx::work& txn, std::chrono::seconds older_than, int limit);

// Deliveries waiting (pending), capped at kBacklogCountCap, for the backlog gauge.
std::int64_t count_event_backlog(pqxx::work& txn);

}  // namespace mg::db
