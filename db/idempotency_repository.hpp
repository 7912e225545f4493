// Idempotency-Key records (table idempotency_keys), shared by every POST/PATCH route.
//
// Protocol: claim the key in a short transaction of its own and commit; run the request; then
// complete (store the response) or release (forget the attempt, so a retry runs it again) in
// another transaction. A claim whose holder died expires after its lock timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <pqxx/transaction>
#include <string>
#include <string_view>

#include "db/async_connection.hpp"

namespace mg::db {

struct StoredResponse {
    int status = 0;
    std::string body;
    std::string content_type;
};

struct IdempotencyClaim {
    enum class Outcome {
        claimed,      // the caller runs the request and must complete or release the key
        replay,       // completed earlier with the same request: send `response` again
        mismatch,     // the key was used for another request (different request hash)
        in_progress,  // the same request is running elsewhere right now
    };
    Outcome outcome = Outcome::claimed;
    std::optional<StoredResponse> response;  // set for replay
    std::int64_t claim = 0;                  // set for claimed: the fencing number
};

// Claims (scope, key) for a request with hash `request_hash`. A record older than `ttl` is
// forgotten and claimed anew; a running record whose lock (`lock_timeout` from its claim) has
// expired is taken over, because the process that held it is presumed dead. Safe under
// concurrency: of many simultaneous claims of one key exactly one gets `claimed`.
IdempotencyClaim claim_idempotency_key(pqxx::work& txn, std::string_view scope,
                                       std::string_view key, std::string_view request_hash,
                                       std::chrono::seconds ttl, std::chrono::seconds lock_timeout);

// Stores the response of a claimed request for replays. False (nothing written) when `claim` is
// no longer the key's: the claim lapsed and another request took the key over.
// The same on an event loop: the insert in autocommit, an existing key in a transaction.
boost::asio::awaitable<IdempotencyClaim> claim_idempotency_key(AsyncConnection& connection,
                                                               std::string scope, std::string key,
                                                               std::string request_hash,
                                                               std::chrono::seconds ttl,
                                                               std::chrono::seconds lock_timeout);

// complete_ and release_idempotency_key as queries, to send in a round trip with others; each
// returns a row when the key was still the claim's.
Query complete_idempotency_key_query(std::string_view scope, std::string_view key,
                                     std::int64_t claim, int status, std::string_view body,
                                     std::string_view content_type);
Query release_idempotency_key_query(std::string_view scope, std::string_view key,
                                    std::int64_t claim);

bool complete_idempotency_key(pqxx::work& txn, std::string_view scope, std::string_view key,
                              std::int64_t claim, int status, std::string_view body,
                              std::string_view content_type);

// Deletes a running claim, so that a retry runs the request again. Only for failures after which
// a retry is safe (nothing was done, or the outcome is known not to have happened). False when
// `claim` is no longer the key's.
bool release_idempotency_key(pqxx::work& txn, std::string_view scope, std::string_view key,
                             std::int64_t claim);

// Deletes up to `limit` keys claimed more than `older_than` ago (retention); returns how many.
// Rows locked elsewhere are skipped, so instances purging at once never wait for each other.
std::int64_t purge_idempotency_keys(pqxx::work& txn, std::chrono::seconds older_than, int limit);

}  // namespace mg::db
