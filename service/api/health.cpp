// Liveness and readiness probes.
#include "db/migrations.hpp"
#include "service/api/api.hpp"
#include "service/app/db_executor.hpp"
#include "service/common/log.hpp"
#include "service/http/error.hpp"

namespace mg::api {

namespace asio = boost::asio;

namespace {

asio::awaitable<http::Response> readiness(app::DbExecutor& db,
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
}

}  // namespace mg::api
