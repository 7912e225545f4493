#include "service/notify/dispatcher.hpp"

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <mutex>

#include "db/notifications_repository.hpp"
#include "service/common/crypto.hpp"
#include "service/common/log.hpp"
#include "service/metrics/metrics.hpp"
#include "service/notify/sender.hpp"
#include "service/notify/signing.hpp"
#include "service/runtime/db_executor.hpp"

namespace mg::notify {

namespace asio = boost::asio;

namespace {

constexpr std::string_view kSecretContext = "webhook_endpoints.secret";
// At most this many attempts at once per endpoint, per instance: a slow endpoint's own queue
// waits, nobody else's.
constexpr std::size_t kPerEndpoint = 4;
constexpr int kClaimBatch = 32;

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

std::vector<std::chrono::seconds> default_retry_schedule() {
    using std::chrono::seconds;
    return {seconds(5),     seconds(300),   seconds(1800),  seconds(7200),
            seconds(18000), seconds(36000), seconds(36000), seconds(36000),
            seconds(36000), seconds(36000), seconds(36000)};
}

struct Dispatcher::State : std::enable_shared_from_this<State> {
    State(asio::any_io_executor ex, runtime::DbExecutor& d, const Config& c)
        : executor(std::move(ex)),
          db(d),
          config(c),
          secrets(c.gateway_secret_key),
          tls(asio::ssl::context::tls_client),
          timer(executor) {
        tls.set_default_verify_paths();
        tls.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                        asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
        policy.allow_private = c.notify_allow_private;
        policy.total_timeout = c.notify_timeout;
        policy.connect_timeout = std::min(c.notify_timeout, std::chrono::milliseconds(5000));
        schedule =
            c.notify_retry_schedule.empty() ? default_retry_schedule() : c.notify_retry_schedule;
    }

    asio::any_io_executor executor;
    runtime::DbExecutor& db;
    const Config& config;
    crypto::SecretKey secrets;
    asio::ssl::context tls;
    asio::steady_timer timer;
    SendPolicy policy;
    std::vector<std::chrono::seconds> schedule;
    std::atomic<bool> stopped{false};
    std::mutex mutex;
    std::map<std::string, std::size_t> in_flight;  // per endpoint
    std::size_t total_in_flight = 0;

    // Endpoints with kPerEndpoint attempts under way here: they get none more for now.
    std::vector<std::string> busy_endpoints() {
        std::lock_guard lock(mutex);
        std::vector<std::string> busy;
        for (const auto& [endpoint, count] : in_flight) {
            if (count >= kPerEndpoint) {
                busy.push_back(endpoint);
            }
        }
        return busy;
    }

    // An attempt ended: room for the next one at once, not at the next poll.
    void finished(const std::string& endpoint) {
        {
            std::lock_guard lock(mutex);
            if (--in_flight[endpoint] == 0) {
                in_flight.erase(endpoint);
            }
            --total_in_flight;
        }
        timer.cancel();
    }

    std::optional<std::string> open(const std::optional<std::string>& sealed) {
        std::string secret;
        if (!sealed || !secrets.open(*sealed, kSecretContext, secret)) {
            return std::nullopt;
        }
        return secret;
    }

    asio::awaitable<void> deliver(db::DueDelivery due) {
        auto self = shared_from_this();
        db::AttemptRecord record;
        bool delivered = false;
        try {
            const auto secret = open(due.secret_sealed);
            if (!secret) {
                throw std::runtime_error("the endpoint's secret does not open");
            }
            const auto timestamp = unix_now();
            const std::vector<std::pair<std::string, std::string>> headers = {
                {"webhook-id", due.event_id},
                {"webhook-timestamp", std::to_string(timestamp)},
                {"webhook-signature", signature_header(*secret, open(due.previous_secret_sealed),
                                                       due.event_id, timestamp, due.body)}};
            const auto sent =
                co_await send_event(executor, tls, due.url, headers, due.body, policy);
            record.http_status = sent.status;
            record.latency_ms = sent.latency_ms;
            record.error = sent.error;
            record.response_excerpt = sent.excerpt;
            delivered = sent.delivered();
        } catch (const std::exception& e) {
            record.error = e.what();
        }
        const auto attempt = static_cast<std::size_t>(due.attempts);
        std::optional<std::chrono::seconds> retry_in;
        if (!delivered && attempt <= schedule.size()) {
            retry_in = schedule[attempt - 1];
        }
        try {
            co_await db.transact([&](pqxx::work& work) {
                db::record_event_attempt(work, due.id, record, delivered, retry_in);
            });
        } catch (const std::exception& e) {
            // The lease runs out and the attempt is made again: at least once.
            log::warn("an event delivery attempt could not be recorded",
                      {{"delivery", due.id}, {"error", e.what()}});
        }
        metrics::count_notification(delivered ? "delivered" : retry_in ? "retry" : "failed");
        (delivered ? log::info : log::warn)("event delivery attempt",
                                            {{"event", due.event_id},
                                             {"endpoint", due.endpoint_id},
                                             {"attempt", due.attempts},
                                             {"status", record.http_status.value_or(0)},
                                             {"ms", record.latency_ms},
                                             {"error", record.error.value_or("")}});
        finished(due.endpoint_id);
    }

    // Claims what is due and starts each attempt; how many it claimed. A claim takes at most
    // kPerEndpoint of one endpoint and none of an endpoint with kPerEndpoint under way, so a slow
    // endpoint's queue waits behind its own attempts (at most 2 × kPerEndpoint − 1 at once),
    // nobody else's. All of it runs on one strand: the loop, the attempts and their ends.
    asio::awaitable<std::size_t> claim_pass() {
        std::size_t room = 0;
        {
            std::lock_guard lock(mutex);
            room = config.notify_concurrency > total_in_flight
                       ? config.notify_concurrency - total_in_flight
                       : 0;
        }
        if (room == 0) {
            co_return 0;
        }
        const auto busy = busy_endpoints();
        // The lease outlasts the whole attempt: nobody else takes it while it is under way.
        const auto lease = std::chrono::duration_cast<std::chrono::seconds>(policy.total_timeout) +
                           std::chrono::seconds(5);
        auto due = co_await db.transact([&](pqxx::work& work) {
            auto claimed = db::claim_due_event_deliveries(
                work, static_cast<int>(std::min<std::size_t>(room, kClaimBatch)), lease, busy,
                static_cast<int>(kPerEndpoint));
            return claimed;
        });
        for (auto& delivery : due) {
            {
                std::lock_guard lock(mutex);
                ++in_flight[delivery.endpoint_id];
                ++total_in_flight;
            }
            asio::co_spawn(executor, deliver(std::move(delivery)), asio::detached);
        }
        co_return due.size();
    }

    asio::awaitable<void> loop() {
        auto self = shared_from_this();
        while (!stopped) {
            std::size_t claimed = 0;
            try {
                claimed = co_await claim_pass();
            } catch (const std::exception& e) {
                log::warn("claiming event deliveries failed", {{"error", e.what()}});
            }
            // A full batch means more is due: claim again after a breath, not a whole interval.
            timer.expires_after(claimed >= static_cast<std::size_t>(kClaimBatch)
                                    ? std::chrono::milliseconds(5)
                                    : config.notify_poll_interval);
            boost::system::error_code ec;
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }
};

Dispatcher::Dispatcher(asio::any_io_executor executor, runtime::DbExecutor& db,
                       const Config& config)
    : state_(std::make_shared<State>(std::move(executor), db, config)) {}

Dispatcher::~Dispatcher() {
    stop();
}

void Dispatcher::start() {
    asio::co_spawn(state_->executor, state_->loop(), asio::detached);
}

void Dispatcher::stop() {
    state_->stopped = true;
    asio::post(state_->executor, [state = state_] { state->timer.cancel(); });
}

}  // namespace mg::notify
