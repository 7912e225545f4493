#include "db/webhook_inbox_repository.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <latch>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
#include <thread>

#include "db/orders_repository.hpp"
#include "db/payments_repository.hpp"
#include "db/transaction.hpp"
#include "tests/db/migrated_database.hpp"
#include "tests/support/run_here.hpp"

namespace mg::db::test {
namespace {

using namespace std::chrono_literals;
using domain::OrderStatus;

constexpr auto kLease = 60s;

class WebhookInboxRepository : public MigratedDatabase {
  protected:
    static NewDelivery new_delivery(std::string imp_uid,
                                    std::optional<std::string> merchant_uid = "order-1",
                                    std::optional<std::string> status = "paid") {
        NewDelivery delivery;
        delivery.imp_uid = std::move(imp_uid);
        delivery.merchant_uid = std::move(merchant_uid);
        delivery.status = std::move(status);
        delivery.body = R"({"imp_uid":")" + delivery.imp_uid + R"(","status":"paid"})";
        delivery.content_type = "application/json";
        delivery.source_ip = "52.78.100.19";
        return delivery;
    }

    std::int64_t insert(const NewDelivery& delivery) {
        return in_transaction([&](pqxx::work& txn) { return insert_delivery(txn, delivery); });
    }

    std::int64_t insert(const std::string& imp_uid) { return insert(new_delivery(imp_uid)); }

    std::optional<Delivery> find(std::int64_t id) {
        return in_transaction([&](pqxx::work& txn) { return find_delivery(txn, id); });
    }

    // Claims in autocommit, as the reconciler makes them: each statement commits by itself.
    template <class Work>
    auto autocommit(Work&& work) {
        auto lease = pool_.acquire(10s);
        return in_autocommit(lease.connection(), std::forward<Work>(work));
    }

    std::vector<Delivery> claim_due(int limit = 10, std::chrono::seconds lease = kLease) {
        return autocommit([&](pqxx::nontransaction& statements) {
            return claim_due_deliveries(statements, limit, lease);
        });
    }

    std::optional<Delivery> claim(std::int64_t id, std::chrono::seconds lease = kLease) {
        return autocommit([&](pqxx::nontransaction& statements) {
            return claim_delivery(statements, id, lease);
        });
    }

    DeliveryState retry(std::int64_t id, const std::string& error, std::chrono::seconds retry_in,
                        int max_attempts) {
        return in_transaction([&](pqxx::work& txn) {
            return retry_delivery(txn, id, error, retry_in, max_attempts);
        });
    }

    void mark_processed(std::int64_t id, const std::string& outcome) {
        in_transaction([&](pqxx::work& txn) { mark_delivery_processed(txn, id, outcome); });
    }

    InboxCounts counts() {
        return in_transaction([](pqxx::work& txn) { return count_backlog(txn); });
    }

    std::vector<std::string> claim_orders(int limit = 10, std::chrono::seconds lease = kLease) {
        return in_transaction(
            [&](pqxx::work& txn) { return claim_orders_to_reconcile(txn, limit, lease); });
    }

    // Makes a leased delivery due again, as if its lease had run out.
    void make_due(std::int64_t id) {
        execute(
            "UPDATE webhook_inbox SET next_attempt_at = now() - interval '1 second' "
            "WHERE id = " +
            std::to_string(id));
    }

    void execute(const std::string& sql) {
        in_transaction([&](pqxx::work& txn) { txn.exec(sql); });
    }

    std::string query_text(const std::string& sql) {
        return in_transaction([&](pqxx::work& txn) {
            const auto field = txn.exec1(sql)[0];
            return field.is_null() ? std::string("NULL") : field.as<std::string>();
        });
    }

    std::string column_of(std::int64_t id, const std::string& expression) {
        return query_text("SELECT " + expression +
                          " FROM webhook_inbox WHERE id = " + std::to_string(id));
    }

    domain::Order create_order(const std::string& merchant_uid) {
        return in_transaction(
            [&](pqxx::work& txn) { return insert_order(txn, new_order(merchant_uid)); });
    }

    domain::Order create_order(const std::string& merchant_uid, OrderStatus status) {
        auto order = create_order(merchant_uid);
        if (status != OrderStatus::pending) {
            in_transaction([&](pqxx::work& txn) {
                ASSERT_TRUE(set_order_status(txn, order.id, OrderStatus::pending, status,
                                             domain::EventCause::api, std::nullopt, std::nullopt));
            });
        }
        return order;
    }

    // Sets when the order was last claimed, `seconds_ago` in the past.
    void set_reconcile_due(const std::string& merchant_uid, int seconds_ago) {
        execute("UPDATE orders SET next_reconcile_at = now() - interval '" +
                std::to_string(seconds_ago) + " seconds' WHERE merchant_uid = '" + merchant_uid +
                "'");
    }

    std::int64_t open_attempt(std::int64_t order_id, AttemptState state) {
        return in_transaction([&](pqxx::work& txn) {
            const auto id =
                insert_attempt(txn, order_id, AttemptKind::benepia, 10'000, std::nullopt, "req");
            if (state != AttemptState::in_flight) {
                finish_attempt(txn, id, state, std::nullopt, std::nullopt, std::nullopt);
            }
            return id;
        });
    }
};

std::vector<std::int64_t> ids_of(const std::vector<Delivery>& deliveries) {
    std::vector<std::int64_t> ids;
    for (const auto& delivery : deliveries) {
        ids.push_back(delivery.id);
    }
    return ids;
}

std::vector<std::string> sorted(std::vector<std::string> values) {
    std::sort(values.begin(), values.end());
    return values;
}

TEST_F(WebhookInboxRepository, InsertThenFind) {
    const auto delivery = new_delivery("imp_1", "order-1", "paid");
    const auto id = insert(delivery);
    EXPECT_GT(id, 0);

    const auto found = find(id);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->id, id);
    EXPECT_EQ(found->imp_uid, "imp_1");
    EXPECT_EQ(found->merchant_uid, "order-1");
    EXPECT_EQ(found->status, "paid");
    EXPECT_EQ(found->state, DeliveryState::pending);
    EXPECT_EQ(found->attempts, 0);
    EXPECT_FALSE(found->outcome);
    EXPECT_FALSE(found->last_error);
    EXPECT_EQ(std::to_string(found->received_at),
              column_of(id, "floor(extract(epoch FROM received_at))::bigint"));
    EXPECT_GT(found->received_at, 1'700'000'000);

    EXPECT_EQ(column_of(id, "body"), delivery.body);
    EXPECT_EQ(column_of(id, "content_type"), "application/json");
    EXPECT_EQ(column_of(id, "source_ip"), "52.78.100.19");
    EXPECT_EQ(column_of(id, "claimed_status"), "paid");
    EXPECT_EQ(column_of(id, "next_attempt_at <= now()"), "t");
    EXPECT_EQ(column_of(id, "processed_at IS NULL"), "t");

    // A body with only an imp_uid; no content type or address known: NULLs.
    NewDelivery bare;
    bare.imp_uid = "imp_2";
    bare.body = "imp_uid=imp_2";
    const auto bare_id = insert(bare);
    EXPECT_GT(bare_id, id);
    const auto bare_found = find(bare_id);
    ASSERT_TRUE(bare_found);
    EXPECT_FALSE(bare_found->merchant_uid);
    EXPECT_FALSE(bare_found->status);
    EXPECT_EQ(column_of(bare_id, "content_type"), "NULL");
    EXPECT_EQ(column_of(bare_id, "source_ip"), "NULL");
    EXPECT_EQ(column_of(bare_id, "merchant_uid"), "NULL");

    EXPECT_FALSE(find(987'654));
}

// POST /webhooks/iamport stores on its event loop's connection (libpq's asynchronous API, one
// insert in autocommit): the row is the one the pool's connection stores.
TEST_F(WebhookInboxRepository, InsertedOnAnEventLoopsConnectionAsOnThePools) {
    boost::asio::io_context io;
    const auto store = [&](NewDelivery delivery) {
        return mg::test::run_here(
            io, [](std::string url, NewDelivery d) -> boost::asio::awaitable<std::int64_t> {
                auto connection = co_await AsyncConnection::open(
                    co_await boost::asio::this_coro::executor, url, 5s);
                co_return co_await insert_delivery(*connection, std::move(d));
            }(url(), std::move(delivery)));
    };
    const auto delivery = new_delivery("imp_loop", "order-9", "paid");
    const auto id = store(delivery);
    const auto pooled = insert(new_delivery("imp_pool", "order-9", "paid"));
    EXPECT_EQ(pooled, id + 1);
    const auto found = find(id);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->imp_uid, "imp_loop");
    EXPECT_EQ(found->merchant_uid, "order-9");
    EXPECT_EQ(found->status, "paid");
    EXPECT_EQ(found->state, DeliveryState::pending);
    EXPECT_EQ(found->attempts, 0);
    EXPECT_EQ(column_of(id, "body"), delivery.body);
    EXPECT_EQ(column_of(id, "content_type"), "application/json");
    EXPECT_EQ(column_of(id, "source_ip"), "52.78.100.19");
    EXPECT_EQ(column_of(id, "next_attempt_at <= now()"), "t");
    // Committed by itself: another connection claims it at once.
    ASSERT_TRUE(claim(id));

    NewDelivery bare;
    bare.imp_uid = "imp_bare";
    bare.body = "imp_uid=imp_bare";
    const auto bare_id = store(bare);
    EXPECT_EQ(column_of(bare_id, "content_type"), "NULL");
    EXPECT_EQ(column_of(bare_id, "source_ip"), "NULL");
    EXPECT_EQ(column_of(bare_id, "merchant_uid"), "NULL");
    EXPECT_EQ(column_of(bare_id, "claimed_status"), "NULL");

    // The table's checks hold on this path too: a refused row is an error, nothing stored.
    NewDelivery empty = new_delivery("");
    EXPECT_THROW(store(empty), db::Error);
    EXPECT_EQ(column_of(bare_id, "(SELECT count(*) FROM webhook_inbox)"), "3");
}

TEST_F(WebhookInboxRepository, ClaimDueReturnsDueRowsOldestFirstAndLeasesThem) {
    const auto first = insert("imp_1");
    const auto second = insert("imp_2");
    const auto third = insert("imp_3");
    const auto later = insert("imp_later");
    const auto done = insert("imp_done");
    // The third has been due longest; the order is still by receipt.
    execute("UPDATE webhook_inbox SET next_attempt_at = now() - interval '1 hour' WHERE id = " +
            std::to_string(third));
    execute("UPDATE webhook_inbox SET next_attempt_at = now() + interval '1 hour' WHERE id = " +
            std::to_string(later));
    mark_processed(done, "applied");

    const auto claimed = claim_due();
    EXPECT_EQ(ids_of(claimed), (std::vector<std::int64_t>{first, second, third}));
    for (const auto& delivery : claimed) {
        EXPECT_EQ(delivery.attempts, 1);
        EXPECT_EQ(delivery.state, DeliveryState::pending);
    }
    EXPECT_EQ(claimed[0].imp_uid, "imp_1");
    EXPECT_EQ(column_of(first, "next_attempt_at > now() + interval '59 seconds'"), "t");
    EXPECT_EQ(column_of(first, "next_attempt_at <= now() + interval '61 seconds'"), "t");

    // Leased: a second claim right after finds nothing.
    EXPECT_TRUE(claim_due().empty());

    // The lease runs out (its holder died): the rows come back, one more attempt counted.
    make_due(first);
    make_due(third);
    const auto again = claim_due();
    EXPECT_EQ(ids_of(again), (std::vector<std::int64_t>{first, third}));
    EXPECT_EQ(again[0].attempts, 2);
    EXPECT_EQ(again[1].attempts, 2);
    EXPECT_EQ(find(second)->attempts, 1);
    EXPECT_EQ(find(later)->attempts, 0);
    EXPECT_EQ(find(done)->attempts, 0);
}

TEST_F(WebhookInboxRepository, ClaimDueTakesAtMostLimit) {
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 5; ++i) {
        ids.push_back(insert("imp_" + std::to_string(i)));
    }
    EXPECT_EQ(ids_of(claim_due(2)), (std::vector<std::int64_t>{ids[0], ids[1]}));
    EXPECT_EQ(ids_of(claim_due(2)), (std::vector<std::int64_t>{ids[2], ids[3]}));
    EXPECT_EQ(ids_of(claim_due(2)), (std::vector<std::int64_t>{ids[4]}));
    EXPECT_TRUE(claim_due(2).empty());
    EXPECT_THROW(claim_due(0), std::invalid_argument);
    EXPECT_THROW(claim_due(1, 0s), std::invalid_argument);
}

TEST_F(WebhookInboxRepository, LeaseRunsOutByItself) {
    const auto id = insert("imp_1");
    ASSERT_EQ(claim_due(10, 1s).size(), 1u);
    EXPECT_TRUE(claim_due(10, 1s).empty());
    EXPECT_FALSE(claim(id, 1s));
    std::this_thread::sleep_for(1200ms);
    const auto again = claim_due(10, 1s);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].id, id);
    EXPECT_EQ(again[0].attempts, 2);
}

TEST_F(WebhookInboxRepository, ClaimOneDelivery) {
    const auto id = insert("imp_1");
    const auto other = insert("imp_2");
    const auto claimed = claim(id);
    ASSERT_TRUE(claimed);
    EXPECT_EQ(claimed->id, id);
    EXPECT_EQ(claimed->imp_uid, "imp_1");
    EXPECT_EQ(claimed->attempts, 1);
    EXPECT_EQ(claimed->state, DeliveryState::pending);

    // Leased: neither this claim nor the sweep takes it again; the other one is untouched.
    EXPECT_FALSE(claim(id));
    EXPECT_EQ(ids_of(claim_due()), (std::vector<std::int64_t>{other}));
    EXPECT_EQ(find(id)->attempts, 1);

    // Not due (a retry waiting for its time), processed, failed, unknown: nothing.
    make_due(id);
    mark_processed(id, "applied");
    EXPECT_FALSE(claim(id));
    const auto failed = insert("imp_3");
    execute("UPDATE webhook_inbox SET state = 'failed' WHERE id = " + std::to_string(failed));
    EXPECT_FALSE(claim(failed));
    EXPECT_FALSE(claim(987'654));
}

TEST_F(WebhookInboxRepository, ClaimSkipsARowAnotherTransactionHolds) {
    const auto id = insert("imp_1");
    pqxx::connection holder_connection(url());
    {
        pqxx::work holder(holder_connection);
        ASSERT_TRUE(claim_delivery(holder, id, kLease));
        // Not blocked, not claimed twice: the row is skipped while the holder's claim is open.
        EXPECT_FALSE(claim(id));
        EXPECT_TRUE(claim_due().empty());
        // The holder rolls back (e.g. its instance died before committing).
    }
    const auto claimed = claim(id);
    ASSERT_TRUE(claimed);
    EXPECT_EQ(claimed->attempts, 1);
}

TEST_F(WebhookInboxRepository, ConcurrentClaimersNeverGetTheSameRow) {
    constexpr int kDeliveries = 40;
    constexpr int kThreads = 4;
    std::set<std::int64_t> inserted;
    for (int i = 0; i < kDeliveries; ++i) {
        inserted.insert(insert("imp_" + std::to_string(i)));
    }
    std::latch ready(kThreads);
    std::mutex mutex;
    std::vector<std::int64_t> claimed_ids;
    std::atomic<int> errors{0};
    std::atomic<int> threads_that_claimed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            try {
                pqxx::connection conn(url());
                ready.arrive_and_wait();
                bool claimed_any = false;
                for (;;) {
                    const auto batch = with_transaction(conn, [](pqxx::work& txn) {
                        auto deliveries = claim_due_deliveries(txn, 3, kLease);
                        // Hold the claim open a moment, so the claimers really overlap.
                        txn.exec("SELECT pg_sleep(0.02)");
                        return deliveries;
                    });
                    if (batch.empty()) {
                        break;
                    }
                    claimed_any = true;
                    const std::lock_guard lock(mutex);
                    for (const auto& delivery : batch) {
                        claimed_ids.push_back(delivery.id);
                        if (delivery.attempts != 1) {
                            ++errors;
                        }
                    }
                }
                threads_that_claimed += claimed_any ? 1 : 0;
            } catch (const std::exception&) {
                ++errors;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(claimed_ids.size(), inserted.size());
    EXPECT_EQ(std::set<std::int64_t>(claimed_ids.begin(), claimed_ids.end()), inserted);
    EXPECT_GT(threads_that_claimed.load(), 1);
    EXPECT_EQ(query_text("SELECT count(*) FROM webhook_inbox WHERE attempts <> 1"), "0");
}

TEST_F(WebhookInboxRepository, RetryBacksOffThenFailsAtTheCap) {
    const auto id = insert("imp_1");
    ASSERT_EQ(claim(id)->attempts, 1);
    EXPECT_EQ(retry(id, "iamport unreachable", 5s, 3), DeliveryState::pending);
    auto delivery = find(id);
    EXPECT_EQ(delivery->state, DeliveryState::pending);
    EXPECT_EQ(delivery->last_error, "iamport unreachable");
    EXPECT_EQ(delivery->attempts, 1);
    EXPECT_EQ(column_of(id, "next_attempt_at > now() + interval '4 seconds'"), "t");
    EXPECT_EQ(column_of(id, "next_attempt_at <= now() + interval '6 seconds'"), "t");
    // Not due before its time.
    EXPECT_FALSE(claim(id));
    EXPECT_TRUE(claim_due().empty());

    make_due(id);
    ASSERT_EQ(claim(id)->attempts, 2);
    EXPECT_EQ(retry(id, "iamport answered 503", 10s, 3), DeliveryState::pending);
    EXPECT_EQ(column_of(id, "next_attempt_at > now() + interval '9 seconds'"), "t");
    EXPECT_EQ(find(id)->last_error, "iamport answered 503");

    make_due(id);
    ASSERT_EQ(claim(id)->attempts, 3);
    const auto next_attempt_before = column_of(id, "next_attempt_at");
    EXPECT_EQ(retry(id, "timeout", 20s, 3), DeliveryState::failed);
    delivery = find(id);
    EXPECT_EQ(delivery->state, DeliveryState::failed);
    EXPECT_EQ(delivery->last_error, "timeout");
    EXPECT_EQ(delivery->attempts, 3);
    EXPECT_FALSE(delivery->outcome);
    EXPECT_EQ(column_of(id, "processed_at IS NULL"), "t");
    EXPECT_EQ(column_of(id, "next_attempt_at"), next_attempt_before);

    // Failed for good: never claimed again, even when its time comes.
    make_due(id);
    EXPECT_FALSE(claim(id));
    EXPECT_TRUE(claim_due().empty());

    // A retry on a delivery that is no longer pending leaves it as it is.
    EXPECT_EQ(retry(id, "again", 1s, 3), DeliveryState::failed);
    EXPECT_EQ(find(id)->last_error, "timeout");
    const auto processed = insert("imp_2");
    claim(processed);
    mark_processed(processed, "applied");
    EXPECT_EQ(retry(processed, "late", 1s, 3), DeliveryState::processed);
    EXPECT_FALSE(find(processed)->last_error);

    EXPECT_THROW(retry(987'654, "x", 1s, 3), std::invalid_argument);
    EXPECT_THROW(retry(id, "x", -1s, 3), std::invalid_argument);
    EXPECT_THROW(retry(id, "x", 1s, 0), std::invalid_argument);
}

TEST_F(WebhookInboxRepository, FailsAtOnceWhenTheCapIsOne) {
    const auto id = insert("imp_1");
    ASSERT_EQ(claim(id)->attempts, 1);
    EXPECT_EQ(retry(id, "down", 1s, 1), DeliveryState::failed);
    EXPECT_EQ(find(id)->state, DeliveryState::failed);
}

TEST_F(WebhookInboxRepository, MarkProcessedKeepsTheRest) {
    const auto id = insert("imp_1");
    claim(id);
    retry(id, "iamport unreachable", 1s, 10);
    make_due(id);
    claim(id);
    mark_processed(id, "needs_review");

    const auto delivery = find(id);
    ASSERT_TRUE(delivery);
    EXPECT_EQ(delivery->state, DeliveryState::processed);
    EXPECT_EQ(delivery->outcome, "needs_review");
    EXPECT_EQ(delivery->attempts, 2);
    EXPECT_EQ(delivery->last_error, "iamport unreachable");
    EXPECT_EQ(delivery->imp_uid, "imp_1");
    EXPECT_EQ(column_of(id, "processed_at IS NOT NULL AND processed_at >= received_at"), "t");
    EXPECT_FALSE(claim(id));

    EXPECT_THROW(mark_processed(987'654, "applied"), std::invalid_argument);
}

TEST_F(WebhookInboxRepository, CountsTheBacklogByState) {
    auto zero = counts();
    EXPECT_EQ(zero.pending, 0);
    EXPECT_EQ(zero.failed, 0);

    const auto a = insert("imp_a");
    const auto b = insert("imp_b");
    const auto c = insert("imp_c");
    insert("imp_d");
    claim(a);
    mark_processed(a, "applied");
    claim(b);
    mark_processed(b, "unchanged");
    claim(c);
    retry(c, "down", 1s, 1);

    const auto counted = counts();
    EXPECT_EQ(counted.pending, 1);
    EXPECT_EQ(counted.failed, 1);
}

TEST_F(WebhookInboxRepository, PurgesProcessedDeliveriesPastRetentionInBatches) {
    std::vector<std::int64_t> old_ones;
    for (int i = 0; i < 5; ++i) {
        const auto id = insert("imp_old_" + std::to_string(i));
        claim(id);
        mark_processed(id, "applied");
        old_ones.push_back(id);
    }
    const auto review = insert("imp_review");
    claim(review);
    mark_processed(review, "needs_review");
    const auto failed = insert("imp_failed");
    claim(failed);
    retry(failed, "down", 1s, 1);
    const auto pending = insert("imp_pending");
    const auto recent = insert("imp_recent");
    claim(recent);
    mark_processed(recent, "unchanged");
    execute(
        "UPDATE webhook_inbox SET processed_at = now() - interval '91 days' "
        "WHERE state = 'processed' AND imp_uid <> 'imp_recent'");
    execute(
        "UPDATE webhook_inbox SET received_at = now() - interval '91 days' "
        "WHERE imp_uid <> 'imp_recent'");

    const auto purge = [&](int limit) {
        return in_transaction(
            [&](pqxx::work& txn) { return purge_deliveries(txn, 90 * 24h, limit); });
    };
    EXPECT_EQ(purge(2), 2);
    EXPECT_EQ(purge(2), 2);
    EXPECT_EQ(purge(2), 1);
    EXPECT_EQ(purge(2), 0);
    EXPECT_EQ(query_text("SELECT string_agg(imp_uid, ',' ORDER BY id) FROM webhook_inbox"),
              "imp_review,imp_failed,imp_pending,imp_recent");
    EXPECT_TRUE(find(pending).has_value());
    EXPECT_THROW(purge(0), std::invalid_argument);
}

TEST_F(WebhookInboxRepository, PurgesSkipRowsAnotherPurgerHolds) {
    for (int i = 0; i < 4; ++i) {
        const auto id = insert("imp_" + std::to_string(i));
        claim(id);
        mark_processed(id, "applied");
    }
    execute("UPDATE webhook_inbox SET processed_at = now() - interval '100 days'");
    pqxx::connection other(url());
    pqxx::work holding(other);
    EXPECT_EQ(purge_deliveries(holding, 90 * 24h, 3), 3);
    // The first purger's rows are locked until it commits: the second takes what is left.
    EXPECT_EQ(in_transaction([&](pqxx::work& txn) { return purge_deliveries(txn, 90 * 24h, 10); }),
              1);
    holding.commit();
    EXPECT_EQ(query_text("SELECT count(*) FROM webhook_inbox"), "0");
}

TEST_F(WebhookInboxRepository, BodyOver16KiBIsRefused) {
    auto delivery = new_delivery("imp_1");
    delivery.body = std::string(16 * 1024, 'x');
    EXPECT_NO_THROW(insert(delivery));
    delivery.body += 'x';
    EXPECT_THROW(insert(delivery), pqxx::check_violation);
    // The limit is in bytes, not characters: 5462 Hangul syllables are 16386 bytes.
    std::string hangul;
    for (int i = 0; i < 5462; ++i) {
        hangul += "한";
    }
    delivery.body = hangul;
    EXPECT_THROW(insert(delivery), pqxx::check_violation);
    EXPECT_EQ(counts().pending, 1);
}

TEST_F(WebhookInboxRepository, EmptyImpUidIsRefused) {
    EXPECT_THROW(insert(new_delivery("")), pqxx::check_violation);
}

TEST_F(WebhookInboxRepository, ClaimOrdersToReconcile) {
    create_order("plain-pending");
    create_order("awaiting", OrderStatus::awaiting_deposit);
    const auto in_flight = create_order("in-flight");
    open_attempt(in_flight.id, AttemptState::in_flight);
    const auto unknown = create_order("unknown");
    open_attempt(unknown.id, AttemptState::unknown);
    const auto settled = create_order("settled-failed");
    open_attempt(settled.id, AttemptState::failed);
    create_order("paid", OrderStatus::paid);
    const auto refunding = create_order("refunding", OrderStatus::paid);
    open_attempt(refunding.id, AttemptState::in_flight);
    create_order("expired", OrderStatus::expired);
    // Oldest claim first: the order last looked at longest ago comes first.
    set_reconcile_due("unknown", 300);
    set_reconcile_due("awaiting", 200);
    set_reconcile_due("refunding", 100);
    set_reconcile_due("in-flight", 50);
    const auto updated_before =
        query_text("SELECT updated_at::text FROM orders WHERE merchant_uid = 'awaiting'");

    EXPECT_EQ(claim_orders(),
              (std::vector<std::string>{"unknown", "awaiting", "refunding", "in-flight"}));
    EXPECT_EQ(query_text("SELECT count(*) FROM orders WHERE merchant_uid IN ('unknown', "
                         "'awaiting', 'refunding', 'in-flight') AND next_reconcile_at > now() + "
                         "interval '59 seconds' AND next_reconcile_at <= now() + interval '61 "
                         "seconds'"),
              "4");
    // A claim is not a change of the order.
    EXPECT_EQ(query_text("SELECT updated_at::text FROM orders WHERE merchant_uid = 'awaiting'"),
              updated_before);

    // Leased: nothing until the lease runs out.
    EXPECT_TRUE(claim_orders().empty());
    set_reconcile_due("awaiting", 1);
    set_reconcile_due("unknown", 2);
    EXPECT_EQ(claim_orders(), (std::vector<std::string>{"unknown", "awaiting"}));

    // Once its attempt is settled, an order is no longer the reconciler's.
    in_transaction([&](pqxx::work& txn) {
        for (const auto& attempt : list_open_attempts(txn, unknown.id)) {
            finish_attempt(txn, attempt.id, AttemptState::resolved, std::nullopt, std::nullopt,
                           std::nullopt);
        }
    });
    set_reconcile_due("unknown", 10);
    set_reconcile_due("awaiting", 5);
    EXPECT_EQ(claim_orders(), (std::vector<std::string>{"awaiting"}));
}

// The lost-checkout schedule may have put a pending order's next look-up half an hour away; once
// a virtual account is issued for it, its deposit look-ups start now, not then.
TEST_F(WebhookInboxRepository, AnOrderThatStartsAwaitingADepositIsDueAtOnce) {
    const auto order = create_order("vbank-after-lookups");
    execute(
        "UPDATE orders SET next_reconcile_at = now() + interval '30 minutes' "
        "WHERE merchant_uid = 'vbank-after-lookups'");
    EXPECT_TRUE(claim_orders().empty());

    in_transaction([&](pqxx::work& txn) {
        ASSERT_TRUE(set_order_status(txn, order.id, OrderStatus::pending,
                                     OrderStatus::awaiting_deposit, domain::EventCause::api,
                                     std::nullopt, std::nullopt));
    });
    EXPECT_EQ(claim_orders(), (std::vector<std::string>{"vbank-after-lookups"}));

    // Any other change keeps the schedule as it was.
    const auto paid = create_order("paid-later");
    execute(
        "UPDATE orders SET next_reconcile_at = now() + interval '30 minutes' "
        "WHERE merchant_uid = 'paid-later'");
    in_transaction([&](pqxx::work& txn) {
        ASSERT_TRUE(set_order_status(txn, paid.id, OrderStatus::pending, OrderStatus::paid,
                                     domain::EventCause::api, std::nullopt, std::nullopt));
    });
    EXPECT_EQ(query_text("SELECT (next_reconcile_at > now() + interval '29 minutes')::text "
                         "FROM orders WHERE merchant_uid = 'paid-later'"),
              "true");
}

TEST_F(WebhookInboxRepository, ClaimOrdersTakesAtMostLimitAndLeasesByItself) {
    for (int i = 0; i < 5; ++i) {
        const auto uid = "vbank-" + std::to_string(i);
        create_order(uid, OrderStatus::awaiting_deposit);
        set_reconcile_due(uid, 100 - i);
    }
    EXPECT_EQ(claim_orders(2, 1s), (std::vector<std::string>{"vbank-0", "vbank-1"}));
    EXPECT_EQ(claim_orders(2, 1s), (std::vector<std::string>{"vbank-2", "vbank-3"}));
    EXPECT_EQ(claim_orders(2, 1s), (std::vector<std::string>{"vbank-4"}));
    EXPECT_TRUE(claim_orders(2, 1s).empty());
    std::this_thread::sleep_for(1200ms);
    EXPECT_EQ(sorted(claim_orders(10, 1s)),
              (std::vector<std::string>{"vbank-0", "vbank-1", "vbank-2", "vbank-3", "vbank-4"}));
    EXPECT_THROW(claim_orders(0), std::invalid_argument);
    EXPECT_THROW(claim_orders(1, 0s), std::invalid_argument);
}

TEST_F(WebhookInboxRepository, ConcurrentOrderClaimersSplitTheOrders) {
    constexpr int kOrders = 30;
    constexpr int kThreads = 3;
    std::vector<std::string> expected;
    for (int i = 0; i < kOrders; ++i) {
        expected.push_back("order-" + std::to_string(i));
        const auto order = create_order(
            expected.back(), i % 2 == 0 ? OrderStatus::awaiting_deposit : OrderStatus::pending);
        if (i % 2 == 1) {
            open_attempt(order.id, AttemptState::unknown);
        }
    }
    create_order("not-mine");  // pending, no attempt

    std::latch ready(kThreads);
    std::mutex mutex;
    std::vector<std::string> claimed;
    std::atomic<int> errors{0};
    std::atomic<int> threads_that_claimed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            try {
                pqxx::connection conn(url());
                ready.arrive_and_wait();
                bool claimed_any = false;
                for (;;) {
                    const auto batch = with_transaction(conn, [](pqxx::work& txn) {
                        auto uids = claim_orders_to_reconcile(txn, 4, kLease);
                        txn.exec("SELECT pg_sleep(0.02)");
                        return uids;
                    });
                    if (batch.empty()) {
                        break;
                    }
                    claimed_any = true;
                    const std::lock_guard lock(mutex);
                    claimed.insert(claimed.end(), batch.begin(), batch.end());
                }
                threads_that_claimed += claimed_any ? 1 : 0;
            } catch (const std::exception&) {
                ++errors;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(sorted(claimed), sorted(expected));  // each exactly once, never "not-mine"
    EXPECT_GT(threads_that_claimed.load(), 1);
}

TEST_F(WebhookInboxRepository, SchemaDocumentsEveryColumn) {
    EXPECT_EQ(query_text("SELECT count(*) FROM information_schema.columns c "
                         "WHERE c.table_schema = 'public' AND c.table_name = 'webhook_inbox' "
                         "AND col_description('public.webhook_inbox'::regclass, "
                         "c.ordinal_position) IS NULL"),
              "0");
    EXPECT_NE(query_text("SELECT obj_description('public.webhook_inbox'::regclass)"), "NULL");
    EXPECT_NE(query_text("SELECT col_description('public.orders'::regclass, ordinal_position) "
                         "FROM information_schema.columns WHERE table_schema = 'public' "
                         "AND table_name = 'orders' AND column_name = 'next_reconcile_at'"),
              "NULL");
    EXPECT_EQ(query_text("SELECT count(*) FROM pg_indexes WHERE indexname IN "
                         "('webhook_inbox_due_idx', 'webhook_inbox_received_at_idx', "
                         "'orders_awaiting_deposit_reconcile_idx')"),
              "3");
}

}  // namespace
}  // namespace mg::db::test
