// Bytes → POST /webhooks/iamport's body parser (parse_delivery). The first byte picks the
// content type, JSON or form data as iamport's console offers, in a few spellings; the rest is
// the body.
//
// Invariants: a refusal is a 400 or 415 HttpError and nothing else; an accepted delivery keeps
// the body and content type as received, and claims a short imp_uid of printable UTF-8 text.
#include "service/api/webhook_body.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "service/domain/validation.hpp"
#include "service/http/error.hpp"
#include "tests/fuzz/check.hpp"

namespace {

constexpr std::size_t kMaxClaim = 100;

void check_claim(const std::string& value) {
    MG_FUZZ_CHECK(!mg::domain::check_text("claim", value, 0, kMaxClaim));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    static constexpr std::string_view kContentTypes[] = {
        "application/json",
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/JSON",
        "APPLICATION/X-WWW-FORM-URLENCODED ",
        "text/plain",
        "",
    };
    const auto content_type = kContentTypes[data[0] % std::size(kContentTypes)];
    mg::http::Request request{mg::http::Verb::post, "/webhooks/iamport", 11};
    if (!content_type.empty()) {
        request.set(mg::http::beast_http::field::content_type, content_type);
    }
    request.body().assign(reinterpret_cast<const char*>(data) + 1, size - 1);
    request.prepare_payload();
    try {
        const auto delivery = mg::api::parse_delivery(request);
        MG_FUZZ_CHECK(delivery.body == request.body());
        MG_FUZZ_CHECK(delivery.content_type == request[mg::http::beast_http::field::content_type]);
        MG_FUZZ_CHECK(delivery.source_ip.empty());
        MG_FUZZ_CHECK(!delivery.imp_uid.empty());
        check_claim(delivery.imp_uid);
        if (delivery.merchant_uid) {
            check_claim(*delivery.merchant_uid);
        }
        if (delivery.status) {
            check_claim(*delivery.status);
        }
        // Stored as PostgreSQL text: valid UTF-8 without NUL bytes.
        MG_FUZZ_CHECK(mg::domain::utf8_length(delivery.body).has_value());
        MG_FUZZ_CHECK(delivery.body.find('\0') == std::string::npos);
    } catch (const mg::http::HttpError& e) {
        const auto status = static_cast<int>(e.status());
        MG_FUZZ_CHECK(status == 400 || status == 415);
        MG_FUZZ_CHECK(!e.code().empty());
    }
    return 0;
}
