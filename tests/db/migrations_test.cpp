#include "db/migrations.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <thread>

#include "db/errors.hpp"
#include "test_paths.hpp"
#include "tests/support/test_db.hpp"

namespace mg::db {
namespace {

int count(const std::string& url, const std::string& sql) {
    pqxx::connection conn(url);
    pqxx::work txn(conn);
    return txn.exec1(sql)[0].as<int>();
}

std::vector<Migration> two_migrations() {
    return {{1, "first", "CREATE TABLE first_table (id int);"},
            {2, "second", "CREATE TABLE second_table (id int);"}};
}

class TemporaryDirectory {
  public:
    TemporaryDirectory() {
        path_ = std::filesystem::temp_directory_path() /
                ("mg-migrations-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
        std::filesystem::create_directories(path_);
    }
    ~TemporaryDirectory() { std::filesystem::remove_all(path_); }
    const std::filesystem::path& path() const { return path_; }
    void write(const std::string& name, const std::string& contents) const {
        std::ofstream(path_ / name) << contents;
    }

  private:
    std::filesystem::path path_;
};

TEST(Migrations, EmbeddedMatchSourceTree) {
    const auto embedded = embedded_migrations();
    const auto on_disk =
        load_migrations(std::filesystem::path(mg::test::kSourceDir) / "migrations");
    ASSERT_FALSE(embedded.empty());
    ASSERT_EQ(embedded.size(), on_disk.size());
    for (std::size_t i = 0; i < embedded.size(); ++i) {
        EXPECT_EQ(embedded[i].file_name(), on_disk[i].file_name());
        EXPECT_EQ(embedded[i].checksum(), on_disk[i].checksum());
    }
    EXPECT_EQ(embedded[0].file_name(), "0001_init.sql");
}

TEST(Migrations, ChecksumIsSha256Hex) {
    const Migration migration{1, "x", "abc"};
    EXPECT_EQ(migration.checksum(),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Migrations, LoadSortsAndIgnoresOtherFiles) {
    TemporaryDirectory dir;
    dir.write("0002_b.sql", "SELECT 2;");
    dir.write("0001_a.sql", "SELECT 1;");
    dir.write("README.md", "not a migration");
    const auto migrations = load_migrations(dir.path());
    ASSERT_EQ(migrations.size(), 2u);
    EXPECT_EQ(migrations[0].version, 1);
    EXPECT_EQ(migrations[0].name, "a");
    EXPECT_EQ(migrations[0].sql, "SELECT 1;");
    EXPECT_EQ(migrations[1].file_name(), "0002_b.sql");
}

TEST(Migrations, LoadRejectsDuplicateVersions) {
    TemporaryDirectory dir;
    dir.write("0001_a.sql", "SELECT 1;");
    dir.write("0001_b.sql", "SELECT 1;");
    EXPECT_THROW(load_migrations(dir.path()), MigrationError);
}

TEST(Migrations, LoadRejectsBadNames) {
    for (const std::string name :
         {"1_a.sql", "0001-a.sql", "0001_A.sql", "0000_zero.sql", "0001_.sql", "00001_a.sql"}) {
        TemporaryDirectory dir;
        dir.write(name, "SELECT 1;");
        EXPECT_THROW(load_migrations(dir.path()), MigrationError) << name;
    }
}

TEST(Migrations, LoadRejectsMissingDirectory) {
    EXPECT_THROW(load_migrations("/nonexistent/migrations"), MigrationError);
}

TEST(Migrations, AppliesEmbeddedFromEmpty) {
    mg::test::TestDatabase db;
    const auto report = migrate(db.url(), embedded_migrations());
    ASSERT_FALSE(report.applied.empty());
    EXPECT_EQ(report.applied.front(), "0001_init.sql");
    for (const std::string table :
         {"orders", "order_events", "api_keys", "idempotency_keys", "schema_migrations"}) {
        EXPECT_EQ(count(db.url(),
                        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename = '" +
                            table + "'"),
                  1)
            << table;
    }
    pqxx::connection conn(db.url());
    const auto status = schema_status(conn, embedded_migrations());
    EXPECT_EQ(status.state, SchemaStatus::State::current);
    EXPECT_EQ(status.pending, 0);
}

TEST(Migrations, NoMoneyColumnIsFloatingPoint) {
    mg::test::TestDatabase db;
    migrate(db.url(), embedded_migrations());
    EXPECT_EQ(count(db.url(),
                    "SELECT count(*) FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND data_type IN "
                    "('real', 'double precision', 'numeric', 'money')"),
              0);
}

TEST(Migrations, RerunIsNoOp) {
    mg::test::TestDatabase db;
    migrate(db.url(), two_migrations());
    const auto again = migrate(db.url(), two_migrations());
    EXPECT_TRUE(again.applied.empty());
    EXPECT_EQ(again.schema_version, 2);
    EXPECT_EQ(count(db.url(), "SELECT count(*) FROM schema_migrations"), 2);
}

TEST(Migrations, AppliesOnlyNewOnes) {
    mg::test::TestDatabase db;
    migrate(db.url(), {two_migrations()[0]});
    pqxx::connection conn(db.url());
    const auto pending = schema_status(conn, two_migrations());
    EXPECT_EQ(pending.state, SchemaStatus::State::pending);
    EXPECT_EQ(pending.pending, 1);
    const auto report = migrate(db.url(), two_migrations());
    EXPECT_EQ(report.applied, std::vector<std::string>{"0002_second.sql"});
    EXPECT_EQ(schema_status(conn, two_migrations()).state, SchemaStatus::State::current);
}

TEST(Migrations, RecordsChecksumAndName) {
    mg::test::TestDatabase db;
    migrate(db.url(), two_migrations());
    pqxx::connection conn(db.url());
    pqxx::work txn(conn);
    const auto row = txn.exec1("SELECT name, checksum FROM schema_migrations WHERE version = 1");
    EXPECT_EQ(row[0].as<std::string>(), "first");
    EXPECT_EQ(row[1].as<std::string>(), two_migrations()[0].checksum());
}

TEST(Migrations, RefusesEditedAppliedFile) {
    mg::test::TestDatabase db;
    migrate(db.url(), two_migrations());
    auto edited = two_migrations();
    edited[0].sql += "\n-- a late edit\n";
    edited.push_back({3, "third", "CREATE TABLE third_table (id int);"});
    try {
        migrate(db.url(), edited);
        FAIL() << "an edited migration was accepted";
    } catch (const MigrationError& e) {
        EXPECT_NE(std::string(e.what()).find("0001_first.sql"), std::string::npos) << e.what();
    }
    // Nothing after the refusal was applied.
    EXPECT_EQ(count(db.url(), "SELECT count(*) FROM pg_tables WHERE tablename = 'third_table'"), 0);
    pqxx::connection conn(db.url());
    const auto status = schema_status(conn, edited);
    EXPECT_EQ(status.state, SchemaStatus::State::mismatch);
    EXPECT_NE(status.detail.find("0001_first.sql"), std::string::npos);
}

TEST(Migrations, RefusesUnknownAppliedVersion) {
    mg::test::TestDatabase db;
    migrate(db.url(), two_migrations());
    try {
        migrate(db.url(), {two_migrations()[0]});
        FAIL() << "a database with an unknown version was accepted";
    } catch (const MigrationError& e) {
        EXPECT_NE(std::string(e.what()).find("0002_second.sql"), std::string::npos) << e.what();
    }
    pqxx::connection conn(db.url());
    EXPECT_EQ(schema_status(conn, {two_migrations()[0]}).state, SchemaStatus::State::mismatch);
}

TEST(Migrations, RefusesGapBeforeAppliedVersion) {
    mg::test::TestDatabase db;
    migrate(db.url(), {two_migrations()[1]});
    EXPECT_THROW(migrate(db.url(), two_migrations()), MigrationError);
}

TEST(Migrations, FailingMigrationRollsBackAndNamesFile) {
    mg::test::TestDatabase db;
    auto migrations = two_migrations();
    migrations.push_back(
        {3, "broken", "CREATE TABLE half_done (id int); SELECT * FROM no_such_table;"});
    try {
        migrate(db.url(), migrations);
        FAIL() << "a failing migration was reported as applied";
    } catch (const MigrationError& e) {
        EXPECT_NE(std::string(e.what()).find("0003_broken.sql"), std::string::npos) << e.what();
    }
    EXPECT_EQ(count(db.url(), "SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'"), 0);
    EXPECT_EQ(count(db.url(), "SELECT max(version) FROM schema_migrations"), 2);
}

TEST(Migrations, StatusOfEmptyDatabaseIsPending) {
    mg::test::TestDatabase db;
    pqxx::connection conn(db.url());
    const auto status = schema_status(conn, two_migrations());
    EXPECT_EQ(status.state, SchemaStatus::State::pending);
    EXPECT_EQ(status.pending, 2);
}

TEST(Migrations, ConcurrentRunnersApplyEachFileOnce) {
    mg::test::TestDatabase db;
    // Each migration also counts its own executions, in a table it can't have created twice.
    std::vector<Migration> migrations = {
        {1, "counter", "CREATE TABLE runs (version int); INSERT INTO runs VALUES (1);"},
        {2, "slow", "SELECT pg_sleep(0.3); INSERT INTO runs VALUES (2);"},
        {3, "third", "INSERT INTO runs VALUES (3);"}};
    constexpr int kRunners = 6;
    std::vector<MigrationReport> reports(kRunners);
    std::vector<std::string> errors(kRunners);
    std::vector<std::thread> runners;
    for (int i = 0; i < kRunners; ++i) {
        runners.emplace_back([&, i] {
            try {
                reports[i] = migrate(db.url(), migrations);
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    }
    for (auto& runner : runners) {
        runner.join();
    }
    std::size_t applied = 0;
    for (int i = 0; i < kRunners; ++i) {
        EXPECT_EQ(errors[i], "");
        EXPECT_EQ(reports[i].schema_version, 3);
        applied += reports[i].applied.size();
    }
    EXPECT_EQ(applied, 3u);
    EXPECT_EQ(count(db.url(), "SELECT count(*) FROM runs"), 3);
    EXPECT_EQ(count(db.url(), "SELECT count(DISTINCT version) FROM runs"), 3);
}

TEST(Migrations, UnreachableDatabaseIsUnavailable) {
    EXPECT_THROW(
        migrate("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2", two_migrations()),
        Unavailable);
}

}  // namespace
}  // namespace mg::db
