// Every SQL statement of the service is a named constant in one of the repository files and is
// registered here, so that each connection prepares all of them once when it opens.
#pragma once

#include <pqxx/connection>
#include <pqxx/result>
#include <pqxx/transaction>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mg::db {

struct Statement {
    std::string_view name;
    std::string_view sql;
};

// The statements of each repository (defined next to their SQL).
const std::vector<Statement>& order_statements();
const std::vector<Statement>& api_key_statements();
const std::vector<Statement>& idempotency_statements();
const std::vector<Statement>& payment_statements();
const std::vector<Statement>& webhook_inbox_statements();
const std::vector<Statement>& lifecycle_statements();
const std::vector<Statement>& notification_statements();

// All of the above.
const std::vector<Statement>& all_statements();

// Registers every statement of all_statements() on `conn` (pqxx sends each to the server the
// first time it is executed, and again after a reconnect).
void prepare_statements(pqxx::connection& conn);

// Runs `statement` as a prepared statement. Registering it first is only a map lookup when the
// connection already has it (pooled connections register every statement when they open); it
// makes the repositories work on any connection, e.g. a command-line tool's one-off connection.
template <class... Args>
pqxx::result exec_statement(pqxx::transaction_base& txn, const Statement& statement,
                            Args&&... args) {
    const std::string name(statement.name);
    txn.conn().prepare(name, std::string(statement.sql));
    return txn.exec_prepared(name, std::forward<Args>(args)...);
}

}  // namespace mg::db
