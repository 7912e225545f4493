// Dashboards over a real day of business (SPEC §8): orders created, paid and refunded through
// the API against the iamport simulator; what the reporting views show to dashboard_reader
// must equal what the API itself reports about the same orders.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <pqxx/pqxx>
#include <random>
#include <thread>

#include "tests/e2e/gateway.hpp"
#include "tests/support/sim_process.hpp"

namespace mg::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// The shop's day (Asia/Seoul, UTC+9 all year) of a UNIX time, as YYYY-MM-DD.
std::string seoul_day(std::int64_t unix_seconds) {
    using namespace std::chrono;
    const sys_seconds instant{seconds{unix_seconds + 9 * 3600}};
    const year_month_day date{floor<days>(instant)};
    char text[32];
    std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
    return text;
}

using mg::test::rows_of;

std::vector<std::string> rows_of(pqxx::connection& connection, const std::string& sql) {
    pqxx::work txn(connection);
    return rows_of(txn, sql);
}

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

// A Grafana-like login: a role of its own in dashboard_reader, as README tells ops to create.
class DashboardSession {
  public:
    explicit DashboardSession(const std::string& database_url)
        : name_("mg_grafana_" + random_suffix()) {
        const char* admin_url = std::getenv("MG_TEST_PG_URL");
        if (admin_url == nullptr) {
            throw std::runtime_error("MG_TEST_PG_URL is not set (run under with-postgres)");
        }
        admin_url_ = admin_url;
        {
            pqxx::connection admin(admin_url_);
            pqxx::nontransaction txn(admin);
            std::string create = "CREATE ROLE ";
            create += name_;
            create += " LOGIN PASSWORD 'not-used-under-trust' IN ROLE dashboard_reader";
            txn.exec(create);
        }
        const auto authority = database_url.find("://") + 3;
        std::string url = database_url.substr(0, authority);
        url += name_;
        url += database_url.substr(database_url.find('@', authority));
        connection_ = std::make_unique<pqxx::connection>(url);
        pqxx::nontransaction txn(*connection_);
        txn.exec("SET ROLE dashboard_reader");
    }
    ~DashboardSession() {
        connection_.reset();
        try {
            pqxx::connection admin(admin_url_);
            pqxx::nontransaction txn(admin);
            txn.exec("DROP ROLE IF EXISTS " + name_);
        } catch (const std::exception& e) {
            ADD_FAILURE() << "cannot drop role " << name_ << ": " << e.what();
        }
    }
    DashboardSession(const DashboardSession&) = delete;
    DashboardSession& operator=(const DashboardSession&) = delete;

    std::vector<std::string> rows(const std::string& sql) { return rows_of(*connection_, sql); }
    pqxx::connection& connection() { return *connection_; }

  private:
    std::string admin_url_;
    std::string name_;
    std::unique_ptr<pqxx::connection> connection_;
};

class Reporting : public ::testing::Test {
  protected:
    void SetUp() override {
        sim_ = std::make_unique<SimProcess>();
        database_ = std::make_unique<TestDatabase>();
        const auto port = free_port();
        // notice_url is the gateway's own webhook route, so deposits arrive as iamport sends them.
        gateway_ = std::make_unique<Gateway>(
            database_->url(),
            Headers{{"IAMPORT_BASE_URL", sim_->base_url()},
                    {"IAMPORT_IMP_KEY", "sandbox_imp_key"},
                    {"IAMPORT_IMP_SECRET", "sandbox_imp_secret"},
                    {"IAMPORT_PG", "kcp"},
                    {"IAMPORT_TIMEOUT_MS", "2000"},
                    {"IAMPORT_CALL_TIMEOUT_MS", "4000"},
                    {"RECONCILE_INTERVAL", "1"},
                    {"LISTEN", "127.0.0.1:" + std::to_string(port)},
                    {"PUBLIC_BASE_URL", "http://127.0.0.1:" + std::to_string(port)}});
        key_ = gateway_->create_api_key("storefront", {"read", "write", "refund"});
    }

    Headers auth() const { return Gateway::bearer(key_); }

    void create(const std::string& uid, std::int64_t amount, json::object extra = {}) {
        extra["merchant_uid"] = uid;
        extra["name"] = "원두 1kg";
        extra["amount"] = amount;
        const auto response = gateway_->post_json("/v1/orders", extra, auth());
        ASSERT_EQ(response.status, 201) << response.body;
    }
    json::object act(const std::string& uid, const std::string& action, const json::value& body,
                     int expected_status = 200) {
        const auto response = gateway_->post_json("/v1/orders/" + uid + "/" + action, body, auth());
        EXPECT_EQ(response.status, expected_status)
            << uid << " " << action << ": " << response.body;
        return response.json().as_object();
    }
    json::object pay_benepia(const std::string& uid, const std::string& password = "Bnp-7731!",
                             int expected_status = 200) {
        return act(uid, "benepia-payment",
                   {{"benepia_user", "member01"}, {"benepia_password", password}}, expected_status);
    }
    std::string issue_vbank(const std::string& uid) {
        const auto order = act(uid, "vbank",
                               {{"vbank_code", "004"},
                                {"vbank_due", now_seconds() + 86400},
                                {"vbank_holder", "예시상점"}});
        EXPECT_EQ(order.at("status"), "awaiting_deposit");
        return std::string(order.at("payments").as_array()[0].at("imp_uid").as_string());
    }
    json::object order(const std::string& uid) {
        const auto response = gateway_->request("GET", "/v1/orders/" + uid, {}, auth());
        EXPECT_EQ(response.status, 200) << response.body;
        return response.json().as_object();
    }
    bool wait_for_status(const std::string& uid, const std::string& status) {
        const auto deadline = std::chrono::steady_clock::now() + 15s;
        while (std::chrono::steady_clock::now() < deadline) {
            if (order(uid).at("status") == status.c_str()) {
                return true;
            }
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }
    // Every order through GET /v1/orders, page by page.
    std::vector<json::object> list_orders() {
        std::vector<json::object> orders;
        std::string target = "/v1/orders?limit=3";
        for (int page = 0; page < 100; ++page) {
            const auto response = gateway_->request("GET", target, {}, auth());
            EXPECT_EQ(response.status, 200) << response.body;
            const auto body = response.json().as_object();
            for (const auto& item : body.at("data").as_array()) {
                orders.push_back(item.as_object());
            }
            if (body.at("next_cursor").is_null()) {
                break;
            }
            target = "/v1/orders?limit=3&cursor=";
            target += body.at("next_cursor").as_string();
        }
        return orders;
    }
    std::int64_t count_as_owner(const std::string& sql) { return database_->query_int(sql); }
    // Until every webhook iamport sent has been received and processed.
    std::size_t wait_for_webhooks_to_settle() {
        std::size_t delivered = 0;
        int stable_polls = 0;
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (std::chrono::steady_clock::now() < deadline && stable_polls < 10) {
            std::size_t now_delivered = 0;
            for (const auto& delivery : sim_->webhook_deliveries()) {
                if (delivery.at("http_status") == 200) {
                    ++now_delivered;
                }
            }
            const bool settled =
                now_delivered == delivered &&
                count_as_owner("SELECT count(*) FROM webhook_inbox WHERE state = 'pending'") == 0;
            stable_polls = settled ? stable_polls + 1 : 0;
            delivered = now_delivered;
            std::this_thread::sleep_for(150ms);
        }
        EXPECT_EQ(stable_polls, 10) << "webhooks still arriving or pending";
        return delivered;
    }

    std::unique_ptr<SimProcess> sim_;
    std::unique_ptr<TestDatabase> database_;
    std::unique_ptr<Gateway> gateway_;
    std::string key_;
};

TEST_F(Reporting, DashboardFiguresEqualWhatTheApiReports) {
    const json::object refund_account = {
        {"refund_holder", "김환불"}, {"refund_bank", "004"}, {"refund_account", "12345678901234"}};

    // Benepia points: refunded in two steps; refunded in part; kept; declined.
    create("r-bnp-1", 32000,
           {{"buyer_name", "홍길동"},
            {"buyer_email", "gildong@example.com"},
            {"buyer_tel", "010-1234-5678"},
            {"buyer_addr", "서울특별시 강남구 테헤란로 123"},
            {"buyer_postcode", "06236"}});
    pay_benepia("r-bnp-1");
    act("r-bnp-1", "cancel", {{"amount", 2000}, {"reason", "구성품 1개 반품"}});
    act("r-bnp-1", "cancel", {{"reason", "전체 취소"}});
    create("r-bnp-2", 15000);
    pay_benepia("r-bnp-2");
    act("r-bnp-2", "cancel", {{"amount", 5000}, {"reason", "부분 환불"}});
    create("r-bnp-3", 12000, {{"buyer_name", "남궁민수"}, {"buyer_tel", "01098765432"}});
    pay_benepia("r-bnp-3");
    create("r-bnp-4", 8000);
    pay_benepia("r-bnp-4", "wrong", 402);

    // Virtual accounts: a deposit found by sync, then refunded in part; a deposit announced by
    // iamport's webhook; an account still awaiting its deposit.
    create("r-vb-1", 50000);
    sim_->deposit(issue_vbank("r-vb-1"));
    EXPECT_EQ(act("r-vb-1", "sync", json::object{}).at("status"), "paid");
    json::object partial_vbank_refund = refund_account;
    partial_vbank_refund["amount"] = 10000;
    partial_vbank_refund["reason"] = "부분 환불";
    act("r-vb-1", "cancel", partial_vbank_refund);
    create("r-vb-2", 45000);
    sim_->deposit(issue_vbank("r-vb-2"));
    ASSERT_TRUE(wait_for_status("r-vb-2", "paid"));
    create("r-vb-3", 20000);
    issue_vbank("r-vb-3");

    // A card checkout in the browser, completed, then refunded in full; one with a tampered
    // amount (iamport took 100 won; the order needs review); an order never paid.
    create("r-card-1", 27000);
    const auto card = sim_->create_checkout_payment(
        {{"merchant_uid", "r-card-1"}, {"amount", 27000}, {"webhook", false}});
    EXPECT_EQ(act("r-card-1", "complete", {{"imp_uid", card.at("imp_uid")}}).at("status"), "paid");
    act("r-card-1", "cancel", {{"reason", "주문 취소"}});
    create("r-forged", 30000);
    const auto forged = sim_->create_checkout_payment(
        {{"merchant_uid", "r-forged"}, {"amount", 100}, {"webhook", false}});
    EXPECT_EQ(act("r-forged", "complete", {{"imp_uid", forged.at("imp_uid")}}).at("status"),
              "needs_review");
    create("r-pending", 9000);

    const auto webhooks_received = wait_for_webhooks_to_settle();

    // What the API reports: statuses and amounts from the list; payments and refunds from
    // each order.
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> by_status;
    struct DaySales {
        std::int64_t gross = 0, cancelled = 0, paid_count = 0, cancel_count = 0;
    };
    std::map<std::pair<std::string, std::string>, DaySales> sales;
    std::vector<std::string> payments;
    const auto listed = list_orders();
    ASSERT_EQ(listed.size(), 10u);
    for (const auto& item : listed) {
        auto& [count, amount] = by_status[std::string(item.at("status").as_string())];
        ++count;
        amount += item.at("amount").as_int64();

        const auto full = order(std::string(item.at("merchant_uid").as_string()));
        EXPECT_EQ(full.at("status"), item.at("status"));
        for (const auto& value : full.at("payments").as_array()) {
            const auto& payment = value.as_object();
            const std::string status(payment.at("status").as_string());
            const std::string method(payment.at("pay_method").as_string());
            const auto amount_paid = payment.at("amount").as_int64();
            const auto cancel_amount = payment.at("cancel_amount").as_int64();
            std::string line(payment.at("imp_uid").as_string());
            line += '|';
            line += status;
            line += '|';
            line += method;
            line += '|';
            line += std::to_string(amount_paid);
            line += '|';
            line += std::to_string(cancel_amount);
            payments.push_back(std::move(line));

            const auto paid_at = payment.at("paid_at").as_int64();
            if ((status != "paid" && status != "cancelled") || paid_at == 0) {
                continue;
            }
            auto& paid_day = sales[{seoul_day(paid_at), method}];
            paid_day.gross += amount_paid;
            ++paid_day.paid_count;
            std::int64_t refunded = 0;
            for (const auto& entry : payment.at("cancel_history").as_array()) {
                auto& refund_day = sales[{seoul_day(entry.at("cancelled_at").as_int64()), method}];
                refund_day.cancelled += entry.at("amount").as_int64();
                ++refund_day.cancel_count;
                refunded += entry.at("amount").as_int64();
            }
            EXPECT_EQ(refunded, cancel_amount) << "every refund has its history entry";
        }
    }
    std::vector<std::string> expected_sales;
    for (const auto& [key, day] : sales) {
        std::string line = key.first;
        line += '|';
        line += key.second;
        for (const auto number : {day.gross, day.cancelled, day.gross - day.cancelled,
                                  day.paid_count, day.cancel_count}) {
            line += '|';
            line += std::to_string(number);
        }
        expected_sales.push_back(std::move(line));
    }
    std::vector<std::string> expected_by_status;
    for (const std::string status : {"pending", "awaiting_deposit", "paid", "partially_cancelled",
                                     "cancelled", "expired", "needs_review"}) {
        const auto& [count, amount] = by_status[status];
        std::string line = status;
        line += '|';
        line += std::to_string(count);
        line += '|';
        line += std::to_string(amount);
        expected_by_status.push_back(std::move(line));
    }
    std::sort(payments.begin(), payments.end());

    // What a dashboard sees.
    DashboardSession dashboard(database_->url());
    EXPECT_EQ(dashboard.rows("SELECT day, pay_method, gross, cancelled, net, paid_count, "
                             "cancel_count FROM reporting.daily_sales ORDER BY day, pay_method"),
              expected_sales);
    EXPECT_EQ(dashboard.rows("SELECT status, orders, amount FROM reporting.orders_by_status"),
              expected_by_status);
    EXPECT_EQ(dashboard.rows("SELECT imp_uid, status, pay_method, amount, cancel_amount "
                             "FROM reporting.payments ORDER BY imp_uid"),
              payments);

    // The same day in plain figures, lest both sides agree on a mistake: taken 32000 + 15000 +
    // 12000 + 50000 + 45000 + 27000 + 100, refunded 32000 + 5000 + 10000 + 27000.
    EXPECT_EQ(dashboard.rows("SELECT sum(gross), sum(cancelled), sum(net), sum(paid_count), "
                             "sum(cancel_count) FROM reporting.daily_sales"),
              std::vector<std::string>{"181100|74000|107100|7|5"});
    EXPECT_EQ(dashboard.rows("SELECT status, orders, amount FROM reporting.orders_by_status "
                             "WHERE orders > 0"),
              (std::vector<std::string>{"pending|2|17000", "awaiting_deposit|1|20000",
                                        "paid|2|57000", "partially_cancelled|2|65000",
                                        "cancelled|2|59000", "needs_review|1|30000"}));

    // Only the tampered order is stuck; the open account is not due yet.
    EXPECT_EQ(dashboard.rows("SELECT merchant_uid, status, amount, reason "
                             "FROM reporting.stuck_orders"),
              std::vector<std::string>{"r-forged|needs_review|30000|needs_review"});

    // Buyer data as the API reports it, masked.
    const auto buyer = order("r-bnp-1");
    EXPECT_EQ(buyer.at("buyer_name"), "홍길동");
    EXPECT_EQ(dashboard.rows("SELECT merchant_uid, buyer_name_masked, buyer_email_masked, "
                             "buyer_tel_masked, buyer_addr_masked, buyer_postcode_masked "
                             "FROM reporting.orders WHERE buyer_name_masked IS NOT NULL "
                             "ORDER BY merchant_uid"),
              (std::vector<std::string>{
                  "r-bnp-1|홍*동|g***@example.com|010-****-5678|서울특별시 ***|062**",
                  "r-bnp-3|남**수|NULL|010****5432|NULL|NULL"}));

    // Every webhook iamport sent was received and processed, hour by hour.
    EXPECT_GT(webhooks_received, 0u);
    std::string all_processed = std::to_string(webhooks_received);
    all_processed += '|';
    all_processed += std::to_string(webhooks_received);
    all_processed += "|0|0";
    EXPECT_EQ(dashboard.rows("SELECT sum(received), sum(processed), sum(pending), sum(failed) "
                             "FROM reporting.webhook_health"),
              std::vector<std::string>{all_processed});

    // And the tables behind the views stay closed to the dashboard.
    for (const std::string table : {"orders", "payments", "api_keys", "webhook_inbox",
                                    "idempotency_keys", "payment_cancellations"}) {
        try {
            pqxx::work txn(dashboard.connection());
            txn.exec("SELECT * FROM public." + table);
            ADD_FAILURE() << "dashboard_reader read " << table;
        } catch (const pqxx::insufficient_privilege&) {
        }
    }
}

}  // namespace
}  // namespace mg::test
