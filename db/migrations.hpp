// The schema migration runner: applies migrations/NNNN_name.sql files in order, once each.
#pragma once

#include <filesystem>
#include <pqxx/connection>
#include <string>
#include <vector>

namespace mg::db {

struct Migration {
    int version = 0;   // NNNN of the file name
    std::string name;  // the part after "NNNN_", without ".sql"
    std::string sql;   // the file's bytes

    // "0001_init.sql": how errors and logs name the migration.
    std::string file_name() const;
    // SHA-256 of `sql` in lowercase hex, as stored in schema_migrations.checksum.
    std::string checksum() const;
};

// Reads every *.sql file of `dir`, sorted by version. Throws db::MigrationError for a .sql file
// whose name is not NNNN_name.sql (four digits, version >= 1, name of [a-z0-9_]) or for two files
// with the same version. Other files (a README) are ignored.
std::vector<Migration> load_migrations(const std::filesystem::path& dir);

// The migrations/ files as they were when this binary was built (see db/CMakeLists.txt), so the
// binary does not need the source tree at run time.
std::vector<Migration> embedded_migrations();

struct MigrationReport {
    std::vector<std::string> applied;  // file names applied by this call, in order
    int schema_version = 0;            // highest applied version afterwards
};

// Brings the database at `conninfo` up to date with `migrations`. Holds a session-level advisory
// lock meanwhile, so concurrent runners serialize (the later one finds nothing left to do).
// Each pending migration runs in its own transaction together with its schema_migrations row.
// Throws db::MigrationError, before applying anything, if an applied migration's checksum differs
// from the file, if the database has a version this binary does not know, or if a migration
// older than the newest applied one is pending; and if a migration fails (naming the file).
// Throws db::Unavailable if the database can't be reached.
MigrationReport migrate(const std::string& conninfo, const std::vector<Migration>& migrations);

struct SchemaStatus {
    enum class State { current, pending, mismatch };
    State state = State::pending;
    int pending = 0;     // migrations not yet applied
    std::string detail;  // for mismatch: what disagrees
};

// For the readiness probe: is the database at `connection` exactly at `migrations`? Reads only.
// Throws db::Unavailable if the connection is broken.
SchemaStatus schema_status(pqxx::connection& connection, const std::vector<Migration>& migrations);

}  // namespace mg::db
