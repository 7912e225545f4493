#include "service/iamport/breaker.hpp"

namespace mg::iamport {

std::string_view to_string(BreakerState state) {
    switch (state) {
        case BreakerState::closed:
            return "closed";
        case BreakerState::open:
            return "open";
        case BreakerState::half_open:
            return "half_open";
    }
    return "unknown";
}

CircuitBreaker::CircuitBreaker(int failure_threshold, std::chrono::milliseconds open_duration)
    : failure_threshold_(failure_threshold), open_duration_(open_duration) {}

bool CircuitBreaker::allow(Clock::time_point now) {
    std::lock_guard lock(mutex_);
    switch (state_) {
        case BreakerState::closed:
            return true;
        case BreakerState::open:
            if (now < open_until_) {
                return false;
            }
            state_ = BreakerState::half_open;  // this caller is the trial
            return true;
        case BreakerState::half_open:
            return false;  // the trial is still out
    }
    return false;
}

void CircuitBreaker::record_success() {
    std::lock_guard lock(mutex_);
    state_ = BreakerState::closed;
    consecutive_failures_ = 0;
}

void CircuitBreaker::record_failure(Clock::time_point now) {
    std::lock_guard lock(mutex_);
    ++consecutive_failures_;
    if (state_ == BreakerState::half_open || consecutive_failures_ >= failure_threshold_) {
        state_ = BreakerState::open;
        open_until_ = now + open_duration_;
    }
}

BreakerState CircuitBreaker::state() const {
    std::lock_guard lock(mutex_);
    return state_;
}

}  // namespace mg::iamport
