#include "service/iamport/envelope.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <string>

namespace mg::iamport {
namespace json = boost::json;

Result<json::value> interpret(const Exchange& exchange, bool idempotent, bool http_500_is_decline) {
    using Failure = Exchange::Failure;
    if (exchange.failure == Failure::before_sent) {
        return Error{Outcome::not_sent, 0, 0, exchange.error};
    }
    if (exchange.failure == Failure::after_sent) {
        return Error{idempotent ? Outcome::upstream_error : Outcome::unknown_outcome, 0, 0,
                     exchange.error};
    }
    int status = static_cast<int>(exchange.status);
    boost::system::error_code parse_error;
    auto parsed = json::parse(exchange.body, parse_error);
    const json::object* envelope =
        (!parse_error && parsed.is_object()) ? &parsed.get_object() : nullptr;
    std::string message;
    std::int64_t code = 0;
    if (envelope) {
        if (auto it = envelope->find("message"); it != envelope->end() && it->value().is_string()) {
            message = it->value().get_string();
        }
        if (auto it = envelope->find("code"); it != envelope->end() && it->value().is_int64()) {
            code = it->value().get_int64();
        }
    }
    if (http_500_is_decline && status == 500 && envelope && code != 0 && !message.empty()) {
        return Error{Outcome::declined, status, static_cast<int>(code), message};
    }
    if (status >= 500) {
        return Error{Outcome::upstream_error, status, static_cast<int>(code),
                     message.empty() ? "iamport answered HTTP " + std::to_string(status) : message};
    }
    if (status == 404) {
        return Error{Outcome::not_found, status, static_cast<int>(code), message};
    }
    if (status >= 400) {
        return Error{Outcome::rejected, status, static_cast<int>(code),
                     message.empty() ? "iamport answered HTTP " + std::to_string(status) : message};
    }
    if (status != 200 || envelope == nullptr || envelope->find("code") == envelope->end() ||
        !envelope->at("code").is_int64()) {
        // A success status without the envelope: a proxy page, or an answer we cannot read.
        return Error{idempotent ? Outcome::upstream_error : Outcome::unknown_outcome, status, 0,
                     "unreadable answer from iamport (HTTP " + std::to_string(status) + ")"};
    }
    if (code != 0) {
        // HTTP 200 with code ≠ 0: iamport refused, and says why in `message`.
        return Error{Outcome::declined, status, static_cast<int>(code), message};
    }
    auto it = envelope->find("response");
    return it == envelope->end() ? json::value(nullptr) : it->value();
}

}  // namespace mg::iamport
