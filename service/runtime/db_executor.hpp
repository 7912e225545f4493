// Runs blocking database work for coroutines, most often one transaction:
//
//   auto order = co_await db.transact([&](pqxx::work& txn) { …; return o; });
//
// which commits when the callable returns and rolls back when it throws (db/transaction.hpp).
// `run` hands over the bare connection, for work that is not one transaction.
//
// Jobs run on a thread pool of its own (one thread per pooled connection), never on the caller's
// thread: an event loop's thread never blocks on libpqxx. These are the money paths and the
// background work, whose transactions are written as blocking code; the request paths that must
// run at the machine's limit use the event loop's own connections instead
// (service/runtime/loop_database.hpp).
//
// The callable gets a connection from the pool; nothing of pqxx may outlive it. The number of
// jobs running and waiting is bounded: beyond it, DbOverloaded (→ 503).
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "db/pool.hpp"
#include "db/transaction.hpp"

namespace mg::runtime {

class DbOverloaded : public std::runtime_error {
  public:
    DbOverloaded() : std::runtime_error("too many database jobs are waiting") {}
};

class DbExecutor {
  public:
    DbExecutor(db::ConnectionPool& pool, std::size_t queue_limit,
               std::chrono::milliseconds acquire_wait = std::chrono::seconds(5));
    ~DbExecutor();
    DbExecutor(const DbExecutor&) = delete;
    DbExecutor& operator=(const DbExecutor&) = delete;

    template <class F>
    boost::asio::awaitable<std::invoke_result_t<F, pqxx::connection&>> run(F job) {
        using R = std::invoke_result_t<F, pqxx::connection&>;
        if constexpr (std::is_void_v<R>) {
            co_await run_erased([&](pqxx::connection& c) { job(c); });
        } else {
            std::optional<R> result;
            co_await run_erased([&](pqxx::connection& c) { result.emplace(job(c)); });
            co_return std::move(*result);
        }
    }

    // `job(txn)` in a transaction of its own, committed when it returns. Database failures
    // leave as db/errors.hpp types: db::UnknownOutcome when the commit's outcome is unknown.
    template <class F>
    boost::asio::awaitable<std::invoke_result_t<F&, pqxx::work&>> transact(F job) {
        return run([job = std::move(job)](pqxx::connection& c) mutable {
            return db::with_transaction(c, job);
        });
    }

    // `job(statements)` in autocommit (db::in_autocommit): for work of one statement.
    template <class F>
    boost::asio::awaitable<std::invoke_result_t<F&, pqxx::nontransaction&>> autocommit(F job) {
        return run([job = std::move(job)](pqxx::connection& c) mutable {
            return db::in_autocommit(c, job);
        });
    }

    std::size_t waiting() const { return waiting_.load(); }
    db::ConnectionPool& pool() { return pool_; }
    // Waits for the jobs on the thread pool.
    void stop();

  private:
    boost::asio::awaitable<void> run_erased(std::function<void(pqxx::connection&)> job);

    db::ConnectionPool& pool_;
    std::size_t queue_limit_;
    std::chrono::milliseconds acquire_wait_;
    boost::asio::thread_pool threads_;
    std::atomic<std::size_t> waiting_{0};
};

}  // namespace mg::runtime
