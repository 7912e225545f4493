// Paying orders through the real binary against the iamport simulator (SPEC §4, §5): Benepia,
// virtual accounts, browser checkouts, cancels, sync — and never charging twice.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <thread>

#include "service/common/crypto.hpp"
#include "tests/e2e/payments_fixture.hpp"

namespace mg::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class Payments : public PaymentsTest {};

TEST_F(Payments, BenepiaApprovedPaysTheOrderOnce) {
    auto [uid, secret] = new_order("bnp-1");
    const auto paid = pay_benepia(uid);
    ASSERT_EQ(paid.status, 200) << paid.body;
    const auto body = paid.json().as_object();
    EXPECT_EQ(body.at("status"), "paid");
    ASSERT_EQ(body.at("payments").as_array().size(), 1u);
    const auto& payment = body.at("payments").as_array()[0].as_object();
    EXPECT_EQ(payment.at("status"), "paid");
    EXPECT_EQ(payment.at("amount").as_int64(), 32000);
    EXPECT_EQ(payment.at("pay_method"), "point");
    EXPECT_GT(payment.at("paid_at").as_int64(), 0);

    // What went to iamport: the order's amount and name, the channel, the notice_url.
    const auto sent = sim_->requests("POST /benepia/payment");
    ASSERT_EQ(sent.size(), 1u);
    const auto& sent_body = sent[0].at("body").as_object();
    EXPECT_EQ(sent_body.at("amount").as_int64(), 32000);
    EXPECT_EQ(sent_body.at("merchant_uid").as_string(), uid);
    EXPECT_EQ(sent_body.at("pg"), "kcp");

    const auto again = pay_benepia(uid);
    EXPECT_EQ(again.status, 409);
    EXPECT_EQ(code_of(again), "order_not_payable");
    EXPECT_EQ(sim_->count_requests("POST /benepia/payment"), 1u);
    EXPECT_EQ(status_of(uid), "paid");
}

TEST_F(Payments, BenepiaDeclinedIs402AndTheOrderStaysPayable) {
    auto [uid, secret] = new_order("bnp-2");
    // iamport refuses Benepia payments with HTTP 500 and a message: a decline, not an outage,
    // so a buyer mistyping a password again and again pauses nobody's payments.
    for (int i = 0; i < 4; ++i) {
        const auto declined = pay_benepia(uid, "wrong");
        ASSERT_EQ(declined.status, 402) << declined.body;
        EXPECT_EQ(code_of(declined), "payment_failed");
        EXPECT_NE(declined.json().at("error").at("message").as_string().find("베네피아"),
                  std::string::npos);
    }
    EXPECT_EQ(status_of(uid), "pending");

    const auto paid = pay_benepia(uid);
    ASSERT_EQ(paid.status, 200) << paid.body;
    EXPECT_EQ(paid.json().at("status"), "paid");
}

TEST_F(Payments, FiveDeclinesPauseTheOrderButNoOtherAndNotTheBreaker) {
    auto [uid, secret] = new_order("cap-1");
    for (int i = 0; i < 5; ++i) {
        ASSERT_EQ(pay_benepia(uid, "wrong").status, 402);
    }
    // The sixth is refused here, with when to come back; iamport never sees it.
    const auto capped = pay_benepia(uid);
    ASSERT_EQ(capped.status, 429) << capped.body;
    EXPECT_EQ(code_of(capped), "too_many_attempts");
    const auto retry_after = std::stoi(capped.header("Retry-After"));
    EXPECT_GT(retry_after, 14 * 60);
    EXPECT_LE(retry_after, 15 * 60);
    EXPECT_EQ(issue_vbank(uid).status, 429);
    EXPECT_EQ(sim_->count_requests("POST /benepia/payment"), 5u);
    // Five declines in a row opened no breaker: another order pays at once.
    auto [other, other_secret] = new_order("cap-2");
    EXPECT_EQ(pay_benepia(other).status, 200);
    // Once the declines are older than 15 minutes, the order is payable again.
    database_->query_int(
        "WITH moved AS (UPDATE payment_attempts SET updated_at = now() - interval '16 minutes' "
        "WHERE order_id = (SELECT id FROM orders WHERE merchant_uid = 'cap-1') RETURNING 1) "
        "SELECT count(*) FROM moved");
    EXPECT_EQ(pay_benepia(uid).status, 200);
}

TEST_F(Payments, BenepiaPasswordReachesIamportAndNothingElse) {
    auto [uid, secret] = new_order("bnp-3");
    ASSERT_EQ(pay_benepia(uid).status, 200);
    ASSERT_EQ(pay_benepia(uid).status, 409);
    auto [uid2, secret2] = new_order("bnp-4");
    const auto invalid =
        post(uid2, "benepia-payment", {{"benepia_user", ""}, {"benepia_password", kPassword}});
    EXPECT_EQ(invalid.status, 422);
    EXPECT_EQ(invalid.body.find(kPassword), std::string::npos);
    EXPECT_EQ(pay_benepia(uid2, "wrong").status, 402);

    EXPECT_EQ(gateway_->log().find(kPassword), std::string::npos);
    EXPECT_EQ(sim_->process().output().find(kPassword), std::string::npos);
    EXPECT_EQ(json::serialize(sim_->requests()).find(kPassword), std::string::npos);
    const auto out = dump();
    ASSERT_NE(out.find("bnp-3"), std::string::npos) << "the dump holds the data";
    EXPECT_EQ(out.find(kPassword), std::string::npos);
    EXPECT_EQ(out.find("Bnp-Secret"), std::string::npos);
}

TEST_F(Payments, TwoHundredBrowserGuessesMeetTheCapAndLearnNothing) {
    auto [uid, secret] = new_order("guess-1");
    const Headers browser{{"X-Client-Secret", secret}};
    int declined = 0;
    int limited = 0;
    for (int i = 0; i < 200; ++i) {
        const auto answer = pay_benepia(uid, i == 150 ? kPassword : "wrong", &browser);
        if (answer.status == 402) {
            ++declined;
            // One message for every decline: nothing tells a wrong password from no points.
            EXPECT_EQ(answer.json().at("error").at("message").as_string(),
                      "the payment was declined");
        } else {
            ASSERT_EQ(answer.status, 429) << answer.body;
            EXPECT_FALSE(answer.header("Retry-After").empty());
            ++limited;
        }
    }
    std::printf("200 guesses: %d declined by iamport, %d refused here\n", declined, limited);
    EXPECT_LE(declined, 5);
    EXPECT_EQ(declined + limited, 200);
    EXPECT_LE(sim_->count_requests("POST /benepia/payment"), 5u);
    EXPECT_EQ(status_of(uid), "pending");  // the right password, at guess 150, never got through
}

TEST_F(Payments, MadeUpImpUidsFromABrowserCostFewIamportReads) {
    auto [uid, secret] = new_order("reads-1");
    const Headers browser{{"X-Client-Secret", secret}};
    const auto started = std::chrono::steady_clock::now();
    int limited = 0;
    for (int i = 0; i < 500; ++i) {
        const auto answer =
            post(uid, "complete", {{"imp_uid", "imp_madeup_" + std::to_string(i)}}, browser);
        limited += answer.status == 429;
    }
    const auto seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const auto reads = sim_->count_requests("GET /payments/{imp_uid}");
    std::printf("500 made-up completes in %.1f s: %zu iamport reads, %d refused here\n", seconds,
                reads, limited);
    // The burst (20) and 5 a second after it, per order, secret and source.
    EXPECT_LE(static_cast<double>(reads), 20 + 5 * seconds + 2);
    EXPECT_GE(limited, 400);
}

TEST_F(Payments, ARefundRetriedUnderItsKeyAfterTheGatewayDiedIsMadeOnce) {
    auto [uid, secret] = new_order("retry-refund-1", 10000);
    ASSERT_EQ(pay_benepia(uid).status, 200);
    // iamport refunds at once but answers slowly; the gateway dies while it waits.
    sim_->set_fault({{"endpoint", "POST /payments/cancel"},
                     {"kind", "slow_answer"},
                     {"latency_ms", 3000},
                     {"count", 1}});
    auto headers = auth();
    headers.emplace_back("Idempotency-Key", "refund-3000");
    const json::value body{{"amount", 3000}, {"reason", "부분 환불"}};
    std::thread first([&] {
        try {
            post(uid, "cancel", body, headers);
        } catch (const std::exception&) {
            // the connection dies with the gateway: no answer, as a storefront would see it
        }
    });
    for (int i = 0; i < 100 && sim_->count_requests("POST /payments/cancel") == 0; ++i) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(sim_->count_requests("POST /payments/cancel"), 1u);
    gateway_->process().kill_now();
    first.join();
    // The gateway is started again; another refund waits while the dead request's call is
    // unsettled, then — past its settle window, made to pass here — a sync settles it from
    // iamport's record.
    gateway_ = std::make_unique<Gateway>(database_->url(), extra_env());
    auto other = auth();
    other.emplace_back("Idempotency-Key", "refund-3000-second");
    EXPECT_EQ(post(uid, "cancel", body, other).status, 409);
    database_->query_int(
        "WITH aged AS (UPDATE payment_attempts SET created_at = now() - interval '1 minute' "
        "WHERE state = 'in_flight' RETURNING 1) SELECT count(*) FROM aged");
    const auto synced = post(uid, "sync", json::object{});
    ASSERT_EQ(synced.status, 200) << synced.body;
    EXPECT_EQ(synced.json().at("status"), "partially_cancelled");
    // The dead request's claim lapses (as it does after a minute) and the storefront retries the
    // same request with the same key: the answer is what the first call did, nothing is sent.
    database_->query_int(
        "WITH lapsed AS (UPDATE idempotency_keys SET locked_until = now() - interval '1 second' "
        "WHERE key = 'refund-3000' RETURNING 1) SELECT count(*) FROM lapsed");
    const auto retried = post(uid, "cancel", body, headers);
    EXPECT_EQ(retried.status, 200) << retried.body;
    EXPECT_EQ(retried.json().at("payments").as_array()[0].at("cancel_amount").as_int64(), 3000);
    EXPECT_EQ(sim_->count_requests("POST /payments/cancel"), 1u);
    // A refund asked for anew, under a new key, is made.
    auto again = auth();
    again.emplace_back("Idempotency-Key", "refund-3000-third");
    const auto second = post(uid, "cancel", body, again);
    EXPECT_EQ(second.status, 200) << second.body;
    EXPECT_EQ(sim_->count_requests("POST /payments/cancel"), 2u);
}

TEST_F(Payments, ADumpHoldsNothingFromWhichAPasswordOrClientSecretCanBeRecovered) {
    // The create's answer (with the client secret) and a declined Benepia call (its body holds
    // the password) are both stored for replay under their Idempotency-Keys.
    auto create_headers = auth();
    create_headers.emplace_back("Idempotency-Key", "create-dump-1");
    const auto created = create_order(
        {{"merchant_uid", "dump-1"}, {"name", "원두 1kg"}, {"amount", 32000}}, create_headers);
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string secret(created.json().at("client_secret").as_string());
    const std::string password = "wrong";  // the simulator declines it
    auto pay_headers = auth();
    pay_headers.emplace_back("Idempotency-Key", "pay-dump-1");
    const json::value body{{"benepia_user", "member01"}, {"benepia_password", password}};
    ASSERT_EQ(post("dump-1", "benepia-payment", body, pay_headers).status, 402);
    // Both replay as they were answered.
    const auto replayed = create_order(
        {{"merchant_uid", "dump-1"}, {"name", "원두 1kg"}, {"amount", 32000}}, create_headers);
    EXPECT_EQ(replayed.status, 201);
    EXPECT_EQ(replayed.header("Idempotent-Replayed"), "true");
    EXPECT_EQ(replayed.json().at("client_secret").as_string(), secret);
    EXPECT_EQ(post("dump-1", "benepia-payment", body, pay_headers).status, 402);
    EXPECT_EQ(sim_->count_requests("POST /benepia/payment"), 1u);

    const auto out = dump();
    ASSERT_NE(out.find("dump-1"), std::string::npos) << "the dump holds the data";
    EXPECT_EQ(out.find(secret), std::string::npos) << "a client secret in the clear";
    // An attacker with the dump tries 10,001 passwords (the right one among them) against an
    // unkeyed hash of the body, as the fingerprint once was: nothing in the dump matches.
    int matches = 0;
    for (int pin = 0; pin <= 10000; ++pin) {
        char guess[16];
        std::snprintf(guess, sizeof guess, "pw-%04d", pin);
        const json::value candidate{
            {"benepia_user", "member01"},
            {"benepia_password", pin == 10000 ? password : std::string(guess)}};
        const auto text = "POST /v1/orders/dump-1/benepia-payment\n" + json::serialize(candidate);
        matches += out.find(crypto::sha256_hex(text)) != std::string::npos;
    }
    EXPECT_EQ(matches, 0);
    // With the browser's secret, the order still opens.
    const auto read =
        gateway_->request("GET", "/v1/orders/dump-1", {}, {{"X-Client-Secret", secret}});
    EXPECT_EQ(read.status, 200) << read.body;
}

TEST_F(Payments, ABrowserWithAJunkSecretStoresNothing) {
    new_order("junk-1");
    for (int i = 0; i < 8; ++i) {  // (20 per source address at once: the browser budget)
        const Headers junk{{"X-Client-Secret", "cs_junk_" + std::to_string(i)},
                           {"Idempotency-Key", "junk-key-" + std::to_string(i)}};
        EXPECT_EQ(pay_benepia("junk-1", kPassword, &junk).status, 401);
        EXPECT_EQ(pay_benepia("no-such-order-" + std::to_string(i), kPassword, &junk).status, 401);
    }
    // An API key on an order that does not exist: 404, and nothing kept either.
    auto headers = auth();
    headers.emplace_back("Idempotency-Key", "missing-order");
    EXPECT_EQ(pay_benepia("no-such-order", kPassword, &headers).status, 404);
    EXPECT_EQ(database_->query_int("SELECT count(*) FROM idempotency_keys"), 0);
    EXPECT_EQ(sim_->count_requests("POST /benepia/payment"), 0u);
}

TEST_F(Payments, VbankIssueUpdateThenDepositAndSync) {
    auto [uid, secret] = new_order("vb-1");
    const auto issued = issue_vbank(uid);
    ASSERT_EQ(issued.status, 200) << issued.body;
    EXPECT_EQ(issued.json().at("status"), "awaiting_deposit");
    const auto vbank = issued.json().at("payments").as_array()[0].as_object();
    EXPECT_EQ(vbank.at("status"), "ready");
    EXPECT_EQ(vbank.at("vbank_code"), "004");
    EXPECT_FALSE(vbank.at("vbank_num").as_string().empty());
    EXPECT_EQ(vbank.at("vbank_holder"), "예시상점");
    EXPECT_GT(vbank.at("vbank_date").as_int64(), now_seconds());
    const std::string imp_uid(vbank.at("imp_uid").as_string());

    const auto due = now_seconds() + 2 * 86400;
    const auto updated =
        gateway_->request("PATCH", "/v1/orders/" + uid + "/vbank",
                          json::serialize(json::value{{"amount", 30000}, {"vbank_due", due}}), [&] {
                              auto h = auth();
                              h.emplace_back("Content-Type", "application/json");
                              return h;
                          }());
    ASSERT_EQ(updated.status, 200) << updated.body;
    EXPECT_EQ(updated.json().at("amount").as_int64(), 30000);
    EXPECT_EQ(updated.json().at("payments").as_array()[0].at("amount").as_int64(), 30000);
    EXPECT_EQ(updated.json().at("payments").as_array()[0].at("vbank_date").as_int64(), due);
    EXPECT_EQ(updated.json().at("status"), "awaiting_deposit");

    sim_->deposit(imp_uid);
    const auto synced = post(uid, "sync", json::object{});
    ASSERT_EQ(synced.status, 200) << synced.body;
    EXPECT_EQ(synced.json().at("status"), "paid");
    EXPECT_EQ(synced.json().at("payments").as_array()[0].at("status"), "paid");

    // Deposited: the account can no longer change.
    auto headers = auth();
    headers.emplace_back("Content-Type", "application/json");
    const auto refused =
        gateway_->request("PATCH", "/v1/orders/" + uid + "/vbank", R"({"amount":1000})", headers);
    EXPECT_EQ(refused.status, 409);
    EXPECT_EQ(code_of(refused), "order_not_updatable");
    EXPECT_EQ(sim_->count_requests("PUT /vbanks/{imp_uid}"), 1u);
    EXPECT_EQ(order(uid).at("amount").as_int64(), 30000);
}

TEST_F(Payments, VbankValidation) {
    auto [uid, secret] = new_order("vb-2");
    auto response = post(uid, "vbank", {{"vbank_code", "004"}, {"vbank_due", now_seconds() - 5}});
    EXPECT_EQ(response.status, 422);
    EXPECT_EQ(response.json().at("error").at("field"), "vbank_due");
    response = post(uid, "vbank", {{"vbank_code", "4"}, {"vbank_due", now_seconds() + 600}});
    EXPECT_EQ(response.status, 422);
    EXPECT_EQ(response.json().at("error").at("field"), "vbank_code");
    response = post(uid, "vbank",
                    {{"vbank_code", "004"}, {"vbank_due", now_seconds() + 600}, {"extra", 1}});
    EXPECT_EQ(response.status, 422);
    response = post(uid, "vbank",
                    {{"vbank_code", "004"},
                     {"vbank_due", now_seconds() + 600},
                     {"vbank_holder", "가나다라마바사아자차카타파하가나다"}});
    EXPECT_EQ(response.status, 422);
    EXPECT_EQ(response.json().at("error").at("field"), "vbank_holder");
    EXPECT_EQ(sim_->count_requests("POST /vbanks"), 0u);
    EXPECT_EQ(status_of(uid), "pending");

    auto headers = auth();
    headers.emplace_back("Content-Type", "application/json");
    const auto not_issued =
        gateway_->request("PATCH", "/v1/orders/" + uid + "/vbank", R"({"amount":1000})", headers);
    EXPECT_EQ(not_issued.status, 409);
    const auto empty = gateway_->request("PATCH", "/v1/orders/" + uid + "/vbank", "{}", headers);
    EXPECT_EQ(empty.status, 422);
}

TEST_F(Payments, CheckoutWithTheRightAmountIsPaid) {
    auto [uid, secret] = new_order("co-1");
    const auto payment = sim_->create_checkout_payment(
        {{"merchant_uid", uid}, {"amount", 32000}, {"webhook", false}});
    const auto completed =
        post(uid, "complete", {{"imp_uid", payment.at("imp_uid")}}, {{"X-Client-Secret", secret}});
    ASSERT_EQ(completed.status, 200) << completed.body;
    EXPECT_EQ(completed.json().at("status"), "paid");
    EXPECT_FALSE(completed.json().as_object().contains("client_secret"));
    // Completing again is harmless.
    const auto again = post(uid, "complete", {{"imp_uid", payment.at("imp_uid")}});
    EXPECT_EQ(again.status, 200);
    EXPECT_EQ(again.json().at("status"), "paid");
}

TEST_F(Payments, CheckoutWithATamperedAmountNeedsReviewNeverPaid) {
    auto [uid, secret] = new_order("co-2");
    const auto payment =
        sim_->create_checkout_payment({{"merchant_uid", uid}, {"amount", 100}, {"webhook", false}});
    const auto completed =
        post(uid, "complete", {{"imp_uid", payment.at("imp_uid")}}, {{"X-Client-Secret", secret}});
    ASSERT_EQ(completed.status, 200) << completed.body;
    EXPECT_EQ(completed.json().at("status"), "needs_review");
    EXPECT_NE(gateway_->log().find("needs review"), std::string::npos);
    // Nothing makes it paid afterwards.
    EXPECT_EQ(post(uid, "sync", json::object{}).json().at("status"), "needs_review");
    EXPECT_EQ(pay_benepia(uid).status, 409);
}

TEST_F(Payments, CheckoutOfAnotherOrderIsNotBelieved) {
    auto [uid, secret] = new_order("co-3");
    auto [other, other_secret] = new_order("co-4");
    const auto payment = sim_->create_checkout_payment(
        {{"merchant_uid", other}, {"amount", 32000}, {"webhook", false}});
    const auto completed =
        post(uid, "complete", {{"imp_uid", payment.at("imp_uid")}}, {{"X-Client-Secret", secret}});
    ASSERT_EQ(completed.status, 200) << completed.body;
    EXPECT_EQ(completed.json().at("status"), "needs_review");
    EXPECT_TRUE(completed.json().at("payments").as_array().empty());
    EXPECT_EQ(status_of(other), "pending");

    const auto unknown = post(other, "complete", {{"imp_uid", "imp_does_not_exist"}});
    EXPECT_EQ(unknown.status, 422);
    EXPECT_EQ(code_of(unknown), "payment_not_found");
    EXPECT_EQ(status_of(other), "pending");
}

TEST_F(Payments, CancelPartlyThenTheRest) {
    auto [uid, secret] = new_order("cx-1");
    ASSERT_EQ(pay_benepia(uid).status, 200);

    const auto partial = post(uid, "cancel", {{"amount", 2000}, {"reason", "구성품 1개 반품"}});
    ASSERT_EQ(partial.status, 200) << partial.body;
    EXPECT_EQ(partial.json().at("status"), "partially_cancelled");
    const auto payment = partial.json().at("payments").as_array()[0];
    EXPECT_EQ(payment.at("cancel_amount").as_int64(), 2000);
    EXPECT_EQ(payment.at("cancel_history").as_array().size(), 1u);
    const auto sent = sim_->requests("POST /payments/cancel");
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].at("body").at("checksum").as_int64(), 32000);

    const auto over = post(uid, "cancel", {{"amount", 40000}, {"reason", "too much"}});
    EXPECT_EQ(over.status, 422);
    EXPECT_EQ(code_of(over), "amount_exceeds_balance");
    EXPECT_EQ(sim_->count_requests("POST /payments/cancel"), 1u);

    const auto rest = post(uid, "cancel", {{"reason", "전체 취소"}});
    ASSERT_EQ(rest.status, 200) << rest.body;
    EXPECT_EQ(rest.json().at("status"), "cancelled");
    EXPECT_EQ(rest.json().at("payments").as_array()[0].at("cancel_amount").as_int64(), 32000);
    EXPECT_EQ(sim_->requests("POST /payments/cancel")[1].at("body").at("checksum").as_int64(),
              30000);

    const auto nothing_left = post(uid, "cancel", {{"reason", "again"}});
    EXPECT_EQ(nothing_left.status, 409);
    EXPECT_EQ(code_of(nothing_left), "order_not_cancellable");
}

TEST_F(Payments, CancelNeedsTheRefundScopeAndAPaidOrder) {
    auto [uid, secret] = new_order("cx-2");
    const auto writer = gateway_->create_api_key("writer", {"read", "write"});
    auto response = post(uid, "cancel", {{"reason", "x"}}, Gateway::bearer(writer));
    EXPECT_EQ(response.status, 403);
    response = post(uid, "cancel", {{"reason", "x"}});
    EXPECT_EQ(response.status, 409);
    EXPECT_EQ(code_of(response), "order_not_cancellable");
    response = post(uid, "cancel", json::object{});
    EXPECT_EQ(response.status, 422);
    EXPECT_EQ(response.json().at("error").at("field"), "reason");
    EXPECT_EQ(sim_->count_requests("POST /payments/cancel"), 0u);
}

TEST_F(Payments, ABalanceChangedElsewhereIsCaughtByTheChecksum) {
    auto [uid, secret] = new_order("cx-3");
    const auto paid = pay_benepia(uid);
    ASSERT_EQ(paid.status, 200);
    const std::string imp_uid(paid.json().at("payments").as_array()[0].at("imp_uid").as_string());
    // Someone refunds 5,000 in iamport's console: our record still says 32,000 remain.
    const auto console = http_request(
        "127.0.0.1", sim_->port(), "POST", "/payments/cancel",
        json::serialize(json::value{{"imp_uid", imp_uid}, {"amount", 5000}, {"reason", "console"}}),
        {{"Authorization", sim_token()}, {"Content-Type", "application/json"}});
    ASSERT_EQ(console.status, 200) << console.body;
    ASSERT_EQ(console.json().at("code").as_int64(), 0) << console.body;

    const auto refused = post(uid, "cancel", {{"amount", 30000}, {"reason", "return"}});
    EXPECT_EQ(refused.status, 409) << refused.body;
    EXPECT_EQ(code_of(refused), "balance_changed");
    // The order now tells iamport's truth, and the real balance can be refunded.
    const auto now = order(uid);
    EXPECT_EQ(now.at("status"), "partially_cancelled");
    EXPECT_EQ(now.at("payments").as_array()[0].at("cancel_amount").as_int64(), 5000);
    const auto rest = post(uid, "cancel", {{"amount", 27000}, {"reason", "return"}});
    ASSERT_EQ(rest.status, 200) << rest.body;
    EXPECT_EQ(rest.json().at("status"), "cancelled");
}

TEST_F(Payments, TwentyConcurrentPayCallsReachIamportOnce) {
    auto [uid, secret] = new_order("cc-1");
    sim_->set_fault({{"endpoint", "POST /benepia/payment"},
                     {"kind", "latency"},
                     {"latency_ms", 300},
                     {"count", 20}});
    std::vector<int> statuses(20);
    std::vector<std::thread> threads;
    for (int i = 0; i < 20; ++i) {
        threads.emplace_back([&, i] { statuses[i] = pay_benepia(uid).status; });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200), 1);
    EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 409), 19);
    EXPECT_EQ(sim_->count_requests("POST /benepia/payment"), 1u);
    EXPECT_EQ(status_of(uid), "paid");
}

TEST_F(Payments, ABrowserPaysItsOwnOrderAndTouchesNoOther) {
    auto [uid, secret] = new_order("br-1");
    auto [other, other_secret] = new_order("br-2");
    const Headers browser{{"X-Client-Secret", secret}};

    auto response = pay_benepia(other, kPassword, &browser);
    EXPECT_EQ(response.status, 401);
    response = issue_vbank(other, &browser);
    EXPECT_EQ(response.status, 401);
    EXPECT_EQ(sim_->count_requests("POST /benepia/payment"), 0u);
    EXPECT_EQ(sim_->count_requests("POST /vbanks"), 0u);

    response = issue_vbank(uid, &browser);
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.json().at("status"), "awaiting_deposit");
    EXPECT_FALSE(response.json().as_object().contains("client_secret"));

    // Never for a browser: amount changes, refunds, sync.
    auto json_browser = browser;
    json_browser.emplace_back("Content-Type", "application/json");
    response =
        gateway_->request("PATCH", "/v1/orders/" + uid + "/vbank", R"({"amount":1})", json_browser);
    EXPECT_EQ(response.status, 401);
    response = post(uid, "cancel", {{"reason", "x"}}, browser);
    EXPECT_EQ(response.status, 401);
    response = post(uid, "sync", json::object{}, browser);
    EXPECT_EQ(response.status, 401);
    EXPECT_EQ(status_of(other), "pending");
    EXPECT_EQ(order(uid).at("amount").as_int64(), 32000);
}

TEST_F(Payments, ALostAnswerIs202ThenSettledBySync) {
    auto [uid, secret] = new_order("lost-1");
    // iamport charges, then the connection drops before its answer arrives.
    sim_->set_fault({{"endpoint", "POST /benepia/payment"}, {"kind", "drop"}, {"count", 1}});
    const auto unknown = pay_benepia(uid);
    ASSERT_EQ(unknown.status, 202) << unknown.body;
    EXPECT_EQ(unknown.json().at("status"), "pending");

    // Not retried blindly: the order is blocked until the outcome is known.
    const auto again = pay_benepia(uid);
    EXPECT_EQ(again.status, 409);
    EXPECT_EQ(sim_->count_requests("POST /benepia/payment"), 1u);

    expect_sync_settles_as_paid_with_one_charge(uid);
}

TEST_F(Payments, AProxyErrorAfterTheChargeIsUnknownAndNeverChargesTwice) {
    auto [uid, secret] = new_order("proxy-1");
    // iamport charges; the edge proxy in front of it answers 502 with an HTML page.
    sim_->set_fault({{"endpoint", "POST /benepia/payment"}, {"kind", "proxy_error"}, {"count", 1}});
    const auto unknown = pay_benepia(uid);
    ASSERT_EQ(unknown.status, 202) << unknown.body;
    EXPECT_EQ(unknown.json().at("status"), "pending");

    // The storefront retries, with or without the same key: nothing is sent again.
    EXPECT_EQ(pay_benepia(uid).status, 409);
    const auto browser = Headers{{"X-Client-Secret", secret}};
    EXPECT_EQ(pay_benepia(uid, kPassword, &browser).status, 409);
    EXPECT_EQ(sim_->count_requests("POST /benepia/payment"), 1u);

    expect_sync_settles_as_paid_with_one_charge(uid);
}

TEST_F(Payments, AnUnreadableAnswerToACancelIsUnknown) {
    auto [uid, secret] = new_order("proxy-2", 9000);
    ASSERT_EQ(pay_benepia(uid).status, 200);
    sim_->set_fault({{"endpoint", "POST /payments/cancel"},
                     {"kind", "proxy_error"},
                     {"status", 504},
                     {"count", 1}});
    const auto unknown = post(uid, "cancel", {{"amount", 4000}, {"reason", "부분 환불"}});
    ASSERT_EQ(unknown.status, 202) << unknown.body;
    EXPECT_EQ(unknown.json().at("status"), "paid");
    // A second cancel can not go out while the first one's outcome is unknown.
    const auto again = post(uid, "cancel", {{"amount", 4000}, {"reason", "부분 환불"}});
    EXPECT_EQ(again.status, 409) << again.body;
    EXPECT_EQ(sim_->count_requests("POST /payments/cancel"), 1u);

    const auto synced = post(uid, "sync", json::object{});
    ASSERT_EQ(synced.status, 200) << synced.body;
    EXPECT_EQ(synced.json().at("status"), "partially_cancelled");
    const auto answer = synced.json();
    EXPECT_EQ(answer.at("payments").as_array().at(0).at("cancel_amount"), 4000);
}

TEST_F(Payments, AnUnknownAttemptIsNotSettledByAnotherPaymentOfTheOrder) {
    auto [uid, secret] = new_order("own-1", 15000);
    // A buyer's earlier card checkout of this order failed at iamport.
    sim_->create_checkout_payment({{"merchant_uid", uid},
                                   {"amount", 15000},
                                   {"status", "failed"},
                                   {"pay_method", "card"},
                                   {"webhook", false}});
    // The Benepia call outlives the client's timeout; iamport completes it a while later.
    sim_->set_fault({{"endpoint", "POST /benepia/payment"},
                     {"kind", "latency"},
                     {"latency_ms", 5000},
                     {"count", 1}});
    const auto started = std::chrono::steady_clock::now();
    const auto unknown = pay_benepia(uid);
    ASSERT_EQ(unknown.status, 202) << unknown.body;

    // iamport's newest payment for the order is still the failed checkout: it is not this
    // call's, so the order stays blocked.
    const auto early = post(uid, "sync", json::object{});
    ASSERT_EQ(early.status, 200) << early.body;
    EXPECT_EQ(early.json().at("status"), "pending");
    EXPECT_EQ(pay_benepia(uid).status, 409);

    std::this_thread::sleep_until(started + std::chrono::milliseconds(5500));
    const auto settled = post(uid, "sync", json::object{});
    ASSERT_EQ(settled.status, 200) << settled.body;
    EXPECT_EQ(settled.json().at("status"), "paid");
    EXPECT_EQ(pay_benepia(uid).status, 409);
    EXPECT_EQ(sim_->count_requests("POST /benepia/payment"), 1u);
}

TEST_F(Payments, IamportFailuresMapToTheirCodesAndChargeNothing) {
    auto [uid, secret] = new_order("fail-1");
    sim_->set_fault({{"endpoint", "POST /benepia/payment"},
                     {"kind", "http_error"},
                     {"status", 502},
                     {"count", 1}});
    // A 502 that carries iamport's own envelope with code ≠ 0 is iamport refusing.
    auto response = pay_benepia(uid);
    EXPECT_EQ(response.status, 402) << response.body;
    EXPECT_EQ(code_of(response), "payment_failed");
    EXPECT_EQ(status_of(uid), "pending");

    sim_->set_fault({{"endpoint", "POST /benepia/payment"},
                     {"kind", "code"},
                     {"code", 1},
                     {"message", "포인트 잔액이 부족합니다"},
                     {"count", 1}});
    response = pay_benepia(uid);
    EXPECT_EQ(response.status, 402);
    EXPECT_EQ(response.json().at("error").at("message"), "포인트 잔액이 부족합니다");

    // Still payable after failures that charged nothing.
    response = pay_benepia(uid);
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.json().at("status"), "paid");
}

TEST_F(Payments, ATimeoutBeforeSendingIs504AndNothingIsCharged) {
    auto [uid, secret] = new_order("slow-1");
    // The access token never comes in time: the payment call itself is never sent.
    sim_->set_fault({{"endpoint", "POST /users/getToken"},
                     {"kind", "latency"},
                     {"latency_ms", 5000},
                     {"count", 1}});
    const auto response = pay_benepia(uid);
    EXPECT_EQ(response.status, 504) << response.body;
    EXPECT_EQ(code_of(response), "iamport_timeout");
    EXPECT_EQ(sim_->count_requests("POST /benepia/payment"), 0u);
    EXPECT_EQ(status_of(uid), "pending");
}

TEST_F(Payments, TheBreakerFailsPayCallsFastWhileIamportIsDown) {
    // Five calls whose answers are an edge proxy's 503 page: each of unknown outcome (so each
    // on an order of its own), and together enough to open the breaker.
    sim_->set_fault({{"endpoint", "POST /benepia/payment"},
                     {"kind", "proxy_error"},
                     {"status", 503},
                     {"count", 100}});
    for (int i = 0; i < 5; ++i) {
        auto [unknown_uid, unknown_secret] = new_order("down-unknown-" + std::to_string(i));
        EXPECT_EQ(pay_benepia(unknown_uid).status, 202);
    }
    auto [uid, secret] = new_order("down-1");
    auto fastest = std::chrono::steady_clock::duration::max();
    for (int i = 0; i < 3; ++i) {
        const auto started = std::chrono::steady_clock::now();
        const auto response = pay_benepia(uid);
        const auto took = std::chrono::steady_clock::now() - started;
        fastest = std::min(fastest, took);
        EXPECT_EQ(response.status, 503) << response.body;
        EXPECT_EQ(code_of(response), "iamport_unavailable");
        EXPECT_FALSE(response.header("Retry-After").empty());
        EXPECT_LT(took, std::chrono::milliseconds(500));
    }
    // Connection, authentication and the answer included (sanitized builds are slower).
    EXPECT_LT(fastest, std::chrono::milliseconds(50));
    EXPECT_EQ(sim_->count_requests("POST /benepia/payment"), 5u);
    // Reads keep working.
    EXPECT_EQ(status_of(uid), "pending");
}

TEST_F(Payments, IdempotentPayReplaysWithoutASecondCall) {
    auto [uid, secret] = new_order("idem-1");
    auto headers = auth();
    headers.emplace_back("Idempotency-Key", "pay-1");
    const auto first = pay_benepia(uid, kPassword, &headers);
    ASSERT_EQ(first.status, 200);
    const auto second = pay_benepia(uid, kPassword, &headers);
    EXPECT_EQ(second.status, 200);
    EXPECT_EQ(second.header("Idempotent-Replayed"), "true");
    EXPECT_EQ(sim_->count_requests("POST /benepia/payment"), 1u);
}

TEST_F(Payments, ABrowserIdempotencyKeyCanNotBePlantedOrReadWithoutTheSecret) {
    auto [uid, secret] = new_order("idem-br");
    const json::value body{{"vbank_code", "004"}, {"vbank_due", now_seconds() + 86400}};
    const Headers impostor{{"X-Client-Secret", "cs_not_the_secret"}, {"Idempotency-Key", "k1"}};
    const Headers buyer{{"X-Client-Secret", secret}, {"Idempotency-Key", "k1"}};
    EXPECT_EQ(post(uid, "vbank", body, impostor).status, 401);
    const auto issued = post(uid, "vbank", body, buyer);
    ASSERT_EQ(issued.status, 200) << issued.body;
    EXPECT_EQ(issued.header("Idempotent-Replayed"), "");
    // The buyer's stored answer is not for someone without the buyer's secret.
    const auto replay = post(uid, "vbank", body, impostor);
    EXPECT_EQ(replay.status, 401);
    EXPECT_EQ(replay.body.find("vbank_num"), std::string::npos);
    EXPECT_EQ(post(uid, "vbank", body, buyer).header("Idempotent-Replayed"), "true");
}

// A claim holds longer than the slowest request can run: three iamport calls of
// IAMPORT_CALL_TIMEOUT_MS (4 s here) and 30 s for the database, 42 s in all.
TEST_F(Payments, AnIdempotencyClaimLastsLongerThanTheSlowestRequest) {
    new_order("claim-life");
    sim_->set_fault({{"endpoint", "POST /benepia/payment"},
                     {"kind", "latency"},
                     {"latency_ms", 1500},
                     {"count", 1}});
    auto headers = auth();
    headers.emplace_back("Idempotency-Key", "pay-claim-life");
    std::thread paying(
        [&] { EXPECT_EQ(pay_benepia("claim-life", kPassword, &headers).status, 200); });
    std::this_thread::sleep_for(700ms);
    EXPECT_EQ(database_->query_int(
                  "SELECT round(extract(epoch FROM locked_until - created_at))::bigint "
                  "FROM idempotency_keys WHERE key = 'pay-claim-life' AND state = 'running'"),
              42);
    paying.join();
    EXPECT_EQ(database_->query_int("SELECT count(*) FROM idempotency_keys "
                                   "WHERE key = 'pay-claim-life' AND state = 'completed'"),
              1);
}

TEST_F(Payments, SyncOfAnUnknownOrderIs404) {
    EXPECT_EQ(post("nope", "sync", json::object{}).status, 404);
    EXPECT_EQ(
        post("nope", "benepia-payment", {{"benepia_user", "u"}, {"benepia_password", "p"}}).status,
        404);
}

}  // namespace
}  // namespace mg::test
