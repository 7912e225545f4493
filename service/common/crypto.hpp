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

}  // namespace mg::crypto
