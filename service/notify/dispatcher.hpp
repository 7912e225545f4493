// Sends the shop's events (SPEC §11) from every instance: due deliveries are claimed through
// PostgreSQL (SKIP LOCKED, a lease), each attempt runs on its own, at most a few at once per
// endpoint so that a slow or dead endpoint holds up none but its own, and every attempt is
// recorded. Retries follow NOTIFY_RETRY_SCHEDULE (about three days), then the delivery fails.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "service/common/config.hpp"

namespace mg::runtime {
class DbExecutor;
}

namespace mg::notify {

// The waits after each failed attempt, by default: 5 s, 5 min, 30 min, 2 h, 5 h, then every
// 10 h: twelve attempts over about 3.2 days.
std::vector<std::chrono::seconds> default_retry_schedule();

class Dispatcher {
  public:
    // `executor`: a strand (the dispatcher's state is touched from its loop and its attempts).
    Dispatcher(boost::asio::any_io_executor executor, runtime::DbExecutor& db,
               const Config& config);
    ~Dispatcher();
    void start();
    // No new attempt starts; those under way finish (their claims lapse otherwise).
    void stop();

  private:
    struct State;
    std::shared_ptr<State> state_;
};

}  // namespace mg::notify
