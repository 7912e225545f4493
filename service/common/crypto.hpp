// Small wrappers over OpenSSL for secrets: random tokens, hashes, constant-time comparison.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mg::crypto {

// `bytes` random bytes from OpenSSL's CSPRNG, base64url-encoded without padding.
std::string random_token(std::size_t bytes);

// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

// Equality that takes the same time wherever the first difference is, so a caller guessing a
// secret learns nothing from response times. Lengths are not secret.
bool constant_time_equals(std::string_view a, std::string_view b);

std::string base64url_encode(std::string_view data);
// Empty optional-like result is signalled by returning false.
bool base64url_decode(std::string_view text, std::string& out);

// Standard base64 (RFC 4648 §4, `+/`, with padding).
std::string base64_encode(std::string_view data);
// Standard base64 (RFC 4648 §4, `+/`, padding optional) as configuration holds keys; false when
// `text` is not that.
bool base64_decode(std::string_view text, std::string& out);

// HMAC-SHA256 of `data` under `key`: 32 raw bytes, or lower-case hex.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// The service's key for what it keeps at rest (GATEWAY_SECRET_KEY): each use gets a key of its
// own derived from it, so that no use can stand in for another.
class SecretKey {
  public:
    // `master`: at least 32 random bytes. Throws std::invalid_argument when shorter.
    explicit SecretKey(std::string_view master);

    // A keyed fingerprint (hex HMAC) of `data`: equal data, equal fingerprint; nothing of
    // `data` can be guessed from it without the key.
    std::string fingerprint(std::string_view data) const;

    // `plaintext` sealed with AES-256-GCM under a random nonce: "v1." + base64url(nonce,
    // ciphertext, tag). `context` is bound to it (authenticated, not stored): a value sealed
    // for one column opens in no other.
    std::string seal(std::string_view plaintext, std::string_view context) const;
    // The plaintext of seal()'s output; nullopt-like false when it was not sealed under this
    // key and context, or was altered.
    bool open(std::string_view sealed, std::string_view context, std::string& out) const;
    static bool is_sealed(std::string_view value) { return value.starts_with("v1."); }

  private:
    std::string fingerprint_key_;
    std::string sealing_key_;
};

}  // namespace mg::crypto
