#include "service/api/api.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <cctype>

#include "db/api_keys_repository.hpp"
#include "db/errors.hpp"
#include "db/idempotency_repository.hpp"
#include "db/orders_repository.hpp"
#include "service/api/client_address.hpp"
#include "service/api/order_access.hpp"
#include "service/common/crypto.hpp"
#include "service/common/log.hpp"
#include "service/domain/validation.hpp"
#include "service/http/error.hpp"
#include "service/metrics/metrics.hpp"
#include "service/payments/failure.hpp"
#include "service/runtime/db_executor.hpp"
#include "service/runtime/loop_database.hpp"

namespace mg::api {

namespace asio = boost::asio;
using http::HttpError;
using http::Status;

namespace {

constexpr std::string_view kStoredResponseContext = "idempotency_keys.response_body";

constexpr std::chrono::hours kIdempotencyTtl{24};

// Stores `response` under the request's claim; false when the claim is no longer its own.
// Sealed: an answer may hold the order's client secret.
bool store_answer(pqxx::work& work, const IdempotentRequest& request,
                  const crypto::SecretKey& secrets, const http::Response& response) {
    return db::complete_idempotency_key(work, request.scope, request.key, request.claim,
                                        static_cast<int>(response.result_int()),
                                        secrets.seal(response.body(), kStoredResponseContext),
                                        response[http::beast_http::field::content_type]);
}

db::Query store_answer_query(const IdempotentRequest& request, const crypto::SecretKey& secrets,
                             const http::Response& response) {
    return db::complete_idempotency_key_query(request.scope, request.key, request.claim,
                                              static_cast<int>(response.result_int()),
                                              secrets.seal(response.body(), kStoredResponseContext),
                                              response[http::beast_http::field::content_type]);
}
constexpr std::size_t kMaxIdempotencyKey = 255;

// An incoming X-Request-Id is kept if it looks like an id; anything else is replaced so that
// log lines cannot be forged through it.
bool is_acceptable_request_id(std::string_view id) {
    if (id.empty() || id.size() > 128) {
        return false;
    }
    for (const char c : id) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
            c != ':') {
            return false;
        }
    }
    return true;
}

// A request id without a system call or a lock: 16 random characters drawn once per process,
// the number of the thread and a count of its requests ("tL0m…-1-52771"). Unique within the
// process and, through the random part, across processes.
std::string new_request_id() {
    static const std::string process = crypto::random_token(12);
    static std::atomic<unsigned> threads{0};
    thread_local const std::string thread = process + '-' + std::to_string(threads++) + '-';
    thread_local std::uint64_t count = 0;
    return thread + std::to_string(++count);
}

// The access log's lines are buffered (log::buffer_output). A loop serving one request at a time
// writes its line at once, before the answer, as a lone client expects to find it; a busy one
// writes its lines when it has run what is ready now, in one system call for them all.
thread_local std::size_t requests_on_this_loop = 0;
thread_local bool log_write_pending = false;

asio::awaitable<void> write_log_when_idle() {
    if (requests_on_this_loop == 0) {
        log::flush();
        co_return;
    }
    if (!log_write_pending) {
        log_write_pending = true;
        asio::post(co_await asio::this_coro::executor, [] {
            log_write_pending = false;
            log::flush();
        });
    }
}

bool starts_with_bearer(std::string_view header) {
    static constexpr std::string_view kScheme = "bearer ";
    if (header.size() <= kScheme.size()) {
        return false;
    }
    for (std::size_t i = 0; i < kScheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) {
            return false;
        }
    }
    return true;
}

HttpError unauthorized(std::string code, const std::string& message) {
    return HttpError(Status::unauthorized, std::move(code), message);
}

std::string_view path_of(std::string_view target) {
    return target.substr(0, target.find('?'));
}

// A merchant_uid in the path that breaks its rules names no order: it is answered as an
// unknown order at once, before it reaches the database (which refuses bytes that are not
// UTF-8 with an error) or an idempotency scope.
void require_possible_merchant_uid(const http::RequestContext& ctx, const Caller& caller) {
    const auto found = std::find_if(ctx.params.begin(), ctx.params.end(), [](const auto& param) {
        return param.first == "merchant_uid";
    });
    if (found != ctx.params.end() && domain::check_merchant_uid("merchant_uid", found->second)) {
        require_order_access(caller, nullptr);
    }
}

// A browser learns that its payment was declined, not why: iamport's text (which tells a wrong
// password from an empty balance) stays for API-key callers and the log.
asio::awaitable<http::Response> answer_a_browser(ApiHandler handler, http::RequestContext& ctx,
                                                 const Caller& caller) {
    try {
        co_return co_await handler(ctx, caller);
    } catch (const payments::Failure& e) {
        if (e.kind() != payments::Failure::Kind::declined) {
            throw;
        }
    }
    throw payments::Failure(payments::Failure::Kind::declined, "payment_failed",
                            "the payment was declined");
}

ApiHandler as_for_a_browser(const ApiHandler& handler) {
    return [handler](http::RequestContext& ctx, const Caller& caller) {
        return answer_a_browser(handler, ctx, caller);
    };
}

// The one place a payments use case's refusal becomes an HTTP answer (README "The money rules").
HttpError to_http(const payments::Failure& failure) {
    using Kind = payments::Failure::Kind;
    Status status = Status::bad_gateway;
    switch (failure.kind()) {
        case Kind::not_found:
            status = Status::not_found;
            break;
        case Kind::conflict:
            status = Status::conflict;
            break;
        case Kind::too_many_attempts:
            status = Status::too_many_requests;
            break;
        case Kind::invalid:
            status = Status::unprocessable_entity;
            break;
        case Kind::declined:
            status = Status::payment_required;
            break;
        case Kind::iamport_paused:
            status = Status::service_unavailable;
            break;
        case Kind::iamport_timeout:
            status = Status::gateway_timeout;
            break;
        case Kind::iamport_unreachable:
        case Kind::iamport_error:
            status = Status::bad_gateway;
            break;
    }
    HttpError error(
        status, failure.code(), failure.what(),
        failure.field().empty() ? std::nullopt : std::optional<std::string>(failure.field()));
    error.retry_after = failure.retry_after;
    return error;
}

http::Response map_exception(std::exception_ptr failure, const http::RequestContext& ctx) {
    try {
        std::rethrow_exception(failure);
    } catch (const HttpError& e) {
        auto response = http::error_response(e);
        if (e.status() == Status::unauthorized) {
            response.set(http::beast_http::field::www_authenticate,
                         "Bearer realm=\"merchant-gateway\"");
        }
        return response;
    } catch (const payments::Failure& e) {
        return http::error_response(to_http(e));
    } catch (const runtime::DbOverloaded&) {
        auto response = http::error_response(Status::service_unavailable, "overloaded",
                                             "the service is busy; retry shortly");
        response.set(http::beast_http::field::retry_after, "1");
        return response;
    } catch (const db::Unavailable& e) {
        log::error("database unavailable",
                   {{"request_id", ctx.request_id}, {"route", ctx.route}, {"error", e.what()}});
        auto response = http::error_response(Status::service_unavailable, "database_unavailable",
                                             "the database is not reachable; retry shortly");
        response.set(http::beast_http::field::retry_after, "1");
        return response;
    } catch (const std::exception& e) {
        log::error("request failed",
                   {{"request_id", ctx.request_id}, {"route", ctx.route}, {"error", e.what()}});
        return http::error_response(Status::internal_server_error, "internal_error",
                                    "an internal error occurred");
    }
}

}  // namespace

Api::Api(ApiDependencies deps)
    : deps_(deps),
      secrets_(deps.config.gateway_secret_key),
      key_cache_(deps.config.api_key_cache_ttl),
      rate_limiter_(deps.config.limits.rate_per_second, deps.config.limits.rate_burst),
      browser_orders_(deps.config.browser_rate_per_second, deps.config.browser_rate_burst),
      browser_secrets_(deps.config.browser_rate_per_second, deps.config.browser_rate_burst),
      browser_sources_(deps.config.browser_rate_per_second, deps.config.browser_rate_burst) {
    add_health_routes(*this);
    add_order_routes(*this);
    add_payment_routes(*this);
    add_webhook_routes(*this);
    add_notification_routes(*this);
}

void Api::add(http::Verb method, std::string pattern, Access access, ApiHandler handler) {
    const bool replayable = method == http::Verb::post || method == http::Verb::patch;
    router_.add(method, std::move(pattern),
                [this, access, replayable, handler = std::move(handler)](
                    http::RequestContext& ctx) -> asio::awaitable<http::Response> {
                    Caller caller;
                    if (access.kind == Access::Kind::api_key) {
                        caller = co_await authenticate(ctx, access);
                    }
                    caller.secrets = &secrets_;
                    require_possible_merchant_uid(ctx, caller);
                    const ApiHandler answer =
                        caller.is_browser() ? ApiHandler(as_for_a_browser(handler)) : handler;
                    if (replayable && access.kind == Access::Kind::api_key &&
                        !ctx.header("Idempotency-Key").empty()) {
                        if (caller.is_browser()) {
                            // Nothing is stored for a secret that is not the order's.
                            co_await require_browser_access(ctx, caller);
                        }
                        co_return co_await with_idempotency(ctx, caller, answer);
                    }
                    co_return co_await answer(ctx, caller);
                });
}

asio::awaitable<void> Api::route(http::RequestContext& ctx, std::string_view path,
                                 Listener listener, http::Response& response) {
    if (!served_on(listener, path)) {
        throw http::not_found("route_not_found", "no such route");
    }
    auto match = router_.match(ctx.request.method(), path);
    if (std::holds_alternative<http::Router::NoRoute>(match)) {
        throw http::not_found("route_not_found", "no such route");
    }
    if (auto* wrong = std::get_if<http::Router::WrongMethod>(&match)) {
        response = http::error_response(Status::method_not_allowed, "method_not_allowed",
                                        "this route does not take that method");
        response.set(http::beast_http::field::allow, wrong->allow);
        co_return;
    }
    auto& found = std::get<http::Router::Match>(match);
    ctx.route = *found.pattern;
    ctx.params = std::move(found.params);
    response = co_await (*found.handler)(ctx);
}

bool Api::served_on(Listener listener, std::string_view path) const {
    if (!deps_.config.admin_listen) {
        return true;  // one listener serves everything
    }
    if (path == "/healthz" || path == "/readyz") {
        return true;
    }
    return (path == "/metrics") == (listener == Listener::admin);
}

asio::awaitable<http::Response> Api::handle(http::Request& request,
                                            const http::ConnectionInfo& connection,
                                            Listener listener) {
    const auto started = std::chrono::steady_clock::now();
    ++requests_on_this_loop;
    const auto incoming_id = request["X-Request-Id"];
    http::RequestContext ctx{
        request,
        connection,
        is_acceptable_request_id(incoming_id) ? std::string(incoming_id) : new_request_id(),
        "",
        {}};
    const auto path = path_of(request.target());

    const auto origin = request[http::beast_http::field::origin];
    const bool cors =
        !origin.empty() && std::find(deps_.config.cors_allowed_origins.begin(),
                                     deps_.config.cors_allowed_origins.end(),
                                     origin) != deps_.config.cors_allowed_origins.end();

    std::exception_ptr failure;
    http::Response response;
    try {
        if (request.method() == http::Verb::options &&
            !request[http::beast_http::field::access_control_request_method].empty()) {
            // A CORS preflight: allowed origins may use the routes a browser may call, and
            // only routes that exist.
            const auto requested = http::beast_http::string_to_verb(
                request[http::beast_http::field::access_control_request_method]);
            if (!served_on(listener, path) ||
                std::holds_alternative<http::Router::NoRoute>(router_.match(requested, path))) {
                throw http::not_found("route_not_found", "no such route");
            }
            if (!cors) {
                throw HttpError(Status::forbidden, "cors_origin_not_allowed",
                                "this origin is not in CORS_ALLOWED_ORIGINS");
            }
            response = http::Response{Status::no_content, request.version()};
            response.set(http::beast_http::field::access_control_allow_methods, "GET, POST");
            response.set(http::beast_http::field::access_control_allow_headers,
                         "Content-Type, X-Client-Secret, Idempotency-Key, X-Request-Id");
            response.set(http::beast_http::field::access_control_max_age, "600");
            ctx.route = "preflight";
        } else {
            co_await route(ctx, path, listener, response);
        }
    } catch (...) {
        failure = std::current_exception();
    }
    if (failure) {
        response = map_exception(failure, ctx);
    }
    if (cors) {
        response.set(http::beast_http::field::access_control_allow_origin, origin);
        response.set(http::beast_http::field::access_control_expose_headers,
                     "X-Request-Id, Idempotent-Replayed, Retry-After");
    }
    if (!deps_.config.cors_allowed_origins.empty()) {
        response.set(http::beast_http::field::vary, "Origin");
    }

    response.set("X-Request-Id", ctx.request_id);
    const auto elapsed =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started);
    metrics::observe_request(std::string_view(request.method_string()), ctx.route,
                             static_cast<int>(response.result_int()), elapsed.count() / 1000.0);
    log::info("access", {{"method", std::string_view(request.method_string())},
                         {"route", ctx.route.empty() ? std::string_view("unmatched") : ctx.route},
                         {"status", static_cast<int>(response.result_int())},
                         {"ms", elapsed.count()},
                         {"request_id", ctx.request_id}});
    --requests_on_this_loop;
    co_await write_log_when_idle();
    co_return response;
}

asio::awaitable<Caller> Api::authenticate(http::RequestContext& ctx, const Access& access) {
    const auto authorization = ctx.header("Authorization");
    if (!authorization.empty()) {
        if (!starts_with_bearer(authorization)) {
            throw unauthorized("invalid_api_key", "Authorization must be 'Bearer <api key>'");
        }
        const auto key = authorization.substr(7);
        if (!has_api_key_shape(key)) {
            throw unauthorized("invalid_api_key", "the API key is not valid");
        }
        const auto hash = hash_api_key(key);
        Caller caller;
        const auto known = key_cache_.find(hash, caller);
        if (known == ApiKeyCache::Known::invalid) {
            throw unauthorized("invalid_api_key", "the API key is not valid");
        }
        if (known == ApiKeyCache::Known::no) {
            auto record =
                co_await runtime::LoopDatabase::current().run([&hash](db::AsyncConnection& c) {
                    return db::find_active_api_key_by_hash(c, hash);
                });
            if (!record) {
                key_cache_.put_invalid(hash);
                throw unauthorized("invalid_api_key", "the API key is not valid");
            }
            caller = Caller{Caller::Kind::api_key, record->id, record->name, record->scopes, {}};
            key_cache_.put(hash, caller);
        }
        std::chrono::seconds retry_after{1};
        if (!rate_limiter_.allow(caller.key_id, retry_after)) {
            HttpError error(Status::too_many_requests, "rate_limited",
                            "too many requests for this API key");
            error.retry_after = retry_after;
            throw error;
        }
        if (!caller.has_scope(access.scope)) {
            throw HttpError(Status::forbidden, "insufficient_scope",
                            "this API key lacks the '" + std::string(access.scope) + "' scope");
        }
        co_return caller;
    }
    const auto secret = ctx.header("X-Client-Secret");
    if (!secret.empty()) {
        if (!access.browser_allowed) {
            // A client secret is not a credential for this route: as if no key were sent.
            throw unauthorized("api_key_required", "this route needs the storefront's API key");
        }
        // Budgeted three ways, so that neither many secrets on one order, nor one secret from
        // many places, nor one place trying many orders gets far (guessing passwords through
        // Benepia, or making iamport reads with made-up imp_uids).
        std::chrono::seconds retry_after{1};
        const auto source = client_address(ctx, deps_.config.webhook_trusted_proxies).to_string();
        if (!browser_orders_.allow("order:" + ctx.param("merchant_uid"), retry_after) ||
            !browser_secrets_.allow(std::string(secret), retry_after) ||
            !browser_sources_.allow(source, retry_after)) {
            HttpError error(Status::too_many_requests, "rate_limited",
                            "too many requests from this browser; retry later");
            error.retry_after = retry_after;
            throw error;
        }
        Caller browser;
        browser.kind = Caller::Kind::browser;
        browser.client_secret = std::string(secret);
        co_return browser;
    }
    throw unauthorized("unauthorized", "send 'Authorization: Bearer <api key>'");
}

asio::awaitable<void> Api::require_browser_access(http::RequestContext& ctx, const Caller& caller) {
    const auto& merchant_uid = ctx.param("merchant_uid");
    auto order = co_await runtime::LoopDatabase::current().run(
        [&merchant_uid](db::AsyncConnection& c) { return db::find_order(c, merchant_uid); });
    require_order_access(caller, order);
}

asio::awaitable<http::Response> Api::with_idempotency(http::RequestContext& ctx,
                                                      const Caller& caller,
                                                      const ApiHandler& handler) {
    const std::string key(ctx.header("Idempotency-Key"));
    if (key.size() > kMaxIdempotencyKey) {
        throw http::validation_failed("Idempotency-Key", "must be at most 255 characters");
    }
    // Header values are bytes; the key is stored as text.
    if (domain::check_text("Idempotency-Key", key, 1, kMaxIdempotencyKey)) {
        throw http::validation_failed("Idempotency-Key",
                                      "must be UTF-8 text without control characters");
    }
    const auto scope = caller.idempotency_scope(ctx.param("merchant_uid"));
    const auto& request = ctx.request;
    // Keyed: a dump of idempotency_keys reveals nothing of the bodies (Benepia passwords).
    const auto fingerprint =
        secrets_.fingerprint(std::string(request.method_string()) + ' ' +
                             std::string(path_of(request.target())) + '\n' + request.body());
    const auto claim_lifetime = deps_.config.idempotency_claim_lifetime();
    auto claim = co_await runtime::LoopDatabase::current().run([&](db::AsyncConnection& c) {
        return db::claim_idempotency_key(c, scope, key, fingerprint, kIdempotencyTtl,
                                         claim_lifetime);
    });
    switch (claim.outcome) {
        case db::IdempotencyClaim::Outcome::replay: {
            const auto& stored = *claim.response;
            http::Response replay{static_cast<Status>(stored.status), request.version()};
            replay.set(http::beast_http::field::content_type, stored.content_type);
            replay.set("Idempotent-Replayed", "true");
            if (!secrets_.open(stored.body, kStoredResponseContext, replay.body())) {
                throw std::runtime_error(
                    "a stored idempotent response does not open under GATEWAY_SECRET_KEY");
            }
            replay.prepare_payload();
            co_return replay;
        }
        case db::IdempotencyClaim::Outcome::mismatch:
            throw HttpError(Status::unprocessable_entity, "idempotency_key_reused",
                            "this Idempotency-Key was used with another request");
        case db::IdempotencyClaim::Outcome::in_progress:
            throw http::conflict("idempotency_in_progress",
                                 "a request with this Idempotency-Key is still running");
        case db::IdempotencyClaim::Outcome::claimed:
            break;
    }

    IdempotentRequest idempotent{scope, key, claim.claim, false};
    Caller claimant = caller;
    claimant.idempotency = &idempotent;
    http::Response response;
    std::exception_ptr failure;
    try {
        response = co_await handler(ctx, claimant);
    } catch (const HttpError& e) {
        // A refusal is the answer to this request: replaying it is correct.
        response = http::error_response(e);
        if (e.status() >= Status::internal_server_error) {
            failure = std::current_exception();
        }
    } catch (const payments::Failure& e) {
        // The same for a payment call's refusal (a decline is replayed, never sent again).
        const auto error = to_http(e);
        response = http::error_response(error);
        if (error.status() >= Status::internal_server_error) {
            failure = std::current_exception();
        }
    } catch (...) {
        failure = std::current_exception();
    }

    // 5xx and unexpected failures are safe to retry: the key is released for the next try. So
    // are 401 and 404: nothing is kept for a caller without access or an order that does not
    // exist.
    const auto status = response.result_int();
    const bool store = !failure && status < 500 && status != 401 && status != 404;
    try {
        // Stored by the handler in the transaction that did the work: done, unless that
        // transaction failed after all (a release then finds a completed key and keeps it).
        bool ours = true;
        if (!idempotent.stored || failure) {
            // One statement in autocommit.
            auto query = store ? store_answer_query(idempotent, secrets_, response)
                               : db::release_idempotency_key_query(scope, key, claim.claim);
            const auto result = co_await runtime::LoopDatabase::current().run(
                [&query](db::AsyncConnection& c) { return c.exec(std::move(query)); });
            ours = !result.empty();
        }
        if (!ours) {
            // Our claim lapsed and a retry took the key over: what it stores stands.
            log::warn("an Idempotency-Key was no longer this request's to complete or release",
                      {{"request_id", ctx.request_id}, {"status", static_cast<int>(status)}});
        }
    } catch (const std::exception& e) {
        // The key stays claimed until its lock times out; the response itself stands.
        log::error("could not record the idempotent response",
                   {{"request_id", ctx.request_id}, {"error", e.what()}});
    }
    if (failure) {
        std::rethrow_exception(failure);
    }
    co_return response;
}

void store_idempotent_response(pqxx::work& work, const Caller& caller,
                               const http::Response& response) {
    auto* idempotent = caller.idempotency;
    if (idempotent == nullptr) {
        return;
    }
    if (!store_answer(work, *idempotent, *caller.secrets, response)) {
        throw http::conflict("idempotency_in_progress",
                             "a request with this Idempotency-Key is still running");
    }
    idempotent->stored = true;
}

std::optional<db::Query> idempotent_response_query(const Caller& caller,
                                                   const http::Response& response) {
    if (caller.idempotency == nullptr) {
        return std::nullopt;
    }
    return store_answer_query(*caller.idempotency, *caller.secrets, response);
}

void idempotent_response_stored(const Caller& caller, const db::PgResult& result) {
    if (result.empty()) {
        throw http::conflict("idempotency_in_progress",
                             "a request with this Idempotency-Key is still running");
    }
    caller.idempotency->stored = true;
}

}  // namespace mg::api
