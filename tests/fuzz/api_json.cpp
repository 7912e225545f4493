// Bytes → a request body as the merchant API reads it (parse_json_object: content type, syntax,
// depth) → the decoder and validation of one route: POST /v1/orders and the payment routes.
// The first byte picks the route and the configuration; the rest is the body.
//
// Invariants: a refusal is a 4xx HttpError and nothing else; a body that validates has its
// amounts in range, and once written back as JSON it validates again to the same value.
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "service/api/json_body.hpp"
#include "service/api/request_bodies.hpp"
#include "service/domain/order_json.hpp"
#include "service/domain/validation.hpp"
#include "service/http/error.hpp"
#include "service/iamport/requests.hpp"
#include "tests/fuzz/check.hpp"

namespace {

namespace json = boost::json;
using mg::domain::kMaxAmount;

// A fixed clock, so that whether a vbank_due is in the future depends on the input alone.
constexpr mg::domain::UnixSeconds kNow = 1'700'000'000;

enum class Route { new_order, benepia, vbank_issue, vbank_update, complete, cancel, count };

mg::http::Request json_request(std::string body, std::string_view content_type) {
    mg::http::Request request{mg::http::Verb::post, "/v1/orders", 11};
    request.set(mg::http::beast_http::field::content_type, content_type);
    request.body() = std::move(body);
    request.prepare_payload();
    return request;
}

json::object reparse(const json::object& body) {
    return mg::api::parse_json_object(json_request(json::serialize(body), "application/json"));
}

bool amount_in_range(mg::domain::Amount amount) {
    return amount >= 1 && amount <= kMaxAmount;
}

void put(json::object& body, std::string_view name, const std::optional<std::string>& value) {
    if (value) {
        body[name] = *value;
    }
}

void put_channel(json::object& body, const mg::iamport::Channel& channel) {
    put(body, "channel_key", channel.channel_key);
    put(body, "pg", channel.pg);
}

bool same_channel(const mg::iamport::Channel& a, const mg::iamport::Channel& b) {
    return a.channel_key == b.channel_key && a.pg == b.pg;
}

void new_order(const json::object& body) {
    const auto order = mg::api::decode_new_order(body);
    MG_FUZZ_CHECK(!mg::domain::validate_new_order(order));
    MG_FUZZ_CHECK(amount_in_range(order.amount));
    MG_FUZZ_CHECK(order.tax_free >= 0 && order.tax_free <= order.amount);
    MG_FUZZ_CHECK(order.client_secret.starts_with("cs_"));

    // Written back the way the API shows an order, less what the server decides, it is a valid
    // request for the same order.
    mg::domain::Order shown;
    shown.merchant_uid = order.merchant_uid;
    shown.name = order.name;
    shown.amount = order.amount;
    shown.currency = order.currency;
    shown.buyer = order.buyer;
    shown.custom_data_json = order.custom_data_json;
    auto again = json::value_from(shown).as_object();
    for (const auto* server_side : {"status", "created_at", "updated_at", "payments"}) {
        again.erase(server_side);
    }
    const auto decoded = mg::api::decode_new_order(reparse(again));
    MG_FUZZ_CHECK(decoded.merchant_uid == order.merchant_uid);
    MG_FUZZ_CHECK(decoded.name == order.name);
    MG_FUZZ_CHECK(decoded.amount == order.amount);
    MG_FUZZ_CHECK(decoded.currency == order.currency);
    MG_FUZZ_CHECK(decoded.buyer.name == order.buyer.name);
    MG_FUZZ_CHECK(decoded.buyer.email == order.buyer.email);
    MG_FUZZ_CHECK(decoded.buyer.tel == order.buyer.tel);
    MG_FUZZ_CHECK(decoded.buyer.addr == order.buyer.addr);
    MG_FUZZ_CHECK(decoded.buyer.postcode == order.buyer.postcode);
    MG_FUZZ_CHECK(decoded.custom_data_json == order.custom_data_json);
    MG_FUZZ_CHECK(decoded.client_secret != order.client_secret);
}

void benepia(const json::object& body, const mg::Config& config) {
    const auto request = mg::api::decode_benepia_payment(body, config);
    MG_FUZZ_CHECK(request.channel.channel_key.has_value() != request.channel.pg.has_value());
    json::object again;
    again["benepia_user"] = request.benepia_user;
    again["benepia_password"] = request.benepia_password;
    put_channel(again, request.channel);
    const auto decoded = mg::api::decode_benepia_payment(reparse(again), mg::Config{});
    MG_FUZZ_CHECK(decoded.benepia_user == request.benepia_user);
    MG_FUZZ_CHECK(decoded.benepia_password == request.benepia_password);
    MG_FUZZ_CHECK(same_channel(decoded.channel, request.channel));
    static_cast<void>(mg::iamport::to_body(request));
}

void vbank_issue(const json::object& body, const mg::Config& config) {
    const auto request = mg::api::decode_vbank_issue(body, config, kNow);
    MG_FUZZ_CHECK(request.vbank_due > kNow);
    MG_FUZZ_CHECK(request.vbank_code.size() == 3);
    json::object again;
    again["vbank_code"] = request.vbank_code;
    again["vbank_due"] = request.vbank_due;
    put(again, "vbank_holder", request.vbank_holder);
    put_channel(again, request.channel);
    const auto decoded = mg::api::decode_vbank_issue(reparse(again), mg::Config{}, kNow);
    MG_FUZZ_CHECK(decoded.vbank_code == request.vbank_code);
    MG_FUZZ_CHECK(decoded.vbank_due == request.vbank_due);
    MG_FUZZ_CHECK(decoded.vbank_holder == request.vbank_holder);
    MG_FUZZ_CHECK(same_channel(decoded.channel, request.channel));
    const auto sent = mg::iamport::to_body(request);
    MG_FUZZ_CHECK(sent.at("vbank_due").is_int64());
}

void vbank_update(const json::object& body) {
    const auto update = mg::api::decode_vbank_update(body, kNow);
    MG_FUZZ_CHECK(update.amount || update.vbank_due);
    MG_FUZZ_CHECK(!update.amount || amount_in_range(*update.amount));
    MG_FUZZ_CHECK(!update.vbank_due || *update.vbank_due > kNow);
    const auto sent = mg::iamport::to_body(update);
    const auto decoded = mg::api::decode_vbank_update(reparse(sent), kNow);
    MG_FUZZ_CHECK(decoded.amount == update.amount);
    MG_FUZZ_CHECK(decoded.vbank_due == update.vbank_due);
}

void complete(const json::object& body) {
    const auto imp_uid = mg::api::decode_complete(body);
    MG_FUZZ_CHECK(!imp_uid.empty());
    MG_FUZZ_CHECK(mg::api::decode_complete(reparse(json::object{{"imp_uid", imp_uid}})) == imp_uid);
}

void cancel(const json::object& body) {
    const auto whole = mg::api::decode_cancel(body);
    const auto& request = whole.request;
    MG_FUZZ_CHECK(!request.amount || amount_in_range(*request.amount));
    MG_FUZZ_CHECK(!request.tax_free ||
                  (*request.tax_free >= 0 && *request.tax_free <= mg::domain::kMaxAmount));
    MG_FUZZ_CHECK(request.reason && !request.reason->empty());
    MG_FUZZ_CHECK(!request.imp_uid && request.checksum == 0);
    // A cash receipt's identifier, when given, is digits only (10 to 19 of them).
    if (whole.cash_receipt) {
        const auto& id = whole.cash_receipt->identifier;
        MG_FUZZ_CHECK(id.size() >= 10 && id.size() <= 19);
        MG_FUZZ_CHECK(id.find_first_not_of("0123456789") == std::string::npos);
    }
    auto sent = mg::iamport::to_body(request);
    sent.erase("checksum");  // the caller's, from the order's payments
    const auto decoded = mg::api::decode_cancel(reparse(sent)).request;
    MG_FUZZ_CHECK(decoded.amount == request.amount);
    MG_FUZZ_CHECK(decoded.tax_free == request.tax_free);
    MG_FUZZ_CHECK(decoded.reason == request.reason);
    MG_FUZZ_CHECK(decoded.refund_holder == request.refund_holder);
    MG_FUZZ_CHECK(decoded.refund_bank == request.refund_bank);
    MG_FUZZ_CHECK(decoded.refund_account == request.refund_account);
    MG_FUZZ_CHECK(decoded.refund_tel == request.refund_tel);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const auto selector = data[0];
    const auto route = static_cast<Route>((selector & 0x0f) % static_cast<int>(Route::count));
    mg::Config config;
    if (selector & 0x10) {
        config.iamport_channel_key = "channel-key-default";
    } else if (selector & 0x20) {
        config.iamport_pg = "kcp.default";
    }
    static constexpr std::string_view kContentTypes[] = {
        "application/json", "application/json; charset=utf-8", "Application/JSON ", "text/plain"};
    const auto content_type = kContentTypes[(selector >> 6) & 3];
    auto request =
        json_request(std::string(reinterpret_cast<const char*>(data) + 1, size - 1), content_type);
    try {
        const auto body = mg::api::parse_json_object(request);
        switch (route) {
            case Route::new_order:
                new_order(body);
                break;
            case Route::benepia:
                benepia(body, config);
                break;
            case Route::vbank_issue:
                vbank_issue(body, config);
                break;
            case Route::vbank_update:
                vbank_update(body);
                break;
            case Route::complete:
                complete(body);
                break;
            case Route::cancel:
                cancel(body);
                break;
            case Route::count:
                break;
        }
    } catch (const mg::http::HttpError& e) {
        const auto status = static_cast<int>(e.status());
        MG_FUZZ_CHECK(status == 400 || status == 415 || status == 422);
        MG_FUZZ_CHECK(!e.code().empty());
        MG_FUZZ_CHECK(status != 422 || e.field().has_value());
        static_cast<void>(mg::http::error_response(e));
    }
    return 0;
}
