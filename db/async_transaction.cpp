#include "db/async_transaction.hpp"

namespace mg::db {

namespace asio = boost::asio;

asio::awaitable<std::vector<PgResult>> AsyncTransaction::exec(std::vector<Query> queries) {
    if (begun_) {
        co_return co_await connection_.exec(std::move(queries));
    }
    queries.insert(queries.begin(), Query::control("BEGIN"));
    begun_ = true;
    auto results = co_await connection_.exec(std::move(queries));
    results.erase(results.begin());
    co_return results;
}

asio::awaitable<PgResult> AsyncTransaction::exec(Query query) {
    std::vector<Query> queries;
    queries.push_back(std::move(query));
    auto results = co_await exec(std::move(queries));
    co_return std::move(results.front());
}

asio::awaitable<void> AsyncTransaction::commit() {
    if (begun_) {
        begun_ = false;
        co_await connection_.exec(Query::control("COMMIT"));
    }
}

asio::awaitable<void> AsyncTransaction::rollback() {
    if (!begun_ || connection_.broken()) {
        co_return;
    }
    begun_ = false;
    try {
        co_await connection_.exec(Query::control("ROLLBACK"));
    } catch (...) {
        // The connection is then not reusable (broken, or still in the transaction).
    }
}

}  // namespace mg::db
