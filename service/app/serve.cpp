#include "service/app/serve.hpp"

#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "db/errors.hpp"
#include "db/migrations.hpp"
#include "db/orders_repository.hpp"
#include "db/pool.hpp"
#include "db/transaction.hpp"
#include "service/api/api.hpp"
#include "service/api/order_access.hpp"
#include "service/common/crypto.hpp"
#include "service/common/log.hpp"
#include "service/http/server.hpp"
#include "service/iamport/client.hpp"
#include "service/metrics/metrics.hpp"
#include "service/notify/dispatcher.hpp"
#include "service/payments/reconciler.hpp"
#include "service/payments/settlement.hpp"
#include "service/runtime/db_executor.hpp"

namespace mg::app {

namespace asio = boost::asio;

void migrate_database(const Config& config, std::chrono::seconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    const auto migrations = db::embedded_migrations();
    for (;;) {
        try {
            const auto report = db::migrate(config.database_url, migrations);
            log::info("database schema is current",
                      {{"applied_now", report.applied.size()}, {"known", migrations.size()}});
            return;
        } catch (const db::Unavailable& e) {
            if (std::chrono::steady_clock::now() >= deadline) {
                throw;
            }
            log::warn("database not reachable yet; retrying", {{"error", e.what()}});
            std::this_thread::sleep_for(std::chrono::seconds(1));
        }
    }
}

namespace {

// Every connection holds a file descriptor, and the soft limit a process inherits is often
// 1,024: far below MAX_CONNECTIONS. The hard limit is the one the operator set, so the soft one
// is raised to it; when that is still too low for the cap, the log says so.
void raise_open_files_limit(std::size_t max_connections) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return;
    }
    if (limit.rlim_cur != limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            limit = raised;
        } else {
            log::warn("could not raise the open files limit",
                      {{"soft", static_cast<std::size_t>(limit.rlim_cur)},
                       {"hard", static_cast<std::size_t>(limit.rlim_max)}});
        }
    }
    // Beyond the connections: the database pool, iamport connections, logs, the listener.
    constexpr rlim_t kReserve = 256;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < max_connections + kReserve) {
        log::warn("the open files limit is too low for MAX_CONNECTIONS; raise it (ulimit -n)",
                  {{"open_files_limit", static_cast<std::size_t>(limit.rlim_cur)},
                   {"max_connections", max_connections}});
    }
}

// Client secrets stored in the clear by a version that did not seal them are sealed now, in
// batches, before any request is served.
void seal_stored_client_secrets(db::ConnectionPool& pool, const Config& config) {
    const crypto::SecretKey secrets(config.gateway_secret_key);
    int total = 0;
    for (;;) {
        const int sealed = db::with_transaction(pool, std::chrono::seconds(30), [&](pqxx::work& w) {
            return db::seal_client_secrets(w, 500, [&](std::string_view secret) {
                return api::seal_client_secret(secrets, secret);
            });
        });
        total += sealed;
        if (sealed == 0) {
            break;
        }
    }
    if (total > 0) {
        log::info("client secrets stored in the clear were sealed", {{"orders", total}});
    }
}

iamport::ClientConfig iamport_client_config(const Config& config, std::size_t max_connections) {
    iamport::ClientConfig client;
    client.base_url = config.iamport_base_url;
    client.imp_key = config.iamport_imp_key.value_or("");
    client.imp_secret = config.iamport_imp_secret.value_or("");
    client.ca_file = config.iamport_ca_file;
    client.connect_timeout = config.iamport_connect_timeout;
    client.attempt_timeout = config.iamport_attempt_timeout;
    client.call_timeout = config.iamport_call_timeout;
    client.max_connections = max_connections;
    client.observer = [](std::string_view endpoint, iamport::Outcome outcome,
                         std::chrono::milliseconds took) {
        metrics::observe_iamport(endpoint, iamport::to_string(outcome),
                                 static_cast<double>(took.count()) / 1000.0);
    };
    return client;
}

}  // namespace

int serve(const Config& config) {
    raise_open_files_limit(config.limits.max_connections);
    migrate_database(config, std::chrono::seconds(30));
    const auto migrations = db::embedded_migrations();

    db::ConnectionPool pool(config.database_url, config.db_pool_size);
    seal_stored_client_secrets(pool, config);
    runtime::DbExecutor executor(pool, config.db_queue_limit);
    // IO_THREADS for the network, and one more per pooled connection for database jobs that run
    // on the thread of their request (see DbExecutor).
    const std::size_t threads_count = config.io_threads + config.db_pool_size;
    asio::io_context io(static_cast<int>(threads_count));

    // Two clients, each with its own connections and circuit breaker: a flood of notices (forged
    // ones included) or a slow look-up cannot take the connections or open the breaker that
    // payments need.
    iamport::Client iamport_client(io.get_executor(),
                                   iamport_client_config(config, config.iamport_max_connections));
    iamport::Client notice_client(io.get_executor(),
                                  iamport_client_config(config, config.iamport_notice_connections));
    if (!config.public_base_url) {
        log::warn(
            "PUBLIC_BASE_URL is not set: payments carry no notice_url, so iamport sends "
            "webhooks only to the URL set in its console");
    }

    payments::set_duplicate_policy(config.refund_duplicate_payments
                                       ? payments::DuplicatePolicy::refund
                                       : payments::DuplicatePolicy::review);
    payments::Reconciler reconciler(asio::make_strand(io), executor, notice_client, config);
    notify::Dispatcher dispatcher(asio::make_strand(io), executor, config);
    api::Api api(api::ApiDependencies{config, executor, migrations, iamport_client, &notice_client,
                                      &reconciler});
    http::ServerLimits limits{config.limits.body_bytes, config.limits.header_bytes,
                              config.limits.request_timeout, config.limits.max_connections};
    http::Server server(io, limits,
                        [&api](http::Request& request, const http::ConnectionInfo& connection) {
                            return api.handle(request, connection);
                        });

    const auto address = asio::ip::make_address(config.listen.host);
    const auto bound = server.listen({address, config.listen.port});
    log::info("listening",
              {{"address", bound.address().to_string()}, {"port", static_cast<int>(bound.port())}});
    // ADMIN_LISTEN: /metrics (and the probes) on an address of their own, e.g. one only the
    // cluster reaches.
    std::optional<http::Server> admin_server;
    if (config.admin_listen) {
        admin_server.emplace(
            io, limits, [&api](http::Request& request, const http::ConnectionInfo& connection) {
                return api.handle(request, connection, api::Listener::admin);
            });
        const auto admin_bound = admin_server->listen(
            {asio::ip::make_address(config.admin_listen->host), config.admin_listen->port});
        log::info("admin listening", {{"address", admin_bound.address().to_string()},
                                      {"port", static_cast<int>(admin_bound.port())}});
    }

    asio::signal_set signals(io, SIGTERM, SIGINT);
    asio::steady_timer drain_deadline(io);
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
        if (ec) {
            return;
        }
        log::info("stopping: finishing requests in flight", {{"signal", signal}});
        reconciler.stop();
        dispatcher.stop();
        if (admin_server) {
            admin_server->shutdown([] {});
        }
        server.shutdown([&io] { asio::post(io, [&io] { io.stop(); }); });
        drain_deadline.expires_after(config.drain_timeout);
        drain_deadline.async_wait([&](const boost::system::error_code& timer_ec) {
            if (!timer_ec) {
                log::warn("drain timeout reached; closing remaining connections",
                          {{"open_connections", server.open_connections()}});
                io.stop();
            }
        });
    });

    reconciler.start();
    dispatcher.start();
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < threads_count; ++i) {
        threads.emplace_back([&io] { io.run(); });
    }
    io.run();
    for (auto& thread : threads) {
        thread.join();
    }
    executor.stop();
    log::info("stopped");
    return 0;
}

}  // namespace mg::app
