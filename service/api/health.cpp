// Liveness and readiness probes, and the Prometheus metrics.
#include "db/migrations.hpp"
#include "db/notifications_repository.hpp"
#include "db/webhook_inbox_repository.hpp"
#include "service/api/api.hpp"
#include "service/common/log.hpp"
#include "service/http/error.hpp"
#include "service/iamport/client.hpp"
#include "service/metrics/metrics.hpp"
#include "service/runtime/db_executor.hpp"
#include "service/runtime/loop_database.hpp"

namespace mg::api {

namespace asio = boost::asio;

namespace {

asio::awaitable<http::Response> readiness(runtime::DbExecutor& db,
                                          const std::vector<db::Migration>& migrations) {
    std::string problem;
    try {
        const auto status =
            co_await db.run([&](pqxx::connection& c) { return db::schema_status(c, migrations); });
        if (status.state != db::SchemaStatus::State::current) {
            problem = "the database schema is not current: run 'merchant-gateway migrate'";
        }
    } catch (const std::exception& e) {
        problem = "the database is not reachable";
        log::warn("readiness check failed", {{"error", e.what()}});
    }
    if (!problem.empty()) {
        auto response =
            http::error_response(http::Status::service_unavailable, "not_ready", problem);
        response.set(http::beast_http::field::retry_after, "1");
        co_return response;
    }
    co_return http::json_response(http::Status::ok, boost::json::object{{"status", "ready"}});
}

asio::awaitable<http::Response> scrape(runtime::DbExecutor& db, iamport::Client& iamport,
                                       iamport::Client& notice_iamport) {
    metrics::Gauges gauges;
    gauges.db_pool_size = static_cast<std::int64_t>(db.pool().size());
    gauges.db_pool_in_use = static_cast<std::int64_t>(db.pool().in_use());
    gauges.db_jobs_waiting = static_cast<std::int64_t>(db.waiting());
    for (const auto& loop : runtime::LoopDatabase::stats_of_all()) {
        gauges.loop_pools.push_back(
            {static_cast<std::int64_t>(loop.size), static_cast<std::int64_t>(loop.open),
             static_cast<std::int64_t>(loop.in_use), static_cast<std::int64_t>(loop.waiting)});
    }
    gauges.breaker_state = static_cast<int>(iamport.breaker_state());
    gauges.notice_breaker_state = static_cast<int>(notice_iamport.breaker_state());
    try {
        const auto counts = co_await db.transact([](pqxx::work& work) {
            auto result = std::make_pair(db::count_backlog(work), db::count_event_backlog(work));
            return result;
        });
        gauges.inbox_pending = counts.first.pending;
        gauges.inbox_failed = counts.first.failed;
        gauges.notification_backlog = counts.second;
    } catch (const std::exception& e) {
        // Metrics answer even while the database does not: the backlog reads -1 then.
        log::warn("metrics: inbox counts unavailable", {{"error", e.what()}});
    }
    http::Response response{http::Status::ok, 11};
    response.set(http::beast_http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    response.body() = metrics::scrape(gauges);
    response.prepare_payload();
    co_return response;
}

}  // namespace

void add_health_routes(Api& api) {
    const Access open{Access::Kind::open, "", false};
    api.add(
        http::Verb::get, "/healthz", open,
        [](http::RequestContext&, const Caller&) -> asio::awaitable<http::Response> {
            co_return http::json_response(http::Status::ok, boost::json::object{{"status", "ok"}});
        });
    auto& db = api.deps().db;
    const auto& migrations = api.deps().migrations;
    api.add(http::Verb::get, "/readyz", open,
            [&db, &migrations](http::RequestContext&, const Caller&) {
                return readiness(db, migrations);
            });
    auto& iamport = api.deps().iamport;
    auto& notice_iamport = api.deps().notice_iamport ? *api.deps().notice_iamport : iamport;
    api.add(http::Verb::get, "/metrics", open,
            [&db, &iamport, &notice_iamport](http::RequestContext&, const Caller&) {
                return scrape(db, iamport, notice_iamport);
            });
}

}  // namespace mg::api
