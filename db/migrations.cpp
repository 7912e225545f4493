#include "db/migrations.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <pqxx/nontransaction>
#include <pqxx/pqxx>
#include <pqxx/transaction>
#include <sstream>

#include "db/embedded_migration_files.hpp"
#include "db/errors.hpp"

namespace mg::db {
namespace {

// Key of the session-level advisory lock that serializes migration runners ("mg_migra").
constexpr std::int64_t kMigrationLockKey = 0x6d675f6d69677261;

constexpr const char* kCreateMigrationsTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE schema_migrations IS
    'One row per applied migrations/NNNN_name.sql file, written by merchant-gateway migrate.';
COMMENT ON COLUMN schema_migrations.checksum IS
    'SHA-256 (hex) of the file as applied; the service refuses to start if the file changed.';
)sql";

constexpr const char* kSelectApplied =
    "SELECT version, name, checksum FROM schema_migrations ORDER BY version";
constexpr const char* kInsertApplied =
    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)";
constexpr const char* kMigrationsTableExists =
    "SELECT to_regclass('schema_migrations') IS NOT NULL";

struct AppliedMigration {
    int version;
    std::string name;
    std::string checksum;
};

std::string sha256_hex(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
        throw MigrationError("SHA-256 computation failed");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) {
        hex += kHex[digest[i] >> 4];
        hex += kHex[digest[i] & 0x0f];
    }
    return hex;
}

// NNNN_name.sql: four digits, an underscore, a name of [a-z0-9_]+, ".sql".
bool is_migration_file_name(std::string_view file_name) {
    constexpr std::string_view kSuffix = ".sql";
    if (file_name.size() < 4 + 1 + 1 + kSuffix.size() ||
        file_name.substr(file_name.size() - kSuffix.size()) != kSuffix || file_name[4] != '_') {
        return false;
    }
    const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    const auto is_name_char = [&](char c) {
        return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_';
    };
    const auto digits = file_name.substr(0, 4);
    const auto name = file_name.substr(5, file_name.size() - 5 - kSuffix.size());
    return std::all_of(digits.begin(), digits.end(), is_digit) &&
           std::all_of(name.begin(), name.end(), is_name_char);
}

Migration parse_migration(const std::string& file_name, std::string sql) {
    if (!is_migration_file_name(file_name)) {
        throw MigrationError("bad migration file name '" + file_name +
                             "': expected NNNN_name.sql (four digits, name of a-z 0-9 _)");
    }
    Migration migration;
    migration.version = std::stoi(file_name.substr(0, 4));
    migration.name = file_name.substr(5, file_name.size() - 5 - 4);
    migration.sql = std::move(sql);
    if (migration.version < 1) {
        throw MigrationError("bad migration file name '" + file_name + "': versions start at 0001");
    }
    return migration;
}

std::vector<Migration> sorted_unique(std::vector<Migration> migrations) {
    std::sort(migrations.begin(), migrations.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    for (std::size_t i = 1; i < migrations.size(); ++i) {
        if (migrations[i].version == migrations[i - 1].version) {
            throw MigrationError(
                "two migrations with version " + std::to_string(migrations[i].version) + ": " +
                migrations[i - 1].file_name() + " and " + migrations[i].file_name());
        }
    }
    return migrations;
}

std::vector<AppliedMigration> read_applied(pqxx::transaction_base& txn) {
    std::vector<AppliedMigration> applied;
    for (const auto& row : txn.exec(kSelectApplied)) {
        applied.push_back({row[0].as<int>(), row[1].as<std::string>(), row[2].as<std::string>()});
    }
    return applied;
}

std::string applied_file_name(const AppliedMigration& applied) {
    return Migration{applied.version, applied.name, {}}.file_name();
}

// Compares what the database has applied with what this binary carries. Returns an empty string
// when they agree so far (the binary may have more), else a description of the disagreement.
std::string find_mismatch(const std::vector<AppliedMigration>& applied,
                          const std::vector<Migration>& migrations) {
    std::map<int, const Migration*> known;
    for (const auto& migration : migrations) {
        known[migration.version] = &migration;
    }
    int newest_applied = 0;
    for (const auto& row : applied) {
        newest_applied = std::max(newest_applied, row.version);
        const auto found = known.find(row.version);
        if (found == known.end()) {
            return "the database has migration " + applied_file_name(row) +
                   " applied, which this binary does not know (is it older than the schema?)";
        }
        if (found->second->checksum() != row.checksum) {
            return "migration " + found->second->file_name() +
                   " was changed after it was applied (checksum " + row.checksum +
                   " in the database, " + found->second->checksum() +
                   " now); applied migrations must not be edited, add a new one instead";
        }
    }
    for (const auto& migration : migrations) {
        const bool is_applied = std::any_of(
            applied.begin(), applied.end(),
            [&](const AppliedMigration& row) { return row.version == migration.version; });
        if (!is_applied && migration.version < newest_applied) {
            return "migration " + migration.file_name() +
                   " is not applied but a newer one is (version " + std::to_string(newest_applied) +
                   "); migrations must be applied in order";
        }
    }
    return {};
}

}  // namespace

std::string Migration::file_name() const {
    std::string number = std::to_string(version);
    if (number.size() < 4) {
        number.insert(0, 4 - number.size(), '0');
    }
    return number + "_" + name + ".sql";
}

std::string Migration::checksum() const {
    return sha256_hex(sql);
}

std::vector<Migration> load_migrations(const std::filesystem::path& dir) {
    std::error_code error;
    std::filesystem::directory_iterator entries(dir, error);
    if (error) {
        throw MigrationError("cannot read migrations directory " + dir.string() + ": " +
                             error.message());
    }
    std::vector<Migration> migrations;
    for (const auto& entry : entries) {
        if (!entry.is_regular_file() || entry.path().extension() != ".sql") {
            continue;
        }
        std::ifstream file(entry.path(), std::ios::binary);
        std::ostringstream contents;
        contents << file.rdbuf();
        if (!file) {
            throw MigrationError("cannot read migration " + entry.path().string());
        }
        migrations.push_back(parse_migration(entry.path().filename().string(), contents.str()));
    }
    return sorted_unique(std::move(migrations));
}

std::vector<Migration> embedded_migrations() {
    std::vector<Migration> migrations;
    for (const auto& file : detail::embedded_migration_files()) {
        migrations.push_back(
            parse_migration(std::string(file.file_name), std::string(file.contents)));
    }
    return sorted_unique(std::move(migrations));
}

MigrationReport migrate(const std::string& conninfo, const std::vector<Migration>& unsorted) {
    const auto migrations = sorted_unique(unsorted);
    try {
        pqxx::connection connection(conninfo);
        {
            // Session-level: held across the per-migration transactions below, released when
            // this connection closes even if we crash.
            pqxx::nontransaction session(connection);
            session.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
            session.exec(kCreateMigrationsTable);
        }

        std::vector<AppliedMigration> applied;
        {
            pqxx::work txn(connection);
            applied = read_applied(txn);
            txn.commit();
        }
        if (auto mismatch = find_mismatch(applied, migrations); !mismatch.empty()) {
            throw MigrationError("refusing to migrate: " + mismatch);
        }

        MigrationReport report;
        for (const auto& row : applied) {
            report.schema_version = std::max(report.schema_version, row.version);
        }
        for (const auto& migration : migrations) {
            if (migration.version <= report.schema_version) {
                continue;
            }
            try {
                pqxx::work txn(connection);
                txn.exec(migration.sql);
                txn.exec_params(kInsertApplied, migration.version, migration.name,
                                migration.checksum());
                txn.commit();
            } catch (const pqxx::in_doubt_error&) {
                throw;
            } catch (const pqxx::broken_connection&) {
                throw;
            } catch (const std::exception& e) {
                throw MigrationError("migration " + migration.file_name() +
                                     " failed and was rolled back: " + e.what());
            }
            report.applied.push_back(migration.file_name());
            report.schema_version = migration.version;
        }

        pqxx::nontransaction session(connection);
        session.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
        return report;
    } catch (const MigrationError&) {
        throw;
    } catch (const pqxx::in_doubt_error& e) {
        throw MigrationError(std::string("lost the connection while committing a migration; "
                                         "run migrate again to see what was applied: ") +
                             e.what());
    } catch (const pqxx::broken_connection& e) {
        throw Unavailable(std::string("cannot migrate, database unreachable: ") + e.what());
    } catch (const std::exception& e) {
        throw MigrationError(std::string("migration failed: ") + e.what());
    }
}

SchemaStatus schema_status(pqxx::connection& connection, const std::vector<Migration>& migrations) {
    std::vector<AppliedMigration> applied;
    try {
        pqxx::read_transaction txn(connection);
        if (txn.exec1(kMigrationsTableExists)[0].as<bool>()) {
            applied = read_applied(txn);
        }
        txn.commit();
    } catch (...) {
        rethrow_as_db_error();
    }
    SchemaStatus status;
    status.detail = find_mismatch(applied, migrations);
    if (!status.detail.empty()) {
        status.state = SchemaStatus::State::mismatch;
        return status;
    }
    status.pending = static_cast<int>(migrations.size() - applied.size());
    status.state =
        status.pending == 0 ? SchemaStatus::State::current : SchemaStatus::State::pending;
    return status;
}

}  // namespace mg::db
