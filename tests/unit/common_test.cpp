#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "service/common/crypto.hpp"
#include "service/common/log.hpp"

namespace mg {
namespace {

TEST(Crypto, Sha256KnownVector) {
    EXPECT_EQ(crypto::sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, RandomTokensAreUrlSafeAndDistinct) {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        const auto token = crypto::random_token(16);
        EXPECT_EQ(token.size(), 22u);
        EXPECT_EQ(token.find_first_not_of(
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                  std::string::npos);
        seen.insert(token);
    }
    EXPECT_EQ(seen.size(), 1000u);
}

TEST(Crypto, Base64UrlRoundTrip) {
    for (const std::string text : {"", "a", "ab", "abc", "abcd", "o1:12345", "\xff\x00\x10"}) {
        std::string decoded;
        ASSERT_TRUE(crypto::base64url_decode(crypto::base64url_encode(text), decoded));
        EXPECT_EQ(decoded, text);
    }
    std::string out;
    EXPECT_FALSE(crypto::base64url_decode("a", out));
    EXPECT_FALSE(crypto::base64url_decode("ab+/", out));
}

TEST(Crypto, ConstantTimeEquals) {
    EXPECT_TRUE(crypto::constant_time_equals("secret", "secret"));
    EXPECT_FALSE(crypto::constant_time_equals("secret", "secreT"));
    EXPECT_FALSE(crypto::constant_time_equals("secret", "secret!"));
    EXPECT_TRUE(crypto::constant_time_equals("", ""));
}

TEST(Crypto, HmacSha256KnownVector) {
    // RFC 4231, test case 2.
    EXPECT_EQ(crypto::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, StandardBase64) {
    std::string out;
    ASSERT_TRUE(crypto::base64_decode("+/8=", out));
    EXPECT_EQ(out, "\xfb\xff");
    EXPECT_FALSE(crypto::base64_decode("-_8", out));
    EXPECT_FALSE(crypto::base64_decode("a b", out));
}

TEST(Crypto, SealedValuesOpenOnlyUnderTheirKeyAndContext) {
    const crypto::SecretKey key("0123456789abcdef0123456789abcdef");
    const crypto::SecretKey other("fedcba9876543210fedcba9876543210");
    const auto sealed = key.seal("cs_live_secret", "orders.client_secret");
    EXPECT_TRUE(crypto::SecretKey::is_sealed(sealed));
    EXPECT_EQ(sealed.find("cs_live_secret"), std::string::npos);
    EXPECT_NE(sealed, key.seal("cs_live_secret", "orders.client_secret"));  // a fresh nonce
    std::string out;
    ASSERT_TRUE(key.open(sealed, "orders.client_secret", out));
    EXPECT_EQ(out, "cs_live_secret");
    EXPECT_FALSE(key.open(sealed, "idempotency_keys.response_body", out));
    EXPECT_FALSE(other.open(sealed, "orders.client_secret", out));
    auto tampered = sealed;
    tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(key.open(tampered, "orders.client_secret", out));
    EXPECT_FALSE(key.open("v1.", "orders.client_secret", out));
    ASSERT_TRUE(key.open(key.seal("", "x"), "x", out));
    EXPECT_EQ(out, "");
    EXPECT_THROW(crypto::SecretKey("too short"), std::invalid_argument);
}

TEST(Crypto, KeyedFingerprintsDependOnTheKey) {
    const crypto::SecretKey key("0123456789abcdef0123456789abcdef");
    const crypto::SecretKey other("fedcba9876543210fedcba9876543210");
    EXPECT_EQ(key.fingerprint("body"), key.fingerprint("body"));
    EXPECT_NE(key.fingerprint("body"), other.fingerprint("body"));
    EXPECT_NE(key.fingerprint("body"), crypto::sha256_hex("body"));
    EXPECT_EQ(key.fingerprint("body").size(), 64u);
}

// Each thread reuses one cipher and one MAC context: a call must leave nothing behind for the
// next (another key, a failed open, another thread).
TEST(Crypto, ReusedContextsCarryNothingFromOneCallToTheNext) {
    const crypto::SecretKey key("0123456789abcdef0123456789abcdef");
    const crypto::SecretKey other("fedcba9876543210fedcba9876543210");
    const auto mine = key.seal("first", "c");
    const auto theirs = other.seal("second", "c");
    std::string out;
    EXPECT_FALSE(key.open(theirs, "c", out));  // fails half-way through the context's use
    ASSERT_TRUE(key.open(mine, "c", out));
    EXPECT_EQ(out, "first");
    ASSERT_TRUE(other.open(theirs, "c", out));
    EXPECT_EQ(out, "second");
    EXPECT_EQ(crypto::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // RFC 4231, test case 1 right after case 2 on the same context (another key).
    EXPECT_EQ(crypto::hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    std::vector<std::string> sealed(4);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < sealed.size(); ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                sealed[t] = key.seal("thread " + std::to_string(t), "c");
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    for (std::size_t t = 0; t < sealed.size(); ++t) {
        ASSERT_TRUE(key.open(sealed[t], "c", out));
        EXPECT_EQ(out, "thread " + std::to_string(t));
    }
}

TEST(Crypto, RandomTokensOfManyThreadsNeverRepeat) {
    std::vector<std::vector<std::string>> tokens(4);
    std::vector<std::thread> threads;
    for (auto& mine : tokens) {
        threads.emplace_back([&mine] {
            for (int i = 0; i < 2000; ++i) {
                mine.push_back(crypto::random_token(12));
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    std::set<std::string> seen;
    for (const auto& mine : tokens) {
        seen.insert(mine.begin(), mine.end());
    }
    EXPECT_EQ(seen.size(), 8000u);
}

TEST(Log, Masking) {
    EXPECT_EQ(log::mask_email("kim@example.com"), "k***@example.com");
    EXPECT_EQ(log::mask_email("nope"), "***");
    EXPECT_EQ(log::mask_tel("010-1234-5678"), "010-****-5678");
    EXPECT_EQ(log::mask_tel("01012345678"), "010****5678");
    EXPECT_EQ(log::mask_tel("1234"), "****");
}

class CapturedLog : public ::testing::Test {
  protected:
    void capture(log::Format format) {
        log::setup(spdlog::level::info, format);
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
        sink->set_formatter(log::make_formatter(format));
        spdlog::default_logger()->sinks().push_back(sink);
    }
    std::ostringstream stream_;
};

TEST_F(CapturedLog, JsonLinesAreValidJsonWithFields) {
    capture(log::Format::json);
    log::info(
        "order \"created\"\n",
        {{"merchant_uid", "o-1"}, {"amount", std::int64_t{32000}}, {"ok", true}, {"ms", 1.5}});
    spdlog::warn("plain {}", "message");
    std::istringstream lines(stream_.str());
    std::string line;
    std::getline(lines, line);
    const auto first = boost::json::parse(line).as_object();
    EXPECT_EQ(first.at("msg").as_string(), "order \"created\"\n");
    EXPECT_EQ(first.at("level").as_string(), "info");
    EXPECT_EQ(first.at("merchant_uid").as_string(), "o-1");
    EXPECT_EQ(first.at("amount").as_int64(), 32000);
    EXPECT_EQ(first.at("ok").as_bool(), true);
    const std::string ts(first.at("ts").as_string());
    EXPECT_TRUE(std::regex_match(ts, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
        << ts;
    std::getline(lines, line);
    const auto second = boost::json::parse(line).as_object();
    EXPECT_EQ(second.at("msg").as_string(), "plain message");
    EXPECT_EQ(second.at("level").as_string(), "warning");
}

TEST_F(CapturedLog, TextFormatForHumans) {
    capture(log::Format::text);
    log::info("listening", {{"port", 8080}});
    EXPECT_NE(stream_.str().find("info listening port=8080"), std::string::npos) << stream_.str();
}

TEST_F(CapturedLog, TextValuesAreQuotedSoNoValueForgesAField) {
    capture(log::Format::text);
    log::info("webhook processed",
              {{"imp_uid", "x source=10.9.9.9 outcome=applied"}, {"attempts", 2}});
    log::warn("iamport said\nlevel=error forged line", {{"error", "a\x1e\nb\"c"}});
    const auto out = stream_.str();
    EXPECT_NE(
        out.find(R"(webhook processed imp_uid="x source=10.9.9.9 outcome=applied" attempts=2)"),
        std::string::npos)
        << out;
    EXPECT_NE(out.find(R"(iamport said\u000alevel=error forged line error="a\u001e\nb\"c")"),
              std::string::npos)
        << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;  // two entries, two lines
}

TEST_F(CapturedLog, ARecordSeparatorInAJsonMessageOrValueSplitsNothing) {
    capture(log::Format::json);
    log::error("upstream \x1e said", {{"error", "x\x1e\"y\":1"}, {"n", 1}});
    std::string line;
    std::istringstream lines(stream_.str());
    std::getline(lines, line);
    const auto parsed = boost::json::parse(line).as_object();
    EXPECT_EQ(parsed.at("msg").as_string(), "upstream \x1e said");
    EXPECT_EQ(parsed.at("error").as_string(), "x\x1e\"y\":1");
    EXPECT_EQ(parsed.at("n").as_int64(), 1);
    EXPECT_FALSE(parsed.contains("y"));
}

}  // namespace
}  // namespace mg
