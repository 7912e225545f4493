// Fixture for repository tests: a fresh database with every migration applied and a pool on it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "db/migrations.hpp"
#include "db/pool.hpp"
#include "db/transaction.hpp"
#include "service/domain/order.hpp"
#include "tests/support/test_db.hpp"

namespace mg::db::test {

class MigratedDatabase : public ::testing::Test {
  protected:
    MigratedDatabase() { migrate(database_.url(), embedded_migrations()); }

    // Runs `work` in a committed transaction on a pooled connection.
    template <class Work>
    auto in_transaction(Work&& work) {
        return with_transaction(pool_, std::chrono::seconds(10), std::forward<Work>(work));
    }

    const std::string& url() const { return database_.url(); }

    static domain::NewOrder new_order(std::string merchant_uid, domain::Amount amount = 10'000) {
        domain::NewOrder order;
        order.merchant_uid = std::move(merchant_uid);
        order.name = "Test order";
        order.amount = amount;
        order.client_secret = "secret-" + order.merchant_uid;
        return order;
    }

    mg::test::TestDatabase database_;
    ConnectionPool pool_{database_.url(), 60};
};

}  // namespace mg::db::test
