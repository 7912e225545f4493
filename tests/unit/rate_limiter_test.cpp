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

}  // namespace
}  // namespace mg::api
