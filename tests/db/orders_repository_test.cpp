#include "db/orders_repository.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <pqxx/pqxx>
#include <thread>

#include "db/errors.hpp"
#include "db/statements.hpp"
#include "tests/db/migrated_database.hpp"

namespace mg::db::test {
namespace {

using domain::EventCause;
using domain::OrderStatus;

class OrdersRepository : public MigratedDatabase {
  protected:
    domain::Order insert(const std::string& merchant_uid, domain::Amount amount = 10'000) {
        return in_transaction(
            [&](pqxx::work& txn) { return insert_order(txn, new_order(merchant_uid, amount)); });
    }

    void execute(const std::string& sql) {
        in_transaction([&](pqxx::work& txn) { txn.exec(sql); });
    }

    std::vector<std::string> uids(const OrderPage& page) {
        std::vector<std::string> result;
        for (const auto& order : page.orders) {
            result.push_back(order.merchant_uid);
        }
        return result;
    }

    OrderPage list(const OrderFilter& filter) {
        return in_transaction([&](pqxx::work& txn) { return list_orders(txn, filter); });
    }
};

TEST_F(OrdersRepository, InsertReturnsStoredOrder) {
    auto order = new_order("order-1", 55'000);
    order.buyer.name = "홍길동";
    order.buyer.email = "gildong@example.com";
    order.buyer.tel = "010-1234-5678";
    order.buyer.addr = "서울특별시 강남구 테헤란로 1";
    order.buyer.postcode = "06236";
    order.custom_data_json = R"({"note": "문 앞에 놓아 주세요", "items": [1, 2]})";
    order.name = "한정판 티셔츠";
    const auto before = static_cast<domain::UnixSeconds>(std::time(nullptr));
    const auto stored = in_transaction([&](pqxx::work& txn) { return insert_order(txn, order); });
    EXPECT_GT(stored.id, 0);
    EXPECT_EQ(stored.merchant_uid, "order-1");
    EXPECT_EQ(stored.name, "한정판 티셔츠");
    EXPECT_EQ(stored.amount, 55'000);
    EXPECT_EQ(stored.currency, "KRW");
    EXPECT_EQ(stored.status, OrderStatus::pending);
    EXPECT_EQ(stored.client_secret, "secret-order-1");
    EXPECT_EQ(stored.buyer.name, "홍길동");
    EXPECT_EQ(stored.buyer.addr, "서울특별시 강남구 테헤란로 1");
    EXPECT_EQ(stored.buyer.postcode, "06236");
    ASSERT_TRUE(stored.custom_data_json);
    EXPECT_NE(stored.custom_data_json->find("문 앞에 놓아 주세요"), std::string::npos);
    EXPECT_GE(stored.created_at, before - 1);
    EXPECT_LE(stored.created_at, before + 5);
    EXPECT_EQ(stored.updated_at, stored.created_at);

    const auto found = in_transaction([](pqxx::work& txn) { return find_order(txn, "order-1"); });
    ASSERT_TRUE(found);
    EXPECT_EQ(found->id, stored.id);
    EXPECT_EQ(found->name, "한정판 티셔츠");
    EXPECT_EQ(found->buyer.email, "gildong@example.com");
    EXPECT_EQ(found->buyer.tel, "010-1234-5678");
    EXPECT_EQ(found->custom_data_json, stored.custom_data_json);
}

TEST_F(OrdersRepository, AbsentBuyerFieldsAreNull) {
    const auto stored = insert("plain");
    EXPECT_FALSE(stored.buyer.name);
    EXPECT_FALSE(stored.buyer.email);
    EXPECT_FALSE(stored.custom_data_json);
}

TEST_F(OrdersRepository, MaximumAmountFitsAndMoreIsRefused) {
    EXPECT_EQ(insert("max", domain::kMaxAmount).amount, domain::kMaxAmount);
    EXPECT_THROW(insert("over", domain::kMaxAmount + 1), pqxx::check_violation);
    EXPECT_THROW(insert("zero", 0), pqxx::check_violation);
}

TEST_F(OrdersRepository, MerchantUidFormatIsEnforced) {
    EXPECT_THROW(insert("has space"), pqxx::check_violation);
    EXPECT_THROW(insert(std::string(41, 'a')), pqxx::check_violation);
    EXPECT_NO_THROW(insert(std::string(40, 'a')));
}

TEST_F(OrdersRepository, TakenMerchantUidIsConflict) {
    insert("dup");
    try {
        in_transaction([](pqxx::work& txn) {
            try {
                insert_order(txn, new_order("dup"));
            } catch (const Conflict&) {
                // The transaction is still usable after the conflict.
                EXPECT_EQ(txn.exec1("SELECT count(*) FROM orders")[0].as<int>(), 1);
                throw;
            }
        });
        FAIL() << "no conflict";
    } catch (const Conflict& e) {
        EXPECT_EQ(e.constraint(), "orders_merchant_uid_key");
    }
}

TEST_F(OrdersRepository, ConcurrentInsertsOfOneUidStoreOne) {
    constexpr int kThreads = 20;
    std::atomic<int> stored{0};
    std::atomic<int> conflicts{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&] {
            try {
                insert("race");
                ++stored;
            } catch (const Conflict&) {
                ++conflicts;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(stored.load(), 1);
    EXPECT_EQ(conflicts.load(), kThreads - 1);
}

TEST_F(OrdersRepository, FindMissingIsEmpty) {
    EXPECT_FALSE(in_transaction([](pqxx::work& txn) { return find_order(txn, "nope"); }));
    EXPECT_FALSE(
        in_transaction([](pqxx::work& txn) { return find_order_for_update(txn, "nope"); }));
}

TEST_F(OrdersRepository, FindForUpdateLocksTheRow) {
    insert("locked");
    pqxx::connection holder(url());
    prepare_statements(holder);
    pqxx::work holding(holder);
    ASSERT_TRUE(find_order_for_update(holding, "locked"));

    pqxx::connection other(url());
    prepare_statements(other);
    pqxx::work waiting(other);
    waiting.exec("SET LOCAL lock_timeout = '200ms'");
    EXPECT_THROW(find_order_for_update(waiting, "locked"), pqxx::sql_error);
}

TEST_F(OrdersRepository, PlainFindIsNotBlockedByLock) {
    insert("read-me");
    pqxx::connection holder(url());
    prepare_statements(holder);
    pqxx::work holding(holder);
    ASSERT_TRUE(find_order_for_update(holding, "read-me"));
    pqxx::connection other(url());
    prepare_statements(other);
    pqxx::work reading(other);
    reading.exec("SET LOCAL lock_timeout = '200ms'");
    EXPECT_TRUE(find_order(reading, "read-me"));
}

TEST_F(OrdersRepository, ListPagesNewestFirst) {
    for (int i = 1; i <= 7; ++i) {
        insert("o" + std::to_string(i));
    }
    OrderFilter filter;
    filter.limit = 3;
    auto page = list(filter);
    EXPECT_EQ(uids(page), (std::vector<std::string>{"o7", "o6", "o5"}));
    ASSERT_TRUE(page.next_before_id);
    filter.before_id = page.next_before_id;
    page = list(filter);
    EXPECT_EQ(uids(page), (std::vector<std::string>{"o4", "o3", "o2"}));
    ASSERT_TRUE(page.next_before_id);
    filter.before_id = page.next_before_id;
    page = list(filter);
    EXPECT_EQ(uids(page), (std::vector<std::string>{"o1"}));
    EXPECT_FALSE(page.next_before_id);
}

TEST_F(OrdersRepository, ListExactlyFullPageHasNoNext) {
    for (int i = 1; i <= 3; ++i) {
        insert("o" + std::to_string(i));
    }
    OrderFilter filter;
    filter.limit = 3;
    const auto page = list(filter);
    EXPECT_EQ(page.orders.size(), 3u);
    EXPECT_FALSE(page.next_before_id);
}

TEST_F(OrdersRepository, ListEmpty) {
    OrderFilter filter;
    const auto page = list(filter);
    EXPECT_TRUE(page.orders.empty());
    EXPECT_FALSE(page.next_before_id);
}

TEST_F(OrdersRepository, ListFiltersByStatusAcrossPages) {
    for (int i = 1; i <= 8; ++i) {
        const auto order = insert("o" + std::to_string(i));
        if (i % 2 == 0) {
            in_transaction([&](pqxx::work& txn) {
                set_order_status(txn, order.id, OrderStatus::pending, OrderStatus::paid,
                                 EventCause::api, "imp_" + std::to_string(i), std::nullopt);
            });
        }
    }
    OrderFilter filter;
    filter.status = OrderStatus::paid;
    filter.limit = 3;
    auto page = list(filter);
    EXPECT_EQ(uids(page), (std::vector<std::string>{"o8", "o6", "o4"}));
    ASSERT_TRUE(page.next_before_id);
    filter.before_id = page.next_before_id;
    page = list(filter);
    EXPECT_EQ(uids(page), (std::vector<std::string>{"o2"}));
    EXPECT_FALSE(page.next_before_id);

    filter = {};
    filter.status = OrderStatus::pending;
    filter.limit = 10;
    EXPECT_EQ(uids(list(filter)), (std::vector<std::string>{"o7", "o5", "o3", "o1"}));
}

TEST_F(OrdersRepository, ListFiltersByCreationTime) {
    for (int i = 1; i <= 6; ++i) {
        insert("o" + std::to_string(i));
    }
    // Spread the orders over known seconds: o1 at T+10, o2 at T+20, ...
    constexpr std::int64_t kBase = 1'700'000'000;
    execute("UPDATE orders SET created_at = to_timestamp(" + std::to_string(kBase) +
            " + 10 * substr(merchant_uid, 2)::int)");
    OrderFilter filter;
    filter.limit = 2;
    filter.created_from = kBase + 20;  // o2..
    filter.created_to = kBase + 50;    // ..o5, inclusive
    auto page = list(filter);
    EXPECT_EQ(uids(page), (std::vector<std::string>{"o5", "o4"}));
    ASSERT_TRUE(page.next_before_id);
    filter.before_id = page.next_before_id;
    page = list(filter);
    EXPECT_EQ(uids(page), (std::vector<std::string>{"o3", "o2"}));
    EXPECT_FALSE(page.next_before_id);

    filter = {};
    filter.limit = 10;
    filter.created_from = kBase + 55;
    EXPECT_EQ(uids(list(filter)), (std::vector<std::string>{"o6"}));
    filter = {};
    filter.limit = 10;
    filter.created_to = kBase + 10;
    EXPECT_EQ(uids(list(filter)), (std::vector<std::string>{"o1"}));
    const auto first = in_transaction([](pqxx::work& txn) { return find_order(txn, "o1"); });
    EXPECT_EQ(first->created_at, kBase + 10);
}

TEST_F(OrdersRepository, SetStatusChangesAndRecordsEvent) {
    const auto order = insert("pay-me");
    const bool changed = in_transaction([&](pqxx::work& txn) {
        return set_order_status(txn, order.id, OrderStatus::pending, OrderStatus::paid,
                                EventCause::webhook, std::string("imp_123"),
                                std::string(R"({"source": "웹훅"})"));
    });
    EXPECT_TRUE(changed);
    const auto stored = in_transaction([](pqxx::work& txn) { return find_order(txn, "pay-me"); });
    EXPECT_EQ(stored->status, OrderStatus::paid);
    EXPECT_GE(stored->updated_at, order.updated_at);

    const auto events =
        in_transaction([&](pqxx::work& txn) { return list_order_events(txn, order.id); });
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].order_id, order.id);
    EXPECT_EQ(events[0].from, OrderStatus::pending);
    EXPECT_EQ(events[0].to, OrderStatus::paid);
    EXPECT_EQ(events[0].cause, EventCause::webhook);
    EXPECT_EQ(events[0].imp_uid, "imp_123");
    ASSERT_TRUE(events[0].details_json);
    EXPECT_NE(events[0].details_json->find("웹훅"), std::string::npos);
    EXPECT_GT(events[0].created_at, 0);
}

TEST_F(OrdersRepository, SetStatusOnlyFromExpectedState) {
    const auto order = insert("stale");
    in_transaction([&](pqxx::work& txn) {
        set_order_status(txn, order.id, OrderStatus::pending, OrderStatus::awaiting_deposit,
                         EventCause::api, std::nullopt, std::nullopt);
    });
    const bool changed = in_transaction([&](pqxx::work& txn) {
        return set_order_status(txn, order.id, OrderStatus::pending, OrderStatus::paid,
                                EventCause::reconciler, std::nullopt, std::nullopt);
    });
    EXPECT_FALSE(changed);
    const auto events =
        in_transaction([&](pqxx::work& txn) { return list_order_events(txn, order.id); });
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].to, OrderStatus::awaiting_deposit);
    EXPECT_FALSE(events[0].imp_uid);
    EXPECT_FALSE(events[0].details_json);
    EXPECT_EQ(in_transaction([](pqxx::work& txn) { return find_order(txn, "stale"); })->status,
              OrderStatus::awaiting_deposit);
}

TEST_F(OrdersRepository, SetStatusRollsBackWithItsTransaction) {
    const auto order = insert("rollback");
    EXPECT_THROW(in_transaction([&](pqxx::work& txn) {
                     set_order_status(txn, order.id, OrderStatus::pending, OrderStatus::paid,
                                      EventCause::api, std::nullopt, std::nullopt);
                     throw std::runtime_error("later step failed");
                 }),
                 std::runtime_error);
    EXPECT_EQ(in_transaction([](pqxx::work& txn) { return find_order(txn, "rollback"); })->status,
              OrderStatus::pending);
    EXPECT_TRUE(
        in_transaction([&](pqxx::work& txn) { return list_order_events(txn, order.id); }).empty());
}

TEST_F(OrdersRepository, ConcurrentTransitionsFromOneStateApplyOnce) {
    const auto order = insert("contended");
    constexpr int kThreads = 10;
    std::atomic<int> changed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&] {
            if (in_transaction([&](pqxx::work& txn) {
                    return set_order_status(txn, order.id, OrderStatus::pending, OrderStatus::paid,
                                            EventCause::webhook, std::nullopt, std::nullopt);
                })) {
                ++changed;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(changed.load(), 1);
    EXPECT_EQ(
        in_transaction([&](pqxx::work& txn) { return list_order_events(txn, order.id); }).size(),
        1u);
}

TEST_F(OrdersRepository, AppendEventKeepsOrder) {
    const auto order = insert("events");
    in_transaction([&](pqxx::work& txn) {
        append_order_event(txn, {order.id, std::nullopt, OrderStatus::pending, EventCause::api,
                                 std::nullopt, std::nullopt});
        append_order_event(
            txn, {order.id, OrderStatus::pending, OrderStatus::needs_review, EventCause::sync,
                  std::string("imp_9"), std::string(R"({"reason":"amount mismatch"})")});
    });
    const auto events =
        in_transaction([&](pqxx::work& txn) { return list_order_events(txn, order.id); });
    ASSERT_EQ(events.size(), 2u);
    EXPECT_FALSE(events[0].from);
    EXPECT_EQ(events[0].to, OrderStatus::pending);
    EXPECT_EQ(events[1].from, OrderStatus::pending);
    EXPECT_EQ(events[1].to, OrderStatus::needs_review);
    EXPECT_EQ(events[1].cause, EventCause::sync);
    EXPECT_LT(events[0].id, events[1].id);
}

TEST_F(OrdersRepository, EventsForUnknownOrderAreRefused) {
    EXPECT_THROW(in_transaction([](pqxx::work& txn) {
                     append_order_event(txn, {999'999, std::nullopt, OrderStatus::pending,
                                              EventCause::api, std::nullopt, std::nullopt});
                 }),
                 pqxx::foreign_key_violation);
}

}  // namespace
}  // namespace mg::db::test
