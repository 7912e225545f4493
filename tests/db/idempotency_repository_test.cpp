#include "db/idempotency_repository.hpp"

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

#include "tests/db/migrated_database.hpp"

namespace mg::db::test {
namespace {

using namespace std::chrono_literals;
using Outcome = IdempotencyClaim::Outcome;

constexpr auto kTtl = std::chrono::seconds(24 * 3600);
constexpr auto kLock = std::chrono::seconds(60);

class IdempotencyRepository : public MigratedDatabase {
  protected:
    IdempotencyClaim claim(const std::string& key, const std::string& hash,
                           const std::string& scope = "key-1") {
        return in_transaction([&](pqxx::work& txn) {
            return claim_idempotency_key(txn, scope, key, hash, kTtl, kLock);
        });
    }
    // Completes under the key's current claim (the one the last claim() took).
    bool complete(const std::string& key, int status, const std::string& body,
                  const std::string& scope = "key-1") {
        return complete_as(current_claim(key, scope), key, status, body, scope);
    }
    bool complete_as(std::int64_t claim_number, const std::string& key, int status,
                     const std::string& body, const std::string& scope = "key-1") {
        return in_transaction([&](pqxx::work& txn) {
            return complete_idempotency_key(txn, scope, key, claim_number, status, body,
                                            "application/json");
        });
    }
    bool release(const std::string& key, const std::string& scope = "key-1") {
        return release_as(current_claim(key, scope), key, scope);
    }
    bool release_as(std::int64_t claim_number, const std::string& key,
                    const std::string& scope = "key-1") {
        return in_transaction([&](pqxx::work& txn) {
            return release_idempotency_key(txn, scope, key, claim_number);
        });
    }
    std::int64_t current_claim(const std::string& key, const std::string& scope) {
        return in_transaction([&](pqxx::work& txn) {
            return txn
                .exec_params1("SELECT claim FROM idempotency_keys WHERE scope = $1 AND key = $2",
                              scope, key)[0]
                .as<std::int64_t>();
        });
    }
    std::int64_t count() {
        return in_transaction([](pqxx::work& txn) {
            return txn.exec1("SELECT count(*) FROM idempotency_keys")[0].as<std::int64_t>();
        });
    }
    void execute(const std::string& sql) {
        in_transaction([&](pqxx::work& txn) { txn.exec(sql); });
    }
};

TEST_F(IdempotencyRepository, FirstClaimWins) {
    EXPECT_EQ(claim("k", "h1").outcome, Outcome::claimed);
}

TEST_F(IdempotencyRepository, RunningIsInProgress) {
    claim("k", "h1");
    EXPECT_EQ(claim("k", "h1").outcome, Outcome::in_progress);
}

TEST_F(IdempotencyRepository, OtherRequestIsMismatch) {
    claim("k", "h1");
    EXPECT_EQ(claim("k", "h2").outcome, Outcome::mismatch);
    complete("k", 201, "{}");
    EXPECT_EQ(claim("k", "h2").outcome, Outcome::mismatch);
}

TEST_F(IdempotencyRepository, CompletedIsReplayed) {
    claim("k", "h1");
    complete("k", 201, R"({"name":"한정판 티셔츠"})");
    const auto again = claim("k", "h1");
    EXPECT_EQ(again.outcome, Outcome::replay);
    ASSERT_TRUE(again.response);
    EXPECT_EQ(again.response->status, 201);
    EXPECT_EQ(again.response->body, R"({"name":"한정판 티셔츠"})");
    EXPECT_EQ(again.response->content_type, "application/json");
}

TEST_F(IdempotencyRepository, ScopesAreSeparate) {
    claim("k", "h1", "key-1");
    EXPECT_EQ(claim("k", "h2", "key-2").outcome, Outcome::claimed);
}

TEST_F(IdempotencyRepository, ReleasedKeyCanRunAgain) {
    claim("k", "h1");
    EXPECT_TRUE(release("k"));
    EXPECT_EQ(claim("k", "h1").outcome, Outcome::claimed);
}

TEST_F(IdempotencyRepository, ReleaseLeavesCompletedRecords) {
    claim("k", "h1");
    complete("k", 200, "done");
    EXPECT_FALSE(release("k"));
    EXPECT_EQ(claim("k", "h1").outcome, Outcome::replay);
}

TEST_F(IdempotencyRepository, ExpiredRecordIsClaimedAnew) {
    claim("k", "h1");
    complete("k", 201, "old");
    execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'");
    // After the replay window even another request may use the key.
    EXPECT_EQ(claim("k", "h2").outcome, Outcome::claimed);
    EXPECT_EQ(claim("k", "h2").outcome, Outcome::in_progress);
    complete("k", 202, "new");
    const auto replay = claim("k", "h2");
    EXPECT_EQ(replay.outcome, Outcome::replay);
    EXPECT_EQ(replay.response->body, "new");
}

TEST_F(IdempotencyRepository, ExpiredLockIsTakenOver) {
    claim("k", "h1");
    execute("UPDATE idempotency_keys SET locked_until = now() - interval '1 second'");
    EXPECT_EQ(claim("k", "h1").outcome, Outcome::claimed);
    // The new holder has a fresh lock.
    EXPECT_EQ(claim("k", "h1").outcome, Outcome::in_progress);
    // Another request under the key is still a mismatch, dead holder or not.
    execute("UPDATE idempotency_keys SET locked_until = now() - interval '1 second'");
    EXPECT_EQ(claim("k", "h2").outcome, Outcome::mismatch);
}

// A request that outlived its claim (its lock lapsed and a retry took the key over) can neither
// store its answer over the successor's nor release the successor's claim.
TEST_F(IdempotencyRepository, AClaimTakenOverFencesItsFormerHolderOut) {
    const auto first = claim("k", "h1");
    ASSERT_EQ(first.outcome, Outcome::claimed);
    execute("UPDATE idempotency_keys SET locked_until = now() - interval '1 second'");
    const auto second = claim("k", "h1");
    ASSERT_EQ(second.outcome, Outcome::claimed);
    EXPECT_NE(second.claim, first.claim);

    EXPECT_FALSE(release_as(first.claim, "k"));
    EXPECT_FALSE(complete_as(first.claim, "k", 201, "first"));
    EXPECT_EQ(claim("k", "h1").outcome, Outcome::in_progress);
    EXPECT_TRUE(complete_as(second.claim, "k", 201, "second"));
    EXPECT_EQ(claim("k", "h1").response->body, "second");
    // Completed: no claim, old or new, releases it.
    EXPECT_FALSE(release_as(second.claim, "k"));
}

TEST_F(IdempotencyRepository, PurgesKeysPastTheReplayWindowInBatches) {
    for (int i = 0; i < 5; ++i) {
        claim("old-" + std::to_string(i), "h");
        complete("old-" + std::to_string(i), 201, "{}");
    }
    claim("old-running", "h");
    claim("recent", "h");
    execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
        "WHERE key <> 'recent'");
    const auto purge = [&](int limit) {
        return in_transaction(
            [&](pqxx::work& txn) { return purge_idempotency_keys(txn, kTtl, limit); });
    };
    EXPECT_EQ(purge(4), 4);
    EXPECT_EQ(purge(4), 2);
    EXPECT_EQ(purge(4), 0);
    EXPECT_EQ(count(), 1);
    EXPECT_EQ(claim("recent", "h").outcome, Outcome::in_progress);
    EXPECT_THROW(purge(0), std::invalid_argument);
}

TEST_F(IdempotencyRepository, LockTimeoutIsHonoured) {
    const auto short_lock = in_transaction([](pqxx::work& txn) {
        return claim_idempotency_key(txn, "key-1", "k", "h1", kTtl, std::chrono::seconds(1));
    });
    EXPECT_EQ(short_lock.outcome, Outcome::claimed);
    EXPECT_EQ(claim("k", "h1").outcome, Outcome::in_progress);
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(claim("k", "h1").outcome, Outcome::claimed);
}

TEST_F(IdempotencyRepository, FiftyConcurrentClaimsOneWins) {
    constexpr int kClaims = 50;
    std::array<std::atomic<int>, 4> outcomes{};
    std::atomic<int> errors{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < kClaims; ++i) {
        threads.emplace_back([&] {
            while (!go.load()) {
                std::this_thread::yield();
            }
            try {
                ++outcomes[static_cast<std::size_t>(claim("race", "h").outcome)];
            } catch (const std::exception& e) {
                ADD_FAILURE() << e.what();
                ++errors;
            }
        });
    }
    go = true;
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(outcomes[static_cast<std::size_t>(Outcome::claimed)].load(), 1);
    EXPECT_EQ(outcomes[static_cast<std::size_t>(Outcome::in_progress)].load(), kClaims - 1);
}

TEST_F(IdempotencyRepository, ConcurrentClaimsOfExpiredRecordOneWins) {
    claim("race", "h");
    complete("race", 200, "old");
    execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'");
    constexpr int kClaims = 20;
    std::atomic<int> claimed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kClaims; ++i) {
        threads.emplace_back([&] {
            if (claim("race", "h").outcome == Outcome::claimed) {
                ++claimed;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(claimed.load(), 1);
}

TEST_F(IdempotencyRepository, KeyLongerThan255IsRefused) {
    EXPECT_NO_THROW(claim(std::string(255, 'k'), "h"));
    EXPECT_THROW(claim(std::string(256, 'k'), "h"), pqxx::check_violation);
}

}  // namespace
}  // namespace mg::db::test
