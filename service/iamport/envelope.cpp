#include "service/iamport/envelope.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <optional>
#include <string>

namespace mg::iamport {
namespace json = boost::json;

Result<json::value> interpret(const Exchange& exchange, bool idempotent) {
    using Failure = Exchange::Failure;
    if (exchange.failure == Failure::before_sent) {
        Error error{Outcome::not_sent, 0, 0, exchange.error};
        error.timed_out = exchange.timed_out;
        return error;
    }
    if (exchange.failure == Failure::after_sent) {
        Error error{idempotent ? Outcome::upstream_error : Outcome::unknown_outcome, 0, 0,
                    exchange.error};
        error.timed_out = exchange.timed_out;
        error.sent = true;
        return error;
    }
    int status = static_cast<int>(exchange.status);
    boost::system::error_code parse_error;
    auto parsed = json::parse(exchange.body, parse_error);
    const json::object* envelope =
        (!parse_error && parsed.is_object()) ? &parsed.get_object() : nullptr;
    std::string message;
    std::optional<std::int64_t> code;
    if (envelope) {
        if (auto it = envelope->find("message"); it != envelope->end() && it->value().is_string()) {
            message = it->value().get_string();
        }
        if (auto it = envelope->find("code"); it != envelope->end() && it->value().is_int64()) {
            code = it->value().get_int64();
        }
    }
    const int code_int = code ? static_cast<int>(*code) : 0;
    auto failed = [&](Outcome outcome, std::string text) {
        Error error{outcome, status, code_int, std::move(text)};
        error.sent = true;
        return error;
    };
    const auto fallback = "iamport answered HTTP " + std::to_string(status);
    if (!idempotent) {
        // A call that moves money (SPEC §4): only iamport's own refusal, an envelope with
        // code ≠ 0 whatever the HTTP status, says nothing happened. A 401 is the access token
        // refused before anything was looked at. Anything else once the request was sent (a
        // proxy's 502 page, an unreadable body) may follow work iamport did: unknown.
        if (status == 401) {
            return failed(Outcome::rejected, message.empty() ? fallback : message);
        }
        if (code && *code != 0) {
            return failed(Outcome::declined, message.empty() ? fallback : message);
        }
        if (status != 200 || !code) {
            return failed(Outcome::unknown_outcome,
                          "no readable answer from iamport (HTTP " + std::to_string(status) + ")");
        }
    } else {
        if (status >= 500) {
            return failed(Outcome::upstream_error, message.empty() ? fallback : message);
        }
        if (status == 404) {
            return failed(Outcome::not_found, message);
        }
        if (status >= 400) {
            return failed(Outcome::rejected, message.empty() ? fallback : message);
        }
        if (status != 200 || !code) {
            // A success status without the envelope: a proxy page, or an answer we cannot read.
            return failed(Outcome::upstream_error,
                          "unreadable answer from iamport (HTTP " + std::to_string(status) + ")");
        }
        if (*code != 0) {
            // HTTP 200 with code ≠ 0: iamport refused, and says why in `message`.
            return failed(Outcome::declined, message);
        }
    }
    auto it = envelope->find("response");
    return it == envelope->end() ? json::value(nullptr) : it->value();
}

}  // namespace mg::iamport
