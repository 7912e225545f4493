#include "service/iamport/models.hpp"

#include <gtest/gtest.h>

#include "service/iamport/requests.hpp"

namespace mg::iamport {
namespace {
namespace json = boost::json;

Payment decode(std::string_view text) {
    return json::value_to<Payment>(json::parse(text));
}

TEST(PaymentModel, ToleratesNullsMissingAndUnknownFields) {
    auto payment = decode(R"({"imp_uid":"imps_1","merchant_uid":"m1","status":"paid",
        "amount":1000,"cancel_amount":null,"vbank_name":null,"card_quota":null,
        "paid_at":"1700000000","brand_new_field":{"x":1},"cancel_history":null,
        "custom_data":{"k":"v"},"card_type":1})");
    EXPECT_EQ(payment.amount, 1000);
    EXPECT_EQ(payment.cancel_amount, 0);
    EXPECT_FALSE(payment.vbank_name.has_value());
    EXPECT_EQ(payment.paid_at, 1700000000);
    EXPECT_TRUE(payment.cancel_history.empty());
    EXPECT_EQ(payment.custom_data.value_or(""), R"({"k":"v"})");
    EXPECT_EQ(payment.card_type.value_or(""), "1");
    EXPECT_TRUE(payment.raw.contains("brand_new_field"));
}

TEST(PaymentModel, ReadsCancelHistoryAndReceipts) {
    auto payment = decode(R"({"imp_uid":"imps_1","merchant_uid":"m1","status":"paid",
        "amount":10000,"cancel_amount":3000.0,"cancel_history":[{"pg_tid":"t","amount":3000,
        "cancelled_at":1700000001,"reason":"r","receipt_url":"u"}],"cancel_receipt_urls":["u"]})");
    EXPECT_EQ(payment.cancel_amount, 3000);
    ASSERT_EQ(payment.cancel_history.size(), 1u);
    EXPECT_EQ(payment.cancel_history[0].amount, 3000);
    EXPECT_EQ(payment.cancel_history[0].cancelled_at, 1700000001);
    EXPECT_EQ(payment.cancel_receipt_urls, std::vector<std::string>{"u"});
    EXPECT_EQ(payment.cancellable_balance(), 7000);
}

TEST(PaymentModel, RejectsNonIntegralOrMissingAmounts) {
    EXPECT_THROW(decode(R"({"imp_uid":"i","merchant_uid":"m","status":"paid","amount":1000.5})"),
                 DecodeError);
    EXPECT_THROW(decode(R"({"imp_uid":"i","merchant_uid":"m","status":"paid"})"), DecodeError);
    EXPECT_THROW(decode(R"({"imp_uid":"i","merchant_uid":"m","status":"paid","amount":"1000"})"),
                 DecodeError);
    EXPECT_THROW(decode(R"({"imp_uid":"i","merchant_uid":"m","status":"paid","amount":1e300})"),
                 DecodeError);
    EXPECT_THROW(decode(R"({"merchant_uid":"m","status":"paid","amount":1})"), DecodeError);
    EXPECT_EQ(decode(R"({"imp_uid":"i","merchant_uid":"m","status":"paid","amount":2e3})").amount,
              2000);
}

TEST(PaymentModel, RoundTripsThroughValueFrom) {
    auto payment = decode(R"({"imp_uid":"imps_1","merchant_uid":"m1","status":"ready",
        "amount":5000,"vbank_num":"123","vbank_date":1800000000})");
    auto again = json::value_to<Payment>(json::value_from(payment));
    EXPECT_EQ(again.vbank_num, payment.vbank_num);
    EXPECT_EQ(again.vbank_date, payment.vbank_date);
    EXPECT_EQ(again.amount, payment.amount);
}

TEST(RequestBodies, CarryOnlySetFieldsAndOneChannel) {
    VbankRequest vbank;
    vbank.merchant_uid = "m1";
    vbank.amount = 100;
    vbank.vbank_code = "004";
    vbank.vbank_due = 1800000000;
    vbank.channel.channel_key = "ck";
    vbank.channel.pg = "nice";
    vbank.notice_url = {"https://shop.example/webhooks/iamport"};
    auto body = to_body(vbank);
    EXPECT_TRUE(body.contains("channel_key"));
    EXPECT_FALSE(body.contains("pg")) << "channel_key wins; never both";
    EXPECT_TRUE(body.at("notice_url").is_array());
    EXPECT_FALSE(body.contains("buyer_name"));
    EXPECT_TRUE(body.at("amount").is_int64());

    CancelRequest cancel;
    cancel.imp_uid = "imps_1";
    cancel.checksum = 500;
    auto cancel_body = to_body(cancel);
    EXPECT_FALSE(cancel_body.contains("amount")) << "absent amount means everything remaining";
    EXPECT_EQ(cancel_body.at("checksum").as_int64(), 500);
    EXPECT_FALSE(cancel_body.contains("enable_webhook"));
}

}  // namespace
}  // namespace mg::iamport
