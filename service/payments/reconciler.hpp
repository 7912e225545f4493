// Settling what the request path could not: webhook deliveries waiting in the inbox, payment
// attempts of unknown outcome, deposits whose notice never came, virtual accounts past their
// due time. Runs in every instance; the instances share the work through PostgreSQL alone
// (claims with FOR UPDATE SKIP LOCKED and a lease), so any number of them may run.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "db/webhook_inbox_repository.hpp"
#include "service/common/config.hpp"

namespace mg::runtime {
class DbExecutor;
}
namespace mg::iamport {
class Client;
}

namespace mg::payments {

// How long a claim on a delivery or an order holds before another instance may take it.
inline constexpr std::chrono::seconds kDeliveryLease{30};

// The wait before retry number `attempts` + 1 of a delivery: 1 s, doubling, at most 30 s.
std::chrono::seconds delivery_backoff(int attempts);

// Processes one claimed delivery: GET /payments/{imp_uid} is the truth, applied under the
// order's row lock. Returns the outcome recorded ("applied", "unchanged", "needs_review",
// "unknown_order", "unknown_payment"), or "retry" / "failed" when iamport could not answer.
boost::asio::awaitable<std::string> process_delivery(runtime::DbExecutor& db,
                                                     iamport::Client& iamport,
                                                     const db::Delivery& delivery,
                                                     int max_attempts);

class Reconciler {
  public:
    Reconciler(boost::asio::any_io_executor executor, runtime::DbExecutor& db,
               iamport::Client& iamport, const Config& config);
    ~Reconciler();

    // Starts the loop: the inbox every second, orders every RECONCILE_INTERVAL.
    void start();
    // Ends the loop after the step in progress; no new work is claimed.
    void stop();

    // Processes a delivery just stored, without waiting for the next pass (detached), when
    // fewer than WEBHOOK_CONCURRENCY are being processed so; false when it was left to the inbox
    // pass. Also runs retention purges every few minutes (idempotency keys after 24 h, processed
    // deliveries after WEBHOOK_RETENTION_DAYS).
    bool process_soon(std::int64_t delivery_id);

  private:
    struct State;
    std::shared_ptr<State> state_;
};

}  // namespace mg::payments
