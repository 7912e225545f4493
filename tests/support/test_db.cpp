#include "tests/support/test_db.hpp"

#include <cstdlib>
#include <iostream>
#include <pqxx/pqxx>
#include <random>
#include <stdexcept>

namespace mg::test {
namespace {

std::string admin_url_from_environment() {
    const char* url = std::getenv("MG_TEST_PG_URL");
    if (url == nullptr || *url == '\0') {
        throw std::runtime_error(
            "MG_TEST_PG_URL is not set: database tests need a PostgreSQL cluster. "
            "Run them through tests/support/with-postgres, e.g. "
            "tests/support/with-postgres ctest --test-dir build -R '^db\\.'");
    }
    return url;
}

std::string random_database_name() {
    static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::random_device entropy;
    std::uniform_int_distribution<std::size_t> pick(0, sizeof(kAlphabet) - 2);
    std::string name = "mg_t_";
    for (int i = 0; i < 16; ++i) {
        name += kAlphabet[pick(entropy)];
    }
    return name;
}

}  // namespace

std::string with_database(const std::string& url, const std::string& database) {
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string::npos) {
        throw std::runtime_error("MG_TEST_PG_URL must be a postgresql:// URI, got: " + url);
    }
    const auto path_start = url.find('/', scheme_end + 3);
    const auto query_start = url.find('?', scheme_end + 3);
    const std::string authority = url.substr(
        0, std::min(path_start, query_start == std::string::npos ? url.size() : query_start));
    const std::string query = query_start == std::string::npos ? "" : url.substr(query_start);
    return authority + "/" + database + query;
}

TestDatabase::TestDatabase()
    : admin_url_(admin_url_from_environment()), name_(random_database_name()) {
    url_ = with_database(admin_url_, name_);
    try {
        pqxx::connection admin(admin_url_);
        pqxx::nontransaction txn(admin);
        txn.exec0("CREATE DATABASE " + txn.quote_name(name_) + " ENCODING 'UTF8'");
    } catch (const std::exception& e) {
        throw std::runtime_error("cannot create test database " + name_ + " on " + admin_url_ +
                                 ": " + e.what());
    }
}

TestDatabase::~TestDatabase() {
    try {
        pqxx::connection admin(admin_url_);
        pqxx::nontransaction txn(admin);
        // FORCE: a test may leave connections open (a pool it did not close, a killed backend).
        txn.exec0("DROP DATABASE IF EXISTS " + txn.quote_name(name_) + " WITH (FORCE)");
    } catch (const std::exception& e) {
        std::cerr << "warning: cannot drop test database " << name_ << ": " << e.what() << '\n';
    }
}

std::vector<std::string> rows_of(pqxx::transaction_base& txn, const std::string& sql) {
    std::vector<std::string> rows;
    for (const auto& row : txn.exec(sql)) {
        std::string line;
        for (pqxx::row::size_type i = 0; i < row.size(); ++i) {
            if (i > 0) {
                line += '|';
            }
            line += row[i].is_null() ? "NULL" : row[i].c_str();
        }
        rows.push_back(std::move(line));
    }
    return rows;
}

std::int64_t TestDatabase::query_int(const std::string& sql) const {
    pqxx::connection connection(url_);
    pqxx::work work(connection);
    const auto value = work.exec1(sql)[0].as<std::int64_t>();
    work.commit();  // `sql` may write (UPDATE … RETURNING in a WITH)
    return value;
}

}  // namespace mg::test
