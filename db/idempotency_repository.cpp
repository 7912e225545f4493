#include "db/idempotency_repository.hpp"

#include <pqxx/pqxx>
#include <stdexcept>

#include "db/async_transaction.hpp"
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

namespace {

// What an existing record of the key means for a new request with `request_hash`, from the
// columns of kLockIdempotencyKey (a pqxx::row or a db::PgRow).
template <class Row>
std::optional<IdempotencyClaim> judge_existing(const Row& row, const std::string& request_hash) {
    const bool completed = row[1].template as<std::string>() == "completed";
    const bool same_request = row[0].template as<std::string>() == request_hash;
    const bool expired = row[5].template as<bool>();
    if (expired || (!completed && same_request && row[6].template as<bool>())) {
        return std::nullopt;  // to be reclaimed
    }
    if (!same_request) {
        return IdempotencyClaim{IdempotencyClaim::Outcome::mismatch, std::nullopt};
    }
    if (!completed) {
        return IdempotencyClaim{IdempotencyClaim::Outcome::in_progress, std::nullopt};
    }
    return IdempotencyClaim{
        IdempotencyClaim::Outcome::replay,
        StoredResponse{row[2].template as<int>(),
                       optional_field<std::string>(row[3]).value_or(std::string()),
                       optional_field<std::string>(row[4]).value_or(std::string())}};
}

template <class Result>
IdempotencyClaim claimed(const Result& result) {
    return {IdempotencyClaim::Outcome::claimed, std::nullopt,
            result.at(0)[0].template as<std::int64_t>()};
}

[[noreturn]] void kept_disappearing(std::string_view key) {
    throw std::runtime_error("idempotency key '" + std::string(key) +
                             "' kept disappearing while being claimed");
}

// A record can vanish between the insert and the lock (released by its holder); then the insert
// is tried again. Each round either returns or observed such a release, so a few rounds suffice
// in practice; the bound only guards against a pathological livelock.
constexpr int kClaimRounds = 100;

}  // namespace

IdempotencyClaim claim_idempotency_key(pqxx::work& txn, std::string_view scope,
                                       std::string_view key, std::string_view request_hash,
                                       std::chrono::seconds ttl,
                                       std::chrono::seconds lock_timeout) {
    const std::string scope_text(scope);
    const std::string key_text(key);
    const std::string hash_text(request_hash);
    for (int round = 0; round < kClaimRounds; ++round) {
        const auto inserted = exec_statement(txn, kInsertIdempotencyKey, scope_text, key_text,
                                             hash_text, seconds_of(lock_timeout));
        if (!inserted.empty()) {
            return claimed(inserted);
        }
        const auto existing =
            exec_statement(txn, kLockIdempotencyKey, scope_text, key_text, seconds_of(ttl));
        if (existing.empty()) {
            continue;
        }
        if (auto judged = judge_existing(existing[0], hash_text)) {
            return *judged;
        }
        return claimed(exec_statement(txn, kReclaimIdempotencyKey, scope_text, key_text, hash_text,
                                      seconds_of(lock_timeout)));
    }
    kept_disappearing(key);
}

boost::asio::awaitable<IdempotencyClaim> claim_idempotency_key(AsyncConnection& connection,
                                                               std::string scope, std::string key,
                                                               std::string request_hash,
                                                               std::chrono::seconds ttl,
                                                               std::chrono::seconds lock_timeout) {
    for (int round = 0; round < kClaimRounds; ++round) {
        // A new key, the common case, is one statement in autocommit: one round trip.
        auto query =
            Query(kInsertIdempotencyKey, {scope, key, request_hash, seconds_of(lock_timeout)});
        const auto inserted = co_await connection.exec(std::move(query));
        if (!inserted.empty()) {
            co_return claimed(inserted);
        }
        // An existing one is locked, judged and perhaps reclaimed in one transaction.
        auto judged = co_await in_transaction(
            connection,
            [&](AsyncTransaction& txn) -> boost::asio::awaitable<std::optional<IdempotencyClaim>> {
                auto lock = Query(kLockIdempotencyKey, {scope, key, seconds_of(ttl)});
                const auto existing = co_await txn.exec(std::move(lock));
                if (existing.empty()) {
                    co_return std::nullopt;  // released meanwhile: insert again
                }
                if (auto found = judge_existing(existing[0], request_hash)) {
                    co_return found;
                }
                auto reclaim = Query(kReclaimIdempotencyKey,
                                     {scope, key, request_hash, seconds_of(lock_timeout)});
                const auto reclaimed = co_await txn.exec(std::move(reclaim));
                co_return claimed(reclaimed);
            });
        if (judged) {
            co_return *judged;
        }
    }
    kept_disappearing(key);
}

Query complete_idempotency_key_query(std::string_view scope, std::string_view key,
                                     std::int64_t claim, int status, std::string_view body,
                                     std::string_view content_type) {
    return Query(kCompleteIdempotencyKey, {scope, key, status, body, content_type, claim});
}

Query release_idempotency_key_query(std::string_view scope, std::string_view key,
                                    std::int64_t claim) {
    return Query(kReleaseIdempotencyKey, {scope, key, claim});
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
