// A transaction on an AsyncConnection. BEGIN rides in the first round trip with the first
// statements, so a transaction of one round trip of work costs two (the work, then COMMIT).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "db/async_connection.hpp"

namespace mg::db {

class AsyncTransaction {
  public:
    explicit AsyncTransaction(AsyncConnection& connection) : connection_(connection) {}

    boost::asio::awaitable<std::vector<PgResult>> exec(std::vector<Query> queries);
    boost::asio::awaitable<PgResult> exec(Query query);

    // Commits what was done (nothing to do when nothing was). db::UnknownOutcome when the
    // connection is lost with the COMMIT on its way.
    boost::asio::awaitable<void> commit();
    // Rolls back; a failure here leaves the connection unusable, never throws.
    boost::asio::awaitable<void> rollback();

  private:
    AsyncConnection& connection_;
    bool begun_ = false;
};

// `job(transaction)`, an awaitable, in a transaction on `connection`: committed when it
// returns, rolled back when it throws.
template <class F>
auto in_transaction(AsyncConnection& connection, F job)
    -> std::invoke_result_t<F, AsyncTransaction&> {
    using R = typename std::invoke_result_t<F, AsyncTransaction&>::value_type;
    AsyncTransaction transaction(connection);
    std::exception_ptr failure;
    if constexpr (std::is_void_v<R>) {
        try {
            co_await job(transaction);
            co_await transaction.commit();
            co_return;
        } catch (...) {
            failure = std::current_exception();
        }
        co_await transaction.rollback();
        std::rethrow_exception(failure);
    } else {
        std::optional<R> result;
        try {
            auto value = co_await job(transaction);
            result.emplace(std::move(value));
            co_await transaction.commit();
        } catch (...) {
            failure = std::current_exception();
        }
        if (failure) {
            co_await transaction.rollback();
            std::rethrow_exception(failure);
        }
        co_return std::move(*result);
    }
}

}  // namespace mg::db
