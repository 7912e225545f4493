#include "db/idempotency_repository.hpp"

#include <pqxx/pqxx>
#include <stdexcept>

#include "db/sql_values.hpp"
#include "db/statements.hpp"

namespace mg::db {
namespace {

// ON CONFLICT DO NOTHING waits for a concurrent inserter of the same key to finish, so when it
// returns no row, the existing row is committed and the locking SELECT below can see it.
constexpr Statement kInsertIdempotencyKey{
    "mg_insert_idempotency_key",
    "INSERT INTO idempotency_keys (scope, key, request_hash, state, locked_until) "
    "VALUES ($1, $2, $3, 'running', now() + $4::bigint * interval '1 second') "
    "ON CONFLICT (scope, key) DO NOTHING RETURNING claim"};

constexpr Statement kLockIdempotencyKey{
    "mg_lock_idempotency_key",
    "SELECT request_hash, state, response_status, response_body, response_content_type, "
    "created_at < now() - $3::bigint * interval '1 second' AS expired, "
    "locked_until IS NULL OR locked_until <= now() AS lock_expired "
    "FROM idempotency_keys WHERE scope = $1 AND key = $2 FOR UPDATE"};

// Used both for an expired record (a new request under an old key) and for taking over a
// running record whose holder died.
constexpr Statement kReclaimIdempotencyKey{
    "mg_reclaim_idempotency_key",
    "UPDATE idempotency_keys SET request_hash = $3, state = 'running', response_status = NULL, "
    "response_body = NULL, response_content_type = NULL, created_at = now(), "
    "completed_at = NULL, locked_until = now() + $4::bigint * interval '1 second', "
    "claim = nextval('idempotency_claims') "
    "WHERE scope = $1 AND key = $2 RETURNING claim"};

constexpr Statement kCompleteIdempotencyKey{
    "mg_complete_idempotency_key",
    "UPDATE idempotency_keys SET state = 'completed', response_status = $3, response_body = $4, "
    "response_content_type = $5, completed_at = now(), locked_until = NULL "
    "WHERE scope = $1 AND key = $2 AND state = 'running' AND claim = $6 RETURNING 1"};

constexpr Statement kReleaseIdempotencyKey{
    "mg_release_idempotency_key",
    "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'running' "
    "AND claim = $3 RETURNING 1"};

// Keys older than the replay window, a batch at a time; rows another instance is purging (or a
// request is claiming) are skipped, not waited for.
constexpr Statement kPurgeIdempotencyKeys{
    "mg_purge_idempotency_keys",
    "DELETE FROM idempotency_keys WHERE (scope, key) IN ("
    "  SELECT scope, key FROM idempotency_keys "
    "  WHERE created_at < now() - $1::bigint * interval '1 second' "
    "  ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)"};

}  // namespace

const std::vector<Statement>& idempotency_statements() {
    static const std::vector<Statement> statements = {
        kInsertIdempotencyKey,   kLockIdempotencyKey,    kReclaimIdempotencyKey,
        kCompleteIdempotencyKey, kReleaseIdempotencyKey, kPurgeIdempotencyKeys,
    };
    return statements;
}

IdempotencyClaim claim_idempotency_key(pqxx::work& txn, std::string_view scope,
                                       std::string_view key, std::string_view request_hash,
                                       std::chrono::seconds ttl,
                                       std::chrono::seconds lock_timeout) {
    const std::string scope_text(scope);
    const std::string key_text(key);
    const std::string hash_text(request_hash);
    // A record can vanish between the insert and the lock (released by its holder); then the
    // insert is tried again. Each round either returns or observed such a release, so a few
    // rounds suffice in practice; the bound only guards against a pathological livelock.
    for (int attempt = 0; attempt < 100; ++attempt) {
        const auto inserted = exec_statement(txn, kInsertIdempotencyKey, scope_text, key_text,
                                             hash_text, seconds_of(lock_timeout));
        if (!inserted.empty()) {
            return {IdempotencyClaim::Outcome::claimed, std::nullopt,
                    inserted[0][0].as<std::int64_t>()};
        }
        const auto existing =
            exec_statement(txn, kLockIdempotencyKey, scope_text, key_text, seconds_of(ttl));
        if (existing.empty()) {
            continue;
        }
        const auto& row = existing[0];
        const bool expired = row["expired"].as<bool>();
        const bool completed = row["state"].as<std::string>() == "completed";
        const bool same_request = row["request_hash"].as<std::string>() == hash_text;
        if (expired || (!completed && same_request && row["lock_expired"].as<bool>())) {
            const auto reclaimed = exec_statement(txn, kReclaimIdempotencyKey, scope_text, key_text,
                                                  hash_text, seconds_of(lock_timeout));
            return {IdempotencyClaim::Outcome::claimed, std::nullopt,
                    reclaimed.at(0)[0].as<std::int64_t>()};
        }
        if (!same_request) {
            return {IdempotencyClaim::Outcome::mismatch, std::nullopt};
        }
        if (!completed) {
            return {IdempotencyClaim::Outcome::in_progress, std::nullopt};
        }
        return {
            IdempotencyClaim::Outcome::replay,
            StoredResponse{row["response_status"].as<int>(),
                           row["response_body"].is_null() ? std::string()
                                                          : row["response_body"].as<std::string>(),
                           row["response_content_type"].is_null()
                               ? std::string()
                               : row["response_content_type"].as<std::string>()}};
    }
    throw std::runtime_error("idempotency key '" + key_text +
                             "' kept disappearing while being claimed");
}

bool complete_idempotency_key(pqxx::work& txn, std::string_view scope, std::string_view key,
                              std::int64_t claim, int status, std::string_view body,
                              std::string_view content_type) {
    return !exec_statement(txn, kCompleteIdempotencyKey, std::string(scope), std::string(key),
                           status, std::string(body), std::string(content_type), claim)
                .empty();
}

bool release_idempotency_key(pqxx::work& txn, std::string_view scope, std::string_view key,
                             std::int64_t claim) {
    return !exec_statement(txn, kReleaseIdempotencyKey, std::string(scope), std::string(key), claim)
                .empty();
}

std::int64_t purge_idempotency_keys(pqxx::work& txn, std::chrono::seconds older_than, int limit) {
    require(limit >= 1, "purge_idempotency_keys: limit must be at least 1");
    return exec_statement(txn, kPurgeIdempotencyKeys, seconds_of(older_than), limit)
        .affected_rows();
}

}  // namespace mg::db
