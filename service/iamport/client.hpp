// The iamport V1 REST client (SPEC §7). One Client per process and credentials; safe to call
// from any number of coroutines on any threads of the io_context it was built with.
//
//   mg::iamport::Client client(io.get_executor(), config);
//   auto payment = co_await client.get_payment("imps_123");
//   if (!payment) { switch (payment.error().outcome) { ... } }
//
// Token: fetched by POST /users/getToken, cached, renewed `token_refresh_margin` before the
// expiry iamport reports (computed from its `expired_at - now`, so our clock does not matter),
// with one request in flight however many callers wait. A 401 costs one refresh and one retry.
// GETs are retried with exponential backoff and jitter on network errors and 5xx; POST/PUT are
// never retried once they may have been sent. A circuit breaker fails fast while iamport is down.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "service/iamport/breaker.hpp"
#include "service/iamport/models.hpp"
#include "service/iamport/receipts.hpp"
#include "service/iamport/requests.hpp"
#include "service/iamport/result.hpp"

namespace mg::iamport {

struct ClientConfig {
    std::string base_url = "https://api.iamport.kr";
    std::string imp_key;
    std::string imp_secret;  // never logged
    // An extra CA certificate to trust (tests with a self-signed simulator). The system store
    // is always used and verification cannot be turned off.
    std::optional<std::string> ca_file;

    std::chrono::milliseconds connect_timeout{3000};
    // One HTTP exchange, connect included.
    std::chrono::milliseconds attempt_timeout{10'000};
    // The whole call: token, every attempt and the pauses between them.
    std::chrono::milliseconds call_timeout{30'000};
    int get_attempts = 3;
    std::chrono::milliseconds retry_initial_backoff{200};
    std::chrono::milliseconds retry_max_backoff{2000};

    std::size_t max_connections = 16;
    std::chrono::milliseconds idle_connection_timeout{20'000};
    std::chrono::seconds token_refresh_margin{60};

    int breaker_failure_threshold = 5;
    std::chrono::milliseconds breaker_open_duration{10'000};

    // Called once per call (and per token fetch): endpoint like "POST /vbanks", how it ended,
    // how long it took. For metrics; must not block.
    std::function<void(std::string_view endpoint, Outcome outcome, std::chrono::milliseconds)>
        observer;
};

class Client {
  public:
    // Throws std::invalid_argument for a malformed base_url.
    Client(boost::asio::any_io_executor executor, ClientConfig config);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // The current access token (cached; POST /users/getToken only when needed).
    boost::asio::awaitable<Result<AccessToken>> get_token();

    // GET /payments/{imp_uid}; not_found for an unknown imp_uid.
    boost::asio::awaitable<Result<Payment>> get_payment(std::string imp_uid);
    // GET /payments/find/{merchant_uid}[/{payment_status}]: the newest payment of that order.
    // GET /payments/findAll/{merchant_uid}: every payment of a merchant_uid, newest first, at
    // most kMaxFindAllPages pages of 100 (not_found when there is none).
    static constexpr int kMaxFindAllPages = 5;
    boost::asio::awaitable<Result<std::vector<Payment>>> find_all_payments(
        std::string merchant_uid);
    boost::asio::awaitable<Result<Payment>> find_payment(
        std::string merchant_uid, std::optional<std::string> payment_status = std::nullopt);
    // POST /vbanks: issues a virtual account (status `ready`).
    boost::asio::awaitable<Result<Payment>> issue_vbank(VbankRequest request);
    // PUT /vbanks/{imp_uid}: amount and/or due date of a vbank still awaiting deposit.
    boost::asio::awaitable<Result<Payment>> update_vbank(std::string imp_uid, VbankUpdate update);
    // POST /benepia/payment.
    boost::asio::awaitable<Result<Payment>> benepia_payment(BenepiaRequest request);
    // POST /payments/cancel; `checksum` must be the cancellable balance we believe remains.
    boost::asio::awaitable<Result<Payment>> cancel_payment(CancelRequest request);

    // DELETE /vbanks/{imp_uid}: closes a virtual account still awaiting deposit (a later
    // deposit is refused); iamport answers the payment, now cancelled.
    boost::asio::awaitable<Result<Payment>> revoke_vbank(std::string imp_uid);

    // POST /payments/prepare, or PUT when `change` (the merchant_uid was registered before):
    // iamport then stops a payment window of this merchant_uid opened with another amount.
    boost::asio::awaitable<Result<Prepared>> prepare(std::string merchant_uid, Amount amount,
                                                     bool change);

    // POST /receipts/{imp_uid}: a cash receipt for a paid payment. DELETE cancels it; GET reads
    // it (not_found when none was issued).
    boost::asio::awaitable<Result<Receipt>> issue_receipt(std::string imp_uid,
                                                          ReceiptRequest request);
    boost::asio::awaitable<Result<Receipt>> cancel_receipt(std::string imp_uid);
    boost::asio::awaitable<Result<Receipt>> get_receipt(std::string imp_uid);

    BreakerState breaker_state() const;
    // The longest one call may take, retries included (IAMPORT_CALL_TIMEOUT_MS).
    std::chrono::milliseconds call_timeout() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

// Percent-encodes one path segment (imp_uid, merchant_uid) for a request target.
std::string encode_path_segment(std::string_view text);

}  // namespace mg::iamport
