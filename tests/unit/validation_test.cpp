#include "service/domain/validation.hpp"

#include <gtest/gtest.h>

namespace mg::domain {
namespace {

std::string repeat(std::string_view unit, std::size_t times) {
    std::string out;
    for (std::size_t i = 0; i < times; ++i)
        out += unit;
    return out;
}

NewOrder valid_order() {
    NewOrder order;
    order.merchant_uid = "order_2026-11-22_001";
    order.name = "원두 1kg";
    order.amount = 32000;
    order.currency = "KRW";
    return order;
}

TEST(Utf8Length, CountsCodePointsNotBytes) {
    EXPECT_EQ(utf8_length("abc"), 3u);
    EXPECT_EQ(utf8_length("홍길동"), 3u);  // 9 bytes
    EXPECT_EQ(utf8_length("😀"), 1u);       // 4 bytes
    EXPECT_EQ(utf8_length(""), 0u);
}

TEST(Utf8Length, RejectsInvalidSequences) {
    EXPECT_FALSE(utf8_length("\xff"));
    EXPECT_FALSE(utf8_length("\xc0\xaf"));          // overlong '/'
    EXPECT_FALSE(utf8_length("\xed\xa0\x80"));      // surrogate
    EXPECT_FALSE(utf8_length("\xf4\x90\x80\x80"));  // above U+10FFFF
    EXPECT_FALSE(utf8_length("\xea\xb0"));          // truncated
    EXPECT_FALSE(utf8_length("a\x80"));             // stray continuation byte
}

TEST(Validation, KoreanNameAtAndOverTheLimit) {
    auto order = valid_order();
    order.name = repeat("가", 40);  // 40 characters, 120 bytes
    EXPECT_FALSE(validate_new_order(order));
    order.name = repeat("가", 41);
    const auto error = validate_new_order(order);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field, "name");
}

TEST(Validation, BuyerFieldsCountCharacters) {
    auto order = valid_order();
    order.buyer.name = repeat("김", 16);
    order.buyer.addr = repeat("서", 128);
    order.buyer.postcode = "06236";
    order.buyer.tel = "010-1234-5678";
    order.buyer.email = "buyer@example.co.kr";
    EXPECT_FALSE(validate_new_order(order));

    order.buyer.name = repeat("김", 17);
    ASSERT_TRUE(validate_new_order(order));
    EXPECT_EQ(validate_new_order(order)->field, "buyer_name");
    order.buyer.name = repeat("김", 16);

    order.buyer.addr = repeat("서", 129);
    EXPECT_EQ(validate_new_order(order)->field, "buyer_addr");
    order.buyer.addr.reset();

    order.buyer.postcode = "123456789";
    EXPECT_EQ(validate_new_order(order)->field, "buyer_postcode");
    order.buyer.postcode.reset();

    order.buyer.tel = repeat("1", 17);
    EXPECT_EQ(validate_new_order(order)->field, "buyer_tel");
    order.buyer.tel.reset();

    order.buyer.email = repeat("a", 60) + "@b.kr";  // 65 characters
    EXPECT_EQ(validate_new_order(order)->field, "buyer_email");
}

TEST(Validation, EmailShape) {
    EXPECT_FALSE(check_email("e", "kim@example.com"));
    EXPECT_TRUE(check_email("e", "kim"));
    EXPECT_TRUE(check_email("e", "@example.com"));
    EXPECT_TRUE(check_email("e", "kim@example"));
    EXPECT_TRUE(check_email("e", "kim@@example.com"));
    EXPECT_TRUE(check_email("e", "kim lee@example.com"));
    EXPECT_TRUE(check_email("e", "kim@example."));
}

TEST(Validation, MerchantUid) {
    EXPECT_FALSE(check_merchant_uid("m", "A-z_09"));
    EXPECT_FALSE(check_merchant_uid("m", repeat("a", 40)));
    EXPECT_TRUE(check_merchant_uid("m", repeat("a", 41)));
    EXPECT_TRUE(check_merchant_uid("m", ""));
    EXPECT_TRUE(check_merchant_uid("m", "주문1"));
    EXPECT_TRUE(check_merchant_uid("m", "a b"));
    EXPECT_TRUE(check_merchant_uid("m", "a/b"));
    EXPECT_TRUE(check_merchant_uid("m", "a'; drop table orders;--"));
}

TEST(Validation, AmountBounds) {
    EXPECT_TRUE(check_amount("amount", 0));
    EXPECT_TRUE(check_amount("amount", -1));
    EXPECT_FALSE(check_amount("amount", 1));
    EXPECT_FALSE(check_amount("amount", kMaxAmount));
    EXPECT_TRUE(check_amount("amount", kMaxAmount + 1));
}

TEST(Validation, OnlyKrwWithItsOwnCode) {
    EXPECT_FALSE(check_currency("currency", "KRW"));
    const auto error = check_currency("currency", "USD");
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code, "unsupported_currency");
    EXPECT_TRUE(check_currency("currency", "krw"));
}

TEST(Validation, TextRejectsControlCharactersAndEmpty) {
    EXPECT_TRUE(check_text("name", std::string("a\0b", 3), 1, 40));
    EXPECT_TRUE(check_text("name", "a\nb", 1, 40));
    EXPECT_TRUE(check_text("name", "", 1, 40));
    EXPECT_FALSE(check_text("name", "'; DROP TABLE orders; --", 1, 40));
}

TEST(Validation, BankCode) {
    EXPECT_FALSE(check_bank_code("vbank_code", "004"));
    EXPECT_TRUE(check_bank_code("vbank_code", "04"));
    EXPECT_TRUE(check_bank_code("vbank_code", "0044"));
    EXPECT_TRUE(check_bank_code("vbank_code", "A04"));
}

}  // namespace
}  // namespace mg::domain
