// A throwaway database per test, on the cluster that tests/support/with-postgres started.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pqxx {
class transaction_base;
}

namespace mg::test {

// Creates an empty database `mg_t_<random>` on the cluster named by MG_TEST_PG_URL and drops it
// again on destruction, so every test starts from nothing and tests can run in parallel.
// Throws std::runtime_error when MG_TEST_PG_URL is unset or the cluster can't be reached: a
// database test that silently did not run would hide exactly the bugs it exists to find.
class TestDatabase {
  public:
    TestDatabase();
    ~TestDatabase();
    TestDatabase(const TestDatabase&) = delete;
    TestDatabase& operator=(const TestDatabase&) = delete;

    // libpq URI of the new database.
    const std::string& url() const { return url_; }
    const std::string& name() const { return name_; }

    // The one integer `sql` answers, in a transaction of its own that commits.
    std::int64_t query_int(const std::string& sql) const;

  private:
    std::string admin_url_;
    std::string name_;
    std::string url_;
};

// The URI `url` with its database name replaced by `database`.
std::string with_database(const std::string& url, const std::string& database);

// Every row of `sql` as "a|b|c", NULL as "NULL": whole results compare in one EXPECT_EQ.
std::vector<std::string> rows_of(pqxx::transaction_base& txn, const std::string& sql);

}  // namespace mg::test
