// The database connections of one event loop, for the request paths that run on it without a
// thread hand-off (README "Threads and the database"):
//
//   auto found = co_await LoopDatabase::current().run(
//       [&](db::AsyncConnection& c) { return db::find_order_with_payments(c, uid); });
//   auto order = co_await db.transact([&](db::AsyncTransaction& t) -> awaitable<Order> {…});
//
// Every loop has its own pool: its connections are only ever touched by its thread, so there is
// no lock, and a request is parsed, queried and answered on the thread that accepted it.
// Connections open on demand (the service starts while PostgreSQL is down); one that broke, or
// that was closed by the server while it sat idle, is replaced. A job waits for a connection
// when all are busy: at most `queue_limit` wait (beyond, DbOverloaded → 503 overloaded) and none
// longer than `acquire_wait` (db::Unavailable → 503).
#pragma once

#include <atomic>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "db/async_connection.hpp"
#include "db/async_transaction.hpp"
#include "service/runtime/db_executor.hpp"

namespace mg::runtime {

struct LoopDatabaseOptions {
    std::string conninfo;
    std::size_t size = 4;            // connections of this loop
    std::size_t queue_limit = 1000;  // jobs waiting for one
    std::chrono::milliseconds acquire_wait{5000};
    std::chrono::milliseconds connect_timeout{5000};
};

class LoopDatabase {
  public:
    LoopDatabase(boost::asio::io_context& loop, LoopDatabaseOptions options);
    ~LoopDatabase();
    LoopDatabase(const LoopDatabase&) = delete;
    LoopDatabase& operator=(const LoopDatabase&) = delete;

    // The database of the loop whose thread calls; std::logic_error off the loops.
    static LoopDatabase& current();
    // Makes this the calling thread's database (each loop's thread calls it once).
    void make_current();
    // Closes the idle connections and fails the waiting jobs, once the loop no longer runs and
    // before it is destroyed; connections given back later are closed.
    void close();

    // Exclusive use of one connection until destruction.
    class Lease {
      public:
        Lease(LoopDatabase& owner, std::unique_ptr<db::AsyncConnection> connection)
            : owner_(&owner), connection_(std::move(connection)) {}
        Lease(Lease&& other) noexcept
            : owner_(std::exchange(other.owner_, nullptr)),
              connection_(std::move(other.connection_)) {}
        Lease& operator=(Lease&&) = delete;
        ~Lease() {
            if (owner_ != nullptr) {
                owner_->give_back(std::move(connection_));
            }
        }
        db::AsyncConnection& operator*() { return *connection_; }

      private:
        LoopDatabase* owner_;
        std::unique_ptr<db::AsyncConnection> connection_;
    };

    boost::asio::awaitable<Lease> acquire();

    // `job(connection)`, an awaitable, in autocommit: for single reads.
    template <class F>
    auto run(F job) -> std::invoke_result_t<F, db::AsyncConnection&> {
        auto lease = co_await acquire();
        auto result = co_await job(*lease);
        co_return result;
    }

    // `job(transaction)`, an awaitable, in a transaction committed when it returns and rolled
    // back when it throws.
    template <class F>
    auto transact(F job) -> std::invoke_result_t<F, db::AsyncTransaction&> {
        auto lease = co_await acquire();
        co_return co_await db::in_transaction(*lease, std::move(job));
    }

    std::size_t size() const { return options_.size; }
    std::size_t open() const { return open_; }
    std::size_t idle() const { return idle_.size(); }
    std::size_t waiting() const { return waiters_.size(); }

    // Every loop's counts as they last changed, readable from any thread (/metrics), in the
    // order the loops' databases were made.
    struct Stats {
        std::size_t size = 0;
        std::size_t open = 0;
        std::size_t in_use = 0;
        std::size_t waiting = 0;
    };
    static std::vector<Stats> stats_of_all();

  private:
    using Handler = boost::asio::any_completion_handler<void(std::exception_ptr,
                                                             std::unique_ptr<db::AsyncConnection>)>;
    struct Waiter {
        std::chrono::steady_clock::time_point deadline;
        Handler handler;
    };

    boost::asio::awaitable<std::unique_ptr<db::AsyncConnection>> open_connection();
    void give_back(std::unique_ptr<db::AsyncConnection> connection) noexcept;
    void hand_to(Waiter waiter, std::exception_ptr failure,
                 std::unique_ptr<db::AsyncConnection> connection);
    void sweep_later();

    boost::asio::any_io_executor executor_;
    LoopDatabaseOptions options_;
    std::size_t open_ = 0;  // connections open or opening, leased or idle
    std::vector<std::unique_ptr<db::AsyncConnection>> idle_;
    std::deque<Waiter> waiters_;
    std::optional<boost::asio::steady_timer> sweeper_;
    bool sweeping_ = false;
    bool closed_ = false;

    // The counts above, copied for other threads whenever they change.
    void publish() noexcept;
    struct Published {
        std::atomic<std::size_t> open{0};
        std::atomic<std::size_t> in_use{0};
        std::atomic<std::size_t> waiting{0};
    };
    Published published_;
};

}  // namespace mg::runtime
