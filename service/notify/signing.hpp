// Standard Webhooks signatures (the format PortOne's V2 API uses), so a shop verifies our events
// with the library it already has: `webhook-signature: v1,<base64 HMAC-SHA256 of
// "<webhook-id>.<webhook-timestamp>.<body>">` under the secret's bytes; several space-separated
// while a rotation keeps two secrets valid.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mg::notify {

// A new signing secret: "whsec_" + base64 of 32 random bytes.
std::string new_secret();

// "v1,<signature>" of one message under `secret` (a "whsec_…" secret); throws
// std::invalid_argument for a secret that is not one.
std::string sign(std::string_view secret, std::string_view id, std::int64_t timestamp,
                 std::string_view body);

// The webhook-signature header: the current secret's, then the previous one's while it is valid.
std::string signature_header(std::string_view secret, const std::optional<std::string>& previous,
                             std::string_view id, std::int64_t timestamp, std::string_view body);

}  // namespace mg::notify
