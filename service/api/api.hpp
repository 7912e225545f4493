// The merchant API: the route table and what every route shares — request ids, the access
// log, authentication (API key or an order's client secret), scopes, rate limits,
// Idempotency-Key, and the mapping of every error to its HTTP answer, in this one place.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <pqxx/transaction>
#include <string>
#include <string_view>

#include "db/async_connection.hpp"
#include "service/api/api_keys.hpp"
#include "service/api/caller.hpp"
#include "service/common/config.hpp"
#include "service/http/router.hpp"
#include "service/http/types.hpp"

namespace mg::db {
struct Migration;
}

namespace mg::runtime {
class DbExecutor;
}
namespace mg::iamport {
class Client;
}
namespace mg::payments {
class Reconciler;
}

namespace mg::api {

// Who may call a route.
struct Access {
    enum class Kind { open, api_key };
    Kind kind = Kind::api_key;
    std::string_view scope;        // required API key scope
    bool browser_allowed = false;  // X-Client-Secret of the order in the path is enough
};

using ApiHandler =
    std::function<boost::asio::awaitable<http::Response>(http::RequestContext&, const Caller&)>;

struct ApiDependencies {
    const Config& config;
    runtime::DbExecutor& db;
    const std::vector<db::Migration>& migrations;
    // The client of the request path: money calls and the reads a request makes.
    iamport::Client& iamport;
    // The reconciler's own client (webhook re-fetches, look-ups), for its breaker's gauge;
    // null: the same as `iamport`.
    iamport::Client* notice_iamport = nullptr;
    // Processes a stored webhook right away; null: the next reconciler pass does.
    payments::Reconciler* reconciler = nullptr;
};

// Which listener a request came in on. With ADMIN_LISTEN set, /metrics is served only on the
// admin listener and the API only on the main one; /healthz and /readyz on both.
enum class Listener { main, admin };

class Api {
  public:
    explicit Api(ApiDependencies deps);

    boost::asio::awaitable<http::Response> handle(http::Request& request,
                                                  const http::ConnectionInfo& connection,
                                                  Listener listener = Listener::main);

    const http::Router& router() const { return router_; }
    ApiDependencies& deps() { return deps_; }
    const crypto::SecretKey& secrets() const { return secrets_; }

    // Registers a route; used by the resource files (orders, health, …).
    void add(http::Verb method, std::string pattern, Access access, ApiHandler handler);

  private:
    boost::asio::awaitable<void> route(http::RequestContext& ctx, std::string_view path,
                                       Listener listener, http::Response& response);
    bool served_on(Listener listener, std::string_view path) const;
    boost::asio::awaitable<Caller> authenticate(http::RequestContext& ctx, const Access& access);
    // For a browser caller: its order exists and its secret is that order's (401 otherwise).
    boost::asio::awaitable<void> require_browser_access(http::RequestContext& ctx,
                                                        const Caller& caller);
    boost::asio::awaitable<http::Response> with_idempotency(http::RequestContext& ctx,
                                                            const Caller& caller,
                                                            const ApiHandler& handler);

    ApiDependencies deps_;
    http::Router router_;
    crypto::SecretKey secrets_;
    ApiKeyCache key_cache_;
    RateLimiter rate_limiter_;
    // Browser callers: per order, per secret, per source address.
    RateLimiter browser_orders_;
    RateLimiter browser_secrets_;
    RateLimiter browser_sources_;
};

// Stores `response` as the answer to the caller's Idempotency-Key, in `work`: the transaction
// that makes what the answer reports, so that both commit or neither does. Nothing without a
// key. Throws 409 idempotency_in_progress (rolling the work back) when the claim has lapsed and
// another request took the key over: that request does the work instead.
void store_idempotent_response(pqxx::work& work, const Caller& caller,
                               const http::Response& response);
// The same on an event loop's connection, as a query to send in one round trip with the work's
// last statements (none when the request has no Idempotency-Key) ...
std::optional<db::Query> idempotent_response_query(const Caller& caller,
                                                   const http::Response& response);
// ... and its result: the same 409 when the claim lapsed.
void idempotent_response_stored(const Caller& caller, const db::PgResult& result);

// Registration of each resource's routes (one file each).
void add_health_routes(Api& api);
void add_order_routes(Api& api);
void add_payment_routes(Api& api);
void add_webhook_routes(Api& api);
void add_notification_routes(Api& api);

}  // namespace mg::api
