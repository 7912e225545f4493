#include "db/statements.hpp"

#include <pqxx/pqxx>
#include <string>

namespace mg::db {

// Defined in payments_repository.cpp (declared here rather than in statements.hpp only to keep
// that change to one file; it belongs next to the other groups there).
const std::vector<Statement>& payment_statements();

const std::vector<Statement>& all_statements() {
    static const std::vector<Statement> statements = [] {
        std::vector<Statement> all;
        for (const auto* group : {&order_statements(), &api_key_statements(),
                                  &idempotency_statements(), &payment_statements()}) {
            all.insert(all.end(), group->begin(), group->end());
        }
        return all;
    }();
    return statements;
}

void prepare_statements(pqxx::connection& conn) {
    for (const auto& statement : all_statements()) {
        conn.prepare(std::string(statement.name), std::string(statement.sql));
    }
}

}  // namespace mg::db
