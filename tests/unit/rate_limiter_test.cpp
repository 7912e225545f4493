// The token buckets every caller is budgeted by: per key, and bounded in how many they keep.
#include <gtest/gtest.h>

#include <string>

#include "service/api/api_keys.hpp"

namespace mg::api {
namespace {

TEST(RateLimiter, ABurstThenRefusalsWithWhenToComeBack) {
    RateLimiter limiter(1, 3);
    std::chrono::seconds retry_after{0};
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(limiter.allow("order:a", retry_after));
    }
    EXPECT_FALSE(limiter.allow("order:a", retry_after));
    EXPECT_EQ(retry_after.count(), 1);
    EXPECT_TRUE(limiter.allow("order:b", retry_after));  // each key has a bucket of its own
}

TEST(RateLimiter, MadeUpKeysBeyondTheCapShareOneBucketAndCostNoMemory) {
    RateLimiter limiter(1, 5, 100);
    std::chrono::seconds retry_after{0};
    int allowed = 0;
    for (int i = 0; i < 10'000; ++i) {
        allowed += limiter.allow("203.0.113." + std::to_string(i), retry_after);
    }
    EXPECT_LE(limiter.size(), 101u);  // the cap and the shared bucket
    EXPECT_LE(allowed, 100 + 5 + 1);  // each of the first 100, then the shared burst
    EXPECT_TRUE(limiter.allow("203.0.113.7", retry_after));  // a key it keeps is its own
}

TEST(ApiKeyShape, OnlyWhatGenerateApiKeyGivesIsLookedUp) {
    EXPECT_TRUE(has_api_key_shape(generate_api_key()));
    EXPECT_TRUE(has_api_key_shape("mgk_" + std::string(43, 'A')));
    EXPECT_FALSE(has_api_key_shape("mgk_" + std::string(42, 'A')));
    EXPECT_FALSE(has_api_key_shape("mgk_" + std::string(44, 'A')));
    EXPECT_FALSE(has_api_key_shape("mgx_" + std::string(43, 'A')));
    EXPECT_FALSE(has_api_key_shape("mgk_" + std::string(42, 'A') + "="));
    EXPECT_FALSE(has_api_key_shape("mgk_" + std::string(42, 'A') + "\n"));
    EXPECT_FALSE(has_api_key_shape(""));
}

TEST(ApiKeyCache, RemembersInvalidKeysEvenWhenValidOnesAreNotCached) {
    ApiKeyCache cache(std::chrono::milliseconds(0));
    Caller caller;
    EXPECT_EQ(cache.find("bad", caller), ApiKeyCache::Known::no);
    cache.put_invalid("bad");
    EXPECT_EQ(cache.find("bad", caller), ApiKeyCache::Known::invalid);
    cache.put("good", Caller{Caller::Kind::api_key, 7, "shop", {"read"}, {}});
    EXPECT_EQ(cache.find("good", caller), ApiKeyCache::Known::no);
}

TEST(ApiKeyCache, ValidKeysComeBackWithTheirCaller) {
    ApiKeyCache cache(std::chrono::seconds(30));
    cache.put("good", Caller{Caller::Kind::api_key, 7, "shop", {"read"}, {}});
    Caller caller;
    ASSERT_EQ(cache.find("good", caller), ApiKeyCache::Known::valid);
    EXPECT_EQ(caller.key_id, 7);
    EXPECT_EQ(caller.key_name, "shop");
}

TEST(ApiKeyCache, AFloodOfDistinctBadKeysStaysBounded) {
    ApiKeyCache cache(std::chrono::seconds(30));
    for (std::size_t i = 0; i < 3 * ApiKeyCache::kMaxEntries; ++i) {
        cache.put_invalid("bad-" + std::to_string(i));
        cache.put("good-" + std::to_string(i), Caller{});
    }
    EXPECT_LE(cache.size(), 2 * ApiKeyCache::kMaxEntries);
    Caller caller;
    EXPECT_EQ(cache.find("bad-" + std::to_string(3 * ApiKeyCache::kMaxEntries - 1), caller),
              ApiKeyCache::Known::invalid);
}

}  // namespace
}  // namespace mg::api
