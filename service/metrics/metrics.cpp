#include "service/metrics/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

namespace mg::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

const prometheus::Histogram::BucketBoundaries kLatencyBuckets{
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

struct Registry {
    std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
    prometheus::Family<prometheus::Counter>& requests =
        BuildCounter()
            .Name("mg_http_requests_total")
            .Help("Requests answered, by method, route pattern and status")
            .Register(*registry);
    prometheus::Family<prometheus::Histogram>& request_seconds =
        BuildHistogram()
            .Name("mg_http_request_duration_seconds")
            .Help("Time to answer a request, by method and route pattern")
            .Register(*registry);
    prometheus::Family<prometheus::Counter>& iamport_calls =
        BuildCounter()
            .Name("mg_iamport_calls_total")
            .Help("Calls to iamport, by endpoint and outcome")
            .Register(*registry);
    prometheus::Family<prometheus::Histogram>& iamport_seconds =
        BuildHistogram()
            .Name("mg_iamport_call_duration_seconds")
            .Help("Duration of calls to iamport (token and retries included), by endpoint")
            .Register(*registry);
    prometheus::Family<prometheus::Counter>& webhooks =
        BuildCounter()
            .Name("mg_webhooks_total")
            .Help("Webhook deliveries received and how their processing ended")
            .Register(*registry);
    prometheus::Family<prometheus::Counter>& reviews =
        BuildCounter()
            .Name("mg_orders_needs_review_total")
            .Help("Orders moved to needs_review because iamport's record did not match")
            .Register(*registry);
    prometheus::Counter& unsolicited =
        BuildCounter()
            .Name("mg_unsolicited_payments_total")
            .Help(
                "Payments of our orders that moved no money and that no call of ours started: "
                "recorded, they changed nothing")
            .Register(*registry)
            .Add({});
    prometheus::Family<prometheus::Counter>& reconciler =
        BuildCounter()
            .Name("mg_reconciler_passes_total")
            .Help(
                "Reconciler passes, by kind (inbox, duplicates, receipts, orders, purge) and "
                "result")
            .Register(*registry);
    prometheus::Family<prometheus::Gauge>& pool = BuildGauge()
                                                      .Name("mg_db_pool_connections")
                                                      .Help("Database pool connections")
                                                      .Register(*registry);
    prometheus::Gauge& pool_size = pool.Add({{"state", "total"}});
    prometheus::Gauge& pool_in_use = pool.Add({{"state", "in_use"}});
    prometheus::Family<prometheus::Gauge>& loop_pool =
        BuildGauge()
            .Name("mg_db_loop_connections")
            .Help("Each event loop's database connections: its size, those open and those in use")
            .Register(*registry);
    prometheus::Family<prometheus::Gauge>& loop_waiting =
        BuildGauge()
            .Name("mg_db_loop_jobs_waiting")
            .Help("Database jobs waiting for one of an event loop's connections")
            .Register(*registry);
    prometheus::Gauge& jobs_waiting = BuildGauge()
                                          .Name("mg_db_jobs_waiting")
                                          .Help("Database jobs waiting for a connection")
                                          .Register(*registry)
                                          .Add({});
    prometheus::Gauge& breaker = BuildGauge()
                                     .Name("mg_iamport_breaker_state")
                                     .Help("iamport circuit breaker: 0 closed, 1 open, 2 half-open")
                                     .Register(*registry)
                                     .Add({});
    prometheus::Gauge& notice_breaker =
        BuildGauge()
            .Name("mg_iamport_notice_breaker_state")
            .Help(
                "Circuit breaker of the reads webhooks and the reconciler make: 0 closed, 1 open, "
                "2 half-open")
            .Register(*registry)
            .Add({});
    prometheus::Family<prometheus::Gauge>& inbox =
        BuildGauge()
            .Name("mg_webhook_inbox_deliveries")
            .Help("Webhook deliveries in the inbox not processed, by state")
            .Register(*registry);
    prometheus::Gauge& inbox_pending = inbox.Add({{"state", "pending"}});
    prometheus::Gauge& inbox_failed = inbox.Add({{"state", "failed"}});
    prometheus::Family<prometheus::Counter>& notifications =
        BuildCounter()
            .Name("mg_notifications_total")
            .Help(
                "Attempts to deliver the gateway's events to the shop's endpoints, by outcome "
                "(delivered, retry, failed)")
            .Register(*registry);
    prometheus::Gauge& notification_backlog =
        BuildGauge()
            .Name("mg_notification_backlog")
            .Help("Event deliveries waiting to be sent or retried (capped at 100000; -1 unknown)")
            .Register(*registry)
            .Add({});
};

Registry& registry() {
    static Registry instance;
    return instance;
}

}  // namespace

std::string method_label(std::string_view method) {
    static constexpr std::string_view kKnown[] = {"GET",   "HEAD",   "POST",   "PUT",
                                                  "PATCH", "DELETE", "OPTIONS"};
    for (const auto known : kKnown) {
        if (method == known) {
            return std::string(known);
        }
    }
    return "other";
}

void observe_request(std::string_view method, std::string_view route, int status, double seconds) {
    // Finding a series by its labels builds a label map and takes the family's lock, so each
    // thread keeps the series it has used by (method, route, status): a request pays one hash
    // look-up. Routes are patterns and statuses few, so the cache stays small.
    struct Series {
        prometheus::Counter* requests;
        prometheus::Histogram* seconds;
    };
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view key) const {
            return std::hash<std::string_view>{}(key);
        }
    };
    thread_local std::unordered_map<std::string, Series, Hash, std::equal_to<>> cache;
    thread_local std::string key;
    const auto method_value = method_label(method);
    const std::string_view route_label = route.empty() ? std::string_view("unmatched") : route;
    key.assign(method_value).append(1, ' ').append(route_label).append(1, ' ');
    key.append(std::to_string(status));
    auto found = cache.find(std::string_view(key));
    if (found == cache.end()) {
        auto& r = registry();
        const std::string label(route_label);
        auto& counter = r.requests.Add(
            {{"method", method_value}, {"route", label}, {"status", std::to_string(status)}});
        auto& histogram =
            r.request_seconds.Add({{"method", method_value}, {"route", label}}, kLatencyBuckets);
        found = cache.emplace(key, Series{&counter, &histogram}).first;
    }
    found->second.requests->Increment();
    found->second.seconds->Observe(seconds);
}

void observe_iamport(std::string_view endpoint, std::string_view outcome, double seconds) {
    auto& r = registry();
    r.iamport_calls.Add({{"endpoint", std::string(endpoint)}, {"outcome", std::string(outcome)}})
        .Increment();
    r.iamport_seconds.Add({{"endpoint", std::string(endpoint)}}, kLatencyBuckets).Observe(seconds);
}

void count_webhook(std::string_view outcome) {
    registry().webhooks.Add({{"outcome", std::string(outcome)}}).Increment();
}

void count_review(std::string_view cause) {
    registry().reviews.Add({{"cause", std::string(cause)}}).Increment();
}

void count_notification(std::string_view outcome) {
    registry().notifications.Add({{"outcome", std::string(outcome)}}).Increment();
}

void count_unsolicited_payment() {
    registry().unsolicited.Increment();
}

void count_reconciler_pass(std::string_view kind, bool ok) {
    registry()
        .reconciler.Add({{"kind", std::string(kind)}, {"result", ok ? "ok" : "error"}})
        .Increment();
}

std::string scrape(const Gauges& gauges) {
    auto& r = registry();
    r.pool_size.Set(static_cast<double>(gauges.db_pool_size));
    r.pool_in_use.Set(static_cast<double>(gauges.db_pool_in_use));
    r.jobs_waiting.Set(static_cast<double>(gauges.db_jobs_waiting));
    for (std::size_t i = 0; i < gauges.loop_pools.size(); ++i) {
        const auto loop = std::to_string(i);
        const auto& pool = gauges.loop_pools[i];
        r.loop_pool.Add({{"loop", loop}, {"state", "size"}}).Set(static_cast<double>(pool.size));
        r.loop_pool.Add({{"loop", loop}, {"state", "open"}}).Set(static_cast<double>(pool.open));
        r.loop_pool.Add({{"loop", loop}, {"state", "in_use"}})
            .Set(static_cast<double>(pool.in_use));
        r.loop_waiting.Add({{"loop", loop}}).Set(static_cast<double>(pool.waiting));
    }
    r.breaker.Set(gauges.breaker_state);
    r.notice_breaker.Set(gauges.notice_breaker_state);
    r.inbox_pending.Set(static_cast<double>(gauges.inbox_pending));
    r.notification_backlog.Set(static_cast<double>(gauges.notification_backlog));
    r.inbox_failed.Set(static_cast<double>(gauges.inbox_failed));
    return prometheus::TextSerializer().Serialize(r.registry->Collect());
}

}  // namespace mg::metrics
