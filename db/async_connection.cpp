#include "db/async_connection.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

#include "db/errors.hpp"

namespace mg::db {

namespace asio = boost::asio;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

std::string message_of(PGconn* connection) {
    std::string message = PQerrorMessage(connection);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
        message.pop_back();
    }
    return message;
}

// The error a failed statement's result reports, as db/errors.hpp has it.
std::exception_ptr error_of(const PGresult* result, bool& connection_lost) {
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    const std::string sqlstate = state ? state : "";
    std::string message = PQresultErrorMessage(result);
    while (!message.empty() && message.back() == '\n') {
        message.pop_back();
    }
    if (sqlstate == "23505") {
        const char* constraint = PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME);
        return std::make_exception_ptr(
            Conflict(constraint ? constraint : constraint_name_from_message(message), message));
    }
    // Connection exceptions (08…) and an operator or crash shutting the server down (57P0…).
    if (sqlstate.starts_with("08") || sqlstate.starts_with("57P0")) {
        connection_lost = true;
        return std::make_exception_ptr(Unavailable("database connection lost: " + message));
    }
    return std::make_exception_ptr(Error(message));
}

// True when the socket has bytes to read right now.
bool readable_now(int socket) {
    pollfd probe{socket, POLLIN, 0};
    return ::poll(&probe, 1, 0) > 0;
}

}  // namespace

asio::awaitable<std::unique_ptr<AsyncConnection>> AsyncConnection::open(
    asio::any_io_executor executor, const std::string& conninfo,
    std::chrono::milliseconds timeout) {
    // Named, so that an operator tells these from the thread pool's connections in
    // pg_stat_activity; a name in the URL's own parameters comes first and is overridden.
    const char* keywords[] = {"dbname", "application_name", nullptr};
    const char* values[] = {conninfo.c_str(), kLoopApplicationName, nullptr};
    std::unique_ptr<PGconn, decltype(&PQfinish)> connection(
        PQconnectStartParams(keywords, values, 1), &PQfinish);
    if (!connection || PQstatus(connection.get()) == CONNECTION_BAD) {
        throw Unavailable("cannot connect to PostgreSQL: " +
                          (connection ? message_of(connection.get()) : "out of memory"));
    }
    asio::posix::stream_descriptor socket(executor);
    // libpq owns the socket and may replace it between steps (another address of the host): the
    // descriptor is registered afresh for each wait and released, never closed, by us.
    struct Release {
        asio::posix::stream_descriptor& socket;
        ~Release() {
            if (socket.is_open()) {
                socket.release();
            }
        }
    } release{socket};
    asio::steady_timer deadline(executor);
    deadline.expires_after(timeout);
    bool timed_out = false;
    deadline.async_wait([&timed_out, &socket](const boost::system::error_code& ec) {
        if (!ec) {
            timed_out = true;
            boost::system::error_code ignored;
            socket.cancel(ignored);
        }
    });
    auto step = PGRES_POLLING_WRITING;
    while (step != PGRES_POLLING_OK) {
        if (step == PGRES_POLLING_FAILED) {
            throw Unavailable("cannot connect to PostgreSQL: " + message_of(connection.get()));
        }
        if (socket.is_open()) {
            socket.release();
        }
        socket.assign(PQsocket(connection.get()));
        auto [ec] = co_await socket.async_wait(step == PGRES_POLLING_READING
                                                   ? asio::posix::descriptor_base::wait_read
                                                   : asio::posix::descriptor_base::wait_write,
                                               kUseTuple);
        if (timed_out) {
            throw Unavailable("cannot connect to PostgreSQL: no answer within " +
                              std::to_string(timeout.count()) + " ms");
        }
        if (ec) {
            throw Unavailable("cannot connect to PostgreSQL: " + ec.message());
        }
        step = PQconnectPoll(connection.get());
    }
    deadline.cancel();
    socket.release();
    if (PQsetnonblocking(connection.get(), 1) != 0 || PQenterPipelineMode(connection.get()) != 1) {
        throw Unavailable("cannot use a PostgreSQL connection: " + message_of(connection.get()));
    }
    co_return std::unique_ptr<AsyncConnection>(
        new AsyncConnection(std::move(executor), connection.release()));
}

AsyncConnection::AsyncConnection(asio::any_io_executor executor, PGconn* connection)
    : connection_(connection),
      socket_(std::move(executor), PQsocket(connection)),
      last_used_(std::chrono::steady_clock::now()) {}

AsyncConnection::~AsyncConnection() {
    // libpq closes the socket.
    socket_.release();
    PQfinish(connection_);
}

bool AsyncConnection::reusable() const {
    return !broken_ && PQstatus(connection_) == CONNECTION_OK &&
           PQtransactionStatus(connection_) == PQTRANS_IDLE;
}

bool AsyncConnection::looks_alive() const {
    if (!reusable()) {
        return false;
    }
    // An idle connection is sent nothing (we LISTEN on no channel): anything to read is almost
    // surely the FATAL message of a terminated backend or a server shutdown, and end of file
    // means the server closed it.
    char byte = 0;
    const auto peeked = ::recv(PQsocket(connection_), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void AsyncConnection::fail(bool commit_in_flight, std::string_view what) {
    broken_ = true;
    const std::string message = std::string(what) + ": " + message_of(connection_);
    if (commit_in_flight) {
        throw UnknownOutcome("commit outcome unknown: database connection lost (" + message + ")");
    }
    throw Unavailable("database connection lost: " + message);
}

asio::awaitable<void> AsyncConnection::flush(bool commit_in_flight, bool& suspended) {
    for (;;) {
        const int pending = PQflush(connection_);
        if (pending == 0) {
            co_return;
        }
        if (pending < 0) {
            fail(commit_in_flight, "sending to PostgreSQL failed");
        }
        // The socket's buffer is full: PostgreSQL may be waiting for us to read its answers to
        // the first queries before it reads more, so read what there is while waiting.
        suspended = true;
        auto [ec] =
            co_await socket_.async_wait(asio::posix::descriptor_base::wait_write, kUseTuple);
        if (ec || PQconsumeInput(connection_) == 0) {
            fail(commit_in_flight, "sending to PostgreSQL failed");
        }
    }
}

asio::awaitable<void> AsyncConnection::await_result(bool commit_in_flight, bool& consume_first) {
    // Asio waits for readiness edge-triggered: bytes that arrived while nothing waited raise no
    // new edge. So a wait is started only when nothing can have arrived unseen since the last
    // read: right after sending without suspending, or after a read that left the socket empty
    // (libpq reads at most its free buffer at once, so the socket is checked when it is busy).
    if (consume_first && PQconsumeInput(connection_) == 0) {
        fail(commit_in_flight, "reading from PostgreSQL failed");
    }
    consume_first = false;
    while (PQisBusy(connection_) != 0) {
        auto [ec] = co_await socket_.async_wait(asio::posix::descriptor_base::wait_read, kUseTuple);
        if (ec) {
            fail(commit_in_flight, "waiting for PostgreSQL failed");
        }
        do {
            if (PQconsumeInput(connection_) == 0) {
                fail(commit_in_flight, "reading from PostgreSQL failed");
            }
        } while (PQisBusy(connection_) != 0 && readable_now(PQsocket(connection_)));
    }
}

asio::awaitable<PgResult> AsyncConnection::exec(Query query) {
    std::vector<Query> queries;
    queries.push_back(std::move(query));
    auto results = co_await exec(std::move(queries));
    co_return std::move(results.front());
}

asio::awaitable<std::vector<PgResult>> AsyncConnection::exec(std::vector<Query> queries) {
    if (broken_) {
        throw Unavailable("database connection lost earlier");
    }
    bool commit_in_flight = false;
    // What was sent, in order: a query (its index) or the preparation of a statement (-1).
    struct Sent {
        int query;
        std::string_view prepared;
    };
    std::vector<Sent> sent;
    sent.reserve(queries.size() * 2);
    std::vector<const char*> values;
    for (std::size_t i = 0; i < queries.size(); ++i) {
        const auto& query = queries[i];
        int ok = 0;
        if (query.statement != nullptr) {
            const auto name = query.statement->name;
            // Names and SQL are string literals: their views are NUL-terminated.
            if (prepared_.insert(name).second) {
                if (PQsendPrepare(connection_, name.data(), query.statement->sql.data(), 0,
                                  nullptr) == 0) {
                    prepared_.erase(name);
                    fail(false, "sending to PostgreSQL failed");
                }
                sent.push_back({-1, name});
            }
            values.clear();
            for (const auto& param : query.params) {
                values.push_back(param.null ? nullptr : param.text.c_str());
            }
            ok = PQsendQueryPrepared(connection_, name.data(), static_cast<int>(values.size()),
                                     values.data(), nullptr, nullptr, 0);
        } else {
            commit_in_flight = commit_in_flight || query.command == "COMMIT";
            ok = PQsendQueryParams(connection_, query.command.data(), 0, nullptr, nullptr, nullptr,
                                   nullptr, 0);
        }
        if (ok == 0) {
            fail(false, "sending to PostgreSQL failed");
        }
        sent.push_back({static_cast<int>(i), {}});
    }
    if (PQpipelineSync(connection_) == 0) {
        fail(false, "sending to PostgreSQL failed");
    }
    bool suspended = false;
    co_await flush(commit_in_flight, suspended);

    std::vector<PgResult> results(queries.size());
    std::exception_ptr first_error;
    bool connection_lost = false;
    std::size_t item = 0;
    bool consume_first = suspended;
    for (;;) {
        co_await await_result(commit_in_flight, consume_first);
        PGresult* raw = PQgetResult(connection_);
        if (raw == nullptr) {
            if (PQstatus(connection_) != CONNECTION_OK || ++item > sent.size()) {
                fail(commit_in_flight, "the connection to PostgreSQL failed");
            }
            continue;  // the end of one query's results
        }
        PgResult result(raw);
        const auto status = PQresultStatus(raw);
        if (status == PGRES_PIPELINE_SYNC) {
            break;
        }
        if (item >= sent.size()) {
            fail(commit_in_flight, "PostgreSQL answered more than was asked");
        }
        const auto& what = sent[item];
        if (status == PGRES_FATAL_ERROR || status == PGRES_PIPELINE_ABORTED ||
            status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR) {
            if (what.query < 0) {
                prepared_.erase(what.prepared);
            }
            if (!first_error && status != PGRES_PIPELINE_ABORTED) {
                first_error = error_of(raw, connection_lost);
            }
            if (PQstatus(connection_) != CONNECTION_OK) {
                fail(commit_in_flight, "the connection to PostgreSQL failed");
            }
        } else if (what.query >= 0) {
            results[static_cast<std::size_t>(what.query)] = std::move(result);
        }
    }
    last_used_ = std::chrono::steady_clock::now();
    if (connection_lost || PQstatus(connection_) != CONNECTION_OK) {
        broken_ = true;
        if (commit_in_flight) {
            throw UnknownOutcome("commit outcome unknown: database connection lost");
        }
    }
    if (first_error) {
        std::rethrow_exception(first_error);
    }
    co_return results;
}

}  // namespace mg::db
