#include "service/iamport/redact.hpp"

#include <gtest/gtest.h>

namespace mg::iamport {
namespace {

TEST(Redact, SecretFieldsAtAnyDepthAreReplaced) {
    const auto text = redact_json_text(
        R"({"imp_key":"key1","imp_secret":"s3cr3t","response":{"access_token":"tok123",)"
        R"("now":1},"list":[{"benepia_password":"pw!"}]})");
    EXPECT_EQ(text.find("s3cr3t"), std::string::npos);
    EXPECT_EQ(text.find("tok123"), std::string::npos);
    EXPECT_EQ(text.find("pw!"), std::string::npos);
    EXPECT_NE(text.find("key1"), std::string::npos) << "imp_key is an identifier, not a secret";
    EXPECT_NE(text.find("[redacted]"), std::string::npos);
}

TEST(Redact, NonJsonIsNeverEchoed) {
    const auto text = redact_json_text("imp_secret=s3cr3t&imp_key=k");
    EXPECT_EQ(text.find("s3cr3t"), std::string::npos);
}

TEST(Redact, HeaderNamesAreCaseInsensitive) {
    EXPECT_TRUE(is_secret_field("Authorization"));
    EXPECT_TRUE(is_secret_field("BENEPIA_PASSWORD"));
    EXPECT_FALSE(is_secret_field("merchant_uid"));
}

}  // namespace
}  // namespace mg::iamport
