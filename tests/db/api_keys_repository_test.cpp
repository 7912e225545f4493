#include "db/api_keys_repository.hpp"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "db/errors.hpp"
#include "tests/db/migrated_database.hpp"

namespace mg::db::test {
namespace {

std::string hash_of(char c) {
    return std::string(64, c);
}

class ApiKeysRepository : public MigratedDatabase {
  protected:
    std::int64_t insert(const std::string& name, const std::string& hash,
                        const std::vector<std::string>& scopes) {
        return in_transaction(
            [&](pqxx::work& txn) { return insert_api_key(txn, name, hash, scopes); });
    }
    std::optional<ApiKeyRecord> find(const std::string& hash) {
        return in_transaction(
            [&](pqxx::work& txn) { return find_active_api_key_by_hash(txn, hash); });
    }
    int revoke(const std::string& name) {
        return in_transaction([&](pqxx::work& txn) { return revoke_api_key(txn, name); });
    }
};

TEST_F(ApiKeysRepository, InsertAndFindByHash) {
    const auto id = insert("storefront", hash_of('a'), {"read", "write"});
    const auto found = find(hash_of('a'));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->id, id);
    EXPECT_EQ(found->name, "storefront");
    EXPECT_EQ(found->scopes, (std::vector<std::string>{"read", "write"}));
    EXPECT_GT(found->created_at, 0);
    EXPECT_FALSE(find(hash_of('b')));
}

TEST_F(ApiKeysRepository, KoreanNameAndNoScopes) {
    insert("쇼핑몰 서버", hash_of('c'), {});
    const auto found = find(hash_of('c'));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->name, "쇼핑몰 서버");
    EXPECT_TRUE(found->scopes.empty());
}

TEST_F(ApiKeysRepository, ActiveNameIsUnique) {
    insert("storefront", hash_of('a'), {"read"});
    try {
        insert("storefront", hash_of('b'), {"read"});
        FAIL() << "no conflict";
    } catch (const Conflict& e) {
        EXPECT_EQ(e.constraint(), "api_keys_active_name_key");
    }
}

TEST_F(ApiKeysRepository, RevokeHidesKeyAndFreesName) {
    insert("storefront", hash_of('a'), {"read"});
    EXPECT_EQ(revoke("storefront"), 1);
    EXPECT_FALSE(find(hash_of('a')));
    EXPECT_EQ(revoke("storefront"), 0);
    EXPECT_EQ(revoke("never-existed"), 0);
    // The name can be given to a new key once the old one is revoked.
    insert("storefront", hash_of('b'), {"write"});
    EXPECT_TRUE(find(hash_of('b')));
    EXPECT_EQ(revoke("storefront"), 1);
}

TEST_F(ApiKeysRepository, UnknownScopeIsRefused) {
    EXPECT_THROW(insert("bad", hash_of('a'), {"superuser"}), pqxx::check_violation);
    EXPECT_THROW(insert("bad", hash_of('a'), {"read,write"}), std::invalid_argument);
}

TEST_F(ApiKeysRepository, OnlyHashesAreAccepted) {
    EXPECT_THROW(insert("plain", "sk_live_not_a_hash", {"read"}), pqxx::check_violation);
}

TEST_F(ApiKeysRepository, SameHashTwiceIsConflict) {
    insert("one", hash_of('a'), {"read"});
    EXPECT_THROW(insert("two", hash_of('a'), {"read"}), Conflict);
}

TEST_F(ApiKeysRepository, TouchRecordsLastUse) {
    const auto id = insert("storefront", hash_of('a'), {"read"});
    in_transaction([&](pqxx::work& txn) { touch_api_key(txn, id); });
    const auto used = in_transaction([&](pqxx::work& txn) {
        return txn
            .exec_params1("SELECT last_used_at IS NOT NULL FROM api_keys WHERE id = $1", id)[0]
            .as<bool>();
    });
    EXPECT_TRUE(used);
}

}  // namespace
}  // namespace mg::db::test

namespace mg::db::test {
namespace {

TEST_F(ApiKeysRepository, WorksOnAConnectionOutsideThePool) {
    // As the command-line tool does: a one-off connection nobody prepared statements on.
    pqxx::connection connection(url());
    pqxx::work txn(connection);
    insert_api_key(txn, "cli", hash_of('d'), {"read"});
    EXPECT_TRUE(find_active_api_key_by_hash(txn, hash_of('d')));
    EXPECT_EQ(revoke_api_key(txn, "cli"), 1);
    txn.commit();
}

}  // namespace
}  // namespace mg::db::test
