// The event loop's database: libpq's asynchronous API in pipeline mode (db/async_connection.hpp)
// and the per-loop pool that hands its connections out (service/runtime/loop_database.hpp), on
// a real PostgreSQL.
#include "service/runtime/loop_database.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <optional>

#include "db/errors.hpp"
#include "tests/support/run_here.hpp"
#include "tests/support/test_db.hpp"

namespace mg::runtime {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

constexpr db::Statement kAddOne{"test_add_one", "SELECT $1::int + 1"};
constexpr db::Statement kDivide{"test_divide", "SELECT 10 / $1::int"};
constexpr db::Statement kPreparedCount{
    "test_prepared_count", "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'test_%'"};
constexpr db::Statement kBackendPid{"test_backend_pid", "SELECT pg_backend_pid()"};
constexpr db::Statement kCreateTable{"test_create_table",
                                     "CREATE TABLE IF NOT EXISTS loop_things (name text UNIQUE)"};
constexpr db::Statement kInsertThing{"test_insert_thing",
                                     "INSERT INTO loop_things (name) VALUES ($1)"};
constexpr db::Statement kCountThings{"test_count_things", "SELECT count(*) FROM loop_things"};

using test::run_here;

asio::awaitable<std::unique_ptr<db::AsyncConnection>> connect(const std::string& url) {
    co_return co_await db::AsyncConnection::open(co_await asio::this_coro::executor, url, 5s);
}

int value_of(const db::PgResult& result) {
    return result.at(0)[0].as<int>();
}

// Named before the co_await: GCC 12 miscompiles braced initializers inside one.
template <class... Args>
asio::awaitable<db::PgResult> statement(db::AsyncConnection& connection,
                                        const db::Statement& prepared, Args... args) {
    auto query = db::Query(prepared, std::vector<db::Param>{db::Param(args)...});
    co_return co_await connection.exec(std::move(query));
}

template <class... Args>
asio::awaitable<db::PgResult> statement(db::AsyncTransaction& txn, const db::Statement& prepared,
                                        Args... args) {
    auto query = db::Query(prepared, std::vector<db::Param>{db::Param(args)...});
    co_return co_await txn.exec(std::move(query));
}

template <class... Args>
asio::awaitable<int> single(db::AsyncConnection& connection, const db::Statement& prepared,
                            Args... args) {
    const auto result = co_await statement(connection, prepared, args...);
    co_return value_of(result);
}

TEST(AsyncConnection, QueriesOfOneRoundTripAnswerInOrderAndEachStatementIsPreparedOnce) {
    mg::test::TestDatabase database;
    asio::io_context io;
    auto connection = run_here(io, connect(database.url()));
    const auto results = run_here(io, [&]() -> asio::awaitable<std::vector<db::PgResult>> {
        std::vector<db::Query> queries;
        queries.emplace_back(kAddOne, std::vector<db::Param>{1});
        queries.emplace_back(kAddOne, std::vector<db::Param>{41});
        queries.emplace_back(kDivide, std::vector<db::Param>{5});
        co_return co_await connection->exec(std::move(queries));
    }());
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(value_of(results[0]), 2);
    EXPECT_EQ(value_of(results[1]), 42);
    EXPECT_EQ(value_of(results[2]), 2);
    EXPECT_EQ(run_here(io, single(*connection, kAddOne, 99)), 100);
    // test_add_one, test_divide and the count itself: each prepared once on this connection.
    EXPECT_EQ(run_here(io, single(*connection, kPreparedCount)), 3);
    EXPECT_TRUE(connection->reusable());
}

TEST(AsyncConnection, AFailingStatementThrowsAndTheConnectionStaysUsable) {
    mg::test::TestDatabase database;
    asio::io_context io;
    auto connection = run_here(io, connect(database.url()));
    auto failing = [&]() -> asio::awaitable<int> {
        std::vector<db::Query> queries;
        queries.emplace_back(kAddOne, std::vector<db::Param>{1});
        queries.emplace_back(kDivide, std::vector<db::Param>{0});
        queries.emplace_back(kAddOne, std::vector<db::Param>{2});
        co_await connection->exec(std::move(queries));
        co_return 0;
    };
    try {
        run_here(io, failing());
        FAIL() << "a division by zero did not fail";
    } catch (const db::Error& e) {
        EXPECT_NE(std::string(e.what()).find("division by zero"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(connection->broken());
    EXPECT_TRUE(connection->reusable());
    EXPECT_EQ(run_here(io, single(*connection, kAddOne, 5)), 6);
}

TEST(AsyncConnection, AUniqueViolationIsAConflictNamingItsConstraint) {
    mg::test::TestDatabase database;
    asio::io_context io;
    auto connection = run_here(io, connect(database.url()));
    run_here(io, [&]() -> asio::awaitable<int> {
        co_await statement(*connection, kCreateTable);
        co_await statement(*connection, kInsertThing, std::string("a"));
        co_return 0;
    }());
    try {
        run_here(io, [&]() -> asio::awaitable<int> {
            co_await statement(*connection, kInsertThing, std::string("a"));
            co_return 0;
        }());
        FAIL() << "a duplicate was inserted";
    } catch (const db::Conflict& e) {
        EXPECT_EQ(e.constraint(), "loop_things_name_key");
    }
    EXPECT_TRUE(connection->reusable());
}

TEST(AsyncConnection, ATransactionWhoseJobThrowsIsRolledBack) {
    mg::test::TestDatabase database;
    asio::io_context io;
    auto connection = run_here(io, connect(database.url()));
    run_here(io, [&]() -> asio::awaitable<int> {
        co_await statement(*connection, kCreateTable);
        co_return 0;
    }());
    auto job = [&]() -> asio::awaitable<int> {
        co_return co_await db::in_transaction(
            *connection, [](db::AsyncTransaction& txn) -> asio::awaitable<int> {
                co_await statement(txn, kInsertThing, "kept?");
                throw std::runtime_error("the job failed after its insert");
            });
    };
    EXPECT_THROW(run_here(io, job()), std::runtime_error);
    EXPECT_TRUE(connection->reusable());
    EXPECT_EQ(run_here(io, single(*connection, kCountThings)), 0);
    run_here(io,
             db::in_transaction(*connection, [](db::AsyncTransaction& txn) -> asio::awaitable<int> {
                 co_await statement(txn, kInsertThing, "committed");
                 co_return 1;
             }));
    EXPECT_EQ(run_here(io, single(*connection, kCountThings)), 1);
}

TEST(AsyncConnection, AConnectionLostWithItsCommitOnTheWayIsAnUnknownOutcome) {
    mg::test::TestDatabase database;
    asio::io_context io;
    auto connection = run_here(io, connect(database.url()));
    const int pid = run_here(io, single(*connection, kBackendPid));
    run_here(io, [&]() -> asio::awaitable<int> {
        co_await statement(*connection, kCreateTable);
        co_return 0;
    }());
    auto job =
        db::in_transaction(*connection, [&](db::AsyncTransaction& txn) -> asio::awaitable<int> {
            co_await statement(txn, kInsertThing, "in doubt");
            database.query_int("SELECT pg_terminate_backend(" + std::to_string(pid) + ")::int");
            co_return 1;
        });
    EXPECT_THROW(run_here(io, std::move(job)), db::UnknownOutcome);
    EXPECT_TRUE(connection->broken());
    EXPECT_FALSE(connection->reusable());
}

TEST(AsyncConnection, APostgreSQLThatIsNotThereIsUnavailable) {
    asio::io_context io;
    EXPECT_THROW(run_here(io, connect("postgresql://127.0.0.1:1/none?connect_timeout=2")),
                 db::Unavailable);
}

LoopDatabaseOptions options_for(const mg::test::TestDatabase& database, std::size_t size,
                                std::size_t queue_limit,
                                std::chrono::milliseconds acquire_wait = 5000ms) {
    LoopDatabaseOptions options;
    options.conninfo = database.url();
    options.size = size;
    options.queue_limit = queue_limit;
    options.acquire_wait = acquire_wait;
    return options;
}

// Holds a connection of `db` for `hold`, then answers.
asio::awaitable<int> hold_a_connection(LoopDatabase& db, std::chrono::milliseconds hold) {
    auto lease = co_await db.acquire();
    asio::steady_timer timer(co_await asio::this_coro::executor, hold);
    co_await timer.async_wait(asio::use_awaitable);
    co_return co_await single(*lease, kAddOne, 1);
}

TEST(LoopDatabase, BeyondItsQueueLimitAJobIsOverloadedAndTheOthersAreServedInTurn) {
    mg::test::TestDatabase database;
    asio::io_context io;
    LoopDatabase db(io, options_for(database, 1, 1));
    std::exception_ptr failures[3];
    int answers[3] = {0, 0, 0};
    for (int i = 0; i < 3; ++i) {
        asio::co_spawn(io, hold_a_connection(db, 100ms), [&, i](std::exception_ptr e, int value) {
            failures[i] = e;
            answers[i] = value;
        });
    }
    io.run();
    EXPECT_FALSE(failures[0]);
    EXPECT_FALSE(failures[1]);  // waited for the first
    EXPECT_EQ(answers[0] + answers[1], 4);
    ASSERT_TRUE(failures[2]);
    EXPECT_THROW(std::rethrow_exception(failures[2]), DbOverloaded);
    EXPECT_EQ(db.open(), 1u);
    EXPECT_EQ(db.waiting(), 0u);
}

// /metrics reads each loop's counts from another thread: what was published when they changed.
TEST(LoopDatabase, ItsCountsArePublishedForOtherThreads) {
    mg::test::TestDatabase database;
    asio::io_context io;
    LoopDatabase db(io, options_for(database, 2, 10));
    const auto stats = [] {
        const auto all = LoopDatabase::stats_of_all();
        EXPECT_EQ(all.size(), 1u);
        return all.at(0);
    };
    EXPECT_EQ(stats().size, 2u);
    EXPECT_EQ(stats().open, 0u);
    LoopDatabase::Stats while_held;
    auto hold_both = [&]() -> asio::awaitable<int> {
        auto first = co_await db.acquire();
        auto second = co_await db.acquire();
        // A third job, which waits for one of the two.
        asio::co_spawn(io, hold_a_connection(db, 0ms),
                       [](std::exception_ptr e, int) { EXPECT_FALSE(e); });
        asio::steady_timer settle(io, 50ms);
        co_await settle.async_wait(asio::use_awaitable);
        while_held = stats();
        co_return 0;
    };
    asio::co_spawn(io, hold_both(), [](std::exception_ptr e, int) { EXPECT_FALSE(e); });
    io.run();
    EXPECT_EQ(while_held.open, 2u);
    EXPECT_EQ(while_held.in_use, 2u);
    EXPECT_EQ(while_held.waiting, 1u);
    EXPECT_EQ(stats().open, 2u);
    EXPECT_EQ(stats().in_use, 0u);
    EXPECT_EQ(stats().waiting, 0u);
}

TEST(LoopDatabase, AJobThatWaitsLongerThanItsBoundIsUnavailable) {
    mg::test::TestDatabase database;
    asio::io_context io;
    LoopDatabase db(io, options_for(database, 1, 10, 200ms));
    std::exception_ptr holder_failure, waiter_failure;
    asio::co_spawn(io, hold_a_connection(db, 1000ms),
                   [&](std::exception_ptr e, int) { holder_failure = e; });
    asio::co_spawn(io, hold_a_connection(db, 0ms),
                   [&](std::exception_ptr e, int) { waiter_failure = e; });
    io.run();
    EXPECT_FALSE(holder_failure);
    ASSERT_TRUE(waiter_failure);
    EXPECT_THROW(std::rethrow_exception(waiter_failure), db::Unavailable);
}

TEST(LoopDatabase, AConnectionTheServerClosedWhileItWasIdleIsReplaced) {
    mg::test::TestDatabase database;
    asio::io_context io;
    LoopDatabase db(io, options_for(database, 1, 10));
    auto pid_of_a_connection = [&]() -> asio::awaitable<int> {
        co_return co_await db.run([](db::AsyncConnection& c) { return single(c, kBackendPid); });
    };
    const int first = run_here(io, pid_of_a_connection());
    database.query_int("SELECT pg_terminate_backend(" + std::to_string(first) + ")::int");
    std::this_thread::sleep_for(300ms);  // idle long enough to be probed before use
    const int second = run_here(io, pid_of_a_connection());
    EXPECT_NE(second, first);
    EXPECT_EQ(db.open(), 1u);
}

TEST(LoopDatabase, AConnectionThatBrokeInAJobIsNotHandedOutAgain) {
    mg::test::TestDatabase database;
    asio::io_context io;
    LoopDatabase db(io, options_for(database, 1, 10));
    auto killed = [&]() -> asio::awaitable<int> {
        co_return co_await db.run([&](db::AsyncConnection& c) -> asio::awaitable<int> {
            const int pid = co_await single(c, kBackendPid);
            database.query_int("SELECT pg_terminate_backend(" + std::to_string(pid) + ")::int");
            co_return co_await single(c, kAddOne, 1);
        });
    };
    EXPECT_THROW(run_here(io, killed()), db::Unavailable);
    EXPECT_EQ(db.open(), 0u);
    // At once, without the idle probe's delay: a fresh connection.
    EXPECT_EQ(run_here(io, db.run([](db::AsyncConnection& c) { return single(c, kAddOne, 2); })),
              3);
}

}  // namespace
}  // namespace mg::runtime
