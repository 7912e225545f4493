#include "db/errors.hpp"

#include <pqxx/except>

namespace mg::db {

std::string constraint_name_from_message(const std::string& message) {
    // PostgreSQL quotes the constraint name in every translation of this message; the first
    // quoted word after "constraint" (or the first quoted word at all) is the name.
    auto anchor = message.find("constraint");
    if (anchor == std::string::npos) {
        anchor = 0;
    }
    const auto open = message.find('"', anchor);
    if (open == std::string::npos) {
        return {};
    }
    const auto close = message.find('"', open + 1);
    if (close == std::string::npos) {
        return {};
    }
    return message.substr(open + 1, close - open - 1);
}

void rethrow_as_db_error() {
    try {
        throw;
    } catch (const pqxx::in_doubt_error& e) {
        throw UnknownOutcome(std::string("commit outcome unknown: ") + e.what());
    } catch (const pqxx::broken_connection& e) {
        throw Unavailable(std::string("database connection lost: ") + e.what());
    } catch (const pqxx::unique_violation& e) {
        throw Conflict(constraint_name_from_message(e.what()), e.what());
    }
}

}  // namespace mg::db
