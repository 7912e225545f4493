// Bytes → an answer from iamport as the client reads it: the envelope (interpret) for an HTTP
// status and call kind picked by the first byte, then the Payment or AccessToken model, and the
// secret redaction that guards every log line about a request or an answer.
//
// Invariants: nothing but the errors the client catches (DecodeError and other std::exception
// from value_to) comes out of decoding; a decoded payment's amounts are consistent and survive a
// round trip through value_from, and what is stored of it is JSON; redaction never lets a secret
// field's value through.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "service/iamport/envelope.hpp"
#include "service/iamport/models.hpp"
#include "service/iamport/redact.hpp"
#include "tests/fuzz/check.hpp"

namespace {

namespace json = boost::json;
using mg::iamport::Outcome;

// Stands for a secret: it may appear in the output only if the input already had it.
constexpr std::string_view kSecret = "zz-secret-4f1c9a";

void check_payment(const json::value& response) {
    mg::iamport::Payment payment;
    try {
        payment = json::value_to<mg::iamport::Payment>(response);
    } catch (const std::exception&) {
        return;  // Client::payment_call turns it into upstream_error or unknown_outcome
    }
    MG_FUZZ_CHECK(payment.amount >= 0);
    MG_FUZZ_CHECK(payment.cancel_amount >= 0 && payment.cancel_amount <= payment.amount);
    MG_FUZZ_CHECK(payment.cancellable_balance() >= 0);
    // Settlement stores the answer as received (jsonb): it must be JSON text again.
    boost::system::error_code ec;
    static_cast<void>(json::parse(json::serialize(payment.raw), ec));
    MG_FUZZ_CHECK(!ec);
    const auto shown = json::value_from(payment);
    const auto again = json::value_to<mg::iamport::Payment>(shown);
    MG_FUZZ_CHECK(json::serialize(json::value_from(again)) == json::serialize(shown));
}

void check_token(const json::value& response) {
    try {
        const auto token = json::value_to<mg::iamport::AccessToken>(response);
        MG_FUZZ_CHECK(response.is_object());
        static_cast<void>(token.expired_at - token.now);
    } catch (const std::exception&) {
    }
}

// Puts kSecret under every secret field, at any depth, then checks redact_json_text hides it.
void plant(json::value& value) {
    if (auto* object = value.if_object()) {
        for (auto& [key, field] : *object) {
            if (mg::iamport::is_secret_field(key)) {
                field = json::object{{"nested", kSecret}, {"list", json::array{kSecret}}};
            } else {
                plant(field);
            }
        }
    } else if (auto* array = value.if_array()) {
        for (auto& element : *array) {
            plant(element);
        }
    }
}

void check_redaction(std::string_view body) {
    const auto redacted = mg::iamport::redact_json_text(body);
    boost::system::error_code ec;
    auto parsed = json::parse(body, ec);
    if (ec) {
        MG_FUZZ_CHECK(redacted.starts_with("[non-JSON body of "));
        return;
    }
    if (body.find(kSecret) != std::string_view::npos) {
        return;
    }
    plant(parsed);
    const auto planted = json::serialize(parsed);
    MG_FUZZ_CHECK(mg::iamport::redact_json_text(planted).find(kSecret) == std::string::npos);
    MG_FUZZ_CHECK(json::serialize(mg::iamport::redact(parsed)).find(kSecret) == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    static constexpr unsigned kStatuses[] = {200, 200, 200, 200, 400, 401, 404, 500};
    const auto selector = data[0];
    mg::iamport::Exchange exchange;
    exchange.status = kStatuses[selector & 7];
    const bool idempotent = (selector & 0x08) != 0;
    const bool token_call = (selector & 0x20) != 0;
    exchange.body.assign(reinterpret_cast<const char*>(data) + 1, size - 1);

    const auto result = mg::iamport::interpret(exchange, idempotent);
    if (result) {
        MG_FUZZ_CHECK(exchange.status == 200);
        if (token_call) {
            check_token(result.value());
        } else {
            check_payment(result.value());
        }
    } else {
        const auto& error = result.error();
        MG_FUZZ_CHECK(error.outcome != Outcome::success);
        MG_FUZZ_CHECK(error.outcome != Outcome::not_sent && error.outcome != Outcome::breaker_open);
        MG_FUZZ_CHECK(error.http_status == static_cast<int>(exchange.status));
        MG_FUZZ_CHECK(error.outcome != Outcome::unknown_outcome || !idempotent);
        // A money call is freed only by iamport's own refusal; a read is declined only at 200.
        MG_FUZZ_CHECK(error.outcome != Outcome::declined || exchange.status == 200 || !idempotent);
        MG_FUZZ_CHECK(idempotent || error.outcome == Outcome::declined ||
                      error.outcome == Outcome::unknown_outcome ||
                      (error.outcome == Outcome::rejected && exchange.status == 401));
        MG_FUZZ_CHECK(error.sent);
        MG_FUZZ_CHECK(!mg::iamport::to_string(error.outcome).empty());
    }
    check_redaction(exchange.body);
    return 0;
}
