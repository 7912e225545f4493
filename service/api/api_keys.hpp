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

// Recently verified keys, so that a busy storefront does not cost a database round trip per
// request. A revoked key stops working within `ttl`.
class ApiKeyCache {
  public:
    explicit ApiKeyCache(std::chrono::milliseconds ttl) : ttl_(ttl) {}
    std::optional<Caller> find(const std::string& hash);
    void put(const std::string& hash, const Caller& caller);

  private:
    struct Entry {
        Caller caller;
        std::chrono::steady_clock::time_point stored;
    };
    std::chrono::milliseconds ttl_;
    std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;
};

// Token bucket per API key: `rate` requests a second on average, bursts up to `burst`.
class RateLimiter {
  public:
    RateLimiter(double rate, double burst) : rate_(rate), burst_(burst) {}
    // True when allowed; otherwise `retry_after` says when a token will be there.
    bool allow(std::int64_t key_id, std::chrono::seconds& retry_after);

  private:
    struct Bucket {
        double tokens;
        std::chrono::steady_clock::time_point last;
    };
    double rate_;
    double burst_;
    std::mutex mutex_;
    std::unordered_map<std::int64_t, Bucket> buckets_;
};

}  // namespace mg::api
