// The reporting schema of migrations/0004_reporting.sql (SPEC §8): every view's figures on a
// seeded ledger, the masks of buyer contact data, and the role dashboard_reader, which reads
// the reporting views and nothing else, however many databases of a cluster migrate at once.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <latch>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "db/migrations.hpp"
#include "test_paths.hpp"
#include "tests/db/migrated_database.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/test_db.hpp"

namespace mg::db::test {
namespace {

using namespace std::chrono_literals;

const std::vector<std::string> kReportingViews = {
    "cash_receipts",        "daily_sales",   "notification_health", "orders",
    "orders_by_status",     "payments",      "review_decisions",    "stuck_orders",
    "unsolicited_payments", "webhook_health"};

std::string random_suffix() {
    static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::random_device entropy;
    std::uniform_int_distribution<std::size_t> pick(0, sizeof(kAlphabet) - 2);
    std::string suffix;
    for (int i = 0; i < 12; ++i) {
        suffix += kAlphabet[pick(entropy)];
    }
    return suffix;
}

// The URI `url` with its user name replaced by `user`.
std::string as_user(const std::string& url, const std::string& user) {
    const auto authority = url.find("://") + 3;
    std::string result = url.substr(0, authority);
    result += user;
    result += url.substr(url.find('@', authority));
    return result;
}

using mg::test::rows_of;

std::vector<std::string> rows_of(const std::string& url, const std::string& sql) {
    pqxx::connection connection(url);
    pqxx::work txn(connection);
    return rows_of(txn, sql);
}

void execute(const std::string& url, const std::string& sql) {
    pqxx::connection connection(url);
    pqxx::work txn(connection);
    txn.exec(sql);
    txn.commit();
}

void execute_outside_transaction(const std::string& url, const std::string& sql) {
    pqxx::connection connection(url);
    pqxx::nontransaction txn(connection);
    txn.exec(sql);
}

std::string quoted(const std::string& text) {
    std::string out = "'";
    for (const char c : text) {
        out += c;
        if (c == '\'') {
            out += '\'';
        }
    }
    out += '\'';
    return out;
}

// A time as SQL: NULL when absent.
std::string time_or_null(const std::optional<std::string>& time) {
    return time ? quoted(*time) + "::timestamptz" : "NULL";
}

// Rows of the ledger, as SQL. Times are written in Seoul time (+09), as a shop reads them.
struct OrderRow {
    std::string merchant_uid = {};
    std::string status = "pending";
    long long amount = 10'000;
    std::optional<std::string> updated_at = std::nullopt;
};

std::string insert_sql(const OrderRow& order) {
    std::string sql =
        "INSERT INTO orders (merchant_uid, name, amount, status, client_secret, updated_at) "
        "VALUES (";
    sql += quoted(order.merchant_uid);
    sql += ", '원두 1kg', ";
    sql += std::to_string(order.amount);
    sql += ", ";
    sql += quoted(order.status);
    sql += ", 'cs-secret-of-";
    sql += order.merchant_uid;
    sql += "', ";
    sql += order.updated_at ? time_or_null(order.updated_at) : "now()";
    sql += ");\n";
    return sql;
}

struct PaymentRow {
    std::string imp_uid = {};
    std::string merchant_uid = {};
    std::string status = "paid";
    std::optional<std::string> pay_method = std::nullopt;
    long long amount = 0;
    long long cancel_amount = 0;
    std::optional<std::string> paid_at = std::nullopt;
    std::optional<std::string> cancelled_at = std::nullopt;
    std::optional<std::string> vbank_date = std::nullopt;
    std::string currency = "KRW";
    std::optional<std::string> updated_at = std::nullopt;
};

std::string insert_sql(const PaymentRow& payment) {
    std::string sql =
        "INSERT INTO payments (imp_uid, order_id, merchant_uid, status, pay_method, currency, "
        "amount, cancel_amount, paid_at, cancelled_at, vbank_date, raw, updated_at) "
        "SELECT ";
    sql += quoted(payment.imp_uid);
    sql += ", id, merchant_uid, ";
    sql += quoted(payment.status);
    sql += ", ";
    sql += payment.pay_method ? quoted(*payment.pay_method) : "NULL";
    sql += ", ";
    sql += quoted(payment.currency);
    sql += ", ";
    sql += std::to_string(payment.amount);
    sql += ", ";
    sql += std::to_string(payment.cancel_amount);
    sql += ", ";
    sql += time_or_null(payment.paid_at);
    sql += ", ";
    sql += time_or_null(payment.cancelled_at);
    sql += ", ";
    sql += time_or_null(payment.vbank_date);
    sql += R"(, '{"buyer_name": "홍길동"}', )";
    sql += payment.updated_at ? time_or_null(payment.updated_at) : "now()";
    sql += " FROM orders WHERE merchant_uid = ";
    sql += quoted(payment.merchant_uid);
    sql += ";\n";
    return sql;
}

struct CancellationRow {
    std::string imp_uid = {};
    int ordinal = 0;
    long long amount = 0;
    std::optional<std::string> cancelled_at = std::nullopt;
};

std::string insert_sql(const CancellationRow& cancellation) {
    std::string sql =
        "INSERT INTO payment_cancellations (payment_id, ordinal, pg_tid, amount, cancelled_at, "
        "reason) SELECT id, ";
    sql += std::to_string(cancellation.ordinal);
    sql += ", 'ctid', ";
    sql += std::to_string(cancellation.amount);
    sql += ", ";
    sql += time_or_null(cancellation.cancelled_at);
    sql += ", '단순 변심' FROM payments WHERE imp_uid = ";
    sql += quoted(cancellation.imp_uid);
    sql += ";\n";
    return sql;
}

// A login role of its own per test (roles belong to the whole cluster), member of
// dashboard_reader as ops create one for Grafana; dropped again at the end.
class DashboardLogin {
  public:
    explicit DashboardLogin(std::string admin_url)
        : admin_url_(std::move(admin_url)), name_("mg_grafana_" + random_suffix()) {
        std::string create = "CREATE ROLE ";
        create += name_;
        create += " LOGIN PASSWORD 'not-used-under-trust' IN ROLE dashboard_reader";
        execute_outside_transaction(admin_url_, create);
    }
    ~DashboardLogin() {
        try {
            execute_outside_transaction(admin_url_, "DROP ROLE IF EXISTS " + name_);
        } catch (const std::exception& e) {
            ADD_FAILURE() << "cannot drop role " << name_ << ": " << e.what();
        }
    }
    DashboardLogin(const DashboardLogin&) = delete;
    DashboardLogin& operator=(const DashboardLogin&) = delete;

    // A session on `database_url` as this login, switched to dashboard_reader.
    std::unique_ptr<pqxx::connection> connect(const std::string& database_url) const {
        auto connection = std::make_unique<pqxx::connection>(as_user(database_url, name_));
        pqxx::nontransaction txn(*connection);
        txn.exec("SET ROLE dashboard_reader");
        return connection;
    }

  private:
    std::string admin_url_;
    std::string name_;
};

// Whether `sql`, run by `connection`'s role, is refused for lack of privilege.
bool refused(pqxx::connection& connection, const std::string& sql) {
    try {
        pqxx::work txn(connection);
        txn.exec(sql);
        return false;
    } catch (const pqxx::insufficient_privilege&) {
        return true;
    }
}

std::string admin_url() {
    const char* url = std::getenv("MG_TEST_PG_URL");
    if (url == nullptr) {
        throw std::runtime_error(
            "MG_TEST_PG_URL is not set; run through tests/support/with-postgres");
    }
    return url;
}

class Reporting : public MigratedDatabase {
  protected:
    void seed(const std::string& sql) { execute(url(), sql); }
    std::vector<std::string> rows(const std::string& sql) { return rows_of(url(), sql); }

    // Orders paid, refunded and not paid around the Seoul midnights of 2024-03-02 and -03.
    // 00:00 KST is 15:00 UTC of the day before, so a UTC day would put o-2 and o-3 on 03-01.
    void seed_ledger() {
        std::string sql;
        // Paid at the last second of 03-01 and refunded in full on 03-03.
        sql += insert_sql(OrderRow{.merchant_uid = "o-1", .status = "cancelled", .amount = 10000});
        sql += insert_sql(PaymentRow{.imp_uid = "imp_1",
                                     .merchant_uid = "o-1",
                                     .status = "cancelled",
                                     .pay_method = "card",
                                     .amount = 10000,
                                     .cancel_amount = 10000,
                                     .paid_at = "2024-03-01 23:59:59+09",
                                     .cancelled_at = "2024-03-03 10:00:00+09"});
        sql += insert_sql(CancellationRow{
            .imp_uid = "imp_1", .amount = 10000, .cancelled_at = "2024-03-03 10:00:00+09"});
        // Paid at the first second of 03-02.
        sql += insert_sql(OrderRow{.merchant_uid = "o-2", .status = "paid", .amount = 20000});
        sql += insert_sql(PaymentRow{.imp_uid = "imp_2",
                                     .merchant_uid = "o-2",
                                     .status = "paid",
                                     .pay_method = "card",
                                     .amount = 20000,
                                     .paid_at = "2024-03-02 00:00:00+09"});
        // Benepia points, refunded in part on the same day and in part after midnight.
        sql += insert_sql(
            OrderRow{.merchant_uid = "o-3", .status = "partially_cancelled", .amount = 30000});
        sql += insert_sql(PaymentRow{.imp_uid = "imp_3",
                                     .merchant_uid = "o-3",
                                     .status = "paid",
                                     .pay_method = "point",
                                     .amount = 30000,
                                     .cancel_amount = 7500,
                                     .paid_at = "2024-03-02 00:01:00+09"});
        sql += insert_sql(CancellationRow{.imp_uid = "imp_3",
                                          .ordinal = 0,
                                          .amount = 5000,
                                          .cancelled_at = "2024-03-02 18:00:00+09"});
        sql += insert_sql(CancellationRow{.imp_uid = "imp_3",
                                          .ordinal = 1,
                                          .amount = 2500,
                                          .cancelled_at = "2024-03-03 00:00:30+09"});
        // A deposit refunded in full, iamport giving no cancel_history for it.
        sql += insert_sql(OrderRow{.merchant_uid = "o-4", .status = "cancelled", .amount = 40000});
        sql += insert_sql(PaymentRow{.imp_uid = "imp_4",
                                     .merchant_uid = "o-4",
                                     .status = "cancelled",
                                     .pay_method = "vbank",
                                     .amount = 40000,
                                     .cancel_amount = 40000,
                                     .paid_at = "2024-03-02 12:00:00+09",
                                     .cancelled_at = "2024-03-02 13:00:00+09"});
        // Never paid: a vbank awaiting its deposit, a failed card, a vbank cancelled unpaid.
        sql += insert_sql(
            OrderRow{.merchant_uid = "o-5", .status = "awaiting_deposit", .amount = 50000});
        sql += insert_sql(PaymentRow{.imp_uid = "imp_5",
                                     .merchant_uid = "o-5",
                                     .status = "ready",
                                     .pay_method = "vbank",
                                     .amount = 50000,
                                     .vbank_date = "2999-01-01 00:00:00+09"});
        sql += insert_sql(OrderRow{.merchant_uid = "o-6", .status = "pending", .amount = 60000});
        sql += insert_sql(PaymentRow{.imp_uid = "imp_6",
                                     .merchant_uid = "o-6",
                                     .status = "failed",
                                     .pay_method = "card",
                                     .amount = 60000});
        sql += insert_sql(OrderRow{.merchant_uid = "o-7", .status = "cancelled", .amount = 70000});
        sql += insert_sql(PaymentRow{.imp_uid = "imp_7",
                                     .merchant_uid = "o-7",
                                     .status = "cancelled",
                                     .pay_method = "vbank",
                                     .amount = 70000,
                                     .cancel_amount = 70000,
                                     .cancelled_at = "2024-03-02 09:00:00+09"});
        // A refund whose time iamport left out: the day the gateway stored it (updated_at).
        sql += insert_sql(
            OrderRow{.merchant_uid = "o-8", .status = "partially_cancelled", .amount = 8000});
        sql += insert_sql(PaymentRow{.imp_uid = "imp_8",
                                     .merchant_uid = "o-8",
                                     .status = "paid",
                                     .pay_method = "point",
                                     .amount = 8000,
                                     .cancel_amount = 3000,
                                     .paid_at = "2024-03-01 15:00:00+09",
                                     .updated_at = "2024-03-04 09:00:00+09"});
        sql += insert_sql(CancellationRow{.imp_uid = "imp_8", .amount = 3000});
        // No pay_method from iamport.
        sql += insert_sql(OrderRow{.merchant_uid = "o-9", .status = "paid", .amount = 9000});
        sql += insert_sql(PaymentRow{.imp_uid = "imp_9",
                                     .merchant_uid = "o-9",
                                     .status = "paid",
                                     .amount = 9000,
                                     .paid_at = "2024-03-03 09:00:00+09"});
        // A forged browser checkout in dollars: its order needs review; no won to count.
        sql +=
            insert_sql(OrderRow{.merchant_uid = "o-10", .status = "needs_review", .amount = 10000});
        sql += insert_sql(PaymentRow{.imp_uid = "imp_10",
                                     .merchant_uid = "o-10",
                                     .status = "paid",
                                     .pay_method = "card",
                                     .amount = 100,
                                     .paid_at = "2024-03-02 10:00:00+09",
                                     .currency = "USD"});
        sql += insert_sql(OrderRow{.merchant_uid = "o-11", .status = "expired", .amount = 11000});
        sql += insert_sql(PaymentRow{.imp_uid = "imp_11",
                                     .merchant_uid = "o-11",
                                     .status = "ready",
                                     .pay_method = "vbank",
                                     .amount = 11000,
                                     .vbank_date = "2024-03-01 00:00:00+09"});
        seed(sql);
    }
};

constexpr const char* kDailySales =
    "SELECT day, pay_method, gross, cancelled, net, paid_count, cancel_count "
    "FROM reporting.daily_sales ORDER BY day, pay_method";

TEST_F(Reporting, DailySalesCountMoneyThatMovedPerSeoulDayAndPayMethod) {
    seed_ledger();
    const std::vector<std::string> expected = {
        // day|pay_method|gross|cancelled|net|paid_count|cancel_count
        "2024-03-01|card|10000|0|10000|1|0",      // o-1 at 23:59:59
        "2024-03-01|point|8000|0|8000|1|0",       // o-8
        "2024-03-02|card|20000|0|20000|1|0",      // o-2 at 00:00:00
        "2024-03-02|point|30000|5000|25000|1|1",  // o-3, its first refund
        "2024-03-02|vbank|40000|40000|0|1|1",     // o-4, refunded without history
        "2024-03-03|card|0|10000|-10000|0|1",     // o-1's refund lowers the later day
        "2024-03-03|point|0|2500|-2500|0|1",      // o-3's second refund, after midnight
        "2024-03-03|unknown|9000|0|9000|1|0",     // o-9
        "2024-03-04|point|0|3000|-3000|0|1",      // o-8's refund with no time of its own
    };
    EXPECT_EQ(rows(kDailySales), expected);

    // The same whatever time zone the dashboard's session runs in.
    for (const std::string zone : {"UTC", "America/Los_Angeles", "Asia/Kolkata"}) {
        pqxx::connection connection(url());
        pqxx::work txn(connection);
        txn.exec("SET LOCAL TimeZone = " + quoted(zone));
        EXPECT_EQ(rows_of(txn, kDailySales), expected) << zone;
    }
}

TEST_F(Reporting, DailySalesTotalsAgreeWithThePayments) {
    seed_ledger();
    // All days together: gross is every won taken, cancelled every won given back.
    EXPECT_EQ(rows("SELECT sum(gross), sum(cancelled), sum(net) FROM reporting.daily_sales"),
              std::vector<std::string>{"117000|60500|56500"});
    EXPECT_EQ(rows("SELECT sum(amount), sum(cancel_amount) FROM payments "
                   "WHERE paid_at IS NOT NULL AND currency = 'KRW'"),
              std::vector<std::string>{"117000|60500"});
}

TEST_F(Reporting, EveryColumnIsOfAStableExactType) {
    // Money and counts are bigint; no float or numeric anywhere in the reporting interface.
    EXPECT_EQ(rows("SELECT count(*) FROM information_schema.columns "
                   "WHERE table_schema = 'reporting' AND data_type IN "
                   "('real', 'double precision', 'numeric', 'money')"),
              std::vector<std::string>{"0"});
    EXPECT_EQ(
        rows("SELECT column_name, data_type FROM information_schema.columns "
             "WHERE table_schema = 'reporting' AND table_name = 'daily_sales' "
             "ORDER BY ordinal_position"),
        (std::vector<std::string>{"day|date", "pay_method|text", "gross|bigint", "cancelled|bigint",
                                  "net|bigint", "paid_count|bigint", "cancel_count|bigint"}));
    EXPECT_EQ(rows("SELECT table_name FROM information_schema.views "
                   "WHERE table_schema = 'reporting' ORDER BY 1"),
              kReportingViews);
    // Every view and every column says what it is.
    EXPECT_EQ(rows("SELECT c.relname, a.attname FROM pg_attribute a "
                   "JOIN pg_class c ON c.oid = a.attrelid "
                   "JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = 'reporting' AND a.attnum > 0 "
                   "AND col_description(c.oid, a.attnum) IS NULL"),
              std::vector<std::string>{});
    EXPECT_EQ(rows("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = 'reporting' AND obj_description(c.oid, 'pg_class') IS NULL"),
              std::vector<std::string>{});
}

TEST_F(Reporting, OrdersByStatusListsEveryStatusInLifeCycleOrder) {
    EXPECT_EQ(rows("SELECT * FROM reporting.orders_by_status"),
              (std::vector<std::string>{"pending|0|0", "awaiting_deposit|0|0", "paid|0|0",
                                        "partially_cancelled|0|0", "cancelled|0|0", "expired|0|0",
                                        "needs_review|0|0"}));
    seed_ledger();
    EXPECT_EQ(
        rows("SELECT * FROM reporting.orders_by_status"),
        (std::vector<std::string>{"pending|1|60000", "awaiting_deposit|1|50000", "paid|2|29000",
                                  "partially_cancelled|2|38000", "cancelled|3|120000",
                                  "expired|1|11000", "needs_review|1|10000"}));
}

TEST_F(Reporting, StuckOrdersSayWhyAndSinceWhen) {
    std::string sql;
    // Moved to needs_review at a known time (its last move there counts).
    sql += insert_sql(OrderRow{.merchant_uid = "s-1", .status = "needs_review", .amount = 1000});
    sql +=
        "INSERT INTO order_events (order_id, from_status, to_status, cause, created_at) "
        "SELECT id, 'pending', 'needs_review', 'webhook', '2024-03-05 10:00+09' FROM orders "
        "WHERE merchant_uid = 's-1';\n"
        "INSERT INTO order_events (order_id, from_status, to_status, cause, created_at) "
        "SELECT id, NULL, 'pending', 'api', '2024-03-05 09:00+09' FROM orders "
        "WHERE merchant_uid = 's-1';\n";
    // needs_review with no recorded move: since its last change.
    sql += insert_sql(OrderRow{.merchant_uid = "s-2",
                               .status = "needs_review",
                               .amount = 2000,
                               .updated_at = "2024-03-06 00:00+09"});
    // Awaiting a deposit past due; and one not yet due.
    sql +=
        insert_sql(OrderRow{.merchant_uid = "s-3", .status = "awaiting_deposit", .amount = 3000});
    sql += insert_sql(PaymentRow{.imp_uid = "imp_s3",
                                 .merchant_uid = "s-3",
                                 .status = "ready",
                                 .pay_method = "vbank",
                                 .amount = 3000,
                                 .vbank_date = "2024-03-01 23:59:59+09"});
    sql +=
        insert_sql(OrderRow{.merchant_uid = "s-4", .status = "awaiting_deposit", .amount = 4000});
    sql += insert_sql(PaymentRow{.imp_uid = "imp_s4",
                                 .merchant_uid = "s-4",
                                 .status = "ready",
                                 .pay_method = "vbank",
                                 .amount = 4000,
                                 .vbank_date = "2999-01-01 00:00+09"});
    // Two accounts, the newer one not yet due: still waiting, not overdue.
    sql +=
        insert_sql(OrderRow{.merchant_uid = "s-5", .status = "awaiting_deposit", .amount = 5000});
    sql += insert_sql(PaymentRow{.imp_uid = "imp_s5a",
                                 .merchant_uid = "s-5",
                                 .status = "ready",
                                 .pay_method = "vbank",
                                 .amount = 5000,
                                 .vbank_date = "2024-03-01 00:00+09"});
    sql += insert_sql(PaymentRow{.imp_uid = "imp_s5b",
                                 .merchant_uid = "s-5",
                                 .status = "ready",
                                 .pay_method = "vbank",
                                 .amount = 5000,
                                 .vbank_date = "2999-01-01 00:00+09"});
    // Expired already: past due, but not waiting any more.
    sql += insert_sql(OrderRow{.merchant_uid = "s-6", .status = "expired", .amount = 6000});
    sql += insert_sql(PaymentRow{.imp_uid = "imp_s6",
                                 .merchant_uid = "s-6",
                                 .status = "ready",
                                 .pay_method = "vbank",
                                 .amount = 6000,
                                 .vbank_date = "2024-03-01 00:00+09"});
    // Payment calls: unknown for long, unknown for a minute, in flight for long, answered.
    for (const std::string uid : {"s-7", "s-8", "s-9", "s-10"}) {
        sql += insert_sql(OrderRow{.merchant_uid = uid, .status = "pending", .amount = 7000});
    }
    const auto attempt = [](const std::string& uid, const std::string& state,
                            const std::string& created_at) {
        std::string insert =
            "INSERT INTO payment_attempts (order_id, kind, state, amount, created_at) "
            "SELECT id, 'benepia', ";
        insert += quoted(state);
        insert += ", 7000, ";
        insert += created_at;
        insert += " FROM orders WHERE merchant_uid = ";
        insert += quoted(uid);
        insert += ";\n";
        return insert;
    };
    sql += attempt("s-7", "unknown", "'2024-03-07 12:00+09'");
    sql += attempt("s-8", "unknown", "now() - interval '1 minute'");
    sql += attempt("s-9", "in_flight", "'2024-03-07 13:00+09'");
    sql += attempt("s-10", "succeeded", "'2024-03-07 14:00+09'");
    // Needs review and has a call of unknown outcome: both reasons.
    sql += insert_sql(OrderRow{.merchant_uid = "s-11",
                               .status = "needs_review",
                               .amount = 11000,
                               .updated_at = "2024-03-08 08:00+09"});
    sql += attempt("s-11", "unknown", "'2024-03-08 07:00+09'");
    seed(sql);

    EXPECT_EQ(rows("SELECT merchant_uid, status, amount, "
                   "to_char(since AT TIME ZONE 'Asia/Seoul', 'YYYY-MM-DD HH24:MI:SS'), reason "
                   "FROM reporting.stuck_orders ORDER BY merchant_uid, reason"),
              (std::vector<std::string>{
                  "s-1|needs_review|1000|2024-03-05 10:00:00|needs_review",
                  "s-11|needs_review|11000|2024-03-08 08:00:00|needs_review",
                  "s-11|needs_review|11000|2024-03-08 07:00:00|payment_outcome_unknown",
                  "s-2|needs_review|2000|2024-03-06 00:00:00|needs_review",
                  "s-3|awaiting_deposit|3000|2024-03-01 23:59:59|vbank_overdue",
                  "s-7|pending|7000|2024-03-07 12:00:00|payment_outcome_unknown",
                  "s-9|pending|7000|2024-03-07 13:00:00|payment_outcome_unknown",
              }));
}

TEST_F(Reporting, WebhookHealthCountsDeliveriesPerHourWithoutTheirBodies) {
    const auto delivery = [](const std::string& received_at, const std::string& state,
                             const std::string& outcome, int attempts,
                             const std::string& processing) {
        std::string sql =
            "INSERT INTO webhook_inbox (received_at, source_ip, body, imp_uid, state, outcome, "
            "attempts, processed_at) VALUES (";
        sql += quoted(received_at);
        sql += R"(, '52.78.100.19', '{"imp_uid":"imp_x","buyer":"홍길동"}', 'imp_x', )";
        sql += quoted(state);
        sql += ", ";
        sql += outcome.empty() ? "NULL" : quoted(outcome);
        sql += ", ";
        sql += std::to_string(attempts);
        sql += ", ";
        if (processing.empty()) {
            sql += "NULL";
        } else {
            sql += quoted(received_at);
            sql += "::timestamptz + interval ";
            sql += quoted(processing);
        }
        sql += ");\n";
        return sql;
    };
    std::string sql;
    sql += delivery("2024-03-01 10:05:00+09", "processed", "applied", 1, "200 ms");
    sql += delivery("2024-03-01 10:10:00+09", "processed", "needs_review", 1, "1500 ms");
    sql += delivery("2024-03-01 10:20:00+09", "processed", "unknown_order", 3, "4 s");
    sql += delivery("2024-03-01 10:30:00+09", "pending", "", 2, "");
    sql += delivery("2024-03-01 10:40:00+09", "failed", "", 60, "");
    sql += delivery("2024-03-01 10:59:59.999+09", "processed", "applied", 1, "100 ms");
    sql += delivery("2024-03-01 11:00:00+09", "processed", "unknown_payment", 1, "50 ms");
    sql += delivery("2024-03-01 11:30:00+09", "pending", "", 0, "");
    seed(sql);

    EXPECT_EQ(rows("SELECT to_char(hour AT TIME ZONE 'Asia/Seoul', 'YYYY-MM-DD HH24:MI'), "
                   "received, processed, pending, failed, needs_review, unmatched, retried, "
                   "p95_processing_ms, max_processing_ms "
                   "FROM reporting.webhook_health ORDER BY hour"),
              (std::vector<std::string>{"2024-03-01 10:00|6|4|1|1|1|1|3|4000|4000",
                                        "2024-03-01 11:00|2|1|1|0|0|1|0|50|50"}));
    EXPECT_EQ(rows("SELECT hour = '2024-03-01 01:00+00' FROM reporting.webhook_health "
                   "ORDER BY hour LIMIT 1"),
              std::vector<std::string>{"t"});
}

TEST_F(Reporting, NoViewShowsASecretOrRawData) {
    // Credentials, raw bodies and objects, free text, and contact data unless masked.
    EXPECT_EQ(rows("SELECT table_name, column_name FROM information_schema.columns "
                   "WHERE table_schema = 'reporting' AND column_name IN ('client_secret', "
                   "'key_hash', 'body', 'raw', 'source_ip', 'content_type', 'custom_data', "
                   "'request_hash', 'response_body', 'buyer_name', 'buyer_email', 'buyer_tel', "
                   "'buyer_addr', 'buyer_postcode', 'vbank_num', 'vbank_holder', 'receipt_url', "
                   "'cancel_reason', 'details', 'error_message', 'last_error')"),
              std::vector<std::string>{});
}

TEST_F(Reporting, MasksKeepTheShapeButNotThePerson) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        // mask_name: first and last character.
        {"mask_name('홍길동')", "홍*동"},
        {"mask_name('남궁민수')", "남**수"},
        {"mask_name('홍길')", "홍*"},
        {"mask_name('홍')", "*"},
        {"mask_name('')", ""},
        {"mask_name('Jane Doe')", "J******e"},
        {"mask_name(NULL)", "NULL"},
        // mask_phone: prefix and last four digits.
        {"mask_phone('010-1234-5678')", "010-****-5678"},
        {"mask_phone('01012345678')", "010****5678"},
        {"mask_phone('02-1234-5678')", "02-****-5678"},
        {"mask_phone('0212345678')", "02****5678"},
        {"mask_phone('031-123-4567')", "031-***-4567"},
        {"mask_phone('+82 10-1234-5678')", "+82 **-****-5678"},
        {"mask_phone('(02) 1234-5678')", "(02) ****-5678"},
        {"mask_phone('０１０１２３４５６７８')", "０１０****５６７８"},
        {"mask_phone('1234567')", "*******"},
        {"mask_phone('')", ""},
        {"mask_phone(NULL)", "NULL"},
        // mask_email: first character of the local part, the domain.
        {"mask_email('hong@example.com')", "h***@example.com"},
        {"mask_email('gildong.hong+shop@example.co.kr')", "g***@example.co.kr"},
        {"mask_email('홍길동@예시.한국')", "홍***@예시.한국"},
        {"mask_email('a@example.com')", "***@example.com"},
        {"mask_email('not-an-address')", "n***"},
        {"mask_email('')", ""},
        {"mask_email(NULL)", "NULL"},
        // mask_address: the first word.
        {"mask_address('서울특별시 강남구 테헤란로 123, 4층')", "서울특별시 ***"},
        {"mask_address('  경기도 성남시 분당구  ')", "경기도 ***"},
        {"mask_address('세종')", "***"},
        {"mask_address('')", ""},
        {"mask_address(NULL)", "NULL"},
        // mask_postcode: the first three characters.
        {"mask_postcode('06236')", "062**"},
        {"mask_postcode('135-080')", "135-***"},
        {"mask_postcode('062')", "***"},
        {"mask_postcode(NULL)", "NULL"},
        // mask_account: the last four digits.
        {"mask_account('56211102345678')", "**********5678"},
        {"mask_account('562-111-02345678')", "***-***-****5678"},
        {"mask_account('1234567')", "*******"},
        {"mask_account(NULL)", "NULL"},
    };
    pqxx::connection connection(url());
    pqxx::work txn(connection);
    for (const auto& [call, expected] : cases) {
        const auto result = txn.exec1("SELECT reporting." + call);
        EXPECT_EQ(result[0].is_null() ? "NULL" : result[0].as<std::string>(), expected) << call;
    }
    // Pure functions of their argument, safe for indexes and parallel plans.
    EXPECT_EQ(
        rows_of(txn,
                "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'reporting' AND (p.provolatile <> 'i' OR NOT p.proisstrict "
                "OR p.proparallel <> 's' OR p.prosecdef)"),
        std::vector<std::string>{"0"});
}

TEST_F(Reporting, OrdersAndPaymentsViewsMaskTheBuyer) {
    seed(
        "INSERT INTO orders (merchant_uid, name, amount, client_secret, buyer_name, buyer_email, "
        "buyer_tel, buyer_addr, buyer_postcode, custom_data) VALUES ('m-1', '원두 1kg', 32000, "
        "'cs-very-secret', '홍길동', 'gildong@example.com', '010-1234-5678', "
        "'서울특별시 강남구 테헤란로 123', '06236', '{\"memo\": \"문 앞에 놓아 주세요\"}');\n"
        "INSERT INTO orders (merchant_uid, name, amount, client_secret) VALUES ('m-2', 'x', 1, "
        "'cs-2');\n"
        "INSERT INTO payments (imp_uid, order_id, merchant_uid, status, pay_method, currency, "
        "amount, cancel_amount, vbank_code, vbank_name, vbank_num, vbank_holder, receipt_url, "
        "cancel_reason, raw) SELECT 'imp_m1', id, merchant_uid, 'paid', 'vbank', 'KRW', 32000, "
        "2000, '004', 'KB국민은행', '56211102345678', '홍길동', 'https://receipt.example/1', "
        "'홍길동 고객 요청', '{\"buyer_tel\": \"010-1234-5678\"}' FROM orders "
        "WHERE merchant_uid = 'm-1';\n");
    EXPECT_EQ(rows("SELECT column_name FROM information_schema.columns "
                   "WHERE table_schema = 'reporting' AND table_name = 'orders' "
                   "ORDER BY ordinal_position"),
              (std::vector<std::string>{"merchant_uid", "name", "amount", "currency", "status",
                                        "buyer_name_masked", "buyer_email_masked",
                                        "buyer_tel_masked", "buyer_addr_masked",
                                        "buyer_postcode_masked", "created_at", "updated_at"}));
    EXPECT_EQ(rows("SELECT merchant_uid, name, amount, currency, status, buyer_name_masked, "
                   "buyer_email_masked, buyer_tel_masked, buyer_addr_masked, "
                   "buyer_postcode_masked FROM reporting.orders ORDER BY merchant_uid"),
              (std::vector<std::string>{
                  "m-1|원두 1kg|32000|KRW|pending|홍*동|g***@example.com|010-****-5678|"
                  "서울특별시 ***|062**",
                  "m-2|x|1|KRW|pending|NULL|NULL|NULL|NULL|NULL"}));
    EXPECT_EQ(rows("SELECT imp_uid, merchant_uid, order_status, status, amount, cancel_amount, "
                   "net_amount, vbank_name, vbank_num_masked, vbank_holder_masked "
                   "FROM reporting.payments"),
              std::vector<std::string>{
                  "imp_m1|m-1|pending|paid|32000|2000|30000|KB국민은행|**********5678|홍*동"});
    // Nothing personal or secret anywhere in a row of either view.
    const auto whole_rows = rows(
        "SELECT row_to_json(o)::text FROM reporting.orders o UNION ALL "
        "SELECT row_to_json(p)::text FROM reporting.payments p");
    for (const auto& row : whole_rows) {
        for (const std::string secret :
             {"홍길동", "gildong", "1234-5678", "테헤란로", "06236", "cs-very-secret", "문 앞",
              "02345678", "receipt", "고객"}) {
            EXPECT_EQ(row.find(secret), std::string::npos) << secret << " in " << row;
        }
    }
}

TEST_F(Reporting, DashboardReaderReadsEveryViewAndNoTable) {
    seed_ledger();
    EXPECT_EQ(rows("SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolinherit "
                   "FROM pg_roles WHERE rolname = 'dashboard_reader'"),
              std::vector<std::string>{"f|f|f|f|t"});
    const auto tables = rows(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'S', 'p') ORDER BY 1");
    for (const std::string table :
         {"orders", "order_events", "api_keys", "idempotency_keys", "payments",
          "payment_cancellations", "payment_attempts", "webhook_inbox", "schema_migrations"}) {
        EXPECT_NE(std::find(tables.begin(), tables.end(), table), tables.end()) << table;
    }

    DashboardLogin login(admin_url());
    const auto connection = login.connect(url());
    for (const auto& view : kReportingViews) {
        pqxx::work txn(*connection);
        EXPECT_NO_THROW(txn.exec("SELECT * FROM reporting." + view)) << view;
    }
    {
        pqxx::work txn(*connection);
        EXPECT_EQ(rows_of(txn, "SELECT current_user"),
                  std::vector<std::string>{"dashboard_reader"});
        EXPECT_EQ(rows_of(txn, "SELECT count(*), sum(net) FROM reporting.daily_sales"),
                  std::vector<std::string>{"9|56500"});
    }
    for (const auto& table : tables) {
        std::string select = "SELECT * FROM public.";
        select += table;
        EXPECT_TRUE(refused(*connection, select)) << table;
    }
    EXPECT_TRUE(refused(*connection, "SELECT client_secret FROM public.orders"));
    EXPECT_TRUE(refused(*connection, "SELECT body FROM public.webhook_inbox"));
    EXPECT_TRUE(refused(*connection, "UPDATE public.orders SET status = 'paid'"));
    EXPECT_TRUE(refused(*connection, "CREATE TABLE public.dashboard_scratch (id int)"));
    EXPECT_TRUE(refused(*connection, "CREATE VIEW reporting.dashboard_scratch AS SELECT 1"));
    EXPECT_TRUE(refused(*connection, "DELETE FROM reporting.orders"));
}

TEST_F(Reporting, LaterViewsAreReadableWithoutAGrantOfTheirOwn) {
    seed(
        "CREATE VIEW reporting.later_view AS SELECT count(*) AS orders FROM public.orders;\n"
        "COMMENT ON VIEW reporting.later_view IS 'A view a later migration adds.';\n");
    DashboardLogin login(admin_url());
    const auto connection = login.connect(url());
    pqxx::work txn(*connection);
    EXPECT_EQ(rows_of(txn, "SELECT orders FROM reporting.later_view"),
              std::vector<std::string>{"0"});
}

TEST_F(Reporting, MigratingAgainOrAnotherDatabaseChangesNothing) {
    const auto again = migrate(url(), embedded_migrations());
    EXPECT_TRUE(again.applied.empty());
    EXPECT_EQ(again.schema_version, embedded_migrations().back().version);

    // The role exists already (this database made it, or another did): a second database of
    // the cluster migrates and grants all the same.
    mg::test::TestDatabase other;
    const auto report = migrate(other.url(), embedded_migrations());
    EXPECT_NE(std::find(report.applied.begin(), report.applied.end(), "0004_reporting.sql"),
              report.applied.end());
    EXPECT_EQ(
        rows_of(other.url(), "SELECT count(*) FROM pg_roles WHERE rolname = 'dashboard_reader'"),
        std::vector<std::string>{"1"});
    EXPECT_EQ(rows_of(other.url(),
                      "SELECT has_schema_privilege('dashboard_reader', 'reporting', 'USAGE'), "
                      "has_table_privilege('dashboard_reader', 'reporting.daily_sales', 'SELECT'), "
                      "has_table_privilege('dashboard_reader', 'public.orders', 'SELECT')"),
              std::vector<std::string>{"t|t|f"});
}

// A cluster of the test's own, for what the shared one can't show: a cluster where
// dashboard_reader does not exist yet.
class PrivateCluster {
  public:
    PrivateCluster() {
        static int counter = 0;
        std::string name = "mg-pg-reporting-";
        name += std::to_string(::getpid());
        name += '-';
        name += std::to_string(counter++);
        dir_ = (std::filesystem::temp_directory_path() / name).string();
        run("destroy");
        run("init");
        port_ = mg::test::free_port();
        run("start", std::to_string(port_));
    }
    ~PrivateCluster() { run("destroy", {}, false); }
    PrivateCluster(const PrivateCluster&) = delete;
    PrivateCluster& operator=(const PrivateCluster&) = delete;

    std::string url(const std::string& database = "postgres",
                    const std::string& user = "postgres") const {
        std::string url = "postgresql://";
        url += user;
        url += "@127.0.0.1:";
        url += std::to_string(port_);
        url += '/';
        url += database;
        return url;
    }
    void create_database(const std::string& name, const std::string& owner = "postgres") const {
        std::string create = "CREATE DATABASE ";
        create += name;
        create += " OWNER ";
        create += owner;
        execute_outside_transaction(url(), create);
    }

  private:
    void run(const std::string& command, const std::string& port = {}, bool must = true) const {
        std::string line = mg::test::kSourceDir;
        line += "/tests/support/pg-cluster ";
        line += command;
        line += ' ';
        line += dir_;
        if (!port.empty()) {
            line += ' ';
            line += port;
        }
        if (std::system(line.c_str()) != 0 && must) {
            throw std::runtime_error("failed: " + line);
        }
    }

    std::string dir_;
    unsigned short port_ = 0;
};

// Every migration before the one that creates the reporting schema (later ones build on it).
std::vector<Migration> migrations_before_reporting() {
    auto migrations = embedded_migrations();
    int reporting = 0;
    for (const auto& m : migrations) {
        if (m.name == "reporting") {
            reporting = m.version;
        }
    }
    std::erase_if(migrations, [&](const Migration& m) { return m.version >= reporting; });
    return migrations;
}

std::vector<Migration> migrations_after_reporting() {
    auto migrations = embedded_migrations();
    const auto before = migrations_before_reporting().size();
    migrations.erase(migrations.begin(),
                     migrations.begin() + static_cast<std::ptrdiff_t>(before + 1));
    return migrations;
}

std::string reporting_sql() {
    for (const auto& migration : embedded_migrations()) {
        if (migration.name == "reporting") {
            return migration.sql;
        }
    }
    throw std::runtime_error("no reporting migration");
}

// Whether a member of dashboard_reader reads every reporting view of `database_url` and none
// of its orders.
void expect_dashboard_reads(const PrivateCluster& cluster, const std::string& database_url) {
    DashboardLogin login(cluster.url());
    const auto connection = login.connect(database_url);
    for (const auto& view : kReportingViews) {
        pqxx::work txn(*connection);
        EXPECT_NO_THROW(txn.exec("SELECT * FROM reporting." + view)) << database_url << " " << view;
    }
    EXPECT_TRUE(refused(*connection, "SELECT * FROM public.orders")) << database_url;
}

TEST(ReportingRole, DatabasesMigratingAtOnceCreateTheRoleOnce) {
    PrivateCluster cluster;
    constexpr int kDatabases = 4;
    for (int i = 0; i < kDatabases; ++i) {
        cluster.create_database("shop" + std::to_string(i));
    }
    std::latch start(kDatabases);
    std::vector<std::string> errors(kDatabases);
    std::vector<std::thread> runners;
    for (int i = 0; i < kDatabases; ++i) {
        runners.emplace_back([&, i] {
            start.arrive_and_wait();
            try {
                migrate(cluster.url("shop" + std::to_string(i)), embedded_migrations());
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    }
    for (auto& runner : runners) {
        runner.join();
    }
    for (int i = 0; i < kDatabases; ++i) {
        EXPECT_EQ(errors[i], "") << i;
    }
    EXPECT_EQ(
        rows_of(cluster.url(),
                "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = 'dashboard_reader'"),
        std::vector<std::string>{"dashboard_reader|f"});
    for (int i = 0; i < kDatabases; ++i) {
        expect_dashboard_reads(cluster, cluster.url("shop" + std::to_string(i)));
    }
}

// The race made certain: one database's migration has created the role but not committed when
// another's tries to; the second waits on the role name, then finds it taken, and goes on.
TEST(ReportingRole, TheLoserOfTheRoleCreationRaceGoesOn) {
    PrivateCluster cluster;
    for (const std::string name : {"shop_a", "shop_b"}) {
        cluster.create_database(name);
        migrate(cluster.url(name), migrations_before_reporting());
    }
    pqxx::connection first(cluster.url("shop_a"));
    pqxx::connection second(cluster.url("shop_b"));
    const int second_pid = second.backendpid();

    pqxx::work first_txn(first);
    first_txn.exec(reporting_sql());  // holds the new role, uncommitted

    std::string second_error;
    std::thread second_migration([&] {
        try {
            pqxx::work txn(second);
            txn.exec(reporting_sql());
            txn.commit();
        } catch (const std::exception& e) {
            second_error = e.what();
        }
    });
    bool second_waits = false;
    for (int i = 0; i < 200 && !second_waits; ++i) {
        second_waits = rows_of(cluster.url(),
                               "SELECT wait_event_type FROM pg_stat_activity "
                               "WHERE pid = " +
                                   std::to_string(second_pid)) == std::vector<std::string>{"Lock"};
        if (!second_waits) {
            std::this_thread::sleep_for(50ms);
        }
    }
    EXPECT_TRUE(second_waits) << "the second migration never waited for the first's role";
    first_txn.commit();
    second_migration.join();
    EXPECT_EQ(second_error, "");

    EXPECT_EQ(
        rows_of(cluster.url(), "SELECT count(*) FROM pg_roles WHERE rolname = 'dashboard_reader'"),
        std::vector<std::string>{"1"});
    // The migrations after the reporting one, as the runner would apply them next.
    for (const std::string name : {"shop_a", "shop_b"}) {
        for (const auto& migration : migrations_after_reporting()) {
            execute(cluster.url(name), migration.sql);
        }
    }
    expect_dashboard_reads(cluster, cluster.url("shop_a"));
    expect_dashboard_reads(cluster, cluster.url("shop_b"));
}

// Collects the notices (warnings, hints) the server sends on a connection.
class Notices : public pqxx::errorhandler {
  public:
    explicit Notices(pqxx::connection_base& connection) : pqxx::errorhandler(connection) {}
    bool operator()(const char message[]) noexcept override {
        text += message;
        return true;
    }
    std::string text;
};

TEST(ReportingRole, AMigratingUserWithoutCreateroleWarnsAndGrantsOnceTheRoleExists) {
    PrivateCluster cluster;
    execute_outside_transaction(cluster.url(), "CREATE ROLE shop_owner LOGIN NOCREATEROLE");
    cluster.create_database("shop1", "shop_owner");
    cluster.create_database("shop2", "shop_owner");
    cluster.create_database("shop3", "shop_owner");

    // The migration succeeds; the role is left to an administrator.
    EXPECT_NO_THROW(migrate(cluster.url("shop1", "shop_owner"), embedded_migrations()));
    EXPECT_EQ(
        rows_of(cluster.url(), "SELECT count(*) FROM pg_roles WHERE rolname = 'dashboard_reader'"),
        std::vector<std::string>{"0"});
    EXPECT_EQ(rows_of(cluster.url("shop1"), "SELECT count(*) FROM reporting.daily_sales"),
              std::vector<std::string>{"0"});

    // What it tells the administrator, shown here on shop2's run of the same file.
    migrate(cluster.url("shop2", "shop_owner"), migrations_before_reporting());
    std::string warning;
    {
        pqxx::connection connection(cluster.url("shop2", "shop_owner"));
        Notices notices(connection);
        pqxx::work txn(connection);
        txn.exec(reporting_sql());
        warning = notices.text;
    }
    EXPECT_NE(warning.find("WARNING:  role dashboard_reader does not exist and shop_owner may not "
                           "create roles"),
              std::string::npos)
        << warning;
    EXPECT_NE(warning.find("HINT:  An administrator must run: CREATE ROLE dashboard_reader "
                           "NOLOGIN; then, connected to database shop2: GRANT USAGE"),
              std::string::npos)
        << warning;
    ASSERT_NE(warning.find("ALTER DEFAULT PRIVILEGES FOR ROLE shop_owner"), std::string::npos)
        << warning;

    // The administrator runs exactly what shop1's migration said (shop1 in place of shop2).
    std::string steps = warning.substr(warning.find("GRANT USAGE"));
    steps = steps.substr(0, steps.find('\n'));
    execute_outside_transaction(cluster.url(), "CREATE ROLE dashboard_reader NOLOGIN");
    execute(cluster.url("shop1"), steps);
    expect_dashboard_reads(cluster, cluster.url("shop1"));
    // ... which also covers views later migrations of shop_owner add.
    execute(cluster.url("shop1", "shop_owner"),
            "CREATE VIEW reporting.later_view AS SELECT 1 AS one");
    {
        DashboardLogin login(cluster.url());
        const auto connection = login.connect(cluster.url("shop1"));
        pqxx::work txn(*connection);
        EXPECT_EQ(rows_of(txn, "SELECT one FROM reporting.later_view"),
                  std::vector<std::string>{"1"});
    }

    // Once the role exists, the same user's migration grants by itself.
    migrate(cluster.url("shop3", "shop_owner"), embedded_migrations());
    expect_dashboard_reads(cluster, cluster.url("shop3"));
}

}  // namespace
}  // namespace mg::db::test
