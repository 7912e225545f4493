#include "db/api_keys_repository.hpp"

#include <pqxx/pqxx>

#include "db/errors.hpp"
#include "db/statements.hpp"

namespace mg::db {
namespace {

constexpr Statement kInsertApiKey{
    "mg_insert_api_key",
    "INSERT INTO api_keys (name, key_hash, scopes) "
    "VALUES ($1, $2, coalesce(string_to_array(nullif($3, ''), ','), '{}')) "
    "ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING "
    "RETURNING id"};

constexpr Statement kFindActiveApiKeyByHash{
    "mg_find_active_api_key_by_hash",
    "SELECT id, name, array_to_string(scopes, ','), "
    "floor(extract(epoch FROM created_at))::bigint "
    "FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"};

constexpr Statement kRevokeApiKey{
    "mg_revoke_api_key",
    "UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL"};

constexpr Statement kTouchApiKey{
    "mg_touch_api_key",
    "UPDATE api_keys SET last_used_at = now() WHERE id = $1 "
    "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')"};

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
        kInsertApiKey,
        kFindActiveApiKeyByHash,
        kRevokeApiKey,
        kTouchApiKey,
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
    const auto result =
        exec_statement(txn, kInsertApiKey, std::string(name), std::string(key_hash_hex), joined);
    if (result.empty()) {
        throw Conflict("api_keys_active_name_key",
                       "an active API key named '" + std::string(name) + "' already exists");
    }
    return result[0][0].as<std::int64_t>();
}

namespace {

template <class Result>
std::optional<ApiKeyRecord> api_key_from(const Result& result) {
    if (result.empty()) {
        return std::nullopt;
    }
    const auto row = result[0];
    ApiKeyRecord record;
    record.id = row[0].template as<std::int64_t>();
    record.name = row[1].template as<std::string>();
    record.scopes = split_scopes(row[2].template as<std::string>());
    record.created_at = row[3].template as<domain::UnixSeconds>();
    return record;
}

}  // namespace

std::optional<ApiKeyRecord> find_active_api_key_by_hash(pqxx::work& txn,
                                                        std::string_view hash_hex) {
    return api_key_from(exec_statement(txn, kFindActiveApiKeyByHash, std::string(hash_hex)));
}

boost::asio::awaitable<std::optional<ApiKeyRecord>> find_active_api_key_by_hash(
    AsyncConnection& connection, std::string hash_hex) {
    auto query = Query(kFindActiveApiKeyByHash, {std::move(hash_hex)});
    const auto result = co_await connection.exec(std::move(query));
    co_return api_key_from(result);
}

int revoke_api_key(pqxx::work& txn, std::string_view name) {
    return static_cast<int>(exec_statement(txn, kRevokeApiKey, std::string(name)).affected_rows());
}

void touch_api_key(pqxx::work& txn, std::int64_t id) {
    exec_statement(txn, kTouchApiKey, id);
}

}  // namespace mg::db
