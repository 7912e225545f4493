// The service's Prometheus metrics (SPEC §9), served as text on GET /metrics. One registry per
// process; every layer records through these functions, never through prometheus-cpp directly.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mg::metrics {

// An answered request: the route pattern (not the raw path, so label values stay few), and
// the method as one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or `other`: no value a
// client sends ever becomes a label of its own.
std::string method_label(std::string_view method);
void observe_request(std::string_view method, std::string_view route, int status, double seconds);
// A call to iamport: endpoint like "POST /vbanks", outcome like "success", "declined".
void observe_iamport(std::string_view endpoint, std::string_view outcome, double seconds);
// A webhook delivery: "received", then how its processing ended ("applied", "unchanged",
// "needs_review", "unknown_order", "unknown_payment", "retry", "failed").
void count_webhook(std::string_view outcome);
// An order moved to needs_review; `cause` is the order event's cause.
void count_review(std::string_view cause);
// A payment reported for one of our orders that moved no money and that no call of ours
// started (mg_unsolicited_payments_total): recorded for operators, it changed nothing.
void count_unsolicited_payment();
// An attempt to deliver one of our events (mg_notifications_total): delivered, retry, failed.
void count_notification(std::string_view outcome);
// A reconciler pass over "inbox" or "orders", and whether it completed.
void count_reconciler_pass(std::string_view kind, bool ok);

// One event loop's database connections (runtime::LoopDatabase).
struct LoopPool {
    std::int64_t size = 0;
    std::int64_t open = 0;
    std::int64_t in_use = 0;
    std::int64_t waiting = 0;
};

struct Gauges {
    std::vector<LoopPool> loop_pools;  // by loop number
    std::int64_t db_pool_size = 0;
    std::int64_t db_pool_in_use = 0;
    std::int64_t db_jobs_waiting = 0;
    int breaker_state = 0;         // 0 closed, 1 open, 2 half-open
    int notice_breaker_state = 0;  // the same for the reads notices and the reconciler make
    // -1 when unknown (the database did not answer the scrape's count).
    std::int64_t inbox_pending = -1;
    std::int64_t inbox_failed = -1;
    std::int64_t notification_backlog = -1;
};

// The registry in Prometheus text format, with `gauges` set first.
std::string scrape(const Gauges& gauges);

}  // namespace mg::metrics
