#include "db/pool.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <pqxx/except>
#include <pqxx/pqxx>
#include <utility>

#include "db/errors.hpp"
#include "db/statements.hpp"

namespace mg::db {

bool connection_looks_alive(pqxx::connection& connection) noexcept {
    try {
        if (!connection.is_open()) {
            return false;
        }
        const int socket = connection.sock();
        if (socket < 0) {
            return false;
        }
        // An idle connection has nothing to read: we LISTEN on no channel. End of file means the
        // server closed it; pending bytes are almost surely the FATAL message of a terminated
        // backend or a server shutdown (libpq only notices the closed state when it next reads,
        // i.e. in the middle of our next transaction). Either way, open a fresh connection.
        char byte = 0;
        const auto peeked = ::recv(socket, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (peeked >= 0) {
            return false;
        }
        return errno == EAGAIN || errno == EWOULDBLOCK;
    } catch (...) {
        return false;
    }
}

ConnectionPool::ConnectionPool(std::string conninfo, std::size_t size)
    : conninfo_(std::move(conninfo)), size_(size) {
    if (size_ == 0) {
        throw std::invalid_argument("connection pool size must be at least 1");
    }
    // give_back() must not throw, so the idle list never needs to grow there.
    idle_.reserve(size_);
}

ConnectionPool::~ConnectionPool() = default;

std::size_t ConnectionPool::in_use() const {
    std::lock_guard lock(mutex_);
    return in_use_;
}

std::size_t ConnectionPool::idle() const {
    std::lock_guard lock(mutex_);
    return idle_.size();
}

std::unique_ptr<pqxx::connection> ConnectionPool::open_connection() {
    try {
        auto connection = std::make_unique<pqxx::connection>(conninfo_);
        prepare_statements(*connection);
        return connection;
    } catch (const std::exception& e) {
        throw Unavailable(std::string("cannot connect to PostgreSQL: ") + e.what());
    }
}

ConnectionPool::Lease ConnectionPool::acquire(std::chrono::milliseconds wait) {
    std::unique_ptr<pqxx::connection> connection;
    {
        std::unique_lock lock(mutex_);
        ++waiting_;
        const bool got_slot = slot_freed_.wait_for(lock, wait, [this] { return in_use_ < size_; });
        --waiting_;
        if (!got_slot) {
            throw Unavailable("no database connection free within " + std::to_string(wait.count()) +
                              " ms (pool size " + std::to_string(size_) + ")");
        }
        ++in_use_;
        if (!idle_.empty()) {
            connection = std::move(idle_.back());
            idle_.pop_back();
        }
    }
    // From here on the slot is ours; opening and probing happen outside the lock so other
    // threads are not held up by network round trips.
    try {
        if (connection && !connection_looks_alive(*connection)) {
            connection.reset();
        }
        if (!connection) {
            connection = open_connection();
        }
    } catch (...) {
        give_back(nullptr, true);
        throw;
    }
    return Lease(*this, std::move(connection));
}

std::optional<ConnectionPool::Lease> ConnectionPool::try_acquire_idle() {
    std::unique_ptr<pqxx::connection> connection;
    {
        std::lock_guard lock(mutex_);
        if (in_use_ >= size_ || idle_.empty() || waiting_ > 0) {
            return std::nullopt;
        }
        ++in_use_;
        connection = std::move(idle_.back());
        idle_.pop_back();
    }
    if (!connection_looks_alive(*connection)) {
        give_back(std::move(connection), true);
        return std::nullopt;
    }
    return Lease(*this, std::move(connection));
}

void ConnectionPool::give_back(std::unique_ptr<pqxx::connection> connection,
                               bool discard) noexcept {
    bool reusable = connection && !discard;
    if (reusable) {
        try {
            reusable = connection->is_open();
        } catch (...) {
            reusable = false;
        }
    }
    if (!reusable) {
        // Closing may touch the network; do it before taking the lock.
        connection.reset();
    }
    {
        std::lock_guard lock(mutex_);
        if (reusable) {
            idle_.push_back(std::move(connection));
        }
        --in_use_;
    }
    slot_freed_.notify_one();
}

ConnectionPool::Lease::Lease(ConnectionPool& pool, std::unique_ptr<pqxx::connection> connection)
    : pool_(&pool), connection_(std::move(connection)) {}

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      connection_(std::move(other.connection_)),
      discard_(other.discard_) {}

ConnectionPool::Lease::~Lease() {
    if (pool_ != nullptr) {
        pool_->give_back(std::move(connection_), discard_);
    }
}

}  // namespace mg::db
