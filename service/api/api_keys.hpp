// API keys: generated here, shown once, stored only as their SHA-256.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "service/api/caller.hpp"

namespace mg::api {

inline constexpr std::string_view kApiKeyPrefix = "mgk_";

// A new key: "mgk_" + 256 random bits, base64url.
std::string generate_api_key();
std::string hash_api_key(std::string_view key);
bool is_valid_scope(std::string_view scope);

// True when `key` has the shape generate_api_key() gives ("mgk_" + 43 base64url characters):
// anything else is refused without a database look-up.
bool has_api_key_shape(std::string_view key);

// Recently verified keys, so that a busy storefront does not cost a database round trip per
// request; a revoked key stops working within `ttl`. Keys found invalid are remembered too, for
// kInvalidKeyMemory (a key never becomes valid later: keys are random and revocation is final),
// so that a flood of one bad key is not a flood of look-ups. Each side holds at most kMaxEntries.
class ApiKeyCache {
  public:
    static constexpr std::size_t kMaxEntries = 10'000;
    static constexpr std::chrono::seconds kInvalidKeyMemory{30};
    enum class Known { no, valid, invalid };

    explicit ApiKeyCache(std::chrono::milliseconds ttl) : ttl_(ttl) {}
    // `valid` fills `caller`.
    Known find(const std::string& hash, Caller& caller);
    void put(const std::string& hash, const Caller& caller);
    void put_invalid(const std::string& hash);
    std::size_t size() const;

  private:
    struct Entry {
        Caller caller;
        std::chrono::steady_clock::time_point stored;
    };
    std::chrono::milliseconds ttl_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> invalid_;
};

// Token bucket per API key: `rate` requests a second on average, bursts up to `burst`.
// Token buckets per key (an API key's id, a webhook source address). Buckets that have been
// idle long enough to be full again are dropped, so many distinct keys can't grow it forever.
class RateLimiter {
  public:
    // At most `max_keys` buckets are kept: beyond, keys not seen recently share one bucket, so
    // that a flood of made-up keys (addresses, secrets) costs no memory and limits itself.
    RateLimiter(double rate, double burst, std::size_t max_keys = 100'000)
        : rate_(rate), burst_(burst), max_keys_(max_keys) {}
    // True when allowed; otherwise `retry_after` says when a token will be there.
    bool allow(const std::string& key, std::chrono::seconds& retry_after);
    bool allow(std::int64_t key_id, std::chrono::seconds& retry_after) {
        return allow(std::to_string(key_id), retry_after);
    }
    std::size_t size() const;

  private:
    struct Bucket {
        double tokens;
        std::chrono::steady_clock::time_point last;
    };
    void prune(std::chrono::steady_clock::time_point now);

    double rate_;
    double burst_;
    std::size_t max_keys_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Bucket> buckets_;
    std::chrono::steady_clock::time_point last_prune_{};
};

}  // namespace mg::api
