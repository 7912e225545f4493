// How an iamport call ended. The payment code maps these to its HTTP answers (SPEC §4):
// declined → 402, not_found → 404, rejected → 422/400, upstream_error → 502,
// not_sent → 504 (timed out) or 502, unknown_outcome → 202 with the attempt stored as unknown,
// breaker_open → 503.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace mg::iamport {

enum class Outcome {
    success,
    declined,         // HTTP 200 with code ≠ 0: iamport refused (its code and message kept)
    not_found,        // HTTP 404: no such imp_uid / merchant_uid
    rejected,         // any other 4xx (bad request, bad credentials)
    upstream_error,   // 5xx, an unreadable answer, or a GET that never got an answer
    not_sent,         // failed or timed out before the request was completely sent
    unknown_outcome,  // a POST/PUT was sent, then the answer was lost: it may have happened
    breaker_open,     // failing fast while iamport is down
};

std::string_view to_string(Outcome outcome);

struct Error {
    Outcome outcome = Outcome::upstream_error;
    int http_status = 0;  // 0 when no answer arrived
    int code = 0;         // iamport's envelope code, for declined
    std::string message;  // iamport's message, or what went wrong; never a secret
    // From the transport, never read out of `message`: the call ran out of time; the request
    // was (or may have been) completely sent.
    bool timed_out = false;
    bool sent = false;
};

template <class T>
class Result {
  public:
    // co_spawn needs a default; it reads as a failure nobody reported.
    Result() : error_{Outcome::upstream_error, 0, 0, "no result"} {}
    Result(T value) : value_(std::move(value)) {}      // NOLINT: implicit by design
    Result(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design

    bool ok() const { return value_.has_value(); }
    explicit operator bool() const { return ok(); }
    Outcome outcome() const { return ok() ? Outcome::success : error_.outcome; }

    const T& value() const& { return *value_; }
    T& value() & { return *value_; }
    T&& value() && { return std::move(*value_); }
    const T* operator->() const { return &*value_; }
    const Error& error() const { return error_; }

  private:
    std::optional<T> value_;
    Error error_;
};

}  // namespace mg::iamport
