#include "service/runtime/loop_database.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "db/errors.hpp"

namespace mg::runtime {

namespace asio = boost::asio;

namespace {

thread_local LoopDatabase* current_database = nullptr;

// An idle connection used this recently is handed out without probing its socket: a request
// under load then costs no system call for it. One idle for longer is probed first, so that a
// connection the server closed meanwhile (a restart) is replaced before a request meets it.
constexpr auto kProbeAfterIdle = std::chrono::milliseconds(100);

// How often jobs waiting for a connection are checked against their deadline.
constexpr auto kSweepInterval = std::chrono::milliseconds(100);

}  // namespace

LoopDatabase::LoopDatabase(asio::io_context& loop, LoopDatabaseOptions options)
    : executor_(loop.get_executor()), options_(std::move(options)) {
    sweeper_.emplace(loop);
    if (options_.size == 0) {
        throw std::invalid_argument("a loop's database needs at least one connection");
    }
    idle_.reserve(options_.size);
}

LoopDatabase::~LoopDatabase() {
    if (current_database == this) {
        current_database = nullptr;
    }
}

LoopDatabase& LoopDatabase::current() {
    if (current_database == nullptr) {
        throw std::logic_error("no event loop database on this thread");
    }
    return *current_database;
}

void LoopDatabase::make_current() {
    current_database = this;
}

void LoopDatabase::close() {
    closed_ = true;
    idle_.clear();
    waiters_.clear();
    sweeper_.reset();
}

asio::awaitable<std::unique_ptr<db::AsyncConnection>> LoopDatabase::open_connection() {
    // The slot is counted in open_ by the caller; it is freed again if opening fails.
    try {
        auto connection = co_await db::AsyncConnection::open(executor_, options_.conninfo,
                                                             options_.connect_timeout);
        co_return connection;
    } catch (...) {
        --open_;
        // A job waiting for a slot gets this one to try in its turn.
        if (!waiters_.empty()) {
            auto waiter = std::move(waiters_.front());
            waiters_.pop_front();
            ++open_;
            hand_to(std::move(waiter), nullptr, nullptr);
        }
        throw;
    }
}

asio::awaitable<LoopDatabase::Lease> LoopDatabase::acquire() {
    const auto now = std::chrono::steady_clock::now();
    while (waiters_.empty() && !idle_.empty()) {
        auto connection = std::move(idle_.back());
        idle_.pop_back();
        if (now - connection->last_used() < kProbeAfterIdle || connection->looks_alive()) {
            co_return Lease(*this, std::move(connection));
        }
        --open_;  // closed by the server while idle: replaced below
    }
    if (waiters_.empty() && open_ < options_.size) {
        ++open_;
        auto connection = co_await open_connection();
        co_return Lease(*this, std::move(connection));
    }
    if (waiters_.size() >= options_.queue_limit) {
        throw DbOverloaded();
    }
    const auto deadline = now + options_.acquire_wait;
    auto given = co_await asio::async_initiate<decltype(asio::use_awaitable),
                                               void(std::exception_ptr,
                                                    std::unique_ptr<db::AsyncConnection>)>(
        [this, deadline](auto handler) {
            waiters_.push_back(Waiter{deadline, Handler(std::move(handler))});
            sweep_later();
        },
        asio::use_awaitable);
    if (!given) {
        // A slot, not a connection: the one it held broke.
        given = co_await open_connection();
    }
    co_return Lease(*this, std::move(given));
}

void LoopDatabase::hand_to(Waiter waiter, std::exception_ptr failure,
                           std::unique_ptr<db::AsyncConnection> connection) {
    // Posted, not called: the waiting coroutine resumes from the loop, not inside the caller.
    asio::post(executor_, [handler = std::move(waiter.handler), failure,
                           connection = std::move(connection)]() mutable {
        std::move(handler)(failure, std::move(connection));
    });
}

void LoopDatabase::give_back(std::unique_ptr<db::AsyncConnection> connection) noexcept {
    if (closed_) {
        return;
    }
    const bool reusable = connection && connection->reusable();
    if (!reusable) {
        connection.reset();
    }
    if (!waiters_.empty()) {
        auto waiter = std::move(waiters_.front());
        waiters_.pop_front();
        // A broken connection's slot goes to the waiter, who opens a new one.
        hand_to(std::move(waiter), nullptr, std::move(connection));
        return;
    }
    if (reusable) {
        idle_.push_back(std::move(connection));
    } else {
        --open_;
    }
}

void LoopDatabase::sweep_later() {
    if (sweeping_) {
        return;
    }
    if (closed_) {
        return;
    }
    sweeping_ = true;
    sweeper_->expires_after(kSweepInterval);
    sweeper_->async_wait([this](const boost::system::error_code& ec) {
        sweeping_ = false;
        if (ec) {
            return;
        }
        const auto now = std::chrono::steady_clock::now();
        while (!waiters_.empty() && waiters_.front().deadline <= now) {
            auto waiter = std::move(waiters_.front());
            waiters_.pop_front();
            hand_to(std::move(waiter),
                    std::make_exception_ptr(db::Unavailable(
                        "no database connection free within " +
                        std::to_string(options_.acquire_wait.count()) + " ms (loop pool size " +
                        std::to_string(options_.size) + ")")),
                    nullptr);
        }
        if (!waiters_.empty()) {
            sweep_later();
        }
    });
}

}  // namespace mg::runtime
