#include "db/notifications_repository.hpp"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "db/orders_repository.hpp"
#include "tests/db/migrated_database.hpp"

namespace mg::db::test {
namespace {

class NotificationsRepository : public MigratedDatabase {
  protected:
    std::int64_t count(const std::string& sql) {
        return in_transaction(
            [&](pqxx::work& txn) { return txn.exec1(sql)[0].as<std::int64_t>(); });
    }
    // An endpoint as the API would store it, its secret a stand-in for a sealed one.
    static Endpoint endpoint(std::string id, std::string url,
                             std::vector<std::string> event_types = {}, bool enabled = true) {
        Endpoint e;
        e.id = std::move(id);
        e.url = std::move(url);
        e.event_types = std::move(event_types);
        e.enabled = enabled;
        e.secret_sealed = "v1.sealed";
        return e;
    }
};

TEST_F(NotificationsRepository, AnEventFansOutToTheEndpointsThatWantIt) {
    const auto order =
        in_transaction([&](pqxx::work& txn) { return insert_order(txn, new_order("n-1")); });
    in_transaction([&](pqxx::work& txn) {
        insert_endpoint(txn, endpoint("we_allallallallallall", "https://a.example/h"));
        insert_endpoint(txn,
                        endpoint("we_paidpaidpaidpaidpa", "https://b.example/h", {"order.paid"}));
        insert_endpoint(txn, endpoint("we_offoffoffoffoffoff", "https://c.example/h", {}, false));
        insert_event(txn, "evt_paidpaidpaidpaidpaid", "order.paid", order.id, "n-1", "{}");
        insert_event(txn, "evt_expiredexpiredexpir", "order.expired", order.id, "n-1", "{}");
    });
    EXPECT_EQ(count("SELECT count(*) FROM event_deliveries WHERE event_id = "
                    "'evt_paidpaidpaidpaidpaid'"),
              2);
    EXPECT_EQ(count("SELECT count(*) FROM event_deliveries WHERE event_id = "
                    "'evt_expiredexpiredexpir'"),
              1);
    // Claims: at most `per_endpoint` of one endpoint, none of a busy one.
    const auto claimed = in_transaction([&](pqxx::work& txn) {
        return claim_due_event_deliveries(txn, 10, std::chrono::seconds(30),
                                          {"we_paidpaidpaidpaidpa"}, 1);
    });
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(claimed[0].endpoint_id, "we_allallallallallall");
    // Claimed: not claimable again while its lease runs; and the order's next event to the same
    // endpoint waits for it (events of one order arrive in the order they happened).
    const auto second = in_transaction([&](pqxx::work& txn) {
        return claim_due_event_deliveries(txn, 10, std::chrono::seconds(30), {}, 4);
    });
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].endpoint_id, "we_paidpaidpaidpaidpa");
    EXPECT_TRUE(in_transaction([&](pqxx::work& txn) {
                    return claim_due_event_deliveries(txn, 10, std::chrono::seconds(30), {}, 4);
                }).empty());
    in_transaction([&](pqxx::work& txn) {
        record_event_attempt(txn, claimed[0].id, AttemptRecord{200, 5, std::nullopt, "ok"}, true,
                             std::nullopt);
    });
    const auto third = in_transaction([&](pqxx::work& txn) {
        return claim_due_event_deliveries(txn, 10, std::chrono::seconds(30), {}, 4);
    });
    ASSERT_EQ(third.size(), 1u);
    EXPECT_EQ(third[0].event_id, "evt_expiredexpiredexpir");
}

// An operator's replay asked for while the first attempt is on its way (the shop has it, its 2xx
// not yet recorded) is not swallowed when that attempt is recorded as delivered: the delivery
// stays due and the dispatcher makes it again. Without a replay, a 2xx still delivers.
TEST_F(NotificationsRepository, AReplayAskedForDuringAnAttemptIsMadeAfterIt) {
    const auto order =
        in_transaction([&](pqxx::work& txn) { return insert_order(txn, new_order("n-r")); });
    in_transaction([&](pqxx::work& txn) {
        insert_endpoint(txn, endpoint("we_replayreplayreplay", "https://a.example/h"));
        insert_event(txn, "evt_replayreplayreplayre", "order.paid", order.id, "n-r", "{}");
        insert_event(txn, "evt_plainplainplainplai", "order.expired", order.id, "n-r", "{}");
    });
    const auto claim = [&] {
        return in_transaction([&](pqxx::work& txn) {
            return claim_due_event_deliveries(txn, 10, std::chrono::seconds(30), {}, 4);
        });
    };
    const auto delivered = [&](std::int64_t id) {
        in_transaction([&](pqxx::work& txn) {
            record_event_attempt(txn, id, AttemptRecord{200, 5, std::nullopt, "ok"}, true,
                                 std::nullopt);
        });
    };
    auto first = claim();
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(in_transaction([&](pqxx::work& txn) {
                  return redeliver_event(txn, "evt_replayreplayreplayre");
              }),
              1);
    delivered(first[0].id);
    EXPECT_EQ(
        count("SELECT count(*) FROM event_deliveries WHERE event_id = "
              "'evt_replayreplayreplayre' AND state = 'pending' AND next_attempt_at <= now()"),
        1);
    auto replay = claim();
    ASSERT_EQ(replay.size(), 1u);
    EXPECT_EQ(replay[0].event_id, "evt_replayreplayreplayre");
    EXPECT_EQ(replay[0].attempts, 2);
    delivered(replay[0].id);
    EXPECT_EQ(count("SELECT count(*) FROM event_deliveries WHERE event_id = "
                    "'evt_replayreplayreplayre' AND state = 'delivered'"),
              1);
    // The order's next event, with no replay asked for: delivered by its 2xx.
    auto next = claim();
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0].event_id, "evt_plainplainplainplai");
    delivered(next[0].id);
    EXPECT_EQ(count("SELECT count(*) FROM event_deliveries WHERE state = 'delivered'"), 2);
    EXPECT_TRUE(claim().empty());
}

TEST_F(NotificationsRepository, OldEventsAllDeliveredArePurgedFailedOnesStay) {
    const auto order =
        in_transaction([&](pqxx::work& txn) { return insert_order(txn, new_order("n-2")); });
    in_transaction([&](pqxx::work& txn) {
        insert_endpoint(txn, endpoint("we_allallallallallall", "https://a.example/h"));
        for (const char* id : {"evt_deliveredddddddddd", "evt_failedddddddddddddd",
                               "evt_pendingggggggggggg", "evt_recentttttttttttttt"}) {
            insert_event(txn, id, "order.paid", order.id, "n-2", "{}");
        }
        txn.exec0(
            "UPDATE events SET created_at = now() - interval '100 days' "
            "WHERE id <> 'evt_recentttttttttttttt'");
        txn.exec0(
            "UPDATE event_deliveries SET state = 'delivered' "
            "WHERE event_id IN ('evt_deliveredddddddddd', 'evt_recentttttttttttttt')");
        txn.exec0(
            "UPDATE event_deliveries SET state = 'failed' "
            "WHERE event_id = 'evt_failedddddddddddddd'");
        txn.exec0(
            "INSERT INTO delivery_attempts (delivery_id, http_status, latency_ms) "
            "SELECT id, 200, 5 FROM event_deliveries");
    });
    const auto purged = in_transaction(
        [&](pqxx::work& txn) { return purge_events(txn, std::chrono::hours(24 * 90), 100); });
    EXPECT_EQ(purged, 1);
    EXPECT_EQ(count("SELECT count(*) FROM events"), 3);
    EXPECT_EQ(count("SELECT count(*) FROM events WHERE id = 'evt_deliveredddddddddd'"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM event_deliveries"), 3);
    EXPECT_EQ(count("SELECT count(*) FROM delivery_attempts"), 3);
}

}  // namespace
}  // namespace mg::db::test
