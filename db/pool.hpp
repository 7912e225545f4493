// A fixed-size pool of libpqxx connections for blocking callers on many threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/connection>
#include <string>
#include <vector>

namespace mg::db {

class ConnectionPool {
  public:
    // Opens nothing yet: connections are opened on demand, so the service starts (and reports
    // not-ready) while PostgreSQL is down. Every connection gets all_statements() prepared.
    ConnectionPool(std::string conninfo, std::size_t size);
    ~ConnectionPool();
    ConnectionPool(const ConnectionPool&) = delete;
    ConnectionPool& operator=(const ConnectionPool&) = delete;

    // Exclusive use of one connection until destruction. A connection that broke while leased
    // is closed instead of returned, and a fresh one is opened by a later acquire().
    class Lease {
      public:
        Lease(Lease&& other) noexcept;
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease();

        pqxx::connection& connection() { return *connection_; }
        pqxx::connection& operator*() { return *connection_; }
        pqxx::connection* operator->() { return connection_.get(); }

        // Closes the connection instead of returning it to the pool (e.g. its state is unknown).
        void discard() noexcept { discard_ = true; }

      private:
        friend class ConnectionPool;
        Lease(ConnectionPool& pool, std::unique_ptr<pqxx::connection> connection);

        ConnectionPool* pool_;
        std::unique_ptr<pqxx::connection> connection_;
        bool discard_ = false;
    };

    // Waits up to `wait` for a free slot and hands out an open connection. Throws
    // db::Unavailable when no slot frees up in time or PostgreSQL can't be reached.
    Lease acquire(std::chrono::milliseconds wait);

    // An open, idle connection at once, or nothing: never waits, never connects. Gives nothing
    // while callers wait in acquire(), so that they are not overtaken.
    std::optional<Lease> try_acquire_idle();

    std::size_t size() const noexcept { return size_; }
    // Connections currently leased.
    std::size_t in_use() const;
    // Open connections waiting in the pool.
    std::size_t idle() const;

  private:
    void give_back(std::unique_ptr<pqxx::connection> connection, bool discard) noexcept;
    std::unique_ptr<pqxx::connection> open_connection();

    const std::string conninfo_;
    const std::size_t size_;
    mutable std::mutex mutex_;
    std::condition_variable slot_freed_;
    std::size_t in_use_ = 0;
    std::size_t waiting_ = 0;  // callers in acquire() waiting for a slot
    std::vector<std::unique_ptr<pqxx::connection>> idle_;
};

// True if `connection` is open and its socket shows no sign of the server having closed it
// (checked without blocking or a round trip), so that a connection killed while it sat idle in
// the pool (pg_terminate_backend, a server restart) is replaced before it is used.
bool connection_looks_alive(pqxx::connection& connection) noexcept;

}  // namespace mg::db
