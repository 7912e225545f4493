// Inputs that made a fuzz target fail (tests/fuzz/regressions/<target>/), fed to the same
// functions in the ordinary build. The first byte of each input is the target's selector
// (route, content type, HTTP status); the rest is the body.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "service/api/json_body.hpp"
#include "service/api/request_bodies.hpp"
#include "service/common/exact_json.hpp"
#include "service/domain/order_json.hpp"
#include "service/http/error.hpp"
#include "service/iamport/envelope.hpp"
#include "service/iamport/models.hpp"
#include "test_paths.hpp"

namespace mg {
namespace {

namespace json = boost::json;

// The input's body, after its selector byte.
std::string regression_body(const std::string& target, const std::string& name) {
    const auto path =
        std::filesystem::path(test::kSourceDir) / "tests/fuzz/regressions" / target / name;
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in) << path;
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return bytes.empty() ? bytes : bytes.substr(1);
}

// POST /v1/orders with custom_data holding 1e3050: Boost.JSON reads it as infinity and wrote it
// back as `Infinity`, not JSON, which the orders table (jsonb) refused with a 500.
TEST(FuzzRegressions, OrderCustomDataWithOverflowingNumberIs422) {
    http::Request request{http::Verb::post, "/v1/orders", 11};
    request.set(http::beast_http::field::content_type, "application/json");
    request.body() = regression_body("api_json", "custom_data_overflowing_number");
    const auto body = api::parse_json_object(request);
    try {
        api::decode_new_order(body);
        FAIL() << "custom_data with a number beyond double range was accepted";
    } catch (const http::HttpError& e) {
        EXPECT_EQ(e.status(), http::Status::unprocessable_entity);
        EXPECT_EQ(e.field().value_or(""), "custom_data");
    }
}

double nearest_double(std::string_view text) {
    double value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
}

// POST /v1/orders with custom_data holding 92233720378547758082: Boost's parser read it one unit
// in the last place off, and the order's own JSON, sent back, then gave yet another number.
TEST(FuzzRegressions, OrderCustomDataNumbersSurviveARoundTrip) {
    http::Request request{http::Verb::post, "/v1/orders", 11};
    request.set(http::beast_http::field::content_type, "application/json");
    request.body() = regression_body("api_json", "custom_data_number_round_trip");
    const auto order = api::decode_new_order(api::parse_json_object(request));
    ASSERT_TRUE(order.custom_data_json);
    const auto custom = parse_exact_json(*order.custom_data_json);
    EXPECT_EQ(custom.at("cart").at(1).as_double(), nearest_double("92233720378547758082"));

    domain::Order shown;
    shown.merchant_uid = order.merchant_uid;
    shown.name = order.name;
    shown.amount = order.amount;
    shown.custom_data_json = order.custom_data_json;
    boost::json::object again;
    again["name"] = order.name;
    again["amount"] = order.amount;
    again["custom_data"] = json::value_from(shown).at("custom_data");
    request.body() = json::serialize(again);
    const auto resent = api::decode_new_order(api::parse_json_object(request));
    EXPECT_EQ(resent.custom_data_json, order.custom_data_json);
}

TEST(ExactJson, ReadsNumbersAsTheNearestDouble) {
    for (const std::string_view text : {"92233720378547758082", "2.2250738585072011e-308",
                                        "9.223372037854775E19", "0.1", "-1.5e300", "4.9e-324"}) {
        EXPECT_EQ(parse_exact_json(text).as_double(), nearest_double(text)) << text;
    }
    EXPECT_EQ(parse_exact_json("[1, -2, 18446744073709551615]"),
              json::parse("[1, -2, 18446744073709551615]"));
    boost::system::error_code ec;
    EXPECT_TRUE(parse_exact_json("{} x", ec).is_null());
    EXPECT_TRUE(ec);
    EXPECT_THROW(parse_exact_json("[1,"), boost::system::system_error);
}

// An iamport payment with an unknown field holding 1e400: the raw answer kept for the payments
// table (jsonb) serialized as `Infinity`; the number is kept as null instead.
TEST(FuzzRegressions, PaymentWithOverflowingNumberIsStoredAsJson) {
    iamport::Exchange exchange;
    exchange.status = 200;
    exchange.body = regression_body("iamport_response", "payment_overflowing_number");
    const auto envelope = iamport::interpret(exchange, true);
    ASSERT_TRUE(envelope);
    const auto payment = json::value_to<iamport::Payment>(envelope.value());
    EXPECT_EQ(payment.amount, 1000);
    boost::system::error_code ec;
    const auto stored = json::parse(json::serialize(payment.raw), ec);
    EXPECT_FALSE(ec) << json::serialize(payment.raw);
    EXPECT_TRUE(stored.at("pg_extra").is_null());
}

}  // namespace
}  // namespace mg
