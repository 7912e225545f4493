#include "service/notify/signing.hpp"

#include <openssl/rand.h>

#include <stdexcept>

#include "service/common/crypto.hpp"

namespace mg::notify {
namespace {

constexpr std::string_view kPrefix = "whsec_";
constexpr std::size_t kSecretBytes = 32;

}  // namespace

std::string new_secret() {
    std::string bytes(kSecretBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), kSecretBytes) != 1) {
        throw std::runtime_error("no random bytes for a signing secret");
    }
    return std::string(kPrefix) + crypto::base64_encode(bytes);
}

std::string sign(std::string_view secret, std::string_view id, std::int64_t timestamp,
                 std::string_view body) {
    std::string key;
    if (!secret.starts_with(kPrefix) ||
        !crypto::base64_decode(secret.substr(kPrefix.size()), key)) {
        throw std::invalid_argument("not a whsec_ signing secret");
    }
    std::string message;
    message.reserve(id.size() + body.size() + 24);
    message.append(id).append(".").append(std::to_string(timestamp)).append(".").append(body);
    return "v1," + crypto::base64_encode(crypto::hmac_sha256(key, message));
}

std::string signature_header(std::string_view secret, const std::optional<std::string>& previous,
                             std::string_view id, std::int64_t timestamp, std::string_view body) {
    auto header = sign(secret, id, timestamp, body);
    if (previous) {
        header += " " + sign(*previous, id, timestamp, body);
    }
    return header;
}

}  // namespace mg::notify
