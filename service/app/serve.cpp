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
#include "service/runtime/loop_database.hpp"

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
    // The access log is a line per request: each event loop writes its lines in batches, not a
    // system call each (and every 100 ms, below).
    log::buffer_output();
    migrate_database(config, std::chrono::seconds(30));
    const auto migrations = db::embedded_migrations();

    db::ConnectionPool pool(config.database_url, config.db_pool_size);
    seal_stored_client_secrets(pool, config);
    runtime::DbExecutor executor(pool, config.db_queue_limit);
    // README "Threads and the database": IO_THREADS event loops, each run by one thread with its
    // own database connections, serve the requests; one more loop runs what is not a request
    // (the reconciler, the dispatcher, iamport's connections, signals), and the executor's
    // threads run the blocking libpqxx jobs of the money paths.
    // The databases outlive their loops: requests still in a loop when it is destroyed give
    // their connections back (LoopDatabase::close comes first).
    std::vector<std::unique_ptr<runtime::LoopDatabase>> loop_databases;
    std::vector<std::unique_ptr<asio::io_context>> loops;
    std::vector<asio::io_context*> loop_pointers;
    const std::size_t loop_connections =
        std::max<std::size_t>(1, config.db_pool_size / config.io_threads);
    for (std::size_t i = 0; i < config.io_threads; ++i) {
        loops.push_back(std::make_unique<asio::io_context>(1));
        loop_pointers.push_back(loops.back().get());
        loop_databases.push_back(std::make_unique<runtime::LoopDatabase>(
            *loops.back(), runtime::LoopDatabaseOptions{config.database_url, loop_connections,
                                                        config.db_queue_limit}));
    }
    asio::io_context io(1);

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
    http::Server server(loop_pointers, limits,
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
            std::vector<asio::io_context*>{loop_pointers.front()}, limits,
            [&api](http::Request& request, const http::ConnectionInfo& connection) {
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
    // The loops run until the background loop stops (drained or the drain deadline).
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < loops.size(); ++i) {
        keep_running.push_back(asio::make_work_guard(*loops[i]));
        threads.emplace_back([&loops, &loop_databases, i] {
            log::buffer_this_thread();
            loop_databases[i]->make_current();
            // What the loop buffered is written at the latest 100 ms later, and when it stops.
            asio::steady_timer log_flusher(*loops[i]);
            std::function<void()> flush_log_later = [&] {
                log_flusher.expires_after(std::chrono::milliseconds(100));
                log_flusher.async_wait([&](const boost::system::error_code& ec) {
                    log::flush();
                    if (!ec) {
                        flush_log_later();
                    }
                });
            };
            flush_log_later();
            loops[i]->run();
            log::flush();
        });
    }
    io.run();
    for (auto& loop : loops) {
        loop->stop();
    }
    for (auto& thread : threads) {
        thread.join();
    }
    for (auto& database : loop_databases) {
        database->close();
    }
    executor.stop();
    log::info("stopped");
    log::flush();
    return 0;
}

}  // namespace mg::app
