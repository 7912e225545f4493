#include "service/runtime/loop_database.hpp"

#include <algorithm>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>
#include <stdexcept>
#include <vector>

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

// Every LoopDatabase alive, for stats_of_all().
std::mutex all_mutex;
std::vector<const LoopDatabase*> all_databases;

}  // namespace

LoopDatabase::LoopDatabase(asio::io_context& loop, LoopDatabaseOptions options)
    : executor_(loop.get_executor()), options_(std::move(options)) {
    sweeper_.emplace(loop);
    if (options_.size == 0) {
        throw std::invalid_argument("a loop's database needs at least one connection");
    }
    idle_.reserve(options_.size);
    std::lock_guard lock(all_mutex);
    all_databases.push_back(this);
}

LoopDatabase::~LoopDatabase() {
    if (current_database == this) {
        current_database = nullptr;
    }
    std::lock_guard lock(all_mutex);
    std::erase(all_databases, this);
}

std::vector<LoopDatabase::Stats> LoopDatabase::stats_of_all() {
    std::lock_guard lock(all_mutex);
    std::vector<Stats> stats;
    for (const auto* database : all_databases) {
        stats.push_back(Stats{database->options_.size,
                              database->published_.open.load(std::memory_order_relaxed),
                              database->published_.in_use.load(std::memory_order_relaxed),
                              database->published_.waiting.load(std::memory_order_relaxed)});
    }
    return stats;
}

void LoopDatabase::publish() noexcept {
    published_.open.store(open_, std::memory_order_relaxed);
    published_.in_use.store(open_ - std::min(open_, idle_.size()), std::memory_order_relaxed);
    published_.waiting.store(waiters_.size(), std::memory_order_relaxed);
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
    open_ = 0;
    publish();
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
        publish();
        throw;
    }
}

asio::awaitable<LoopDatabase::Lease> LoopDatabase::acquire() {
    const auto now = std::chrono::steady_clock::now();
    while (waiters_.empty() && !idle_.empty()) {
        auto connection = std::move(idle_.back());
        idle_.pop_back();
        if (now - connection->last_used() < kProbeAfterIdle || connection->looks_alive()) {
            publish();
            co_return Lease(*this, std::move(connection));
        }
        --open_;  // closed by the server while idle: replaced below
    }
    if (waiters_.empty() && open_ < options_.size) {
        ++open_;
        publish();
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
            publish();
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
        publish();
        return;
    }
    if (reusable) {
        idle_.push_back(std::move(connection));
    } else {
        --open_;
    }
    publish();
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
        publish();
        if (!waiters_.empty()) {
            sweep_later();
        }
    });
}

}  // namespace mg::runtime
