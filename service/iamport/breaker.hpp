// A circuit breaker for one upstream. Closed: calls pass and consecutive failures are counted.
// Open (after `failure_threshold` in a row): calls fail fast. After `open_duration` one trial
// call passes (half-open); its success closes the breaker, its failure opens it again.
// Thread-safe; holds no lock across I/O.
#pragma once

#include <chrono>
#include <mutex>
#include <string_view>

namespace mg::iamport {

enum class BreakerState { closed, open, half_open };
std::string_view to_string(BreakerState state);

class CircuitBreaker {
  public:
    using Clock = std::chrono::steady_clock;

    CircuitBreaker(int failure_threshold, std::chrono::milliseconds open_duration);

    // True when a call may go out now; in half-open state only the first asker gets true.
    bool allow(Clock::time_point now = Clock::now());
    void record_success();
    void record_failure(Clock::time_point now = Clock::now());
    BreakerState state() const;

  private:
    mutable std::mutex mutex_;
    int failure_threshold_;
    std::chrono::milliseconds open_duration_;
    BreakerState state_ = BreakerState::closed;
    int consecutive_failures_ = 0;
    Clock::time_point open_until_{};
};

}  // namespace mg::iamport
