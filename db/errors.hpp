// The database layer's error types. Callers above db/ see these, never pqxx's exceptions, so
// that one place (the HTTP error mapping) can turn them into status codes.
#pragma once

#include <stdexcept>
#include <string>

namespace mg::db {

class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A unique constraint refused a row (a taken merchant_uid, an active API key name in use).
class Conflict : public Error {
  public:
    Conflict(std::string constraint, const std::string& message)
        : Error(message), constraint_(std::move(constraint)) {}
    // Name of the violated constraint or index, e.g. "orders_merchant_uid_key"; empty if unknown.
    const std::string& constraint() const noexcept { return constraint_; }

  private:
    std::string constraint_;
};

// The connection was lost while committing: the transaction may or may not have been applied.
// Money code must not retry blindly; it hands the case to reconciliation.
class UnknownOutcome : public Error {
  public:
    using Error::Error;
};

// The database can't be reached, the connection broke, or no connection was free in time.
// Nothing was committed; the request may be retried.
class Unavailable : public Error {
  public:
    using Error::Error;
};

// The schema in the database and the migrations in this binary disagree, or a migration failed.
class MigrationError : public Error {
  public:
    using Error::Error;
};

// Translates the exception being handled (call only inside a catch block) into the types above:
// pqxx::in_doubt_error -> UnknownOutcome, pqxx::broken_connection -> Unavailable,
// pqxx::unique_violation -> Conflict. Anything else is rethrown unchanged.
[[noreturn]] void rethrow_as_db_error();

// The constraint name quoted in a unique_violation's message ("... constraint \"name\"").
std::string constraint_name_from_message(const std::string& message);

}  // namespace mg::db
