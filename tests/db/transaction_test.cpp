#include "db/transaction.hpp"

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <stdexcept>
#include <string>

#include "db/errors.hpp"
#include "tests/support/test_db.hpp"

namespace mg::db {
namespace {

using namespace std::chrono_literals;

class TransactionTest : public ::testing::Test {
  protected:
    TransactionTest() {
        pqxx::connection conn(database_.url());
        pqxx::work txn(conn);
        txn.exec("CREATE TABLE things (name text CONSTRAINT things_name_key UNIQUE)");
        txn.commit();
    }

    int things() {
        return with_transaction(pool_, 1s, [](pqxx::work& txn) {
            return txn.exec1("SELECT count(*) FROM things")[0].as<int>();
        });
    }

    mg::test::TestDatabase database_;
    ConnectionPool pool_{database_.url(), 2};
};

TEST_F(TransactionTest, CommitsOnReturn) {
    with_transaction(pool_, 1s,
                     [](pqxx::work& txn) { txn.exec("INSERT INTO things VALUES ('a')"); });
    EXPECT_EQ(things(), 1);
}

TEST_F(TransactionTest, RollsBackOnException) {
    EXPECT_THROW(with_transaction(pool_, 1s,
                                  [](pqxx::work& txn) {
                                      txn.exec("INSERT INTO things VALUES ('a')");
                                      throw std::logic_error("changed my mind");
                                  }),
                 std::logic_error);
    EXPECT_EQ(things(), 0);
    EXPECT_EQ(pool_.in_use(), 0u);
}

TEST_F(TransactionTest, UniqueViolationIsConflictWithConstraintName) {
    with_transaction(pool_, 1s,
                     [](pqxx::work& txn) { txn.exec("INSERT INTO things VALUES ('a')"); });
    try {
        with_transaction(pool_, 1s,
                         [](pqxx::work& txn) { txn.exec("INSERT INTO things VALUES ('a')"); });
        FAIL() << "no conflict";
    } catch (const Conflict& e) {
        EXPECT_EQ(e.constraint(), "things_name_key");
    }
    EXPECT_EQ(things(), 1);
}

TEST_F(TransactionTest, OtherSqlErrorsPassThrough) {
    EXPECT_THROW(with_transaction(pool_, 1s, [](pqxx::work& txn) { txn.exec("SELECT nonsense"); }),
                 pqxx::sql_error);
}

TEST_F(TransactionTest, ReturnsTheResult) {
    EXPECT_EQ(with_transaction(
                  pool_, 1s,
                  [](pqxx::work& txn) { return txn.exec1("SELECT 'ok'")[0].as<std::string>(); }),
              "ok");
}

TEST_F(TransactionTest, WorksOnAPlainConnection) {
    pqxx::connection conn(database_.url());
    with_transaction(conn, [](pqxx::work& txn) { txn.exec("INSERT INTO things VALUES ('b')"); });
    EXPECT_EQ(things(), 1);
}

// Autocommit: each statement commits by itself, so one that ran before a failure stays; errors
// are translated as in a transaction. (A connection lost under a statement is an unknown
// outcome; libpqxx 6.4 leaks a result when the server ends a backend mid-statement, so that case
// is left to the resilience tests, which stop PostgreSQL under a running gateway.)
TEST_F(TransactionTest, InAutocommitEachStatementCommitsByItself) {
    pqxx::connection connection(database_.url());
    EXPECT_THROW(in_autocommit(connection,
                               [](pqxx::nontransaction& statements) {
                                   statements.exec("INSERT INTO things VALUES ('a')");
                                   throw std::runtime_error("after the first statement");
                               }),
                 std::runtime_error);
    EXPECT_EQ(things(), 1);
    try {
        in_autocommit(connection, [](pqxx::nontransaction& statements) {
            statements.exec("INSERT INTO things VALUES ('a')");
        });
        ADD_FAILURE() << "no conflict";
    } catch (const Conflict& e) {
        EXPECT_EQ(e.constraint(), "things_name_key");
    }
}

TEST(ConstraintName, FromMessage) {
    EXPECT_EQ(constraint_name_from_message(
                  "ERROR:  duplicate key value violates unique constraint \"orders_uid_key\"\n"
                  "DETAIL:  Key (merchant_uid)=(a) already exists."),
              "orders_uid_key");
    EXPECT_EQ(constraint_name_from_message("no name here"), "");
}

}  // namespace
}  // namespace mg::db
