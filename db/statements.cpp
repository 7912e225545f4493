#include "db/statements.hpp"

#include <pqxx/pqxx>
#include <string>

namespace mg::db {

const std::vector<Statement>& all_statements() {
    static const std::vector<Statement> statements = [] {
        std::vector<Statement> all;
        for (const auto* group :
             {&order_statements(), &api_key_statements(), &idempotency_statements(),
              &payment_statements(), &webhook_inbox_statements(), &lifecycle_statements(),
              &notification_statements()}) {
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
