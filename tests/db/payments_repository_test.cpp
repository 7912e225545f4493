#include "db/payments_repository.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <pqxx/pqxx>
#include <stdexcept>
#include <thread>

#include "db/errors.hpp"
#include "db/orders_repository.hpp"
#include "db/transaction.hpp"
#include "tests/db/migrated_database.hpp"

namespace mg::db::test {
namespace {

constexpr domain::UnixSeconds kStarted = 1'700'000'000;
constexpr domain::UnixSeconds kPaid = 1'700'000'042;

class PaymentsRepository : public MigratedDatabase {
  protected:
    std::int64_t create_order(const std::string& merchant_uid) {
        return in_transaction([&](pqxx::work& txn) {
                   return insert_order(txn, new_order(merchant_uid, 50'000));
               })
            .id;
    }

    static domain::Payment card_payment(std::string imp_uid, std::string merchant_uid) {
        domain::Payment payment;
        payment.imp_uid = std::move(imp_uid);
        payment.merchant_uid = std::move(merchant_uid);
        payment.status = "paid";
        payment.pay_method = "card";
        payment.pg_provider = "nice";
        payment.pg_tid = "tid-" + payment.imp_uid;
        payment.channel = "pc";
        payment.currency = "KRW";
        payment.amount = 50'000;
        payment.started_at = kStarted;
        payment.paid_at = kPaid;
        payment.receipt_url = "https://receipt.example/" + payment.imp_uid;
        return payment;
    }

    static std::string raw_of(const domain::Payment& payment) {
        return R"({"imp_uid": ")" + payment.imp_uid + R"(", "status": ")" + payment.status +
               R"(", "amount": )" + std::to_string(payment.amount) + "}";
    }

    void upsert(std::int64_t order_id, const domain::Payment& payment) {
        in_transaction(
            [&](pqxx::work& txn) { upsert_payment(txn, order_id, payment, raw_of(payment)); });
    }

    std::optional<domain::Payment> find(const std::string& imp_uid) {
        return in_transaction([&](pqxx::work& txn) { return find_payment(txn, imp_uid); });
    }

    std::vector<domain::Payment> list(std::int64_t order_id) {
        return in_transaction([&](pqxx::work& txn) { return list_payments(txn, order_id); });
    }

    std::int64_t start_attempt(std::int64_t order_id, AttemptKind kind = AttemptKind::benepia,
                               std::optional<domain::Amount> amount = 50'000,
                               std::optional<std::string> imp_uid = std::nullopt) {
        return in_transaction([&](pqxx::work& txn) {
            return insert_attempt(txn, order_id, kind, amount, imp_uid, "req-1");
        });
    }

    bool finish(std::int64_t attempt_id, AttemptState state,
                const std::optional<std::string>& imp_uid = std::nullopt,
                const std::optional<std::string>& error_code = std::nullopt,
                const std::optional<std::string>& error_message = std::nullopt) {
        return in_transaction([&](pqxx::work& txn) {
            return finish_attempt(txn, attempt_id, state, imp_uid, error_code, error_message);
        });
    }

    std::vector<Attempt> open_attempts(std::int64_t order_id) {
        return in_transaction([&](pqxx::work& txn) { return list_open_attempts(txn, order_id); });
    }

    std::vector<Attempt> attempts(std::int64_t order_id) {
        return in_transaction([&](pqxx::work& txn) { return list_attempts(txn, order_id); });
    }

    std::string query_text(const std::string& sql) {
        return in_transaction([&](pqxx::work& txn) {
            const auto field = txn.exec1(sql)[0];
            return field.is_null() ? std::string("NULL") : field.as<std::string>();
        });
    }
};

std::vector<std::string> imp_uids(const std::vector<domain::Payment>& payments) {
    std::vector<std::string> result;
    for (const auto& payment : payments) {
        result.push_back(payment.imp_uid);
    }
    return result;
}

TEST_F(PaymentsRepository, UpsertInsertsThenOverwritesEverything) {
    const auto order_id = create_order("order-1");
    auto payment = card_payment("imp_1", "order-1");
    payment.status = "paid";
    payment.cancel_amount = 15'000;
    payment.cancel_reason = "부분 환불";
    payment.cancelled_at = kPaid + 100;
    payment.cancel_history = {
        {"cancel-tid-1", 10'000, kPaid + 50, "사이즈 교환", std::string("https://r/c1"),
         std::string("cancel-1")},
        {"cancel-tid-2", 5'000, kPaid + 100, "배송 지연", std::nullopt, std::nullopt},
    };
    upsert(order_id, payment);

    auto stored = find("imp_1");
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->imp_uid, "imp_1");
    EXPECT_EQ(stored->merchant_uid, "order-1");
    EXPECT_EQ(stored->status, "paid");
    EXPECT_EQ(stored->pay_method, "card");
    EXPECT_EQ(stored->pg_provider, "nice");
    EXPECT_EQ(stored->pg_tid, "tid-imp_1");
    EXPECT_EQ(stored->channel, "pc");
    EXPECT_EQ(stored->currency, "KRW");
    EXPECT_EQ(stored->amount, 50'000);
    EXPECT_EQ(stored->cancel_amount, 15'000);
    EXPECT_EQ(stored->cancellable_balance(), 35'000);
    EXPECT_EQ(stored->started_at, kStarted);
    EXPECT_EQ(stored->paid_at, kPaid);
    EXPECT_EQ(stored->cancelled_at, kPaid + 100);
    EXPECT_EQ(stored->receipt_url, "https://receipt.example/imp_1");
    EXPECT_EQ(stored->cancel_reason, "부분 환불");
    EXPECT_FALSE(stored->fail_reason);
    ASSERT_EQ(stored->cancel_history.size(), 2u);
    EXPECT_EQ(stored->cancel_history[0].pg_tid, "cancel-tid-1");
    EXPECT_EQ(stored->cancel_history[0].amount, 10'000);
    EXPECT_EQ(stored->cancel_history[0].cancelled_at, kPaid + 50);
    EXPECT_EQ(stored->cancel_history[0].reason, "사이즈 교환");
    EXPECT_EQ(stored->cancel_history[0].receipt_url, "https://r/c1");
    EXPECT_EQ(stored->cancel_history[0].cancellation_id, "cancel-1");
    EXPECT_EQ(stored->cancel_history[1].pg_tid, "cancel-tid-2");
    EXPECT_EQ(stored->cancel_history[1].amount, 5'000);
    EXPECT_EQ(stored->cancel_history[1].reason, "배송 지연");
    EXPECT_FALSE(stored->cancel_history[1].receipt_url);
    EXPECT_FALSE(stored->cancel_history[1].cancellation_id);
    EXPECT_EQ(query_text("SELECT raw->>'status' FROM payments WHERE imp_uid = 'imp_1'"), "paid");
    const auto first_seen = query_text(
        "SELECT floor(extract(epoch FROM created_at))::bigint FROM payments "
        "WHERE imp_uid = 'imp_1'");

    // iamport's next answer: fully cancelled, some fields gone, a different cancel history.
    domain::Payment update = card_payment("imp_1", "order-1");
    update.status = "cancelled";
    update.pg_provider = std::nullopt;
    update.receipt_url = std::nullopt;
    update.cancel_amount = 50'000;
    update.cancelled_at = kPaid + 200;
    update.cancel_reason = "전액 취소";
    update.cancel_history = {{"cancel-tid-9", 50'000, kPaid + 200, "전액 취소",
                              std::string("https://r/c9"), std::nullopt}};
    upsert(order_id, update);

    stored = find("imp_1");
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->status, "cancelled");
    EXPECT_FALSE(stored->pg_provider);
    EXPECT_FALSE(stored->receipt_url);
    EXPECT_EQ(stored->pay_method, "card");
    EXPECT_EQ(stored->cancel_amount, 50'000);
    EXPECT_EQ(stored->cancellable_balance(), 0);
    EXPECT_EQ(stored->cancelled_at, kPaid + 200);
    EXPECT_EQ(stored->cancel_reason, "전액 취소");
    ASSERT_EQ(stored->cancel_history.size(), 1u);
    EXPECT_EQ(stored->cancel_history[0].pg_tid, "cancel-tid-9");
    EXPECT_EQ(stored->cancel_history[0].amount, 50'000);
    EXPECT_EQ(stored->cancel_history[0].receipt_url, "https://r/c9");

    // One row, its raw replaced and stored as a jsonb object, its first-seen time kept.
    EXPECT_EQ(query_text("SELECT count(*) FROM payments"), "1");
    EXPECT_EQ(query_text("SELECT count(*) FROM payment_cancellations"), "1");
    EXPECT_EQ(query_text("SELECT pg_typeof(raw)::text FROM payments"), "jsonb");
    EXPECT_EQ(query_text("SELECT jsonb_typeof(raw) FROM payments"), "object");
    EXPECT_EQ(query_text("SELECT raw->>'status' FROM payments"), "cancelled");
    EXPECT_EQ(query_text("SELECT (raw->>'amount')::bigint FROM payments"), "50000");
    EXPECT_EQ(query_text("SELECT floor(extract(epoch FROM created_at))::bigint FROM payments"),
              first_seen);
    EXPECT_EQ(query_text("SELECT updated_at >= created_at FROM payments"), "t");
}

TEST_F(PaymentsRepository, UpsertWithEmptyHistoryRemovesCancellations) {
    const auto order_id = create_order("order-1");
    auto payment = card_payment("imp_1", "order-1");
    payment.cancel_amount = 1'000;
    payment.cancel_history = {{"c", 1'000, kPaid + 1, "r", std::nullopt, std::nullopt}};
    upsert(order_id, payment);
    payment.cancel_amount = 0;
    payment.cancel_history.clear();
    upsert(order_id, payment);
    EXPECT_TRUE(find("imp_1")->cancel_history.empty());
    EXPECT_EQ(query_text("SELECT count(*) FROM payment_cancellations"), "0");
}

TEST_F(PaymentsRepository, ZeroTimesAreNullAndRoundTrip) {
    const auto order_id = create_order("vbank-order");
    domain::Payment payment;
    payment.imp_uid = "imp_vbank";
    payment.merchant_uid = "vbank-order";
    payment.status = "ready";
    payment.pay_method = "vbank";
    payment.amount = 50'000;
    payment.started_at = kStarted;
    payment.vbank_code = "004";
    payment.vbank_name = "KB국민은행";
    payment.vbank_num = "12345678901234";
    payment.vbank_holder = "（주）상점";
    payment.vbank_date = kStarted + 3 * 86'400;
    payment.vbank_issued_at = kStarted + 1;
    // paid_at, failed_at, cancelled_at stay 0: iamport's "has not happened".
    upsert(order_id, payment);

    const std::string where = " FROM payments WHERE imp_uid = 'imp_vbank'";
    EXPECT_EQ(query_text("SELECT paid_at IS NULL" + where), "t");
    EXPECT_EQ(query_text("SELECT failed_at IS NULL" + where), "t");
    EXPECT_EQ(query_text("SELECT cancelled_at IS NULL" + where), "t");
    EXPECT_EQ(query_text("SELECT extract(epoch FROM started_at)::bigint" + where),
              std::to_string(kStarted));
    EXPECT_EQ(query_text("SELECT extract(epoch FROM vbank_date)::bigint" + where),
              std::to_string(kStarted + 3 * 86'400));
    EXPECT_EQ(query_text("SELECT pay_method IS NOT NULL AND pg_provider IS NULL" + where), "t");

    const auto stored = find("imp_vbank");
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->started_at, kStarted);
    EXPECT_EQ(stored->paid_at, 0);
    EXPECT_EQ(stored->failed_at, 0);
    EXPECT_EQ(stored->cancelled_at, 0);
    EXPECT_EQ(stored->vbank_date, kStarted + 3 * 86'400);
    EXPECT_EQ(stored->vbank_issued_at, kStarted + 1);
    EXPECT_EQ(stored->vbank_name, "KB국민은행");
    EXPECT_EQ(stored->vbank_holder, "（주）상점");
    EXPECT_FALSE(stored->pg_provider);
    EXPECT_FALSE(stored->currency);

    // The same for a time in the cancel history, and back: 0 -> NULL once set.
    auto cancelled = *stored;
    cancelled.status = "cancelled";
    cancelled.cancel_amount = 50'000;
    cancelled.vbank_date = 0;
    cancelled.cancel_history = {{"tid", 50'000, 0, "no time", std::nullopt, std::nullopt}};
    upsert(order_id, cancelled);
    EXPECT_EQ(query_text("SELECT vbank_date IS NULL" + where), "t");
    EXPECT_EQ(query_text("SELECT cancelled_at IS NULL FROM payment_cancellations"), "t");
    const auto again = find("imp_vbank");
    EXPECT_EQ(again->vbank_date, 0);
    EXPECT_EQ(again->cancel_history.at(0).cancelled_at, 0);
}

TEST_F(PaymentsRepository, ListIsOldestFirstByFirstSeen) {
    const auto order_id = create_order("order-1");
    const auto other_id = create_order("order-2");
    auto failed = card_payment("imp_b", "order-1");
    failed.status = "failed";
    failed.paid_at = 0;
    failed.failed_at = kPaid;
    failed.fail_reason = "한도 초과";
    upsert(order_id, failed);
    upsert(order_id, card_payment("imp_a", "order-1"));
    upsert(other_id, card_payment("imp_c", "order-2"));
    // Seeing imp_b again does not move it.
    failed.fail_reason = "한도 초과 (재조회)";
    upsert(order_id, failed);

    const auto payments = list(order_id);
    EXPECT_EQ(imp_uids(payments), (std::vector<std::string>{"imp_b", "imp_a"}));
    EXPECT_EQ(payments[0].fail_reason, "한도 초과 (재조회)");
    EXPECT_EQ(payments[0].failed_at, kPaid);
    EXPECT_EQ(imp_uids(list(other_id)), (std::vector<std::string>{"imp_c"}));
    EXPECT_TRUE(list(create_order("order-3")).empty());
}

TEST_F(PaymentsRepository, ListForOrdersGroupsByOrderInOneCall) {
    const auto first = create_order("order-1");
    const auto second = create_order("order-2");
    const auto without = create_order("order-3");
    upsert(first, card_payment("imp_1a", "order-1"));
    auto cancelled = card_payment("imp_2a", "order-2");
    cancelled.status = "cancelled";
    cancelled.cancel_amount = 50'000;
    cancelled.cancel_history = {
        {"t1", 20'000, kPaid + 1, "one", std::nullopt, std::nullopt},
        {"t2", 30'000, kPaid + 2, "two", std::nullopt, std::nullopt},
    };
    upsert(second, cancelled);
    upsert(first, card_payment("imp_1b", "order-1"));
    upsert(second, card_payment("imp_2b", "order-2"));

    const auto by_order = in_transaction([&](pqxx::work& txn) {
        return list_payments_for_orders(txn, {second, without, first, 987'654});
    });
    ASSERT_EQ(by_order.size(), 2u);
    EXPECT_EQ(by_order.count(without), 0u);
    EXPECT_EQ(imp_uids(by_order.at(first)), (std::vector<std::string>{"imp_1a", "imp_1b"}));
    EXPECT_EQ(imp_uids(by_order.at(second)), (std::vector<std::string>{"imp_2a", "imp_2b"}));
    const auto& history = by_order.at(second)[0].cancel_history;
    ASSERT_EQ(history.size(), 2u);
    EXPECT_EQ(history[0].pg_tid, "t1");
    EXPECT_EQ(history[1].pg_tid, "t2");
    EXPECT_TRUE(by_order.at(second)[1].cancel_history.empty());
    EXPECT_TRUE(by_order.at(first)[0].cancel_history.empty());

    // The same as asking order by order.
    EXPECT_EQ(imp_uids(list(first)), imp_uids(by_order.at(first)));

    EXPECT_TRUE(
        in_transaction([](pqxx::work& txn) { return list_payments_for_orders(txn, {}); }).empty());
    EXPECT_TRUE(in_transaction([&](pqxx::work& txn) {
                    return list_payments_for_orders(txn, {without});
                }).empty());
}

TEST_F(PaymentsRepository, OrderWithPaymentsIsWhatTheTwoReadsGive) {
    const auto paid_id = create_order("order-1");
    create_order("order-2");
    auto cancelled = card_payment("imp_1a", "order-1");
    cancelled.status = "cancelled";
    cancelled.cancel_amount = 50'000;
    cancelled.cancel_history = {
        {"t1", 20'000, kPaid + 1, "one", std::string("https://r/1"), std::string("c-1")},
        {"t2", 30'000, kPaid + 2, "two", std::nullopt, std::nullopt},
    };
    upsert(paid_id, cancelled);
    upsert(paid_id, card_payment("imp_1b", "order-1"));

    pqxx::connection conn(url());
    pqxx::nontransaction read(conn);
    const auto found = find_order_with_payments(read, "order-1");
    const auto order = find_order(read, "order-1");
    const auto payments = list_payments(read, paid_id);
    ASSERT_TRUE(found);
    ASSERT_TRUE(order);
    EXPECT_EQ(found->order.id, order->id);
    EXPECT_EQ(found->order.merchant_uid, "order-1");
    EXPECT_EQ(found->order.amount, order->amount);
    EXPECT_EQ(found->order.client_secret, order->client_secret);
    EXPECT_EQ(found->order.status, order->status);
    EXPECT_EQ(found->order.created_at, order->created_at);
    EXPECT_EQ(found->order.updated_at, order->updated_at);
    EXPECT_EQ(imp_uids(found->payments), (std::vector<std::string>{"imp_1a", "imp_1b"}));
    ASSERT_EQ(found->payments.size(), payments.size());
    for (std::size_t i = 0; i < payments.size(); ++i) {
        EXPECT_EQ(found->payments[i].status, payments[i].status);
        EXPECT_EQ(found->payments[i].amount, payments[i].amount);
        EXPECT_EQ(found->payments[i].cancel_amount, payments[i].cancel_amount);
        EXPECT_EQ(found->payments[i].paid_at, payments[i].paid_at);
        EXPECT_EQ(found->payments[i].receipt_url, payments[i].receipt_url);
        ASSERT_EQ(found->payments[i].cancel_history.size(), payments[i].cancel_history.size());
    }
    const auto& history = found->payments[0].cancel_history;
    ASSERT_EQ(history.size(), 2u);
    EXPECT_EQ(history[0].pg_tid, "t1");
    EXPECT_EQ(history[0].cancellation_id, std::optional<std::string>("c-1"));
    EXPECT_EQ(history[1].amount, 30'000);
    EXPECT_TRUE(found->payments[1].cancel_history.empty());

    const auto without = find_order_with_payments(read, "order-2");
    ASSERT_TRUE(without);
    EXPECT_EQ(without->order.merchant_uid, "order-2");
    EXPECT_TRUE(without->payments.empty());
    EXPECT_FALSE(find_order_with_payments(read, "order-3"));
}

TEST_F(PaymentsRepository, FindMissingIsEmpty) {
    EXPECT_FALSE(find("imp_nope"));
    upsert(create_order("order-1"), card_payment("imp_1", "order-1"));
    EXPECT_FALSE(find("imp_"));
    EXPECT_TRUE(find("imp_1"));
}

TEST_F(PaymentsRepository, SetOrderAmount) {
    const auto order_id = create_order("vbank-order");
    in_transaction([&](pqxx::work& txn) { set_order_amount(txn, order_id, 77'000); });
    const auto order =
        in_transaction([](pqxx::work& txn) { return find_order(txn, "vbank-order"); });
    ASSERT_TRUE(order);
    EXPECT_EQ(order->amount, 77'000);
    EXPECT_GE(order->updated_at, order->created_at);
    EXPECT_EQ(query_text("SELECT updated_at > created_at FROM orders"), "t");

    EXPECT_THROW(in_transaction([](pqxx::work& txn) { set_order_amount(txn, 987'654, 1'000); }),
                 std::invalid_argument);
    // orders' own range check still applies.
    EXPECT_THROW(in_transaction([&](pqxx::work& txn) { set_order_amount(txn, order_id, 0); }),
                 pqxx::check_violation);
}

TEST_F(PaymentsRepository, AttemptLifecycle) {
    const auto order_id = create_order("order-1");
    const auto id = in_transaction([&](pqxx::work& txn) {
        return insert_attempt(txn, order_id, AttemptKind::cancel, 20'000, std::string("imp_paid"),
                              "req-42");
    });
    EXPECT_GT(id, 0);

    auto open = open_attempts(order_id);
    ASSERT_EQ(open.size(), 1u);
    EXPECT_EQ(open[0].id, id);
    EXPECT_EQ(open[0].order_id, order_id);
    EXPECT_EQ(open[0].kind, AttemptKind::cancel);
    EXPECT_EQ(open[0].state, AttemptState::in_flight);
    // Its age on the database's clock, for settling it against IAMPORT_CALL_TIMEOUT_MS.
    EXPECT_GE(open[0].age_ms, 0);
    EXPECT_LT(open[0].age_ms, 60'000);
    EXPECT_EQ(open[0].imp_uid, "imp_paid");
    EXPECT_EQ(open[0].amount, 20'000);
    EXPECT_EQ(open[0].request_id, "req-42");
    EXPECT_FALSE(open[0].error_code);
    EXPECT_GT(open[0].created_at, 0);
    EXPECT_EQ(open[0].updated_at, open[0].created_at);

    // The answer was lost: still open. The imp_uid known beforehand is kept.
    finish(id, AttemptState::unknown, std::nullopt, std::string("iamport_timeout"),
           std::string("no answer within 10 s"));
    open = open_attempts(order_id);
    ASSERT_EQ(open.size(), 1u);
    EXPECT_EQ(open[0].state, AttemptState::unknown);
    EXPECT_EQ(open[0].imp_uid, "imp_paid");
    EXPECT_EQ(open[0].error_code, "iamport_timeout");
    EXPECT_EQ(open[0].error_message, "no answer within 10 s");

    // The reconciler settles it.
    finish(id, AttemptState::resolved, std::string("imp_paid"));
    EXPECT_TRUE(open_attempts(order_id).empty());
    const auto all = attempts(order_id);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].state, AttemptState::resolved);
    EXPECT_FALSE(all[0].error_code);
    EXPECT_GE(all[0].updated_at, all[0].created_at);

    // A settled attempt is history: it is not rewritten.
    EXPECT_FALSE(finish(id, AttemptState::failed));
    EXPECT_FALSE(finish(987'654, AttemptState::failed));
    EXPECT_EQ(attempts(order_id)[0].state, AttemptState::resolved);
}

TEST_F(PaymentsRepository, AttemptWithoutAmountOrImpUid) {
    const auto order_id = create_order("order-1");
    const auto id = in_transaction([&](pqxx::work& txn) {
        return insert_attempt(txn, order_id, AttemptKind::vbank, std::nullopt, std::nullopt, "");
    });
    finish(id, AttemptState::succeeded, std::string("imp_new"));
    const auto all = attempts(order_id);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].kind, AttemptKind::vbank);
    EXPECT_EQ(all[0].state, AttemptState::succeeded);
    EXPECT_FALSE(all[0].amount);
    EXPECT_FALSE(all[0].request_id);
    EXPECT_EQ(all[0].imp_uid, "imp_new");
}

TEST_F(PaymentsRepository, SecondOpenAttemptOnOrderIsConflict) {
    const auto busy = create_order("busy");
    const auto other = create_order("other");
    const auto first = start_attempt(busy);
    try {
        in_transaction([&](pqxx::work& txn) {
            try {
                insert_attempt(txn, busy, AttemptKind::vbank, 50'000, std::nullopt, "req-2");
            } catch (const Conflict&) {
                // The transaction is still usable after the conflict.
                EXPECT_EQ(txn.exec1("SELECT count(*) FROM payment_attempts")[0].as<int>(), 1);
                throw;
            }
        });
        FAIL() << "no conflict";
    } catch (const Conflict& e) {
        EXPECT_EQ(e.constraint(), "payment_attempts_one_open_per_order");
        EXPECT_EQ(e.constraint(), kOneOpenAttemptPerOrder);
    }
    // An unknown attempt blocks the order just as well.
    finish(first, AttemptState::unknown);
    EXPECT_THROW(start_attempt(busy, AttemptKind::cancel), Conflict);

    // Another order is not affected.
    EXPECT_GT(start_attempt(other), first);
    EXPECT_EQ(open_attempts(busy).size(), 1u);
    EXPECT_EQ(open_attempts(other).size(), 1u);
}

TEST_F(PaymentsRepository, SettledAttemptFreesTheOrder) {
    const auto order_id = create_order("order-1");
    const auto first = start_attempt(order_id);
    finish(first, AttemptState::failed, std::nullopt, std::string("card_declined"),
           std::string("한도 초과"));
    const auto second = start_attempt(order_id);
    finish(second, AttemptState::unknown);
    finish(second, AttemptState::resolved);
    const auto third = start_attempt(order_id, AttemptKind::cancel, std::nullopt);
    finish(third, AttemptState::succeeded);

    const auto all = attempts(order_id);
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].id, first);
    EXPECT_EQ(all[0].state, AttemptState::failed);
    EXPECT_EQ(all[0].error_code, "card_declined");
    EXPECT_EQ(all[0].error_message, "한도 초과");
    EXPECT_EQ(all[1].id, second);
    EXPECT_EQ(all[1].state, AttemptState::resolved);
    EXPECT_EQ(all[2].id, third);
    EXPECT_EQ(all[2].kind, AttemptKind::cancel);
    EXPECT_EQ(all[2].state, AttemptState::succeeded);
    EXPECT_TRUE(open_attempts(order_id).empty());
}

TEST_F(PaymentsRepository, ConcurrentAttemptsOnOneOrderStoreOne) {
    const auto order_id = create_order("contended");
    constexpr int kThreads = 20;
    std::latch ready(kThreads);
    std::atomic<int> started{0};
    std::atomic<int> conflicts{0};
    std::atomic<int> other_errors{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
            try {
                pqxx::connection conn(url());
                ready.arrive_and_wait();
                with_transaction(conn, [&](pqxx::work& txn) {
                    insert_attempt(txn, order_id, AttemptKind::benepia, 50'000, std::nullopt,
                                   "req-" + std::to_string(i));
                    // Hold the transaction open a moment so that the others really overlap it.
                    txn.exec("SELECT pg_sleep(0.05)");
                });
                ++started;
            } catch (const Conflict& e) {
                if (e.constraint() == kOneOpenAttemptPerOrder) {
                    ++conflicts;
                } else {
                    ++other_errors;
                }
            } catch (const std::exception&) {
                ++other_errors;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(started.load(), 1);
    EXPECT_EQ(conflicts.load(), kThreads - 1);
    EXPECT_EQ(other_errors.load(), 0);
    EXPECT_EQ(attempts(order_id).size(), 1u);
}

TEST_F(PaymentsRepository, FinishingToInFlightIsRefused) {
    const auto order_id = create_order("order-1");
    const auto id = start_attempt(order_id);
    EXPECT_THROW(finish(id, AttemptState::in_flight), std::logic_error);
    finish(id, AttemptState::unknown);
    EXPECT_THROW(finish(id, AttemptState::in_flight), std::logic_error);
    EXPECT_EQ(open_attempts(order_id).at(0).state, AttemptState::unknown);
}

TEST_F(PaymentsRepository, AttemptForUnknownOrderIsRefused) {
    EXPECT_THROW(start_attempt(987'654), pqxx::foreign_key_violation);
}

TEST_F(PaymentsRepository, MoneyChecksRefuseImpossibleAmounts) {
    const auto order_id = create_order("order-1");
    auto negative = card_payment("imp_neg", "order-1");
    negative.amount = -1;
    EXPECT_THROW(upsert(order_id, negative), pqxx::check_violation);

    auto over_cancelled = card_payment("imp_over", "order-1");
    over_cancelled.cancel_amount = over_cancelled.amount + 1;
    EXPECT_THROW(upsert(order_id, over_cancelled), pqxx::check_violation);

    auto negative_cancel = card_payment("imp_negc", "order-1");
    negative_cancel.cancel_amount = -1;
    EXPECT_THROW(upsert(order_id, negative_cancel), pqxx::check_violation);

    auto empty_cancellation = card_payment("imp_zero", "order-1");
    empty_cancellation.cancel_history = {{"t", 0, kPaid, "zero", std::nullopt, std::nullopt}};
    EXPECT_THROW(upsert(order_id, empty_cancellation), pqxx::check_violation);

    auto unknown_status = card_payment("imp_status", "order-1");
    unknown_status.status = "partial";
    EXPECT_THROW(upsert(order_id, unknown_status), pqxx::check_violation);

    EXPECT_THROW(start_attempt(order_id, AttemptKind::cancel, 0), pqxx::check_violation);
    EXPECT_THROW(start_attempt(order_id, AttemptKind::cancel, -5), pqxx::check_violation);

    // A free payment (amount 0) and a fully cancelled one are possible.
    auto zero_amount = card_payment("imp_free", "order-1");
    zero_amount.amount = 0;
    EXPECT_NO_THROW(upsert(order_id, zero_amount));
    auto full = card_payment("imp_full", "order-1");
    full.cancel_amount = full.amount;
    EXPECT_NO_THROW(upsert(order_id, full));
    EXPECT_EQ(imp_uids(list(order_id)), (std::vector<std::string>{"imp_free", "imp_full"}));
}

TEST_F(PaymentsRepository, RawMustBeAJsonObject) {
    const auto order_id = create_order("order-1");
    const auto payment = card_payment("imp_1", "order-1");
    EXPECT_THROW(in_transaction(
                     [&](pqxx::work& txn) { upsert_payment(txn, order_id, payment, "not json"); }),
                 pqxx::data_exception);
    EXPECT_THROW(
        in_transaction([&](pqxx::work& txn) { upsert_payment(txn, order_id, payment, "[]"); }),
        pqxx::check_violation);
}

TEST_F(PaymentsRepository, SchemaDocumentsEveryColumnAndStoresNoSecret) {
    EXPECT_EQ(query_text("SELECT count(*) FROM information_schema.columns c "
                         "WHERE c.table_schema = 'public' AND c.table_name IN ('payments', "
                         "'payment_cancellations', 'payment_attempts') "
                         "AND col_description(('public.' || c.table_name)::regclass, "
                         "c.ordinal_position) IS NULL"),
              "0");
    for (const std::string table : {"payments", "payment_cancellations", "payment_attempts"}) {
        EXPECT_EQ(query_text("SELECT obj_description('public." + table + "'::regclass)") == "NULL",
                  false)
            << table;
    }
    EXPECT_EQ(query_text("SELECT count(*) FROM information_schema.columns "
                         "WHERE table_schema = 'public' AND (column_name ILIKE '%password%' "
                         "OR column_name ILIKE '%passwd%')"),
              "0");
    EXPECT_EQ(query_text("SELECT indexdef FROM pg_indexes "
                         "WHERE indexname = 'payment_attempts_one_open_per_order'"),
              "CREATE UNIQUE INDEX payment_attempts_one_open_per_order ON public.payment_attempts "
              "USING btree (order_id) WHERE (state = ANY (ARRAY['in_flight'::text, "
              "'unknown'::text]))");
}

}  // namespace
}  // namespace mg::db::test
