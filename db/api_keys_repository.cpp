#include "db/api_keys_repository.hpp"

#include <pqxx/pqxx>

#include "db/errors.hpp"
#include "db/statements.hpp"

namespace mg::db {
namespace {

constexpr std::string_view kInsertApiKey = "mg_insert_api_key";
// The scopes travel as one text value split on commas, which avoids hand-quoting an array
// literal; scope names never contain commas (the CHECK constraint admits three known words).
constexpr std::string_view kInsertApiKeySql =
    "INSERT INTO api_keys (name, key_hash, scopes) "
    "VALUES ($1, $2, coalesce(string_to_array(nullif($3, ''), ','), '{}')) "
    "ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING "
    "RETURNING id";

constexpr std::string_view kFindActiveApiKeyByHash = "mg_find_active_api_key_by_hash";
constexpr std::string_view kFindActiveApiKeyByHashSql =
    "SELECT id, name, array_to_string(scopes, ','), "
    "floor(extract(epoch FROM created_at))::bigint "
    "FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL";

constexpr std::string_view kRevokeApiKey = "mg_revoke_api_key";
constexpr std::string_view kRevokeApiKeySql =
    "UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL";

constexpr std::string_view kTouchApiKey = "mg_touch_api_key";
constexpr std::string_view kTouchApiKeySql =
    "UPDATE api_keys SET last_used_at = now() WHERE id = $1 "
    "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')";

std::vector<std::string> split_scopes(const std::string& joined) {
    std::vector<std::string> scopes;
    std::size_t start = 0;
    while (start < joined.size()) {
        auto end = joined.find(',', start);
        if (end == std::string::npos) {
            end = joined.size();
        }
        scopes.push_back(joined.substr(start, end - start));
        start = end + 1;
    }
    return scopes;
}

}  // namespace

const std::vector<Statement>& api_key_statements() {
    static const std::vector<Statement> statements = {
        {kInsertApiKey, kInsertApiKeySql},
        {kFindActiveApiKeyByHash, kFindActiveApiKeyByHashSql},
        {kRevokeApiKey, kRevokeApiKeySql},
        {kTouchApiKey, kTouchApiKeySql},
    };
    return statements;
}

std::int64_t insert_api_key(pqxx::work& txn, std::string_view name, std::string_view key_hash_hex,
                            const std::vector<std::string>& scopes) {
    std::string joined;
    for (const auto& scope : scopes) {
        if (scope.empty() || scope.find(',') != std::string::npos) {
            throw std::invalid_argument("invalid API key scope '" + scope + "'");
        }
        if (!joined.empty()) {
            joined += ',';
        }
        joined += scope;
    }
    const auto result = txn.exec_prepared(std::string(kInsertApiKey), std::string(name),
                                          std::string(key_hash_hex), joined);
    if (result.empty()) {
        throw Conflict("api_keys_active_name_key",
                       "an active API key named '" + std::string(name) + "' already exists");
    }
    return result[0][0].as<std::int64_t>();
}

std::optional<ApiKeyRecord> find_active_api_key_by_hash(pqxx::work& txn,
                                                        std::string_view hash_hex) {
    const auto result =
        txn.exec_prepared(std::string(kFindActiveApiKeyByHash), std::string(hash_hex));
    if (result.empty()) {
        return std::nullopt;
    }
    const auto& row = result[0];
    ApiKeyRecord record;
    record.id = row[0].as<std::int64_t>();
    record.name = row[1].as<std::string>();
    record.scopes = split_scopes(row[2].as<std::string>());
    record.created_at = row[3].as<domain::UnixSeconds>();
    return record;
}

int revoke_api_key(pqxx::work& txn, std::string_view name) {
    return static_cast<int>(
        txn.exec_prepared(std::string(kRevokeApiKey), std::string(name)).affected_rows());
}

void touch_api_key(pqxx::work& txn, std::int64_t id) {
    txn.exec_prepared(std::string(kTouchApiKey), id);
}

}  // namespace mg::db
