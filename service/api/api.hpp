// The merchant API: the route table and what every route shares — request ids, the access
// log, authentication (API key or an order's client secret), scopes, rate limits,
// Idempotency-Key, and the mapping of every error to its HTTP answer, in this one place.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

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
    iamport::Client& iamport;
    // Processes a stored webhook right away; null: the next reconciler pass does.
    payments::Reconciler* reconciler = nullptr;
};

class Api {
  public:
    explicit Api(ApiDependencies deps);

    boost::asio::awaitable<http::Response> handle(http::Request& request,
                                                  const http::ConnectionInfo& connection);

    const http::Router& router() const { return router_; }
    ApiDependencies& deps() { return deps_; }

    // Registers a route; used by the resource files (orders, health, …).
    void add(http::Verb method, std::string pattern, Access access, ApiHandler handler);

  private:
    boost::asio::awaitable<void> route(http::RequestContext& ctx, std::string_view path,
                                       http::Response& response);
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

// Registration of each resource's routes (one file each).
void add_health_routes(Api& api);
void add_order_routes(Api& api);
void add_payment_routes(Api& api);
void add_webhook_routes(Api& api);

}  // namespace mg::api
