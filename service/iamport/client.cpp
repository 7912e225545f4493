#include "service/iamport/client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <random>

#include "service/iamport/envelope.hpp"
#include "service/iamport/transport.hpp"

namespace mg::iamport {
namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;
using asio::use_awaitable;
using http_verb = boost::beast::http::verb;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTuple = asio::as_tuple(use_awaitable);

std::chrono::milliseconds since(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

bool counts_against_breaker(Outcome outcome) {
    return outcome == Outcome::upstream_error || outcome == Outcome::not_sent ||
           outcome == Outcome::unknown_outcome;
}

bool retryable(Outcome outcome) {
    return outcome == Outcome::upstream_error || outcome == Outcome::not_sent;
}

// A request as the call layer sees it. Always a named local passed by reference to the
// coroutines below: GCC 12 can destroy a temporary inside a co_await expression twice.
struct Call {
    http_verb method;
    std::string endpoint;  // "POST /vbanks": for logs and the observer, never the target
    std::string target;
    std::string body;
    bool idempotent;
};

// What a failed token fetch means for the call that needed it: the call itself never left.
Error token_failure_for_call(Error error) {
    if (error.outcome == Outcome::unknown_outcome) {
        error.outcome = Outcome::not_sent;
    }
    error.sent = false;
    if (error.outcome == Outcome::not_found || error.outcome == Outcome::declined) {
        error.outcome = Outcome::rejected;
    }
    error.message = "access token: " + error.message;
    return error;
}

}  // namespace

std::string encode_path_segment(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
        if (unreserved) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
        }
    }
    return out;
}

struct Client::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::any_io_executor io_executor, ClientConfig configuration)
        : config(std::move(configuration)),
          executor(io_executor),
          transport(std::make_shared<Transport>(
              io_executor,
              TransportConfig{config.base_url, config.ca_file, config.connect_timeout,
                              config.max_connections, config.idle_connection_timeout})),
          breaker(config.breaker_failure_threshold, config.breaker_open_duration),
          token_strand(asio::make_strand(io_executor)),
          random(std::random_device{}()) {}

    ClientConfig config;
    asio::any_io_executor executor;
    std::shared_ptr<Transport> transport;
    CircuitBreaker breaker;

    // Token cache: touched only on token_strand, so one refresh serves every waiter.
    asio::strand<asio::any_io_executor> token_strand;
    std::optional<AccessToken> token;
    Clock::time_point token_refresh_at{};
    bool refresh_in_flight = false;
    std::uint64_t refresh_generation = 0;
    std::optional<Error> last_refresh_error;
    std::vector<std::shared_ptr<asio::steady_timer>> token_waiters;

    std::mutex random_mutex;
    std::mt19937_64 random;

    void observe(std::string_view endpoint, Outcome outcome, Clock::time_point start) {
        if (config.observer) {
            config.observer(endpoint, outcome, since(start));
        }
    }

    Clock::time_point attempt_deadline(Clock::time_point call_deadline) const {
        return std::min(call_deadline, Clock::now() + config.attempt_timeout);
    }

    awaitable<Result<AccessToken>> fetch_token(Clock::time_point deadline) {
        auto start = Clock::now();
        json::object body{{"imp_key", config.imp_key}, {"imp_secret", config.imp_secret}};
        auto exchange =
            co_await transport->exchange(http_verb::post, "/users/getToken", json::serialize(body),
                                         "", attempt_deadline(deadline));
        auto envelope = interpret(exchange, true);
        if (!envelope) {
            observe("POST /users/getToken", envelope.outcome(), start);
            co_return envelope.error();
        }
        try {
            auto fetched = json::value_to<AccessToken>(envelope.value());
            if (fetched.access_token.empty() || fetched.expired_at <= fetched.now) {
                // The Go client's bug was to carry on with an empty token; we refuse it.
                throw DecodeError("token response without a usable token");
            }
            observe("POST /users/getToken", Outcome::success, start);
            co_return fetched;
        } catch (const std::exception& error) {
            observe("POST /users/getToken", Outcome::upstream_error, start);
            co_return Error{Outcome::upstream_error, 200, 0,
                            std::string("unreadable token answer: ") + error.what()};
        }
    }

    // Runs on token_strand. `rejected` is a token iamport just answered 401 to: it is not
    // handed out again even if our cache still thinks it is valid.
    awaitable<Result<AccessToken>> token_on_strand(Clock::time_point deadline,
                                                   std::string rejected) {
        while (true) {
            if (token && Clock::now() < token_refresh_at && token->access_token != rejected) {
                co_return *token;
            }
            if (refresh_in_flight) {
                auto generation = refresh_generation;
                auto timer = std::make_shared<asio::steady_timer>(token_strand, deadline);
                token_waiters.push_back(timer);
                co_await timer->async_wait(kTuple);
                std::erase(token_waiters, timer);
                if (refresh_generation != generation && last_refresh_error) {
                    co_return *last_refresh_error;
                }
                if (refresh_generation == generation && Clock::now() >= deadline) {
                    Error waited{Outcome::not_sent, 0, 0, "timed out waiting for an access token"};
                    waited.timed_out = true;
                    co_return waited;
                }
                continue;
            }
            refresh_in_flight = true;
            auto requested_at = Clock::now();
            auto fetched = co_await fetch_token(deadline);
            refresh_in_flight = false;
            ++refresh_generation;
            if (fetched) {
                // iamport's own clock: how long the token lives is expired_at − now, whatever
                // our clock says. Renew a margin early; a short-lived token is used for half
                // its life rather than refreshed on every call.
                auto lifetime = std::chrono::seconds(fetched->expired_at - fetched->now);
                auto usable = lifetime > config.token_refresh_margin
                                  ? lifetime - config.token_refresh_margin
                                  : lifetime / 2;
                token = fetched.value();
                token_refresh_at = requested_at + usable;
                last_refresh_error.reset();
            } else {
                token.reset();
                last_refresh_error = fetched.error();
            }
            for (auto& waiter : token_waiters) {
                waiter->cancel();
            }
            co_return fetched;
        }
    }

    awaitable<Result<AccessToken>> access_token(Clock::time_point deadline,
                                                const std::string& rejected) {
        auto task = token_on_strand(deadline, rejected);
        co_return co_await asio::co_spawn(token_strand, std::move(task), use_awaitable);
    }

    // One attempt: token, request, and on a 401 one refresh and one retry.
    awaitable<Result<json::value>> attempt(const Call& call, Clock::time_point deadline) {
        const std::string none;
        auto current = co_await access_token(deadline, none);
        if (!current) {
            co_return token_failure_for_call(current.error());
        }
        auto exchange = co_await transport->exchange(
            call.method, call.target, call.body, current->access_token, attempt_deadline(deadline));
        if (exchange.failure == Exchange::Failure::none && exchange.status == 401) {
            // The token expired in flight or was revoked: iamport did nothing with the
            // request, so even a POST may be sent again, once.
            auto renewed = co_await access_token(deadline, current->access_token);
            if (!renewed) {
                co_return token_failure_for_call(renewed.error());
            }
            exchange =
                co_await transport->exchange(call.method, call.target, call.body,
                                             renewed->access_token, attempt_deadline(deadline));
        }
        co_return interpret(exchange, call.idempotent);
    }

    std::chrono::milliseconds backoff(int retry) {
        auto ceiling = config.retry_initial_backoff * (1LL << std::min(retry, 16));
        ceiling = std::min<std::chrono::milliseconds>(ceiling, config.retry_max_backoff);
        std::lock_guard lock(random_mutex);
        // "Equal jitter": at least half the ceiling, so retries still back off.
        std::uniform_int_distribution<std::int64_t> pick(ceiling.count() / 2, ceiling.count());
        return std::chrono::milliseconds(pick(random));
    }

    awaitable<Result<json::value>> perform(const Call& call) {
        auto start = Clock::now();
        auto deadline = start + config.call_timeout;
        if (!breaker.allow()) {
            observe(call.endpoint, Outcome::breaker_open, start);
            co_return Error{Outcome::breaker_open, 0, 0,
                            "iamport circuit breaker is open after repeated failures"};
        }
        auto result = co_await attempt(call, deadline);
        int max_attempts = call.idempotent ? std::max(1, config.get_attempts) : 1;
        for (int retry = 1; retry < max_attempts && !result && retryable(result.outcome());
             ++retry) {
            auto pause = backoff(retry - 1);
            if (Clock::now() + pause >= deadline) {
                break;
            }
            spdlog::info("iamport {} failed ({}), retry {} in {} ms", call.endpoint,
                         to_string(result.outcome()), retry, pause.count());
            asio::steady_timer timer(executor, pause);
            co_await timer.async_wait(kTuple);
            result = co_await attempt(call, deadline);
        }
        if (counts_against_breaker(result.outcome())) {
            breaker.record_failure();
        } else {
            breaker.record_success();  // iamport answered, even if it said no
        }
        observe(call.endpoint, result.outcome(), start);
        if (result) {
            spdlog::debug("iamport {} succeeded in {} ms", call.endpoint, since(start).count());
        } else {
            const auto& error = result.error();
            spdlog::warn("iamport {} failed: outcome={} http_status={} code={} message={}",
                         call.endpoint, to_string(error.outcome), error.http_status, error.code,
                         error.message);
        }
        co_return result;
    }

    // A call whose answer is a T (a Payment, a Receipt, ...). An answer we cannot read to a
    // call that may have changed something is unknown, never a failure.
    template <class T>
    awaitable<Result<T>> typed_call(const Call& call) {
        bool idempotent = call.idempotent;
        const auto& endpoint = call.endpoint;
        auto result = co_await perform(call);
        if (!result) {
            co_return result.error();
        }
        try {
            co_return json::value_to<T>(result.value());
        } catch (const std::exception& error) {
            // iamport said yes but we cannot read what it did: for a POST/PUT the change may
            // well have happened, so the caller must treat it as unknown and re-fetch.
            spdlog::error("iamport {} answered what we cannot read: {}", endpoint, error.what());
            Error unreadable{idempotent ? Outcome::upstream_error : Outcome::unknown_outcome, 200,
                             0, std::string("unreadable answer from iamport: ") + error.what()};
            unreadable.sent = true;
            co_return unreadable;
        }
    }
};

Client::Client(asio::any_io_executor executor, ClientConfig config)
    : impl_(std::make_shared<Impl>(executor, std::move(config))) {}

Client::~Client() = default;

BreakerState Client::breaker_state() const {
    return impl_->breaker.state();
}

std::chrono::milliseconds Client::call_timeout() const {
    return impl_->config.call_timeout;
}

awaitable<Result<AccessToken>> Client::get_token() {
    auto impl = impl_;
    auto start = Clock::now();
    if (!impl->breaker.allow()) {
        co_return Error{Outcome::breaker_open, 0, 0, "iamport circuit breaker is open"};
    }
    const std::string none;
    auto result = co_await impl->access_token(start + impl->config.call_timeout, none);
    if (counts_against_breaker(result.outcome())) {
        impl->breaker.record_failure();
    } else {
        impl->breaker.record_success();
    }
    co_return result;
}

awaitable<Result<Payment>> Client::get_payment(std::string imp_uid) {
    auto impl = impl_;
    Call call{http_verb::get, "GET /payments/{imp_uid}",
              "/payments/" + encode_path_segment(imp_uid), "", true};
    co_return co_await impl->typed_call<Payment>(call);
}

awaitable<Result<Payment>> Client::find_payment(std::string merchant_uid,
                                                std::optional<std::string> payment_status) {
    auto impl = impl_;
    auto target = "/payments/find/" + encode_path_segment(merchant_uid);
    if (payment_status) {
        target += "/" + encode_path_segment(*payment_status);
    }
    Call call{http_verb::get, "GET /payments/find/{merchant_uid}", std::move(target), "", true};
    co_return co_await impl->typed_call<Payment>(call);
}

awaitable<Result<std::vector<Payment>>> Client::find_all_payments(std::string merchant_uid) {
    auto impl = impl_;
    std::vector<Payment> payments;
    // Pages of 100, newest first; a merchant_uid with more payments than this is not ours to
    // settle automatically (kMaxFindAllPages pages: the newest ones are what matters).
    for (int page = 1; page <= kMaxFindAllPages; ++page) {
        Call call{http_verb::get, "GET /payments/findAll/{merchant_uid}",
                  "/payments/findAll/" + encode_path_segment(merchant_uid) +
                      "?page=" + std::to_string(page) + "&limit=100&sorting=-started",
                  "", true};
        auto result = co_await impl->perform(call);
        if (!result) {
            if (result.outcome() == Outcome::not_found && page == 1) {
                co_return result.error();
            }
            if (result.outcome() == Outcome::not_found) {
                break;
            }
            co_return result.error();
        }
        bool more = false;
        try {
            const auto& list = result.value().as_object().at("list").as_array();
            for (const auto& item : list) {
                payments.push_back(json::value_to<Payment>(item));
            }
            const auto* next = result.value().as_object().if_contains("next");
            more = next != nullptr && next->is_number() && next->to_number<std::int64_t>() > 0 &&
                   !list.empty();
        } catch (const std::exception& error) {
            Error unreadable{
                Outcome::upstream_error, 200, 0,
                std::string("unreadable payment list in iamport's answer: ") + error.what()};
            unreadable.sent = true;
            co_return unreadable;
        }
        if (!more) {
            break;
        }
    }
    co_return payments;
}

awaitable<Result<Payment>> Client::issue_vbank(VbankRequest request) {
    auto impl = impl_;
    Call call{http_verb::post, "POST /vbanks", "/vbanks", json::serialize(to_body(request)), false};
    co_return co_await impl->typed_call<Payment>(call);
}

awaitable<Result<Payment>> Client::update_vbank(std::string imp_uid, VbankUpdate update) {
    auto impl = impl_;
    Call call{http_verb::put, "PUT /vbanks/{imp_uid}", "/vbanks/" + encode_path_segment(imp_uid),
              json::serialize(to_body(update)), false};
    co_return co_await impl->typed_call<Payment>(call);
}

awaitable<Result<Payment>> Client::benepia_payment(BenepiaRequest request) {
    auto impl = impl_;
    Call call{http_verb::post, "POST /benepia/payment", "/benepia/payment",
              json::serialize(to_body(request)), false};
    co_return co_await impl->typed_call<Payment>(call);
}

awaitable<Result<Payment>> Client::cancel_payment(CancelRequest request) {
    auto impl = impl_;
    Call call{http_verb::post, "POST /payments/cancel", "/payments/cancel",
              json::serialize(to_body(request)), false};
    co_return co_await impl->typed_call<Payment>(call);
}

awaitable<Result<Payment>> Client::revoke_vbank(std::string imp_uid) {
    auto impl = impl_;
    Call call{http_verb::delete_, "DELETE /vbanks/{imp_uid}",
              "/vbanks/" + encode_path_segment(imp_uid), "", false};
    co_return co_await impl->typed_call<Payment>(call);
}

awaitable<Result<Prepared>> Client::prepare(std::string merchant_uid, Amount amount, bool change) {
    auto impl = impl_;
    json::object body;
    body["merchant_uid"] = merchant_uid;
    body["amount"] = amount;
    Call call{change ? http_verb::put : http_verb::post,
              change ? "PUT /payments/prepare" : "POST /payments/prepare", "/payments/prepare",
              json::serialize(body), false};
    co_return co_await impl->typed_call<Prepared>(call);
}

awaitable<Result<Receipt>> Client::issue_receipt(std::string imp_uid, ReceiptRequest request) {
    auto impl = impl_;
    Call call{http_verb::post, "POST /receipts/{imp_uid}",
              "/receipts/" + encode_path_segment(imp_uid), json::serialize(to_body(request)),
              false};
    co_return co_await impl->typed_call<Receipt>(call);
}

awaitable<Result<Receipt>> Client::cancel_receipt(std::string imp_uid) {
    auto impl = impl_;
    Call call{http_verb::delete_, "DELETE /receipts/{imp_uid}",
              "/receipts/" + encode_path_segment(imp_uid), "", false};
    co_return co_await impl->typed_call<Receipt>(call);
}

awaitable<Result<Receipt>> Client::get_receipt(std::string imp_uid) {
    auto impl = impl_;
    Call call{http_verb::get, "GET /receipts/{imp_uid}",
              "/receipts/" + encode_path_segment(imp_uid), "", true};
    co_return co_await impl->typed_call<Receipt>(call);
}

}  // namespace mg::iamport
