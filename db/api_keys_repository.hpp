// API keys of storefront servers (table api_keys). Only SHA-256 hashes of keys reach this layer.
#pragma once

#include <cstdint>
#include <optional>
#include <pqxx/transaction>
#include <string>
#include <string_view>
#include <vector>

#include "db/async_connection.hpp"
#include "service/domain/order.hpp"

namespace mg::db {

struct ApiKeyRecord {
    std::int64_t id = 0;
    std::string name;
    std::vector<std::string> scopes;  // of "read", "write", "refund"
    domain::UnixSeconds created_at = 0;
};

// Stores a new key. `key_hash_hex` is the lowercase hex SHA-256 of the key. Throws db::Conflict
// (constraint "api_keys_active_name_key") if a key that is not revoked already has this name.
std::int64_t insert_api_key(pqxx::work& txn, std::string_view name, std::string_view key_hash_hex,
                            const std::vector<std::string>& scopes);

// The key with this hash, unless it was revoked.
std::optional<ApiKeyRecord> find_active_api_key_by_hash(pqxx::work& txn, std::string_view hash_hex);
// The same on an event loop, in autocommit.
boost::asio::awaitable<std::optional<ApiKeyRecord>> find_active_api_key_by_hash(
    AsyncConnection& connection, std::string hash_hex);

// Revokes the active key of that name; returns how many were revoked (0 or 1).
int revoke_api_key(pqxx::work& txn, std::string_view name);

// Records that the key was used now. Writes at most once a minute per key, so authenticating
// every request does not turn into a write per request.
void touch_api_key(pqxx::work& txn, std::int64_t id);

}  // namespace mg::db
