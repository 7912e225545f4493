// The webhook inbox (every delivery iamport made to POST /webhooks/iamport, stored before it is
// acted on) and the reconciler's claims on work. Work is claimed with a lease: a row is taken
// with FOR UPDATE SKIP LOCKED and its next_attempt_at pushed past the lease, so any number of
// instances share the work through PostgreSQL alone, and a claim held by an instance that died
// falls free when its lease runs out.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <pqxx/transaction>
#include <string>
#include <string_view>
#include <vector>

#include "service/domain/order.hpp"

namespace mg::db {

class AsyncConnection;  // db/async_connection.hpp

struct NewDelivery {
    std::string body;          // as received (at most 16 KiB)
    std::string content_type;  // as received
    std::string source_ip;     // the client address the allowlist judged
    // What the body claims; hints only, never believed.
    std::string imp_uid;
    std::optional<std::string> merchant_uid;
    std::optional<std::string> status;
};

// pending: waiting to be processed (or retried); processed: iamport's state applied (or
// nothing to apply); failed: retried `max_attempts` times without success, an operator looks.
enum class DeliveryState { pending, processed, failed };
std::string_view to_string(DeliveryState state);

struct Delivery {
    std::int64_t id = 0;
    std::string imp_uid;
    std::optional<std::string> merchant_uid;
    std::optional<std::string> status;
    DeliveryState state = DeliveryState::pending;
    int attempts = 0;  // processing attempts so far, this claim included
    std::optional<std::string> outcome;
    std::optional<std::string> last_error;
    domain::UnixSeconds received_at = 0;
};

// Stores a delivery as pending, due now. Returns its id. The awaitable one is a statement in
// autocommit on an event loop's connection (POST /webhooks/iamport).
std::int64_t insert_delivery(pqxx::work& txn, const NewDelivery& delivery);
boost::asio::awaitable<std::int64_t> insert_delivery(AsyncConnection& connection,
                                                     NewDelivery delivery);

// Claims pending deliveries that are due (next_attempt_at <= now()), oldest first, at most
// `limit`, skipping rows another transaction holds; each claimed row gets attempts + 1 and
// next_attempt_at = now() + lease. A claim is one statement: in autocommit it needs no
// transaction around it (pqxx::nontransaction).
std::vector<Delivery> claim_due_deliveries(pqxx::transaction_base& txn, int limit,
                                           std::chrono::seconds lease);

// The same for one delivery (processing right after receipt); nullopt when it is not pending,
// not due, or held by another transaction.
std::optional<Delivery> claim_delivery(pqxx::transaction_base& txn, std::int64_t id,
                                       std::chrono::seconds lease);

// Processed, with what came of it ("applied", "unchanged", "needs_review", "unknown_order",
// "unknown_payment"). Stamps processed_at.
void mark_delivery_processed(pqxx::work& txn, std::int64_t id, std::string_view outcome);

// Processing failed (iamport unreachable, …): due again after `retry_in`; or, when the delivery
// has had `max_attempts` attempts, failed for good. Returns the state it is left in.
DeliveryState retry_delivery(pqxx::work& txn, std::int64_t id, std::string_view error,
                             std::chrono::seconds retry_in, int max_attempts);

std::optional<Delivery> find_delivery(pqxx::work& txn, std::int64_t id);

// Deliveries newest first, in `state` when given, before `before_id` when given; one more than
// `limit` tells whether another page exists.
std::vector<Delivery> list_inbox(pqxx::work& txn, std::optional<DeliveryState> state,
                                 std::optional<std::int64_t> before_id, int limit);
// A failed (or processed) delivery due again now, its attempts counted afresh; nullopt when there
// is no such delivery or it is pending already.
std::optional<Delivery> retry_inbox_delivery(pqxx::work& txn, std::int64_t id);

// Pending and failed deliveries, each counted up to kBacklogCountCap (a gauge at the cap means
// "at least that many"): reading them costs the same whatever the table holds.
inline constexpr std::int64_t kBacklogCountCap = 100'000;
struct InboxCounts {
    std::int64_t pending = 0;
    std::int64_t failed = 0;
};
InboxCounts count_backlog(pqxx::work& txn);

// Deletes up to `limit` deliveries processed more than `older_than` ago (WEBHOOK_RETENTION_DAYS),
// except those whose outcome was needs_review; failed ones stay too. Returns how many. Rows
// locked elsewhere are skipped, so instances purging at once never wait for each other.
std::int64_t purge_deliveries(pqxx::work& txn, std::chrono::seconds older_than, int limit);

// The lost-checkout schedule (SPEC §5): a pending order is looked up for this long after it was
// last acted on, at intervals that grow with that time from the least to the most.
inline constexpr std::chrono::seconds kLookupPendingFor{48 * 3600};
// The first look-up of a new order: late enough that most checkouts have completed or been
// notified by then, early enough that the next reconciler pass still falls within 60 s.
inline constexpr std::chrono::seconds kFirstLookupAfter{25};
inline constexpr std::chrono::seconds kLookupMinInterval{60};
inline constexpr std::chrono::seconds kLookupMaxInterval{30 * 60};

// Orders the reconciler must look at: awaiting_deposit (a deposit notice may be lost, the due
// time may have passed), with a payment attempt still open (in_flight or unknown), or pending
// and acted on less than kLookupPendingFor ago (a checkout's result may be lost), and not
// looked at since their orders.next_reconcile_at. Claims them like deliveries: SKIP LOCKED,
// next_reconcile_at = now() + lease. Returns their merchant_uids, oldest claim first.
std::vector<std::string> claim_orders_to_reconcile(pqxx::work& txn, int limit,
                                                   std::chrono::seconds lease);

// After the reconciler looked the order up: a pending order without an open attempt is due
// again as the lost-checkout schedule says; other orders keep their claim's lease.
void schedule_lookup(pqxx::work& txn, std::string_view merchant_uid);

// An attempt's outcome just became unknown: the order is due for the reconciler at once.
void lookup_soon(pqxx::work& txn, std::int64_t order_id);

}  // namespace mg::db
