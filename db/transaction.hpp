// Running work in a transaction, with pqxx's exceptions translated to db/errors.hpp.
#pragma once

#include <chrono>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <type_traits>
#include <utility>

#include "db/errors.hpp"
#include "db/pool.hpp"

namespace mg::db {

// Runs `work(txn)` in a read-committed transaction on `connection` and commits when it returns.
// If it throws, the transaction rolls back and the exception propagates: pqxx's errors as
// db::Conflict, db::UnknownOutcome (the commit's outcome is unknown) or db::Unavailable, any other
// exception unchanged.
template <class Work>
auto with_transaction(pqxx::connection& connection, Work&& work)
    -> std::invoke_result_t<Work&, pqxx::work&> {
    using Result = std::invoke_result_t<Work&, pqxx::work&>;
    try {
        pqxx::work txn(connection);
        if constexpr (std::is_void_v<Result>) {
            work(txn);
            txn.commit();
        } else {
            Result result = work(txn);
            txn.commit();
            return result;
        }
    } catch (...) {
        rethrow_as_db_error();
    }
}

// Runs `work(statements)` in autocommit: each statement is a transaction of its own, with no
// BEGIN or COMMIT round trip. For work of one statement (a claim). Errors as above; a broken
// connection is db::UnknownOutcome, as the statement may have committed.
template <class Work>
auto in_autocommit(pqxx::connection& connection, Work&& work)
    -> std::invoke_result_t<Work&, pqxx::nontransaction&> {
    try {
        pqxx::nontransaction statements(connection);
        return work(statements);
    } catch (const pqxx::broken_connection&) {
        throw UnknownOutcome("the connection broke during a statement in autocommit");
    } catch (...) {
        rethrow_as_db_error();
    }
}

// The same on a connection leased from `pool` for the duration of the call, waiting at most
// `wait` for one. A connection whose state is in doubt afterwards is not reused.
template <class Work>
auto with_transaction(ConnectionPool& pool, std::chrono::milliseconds wait, Work&& work)
    -> std::invoke_result_t<Work&, pqxx::work&> {
    auto lease = pool.acquire(wait);
    try {
        return with_transaction(lease.connection(), std::forward<Work>(work));
    } catch (const Unavailable&) {
        lease.discard();
        throw;
    } catch (const UnknownOutcome&) {
        lease.discard();
        throw;
    }
}

}  // namespace mg::db
