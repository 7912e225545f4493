#include "service/runtime/db_executor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <pqxx/pqxx>
#include <thread>

#include "tests/support/run_here.hpp"
#include "tests/support/test_db.hpp"

namespace mg::runtime {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

struct JobResult {
    int value = 0;
    std::thread::id thread;
};

// A job that answers a query and says which thread ran it.
asio::awaitable<JobResult> query(DbExecutor& db, int n) {
    co_return co_await db.run([n](pqxx::connection& c) {
        pqxx::nontransaction txn(c);
        return JobResult{txn.exec1("SELECT " + std::to_string(n) + " + 1")[0].as<int>(),
                         std::this_thread::get_id()};
    });
}

// Spawns `coro` on `io`, runs `io` on this thread until everything is done, rethrows a failure.
using test::run_here;

TEST(DbExecutor, NeverRunsAJobOnTheCallersThread) {
    mg::test::TestDatabase database;
    db::ConnectionPool pool(database.url(), 2);
    DbExecutor db(pool, 16);
    asio::io_context io;
    // No connection is open yet: the first job opens one on the executor's own threads.
    const auto first = run_here(io, query(db, 1));
    EXPECT_EQ(first.value, 2);
    EXPECT_NE(first.thread, std::this_thread::get_id());
    // With one idle, still there: an event loop's thread never blocks on libpqxx.
    const auto second = run_here(io, query(db, 41));
    EXPECT_EQ(second.value, 42);
    EXPECT_NE(second.thread, std::this_thread::get_id());
    EXPECT_EQ(pool.in_use(), 0u);
}

TEST(DbExecutor, WithoutAnIdleConnectionTheCallersThreadStaysFree) {
    mg::test::TestDatabase database;
    db::ConnectionPool pool(database.url(), 1);
    DbExecutor db(pool, 16);
    asio::io_context io;
    run_here(io, query(db, 0));  // opens the connection

    auto held = std::make_optional(pool.acquire(1s));
    std::atomic<bool> timer_fired{false};
    bool timer_fired_before_job = false;
    asio::steady_timer timer(io, 50ms);
    timer.async_wait([&](boost::system::error_code) { timer_fired = true; });
    std::thread releaser([&] {
        std::this_thread::sleep_for(300ms);
        held.reset();
    });
    const auto result = run_here(io, [&]() -> asio::awaitable<JobResult> {
        auto answer = co_await db.run([&](pqxx::connection& c) {
            timer_fired_before_job = timer_fired.load();
            pqxx::nontransaction txn(c);
            return JobResult{txn.exec1("SELECT 7")[0].as<int>(), std::this_thread::get_id()};
        });
        co_return answer;
    }());
    releaser.join();
    EXPECT_EQ(result.value, 7);
    EXPECT_NE(result.thread, std::this_thread::get_id());
    // While the job waited for the connection, this thread went on serving its event loop.
    EXPECT_TRUE(timer_fired_before_job);
}

TEST(DbExecutor, AFailedJobLeavesTheConnectionUsable) {
    mg::test::TestDatabase database;
    db::ConnectionPool pool(database.url(), 1);
    DbExecutor db(pool, 16);
    asio::io_context io;
    run_here(io, query(db, 0));
    auto failing = [&]() -> asio::awaitable<int> {
        co_return co_await db.run([](pqxx::connection& c) {
            pqxx::nontransaction txn(c);
            return txn.exec1("SELECT 1 / 0")[0].as<int>();
        });
    };
    EXPECT_THROW(run_here(io, failing()), pqxx::data_exception);
    EXPECT_EQ(pool.in_use(), 0u);
    const auto after = run_here(io, query(db, 2));
    EXPECT_EQ(after.value, 3);
}

TEST(DbExecutor, BeyondItsQueueLimitItIsOverloaded) {
    mg::test::TestDatabase database;
    db::ConnectionPool pool(database.url(), 1);
    DbExecutor db(pool, 1, 2s);
    asio::io_context io;
    auto held = std::make_optional(pool.acquire(1s));
    std::exception_ptr first_failure, second_failure;
    bool first_done = false;
    asio::co_spawn(io, query(db, 1), [&](std::exception_ptr e, JobResult) {
        first_failure = e;
        first_done = true;
    });
    asio::co_spawn(io, query(db, 2), [&](std::exception_ptr e, JobResult) { second_failure = e; });
    std::thread releaser([&] {
        std::this_thread::sleep_for(200ms);
        held.reset();
    });
    io.run();
    releaser.join();
    EXPECT_TRUE(first_done);
    EXPECT_FALSE(first_failure);
    ASSERT_TRUE(second_failure);
    EXPECT_THROW(std::rethrow_exception(second_failure), DbOverloaded);
}

}  // namespace
}  // namespace mg::runtime
