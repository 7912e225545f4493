// Why a payments use case did not do what it was asked. The payments layer names the refusal
// and the code the API shows for it; service/api alone turns a Failure into an HTTP answer
// (api.cpp, to_http).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "service/iamport/result.hpp"

namespace mg::payments {

struct OrderView;

class Failure : public std::runtime_error {
  public:
    enum class Kind {
        not_found,            // no such order
        conflict,             // the order's state (or iamport's record) forbids the call now
        too_many_attempts,    // the order's budget of declined calls is spent (retry_after)
        invalid,              // the request does not fit the order (a field, an amount, an
                              // imp_uid iamport does not know)
        declined,             // iamport refused the money call: nothing moved
        iamport_paused,       // the circuit breaker is open: nothing was sent
        iamport_timeout,      // nothing moved (not sent, or a read), iamport too slow
        iamport_unreachable,  // nothing was sent
        iamport_error,        // iamport answered what we cannot use
    };

    Failure(Kind kind, std::string code, std::string message, std::string field = {})
        : std::runtime_error(std::move(message)),
          kind_(kind),
          code_(std::move(code)),
          field_(std::move(field)) {}

    Kind kind() const noexcept { return kind_; }
    // The API's error code, e.g. "order_not_payable", "payment_failed".
    const std::string& code() const noexcept { return code_; }
    // The request field at fault, when there is one.
    const std::string& field() const noexcept { return field_; }
    std::optional<std::chrono::seconds> retry_after;
    // The order as iamport's records left it, when the refusal comes with it (a revoke refused
    // because the deposit landed: the order is paid now).
    std::shared_ptr<const OrderView> order;

  private:
    Kind kind_;
    std::string code_;
    std::string field_;
};

inline Failure conflict(std::string code, std::string message) {
    return Failure(Failure::Kind::conflict, std::move(code), std::move(message));
}

// An iamport call that failed (SPEC §4): declined → payment_failed with iamport's message,
// breaker open → iamport_unavailable (retry after 10 s), timeout before sending (or of a read)
// → iamport_timeout, not sent → iamport_unreachable, anything else iamport got wrong →
// iamport_error. `payment_call`: false for reads (a refusal of a read is iamport misbehaving,
// not a decline). Never for unknown_outcome, which is not a failure but a 202.
Failure iamport_failure(const iamport::Error& error, bool payment_call = true);

}  // namespace mg::payments
