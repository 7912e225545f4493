#include "service/api/api_keys.hpp"

#include <cmath>

#include "service/common/crypto.hpp"

namespace mg::api {

std::string generate_api_key() {
    return std::string(kApiKeyPrefix) + crypto::random_token(32);
}

std::string hash_api_key(std::string_view key) {
    return crypto::sha256_hex(key);
}

bool is_valid_scope(std::string_view scope) {
    return scope == "read" || scope == "write" || scope == "refund" || scope == "review" ||
           scope == "admin";
}

bool has_api_key_shape(std::string_view key) {
    constexpr std::size_t kRandomChars = 43;  // base64url of 32 bytes, unpadded
    if (!key.starts_with(kApiKeyPrefix) || key.size() != kApiKeyPrefix.size() + kRandomChars) {
        return false;
    }
    for (const char c : key.substr(kApiKeyPrefix.size())) {
        const bool base64url = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                               (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!base64url) {
            return false;
        }
    }
    return true;
}

ApiKeyCache::Known ApiKeyCache::find(const std::string& hash, Caller& caller) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    if (const auto bad = invalid_.find(hash); bad != invalid_.end()) {
        if (now - bad->second <= kInvalidKeyMemory) {
            return Known::invalid;
        }
        invalid_.erase(bad);
    }
    if (ttl_.count() == 0) {
        return Known::no;
    }
    const auto it = entries_.find(hash);
    if (it == entries_.end()) {
        return Known::no;
    }
    if (now - it->second.stored > ttl_) {
        entries_.erase(it);
        return Known::no;
    }
    caller = it->second.caller;
    return Known::valid;
}

void ApiKeyCache::put(const std::string& hash, const Caller& caller) {
    if (ttl_.count() == 0) {
        return;
    }
    std::lock_guard lock(mutex_);
    // Bounded: a flood of distinct valid keys cannot grow it without limit.
    if (entries_.size() >= kMaxEntries) {
        entries_.clear();
    }
    entries_[hash] = Entry{caller, std::chrono::steady_clock::now()};
}

void ApiKeyCache::put_invalid(const std::string& hash) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    if (invalid_.size() >= kMaxEntries) {
        std::erase_if(invalid_,
                      [&](const auto& item) { return now - item.second > kInvalidKeyMemory; });
        if (invalid_.size() >= kMaxEntries) {
            invalid_.clear();
        }
    }
    invalid_[hash] = now;
}

std::size_t ApiKeyCache::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size() + invalid_.size();
}

void RateLimiter::prune(std::chrono::steady_clock::time_point now) {
    // A bucket idle for burst/rate seconds is full: forgetting it changes nothing.
    const auto refill = std::chrono::duration<double>(burst_ / rate_);
    if (now - last_prune_ < std::chrono::seconds(10)) {
        return;
    }
    last_prune_ = now;
    std::erase_if(buckets_, [&](const auto& item) { return now - item.second.last > refill; });
}

std::size_t RateLimiter::size() const {
    std::lock_guard lock(mutex_);
    return buckets_.size();
}

bool RateLimiter::allow(const std::string& key, std::chrono::seconds& retry_after) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    prune(now);
    static const std::string kOverflow = "\x01overflow";
    const bool known = buckets_.contains(key);
    auto [it, inserted] = buckets_.try_emplace(
        known || buckets_.size() < max_keys_ ? key : kOverflow, Bucket{burst_, now});
    auto& bucket = it->second;
    if (!inserted) {
        const std::chrono::duration<double> elapsed = now - bucket.last;
        bucket.tokens = std::min(burst_, bucket.tokens + elapsed.count() * rate_);
        bucket.last = now;
    }
    if (bucket.tokens >= 1.0) {
        bucket.tokens -= 1.0;
        return true;
    }
    const double wait = (1.0 - bucket.tokens) / rate_;
    retry_after = std::chrono::seconds(static_cast<std::int64_t>(std::ceil(wait)));
    if (retry_after.count() < 1) {
        retry_after = std::chrono::seconds(1);
    }
    return false;
}

}  // namespace mg::api
