// One PostgreSQL connection driven by libpq's asynchronous API on an Asio event loop: nothing
// here blocks the thread. Queries go out in pipeline mode, any number of them in one round trip
// (with PQsendPrepare for statements this connection has not prepared yet in the same one), and
// the reply is awaited on the connection's socket. A connection is used by one coroutine at a
// time, on the thread of its event loop (service/runtime/loop_database.hpp hands them out).
//
// Errors leave as db/errors.hpp types: db::Conflict for a unique violation, db::Unavailable when
// the connection breaks (or is refused), db::UnknownOutcome when it breaks while a COMMIT is on
// its way, db::Error for any other statement error.
#pragma once

#include <libpq-fe.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "db/pg_result.hpp"
#include "db/statements.hpp"

namespace mg::db {

// A statement parameter in PostgreSQL's text form, or NULL.
struct Param {
    Param(std::nullptr_t) : null(true) {}
    Param(std::string value) : text(std::move(value)) {}
    Param(std::string_view value) : text(value) {}
    Param(const char* value) : null(value == nullptr), text(value ? value : "") {}
    Param(const std::optional<std::string>& value) : null(!value), text(value.value_or("")) {}
    Param(std::int64_t value) : text(std::to_string(value)) {}
    Param(int value) : text(std::to_string(value)) {}
    Param(bool value) : text(value ? "t" : "f") {}

    bool null = false;
    std::string text;
};

// One statement of a round trip: a prepared statement of db/ with its parameters, or a
// transaction control command (BEGIN, COMMIT, ROLLBACK) without any.
//
// Build it before the co_await, never inside it: GCC 12 miscompiles braced initializers in a
// co_await expression.
struct Query {
    Query(const Statement& prepared, std::vector<Param> values)
        : statement(&prepared), params(std::move(values)) {}
    static Query control(std::string_view command) { return Query(command); }

    const Statement* statement = nullptr;
    std::string_view command;
    std::vector<Param> params;

  private:
    explicit Query(std::string_view control_command) : command(control_command) {}
};

// The application_name of these connections in pg_stat_activity.
inline constexpr const char* kLoopApplicationName = "merchant-gateway/loop";

class AsyncConnection {
  public:
    // Connects without blocking; db::Unavailable when PostgreSQL refuses or `timeout` passes.
    static boost::asio::awaitable<std::unique_ptr<AsyncConnection>> open(
        boost::asio::any_io_executor executor, const std::string& conninfo,
        std::chrono::milliseconds timeout);

    ~AsyncConnection();
    AsyncConnection(const AsyncConnection&) = delete;
    AsyncConnection& operator=(const AsyncConnection&) = delete;

    // Sends `queries` in one round trip and returns their results in order. When one fails,
    // PostgreSQL skips the rest (up to the round trip's end) and its error is thrown once every
    // answer has been read, so the connection stays usable.
    boost::asio::awaitable<std::vector<PgResult>> exec(std::vector<Query> queries);
    boost::asio::awaitable<PgResult> exec(Query query);

    // Broken (a failure of the connection itself): never to be used again.
    bool broken() const { return broken_; }
    // Not broken, idle and outside any transaction (no system call).
    bool reusable() const;
    // Its socket shows no sign of the server having closed it (checked without blocking or a
    // round trip, with one system call).
    bool looks_alive() const;
    std::chrono::steady_clock::time_point last_used() const { return last_used_; }

  private:
    AsyncConnection(boost::asio::any_io_executor executor, PGconn* connection);

    [[noreturn]] void fail(bool commit_in_flight, std::string_view what);
    boost::asio::awaitable<void> flush(bool commit_in_flight, bool& suspended);
    // Reads until PQgetResult would not block.
    boost::asio::awaitable<void> await_result(bool commit_in_flight, bool& consume_first);

    PGconn* connection_;
    boost::asio::posix::stream_descriptor socket_;
    std::unordered_set<std::string_view> prepared_;
    bool broken_ = false;
    std::chrono::steady_clock::time_point last_used_;
};

}  // namespace mg::db
