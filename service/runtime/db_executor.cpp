#include "service/runtime/db_executor.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <pqxx/except>

#include "db/errors.hpp"

namespace mg::runtime {

namespace asio = boost::asio;

namespace {

// Runs `job` on the leased connection; database failures leave as db:: errors, and a connection
// in an unknown state is closed rather than reused.
void run_with(db::ConnectionPool::Lease& lease, const std::function<void(pqxx::connection&)>& job) {
    try {
        job(*lease);
    } catch (const pqxx::broken_connection&) {
        lease.discard();
        db::rethrow_as_db_error();
    } catch (const pqxx::in_doubt_error&) {
        // A connection lost during COMMIT is in no state to be reused.
        lease.discard();
        db::rethrow_as_db_error();
    } catch (const db::Unavailable&) {
        // The same, already translated (db::with_transaction).
        lease.discard();
        throw;
    } catch (const db::UnknownOutcome&) {
        lease.discard();
        throw;
    } catch (...) {
        db::rethrow_as_db_error();
    }
}

}  // namespace

DbExecutor::DbExecutor(db::ConnectionPool& pool, std::size_t queue_limit,
                       std::chrono::milliseconds acquire_wait)
    : pool_(pool),
      queue_limit_(queue_limit),
      acquire_wait_(acquire_wait),
      // One thread per pooled connection: a job never waits for a connection held by a job
      // that is itself waiting for a thread.
      threads_(pool.size()) {}

DbExecutor::~DbExecutor() {
    stop();
}

void DbExecutor::stop() {
    threads_.stop();
    threads_.join();
}

asio::awaitable<void> DbExecutor::run_erased(std::function<void(pqxx::connection&)> job) {
    if (waiting_.fetch_add(1) >= queue_limit_) {
        --waiting_;
        throw DbOverloaded();
    }
    struct Decrement {
        std::atomic<std::size_t>& counter;
        ~Decrement() { --counter; }
    } decrement{waiting_};

    // Named rather than a temporary inside co_await: GCC 12 miscompiles capturing lambda
    // temporaries in co_await expressions (gcc PR107288).
    auto task = [this, &job]() -> asio::awaitable<void> {
        auto lease = pool_.acquire(acquire_wait_);
        run_with(lease, job);
        co_return;
    };
    co_await asio::co_spawn(threads_.get_executor(), task, asio::use_awaitable);
}

}  // namespace mg::runtime
