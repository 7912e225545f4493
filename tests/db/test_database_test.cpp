#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "tests/support/test_db.hpp"

namespace mg::test {
namespace {

TEST(TestDatabase, IsEmptyAndDroppedAfterwards) {
    std::string name;
    {
        TestDatabase db;
        name = db.name();
        pqxx::connection conn(db.url());
        pqxx::work txn(conn);
        EXPECT_EQ(txn.exec1("SELECT current_database()")[0].as<std::string>(), name);
        EXPECT_EQ(
            txn.exec1("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0].as<int>(),
            0);
    }
    pqxx::connection admin(std::getenv("MG_TEST_PG_URL"));
    pqxx::work txn(admin);
    EXPECT_EQ(
        txn.exec_params1("SELECT count(*) FROM pg_database WHERE datname = $1", name)[0].as<int>(),
        0);
}

TEST(TestDatabase, DropsEvenWithOpenConnections) {
    auto db = std::make_unique<TestDatabase>();
    pqxx::connection left_open(db->url());
    EXPECT_NO_THROW(db.reset());
}

TEST(TestDatabase, ReplacesDatabaseInUri) {
    EXPECT_EQ(with_database("postgresql://postgres@127.0.0.1:5432/postgres", "x"),
              "postgresql://postgres@127.0.0.1:5432/x");
    EXPECT_EQ(with_database("postgresql://u@h:1/postgres?sslmode=disable", "x"),
              "postgresql://u@h:1/x?sslmode=disable");
    EXPECT_EQ(with_database("postgresql://u@h:1", "x"), "postgresql://u@h:1/x");
}

}  // namespace
}  // namespace mg::test
