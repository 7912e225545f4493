#include "service/common/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <stdexcept>
#include <vector>

namespace mg::crypto {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int decode_char(char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

}  // namespace

std::string base64url_encode(std::string_view data) {
    std::string out;
    out.reserve((data.size() * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                           (static_cast<unsigned char>(data[i + 1]) << 8) |
                           static_cast<unsigned char>(data[i + 2]);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    const std::size_t rest = data.size() - i;
    if (rest == 1) {
        const unsigned v = static_cast<unsigned char>(data[i]) << 16;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
    } else if (rest == 2) {
        const unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                           (static_cast<unsigned char>(data[i + 1]) << 8);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
    }
    return out;
}

std::string base64_encode(std::string_view data) {
    auto out = base64url_encode(data);
    for (auto& c : out) {
        c = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    out.append((4 - out.size() % 4) % 4, '=');
    return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
    out.clear();
    if (text.size() % 4 == 1) {
        return false;
    }
    unsigned buffer = 0;
    int bits = 0;
    for (const char c : text) {
        const int v = decode_char(c);
        if (v < 0) {
            return false;
        }
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    return true;
}

std::string random_token(std::size_t bytes) {
    std::vector<unsigned char> buffer(bytes);
    if (RAND_bytes(buffer.data(), static_cast<int>(buffer.size())) != 1) {
        throw std::runtime_error("the system random generator failed");
    }
    return base64url_encode(
        std::string_view(reinterpret_cast<const char*>(buffer.data()), buffer.size()));
}

std::string sha256_hex(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("SHA-256 failed");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) {
        out += kHex[digest[i] >> 4];
        out += kHex[digest[i] & 0x0F];
    }
    return out;
}

bool constant_time_equals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool base64_decode(std::string_view text, std::string& out) {
    std::string url;
    url.reserve(text.size());
    for (const char c : text) {
        if (c == '-' || c == '_') {
            return false;  // not the standard alphabet
        }
        url += c == '+' ? '-' : c == '/' ? '_' : c;
    }
    while (!url.empty() && url.back() == '=') {
        url.pop_back();
    }
    return base64url_decode(url, out);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data(),
             &length) == nullptr) {
        throw std::runtime_error("HMAC-SHA256 failed");
    }
    return std::string(reinterpret_cast<const char*>(digest.data()), length);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
    static constexpr char kHex[] = "0123456789abcdef";
    const auto raw = hmac_sha256(key, data);
    std::string out;
    out.reserve(raw.size() * 2);
    for (const unsigned char c : raw) {
        out += kHex[c >> 4];
        out += kHex[c & 0x0f];
    }
    return out;
}

namespace {

constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;

struct CipherContext {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    ~CipherContext() { EVP_CIPHER_CTX_free(ctx); }
    CipherContext() {
        if (ctx == nullptr) {
            throw std::runtime_error("EVP_CIPHER_CTX_new failed");
        }
    }
    CipherContext(const CipherContext&) = delete;
    CipherContext& operator=(const CipherContext&) = delete;
};

const unsigned char* bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

SecretKey::SecretKey(std::string_view master) {
    if (master.size() < 32) {
        throw std::invalid_argument("the secret key must be at least 32 bytes");
    }
    fingerprint_key_ = hmac_sha256(master, "merchant-gateway fingerprint v1");
    sealing_key_ = hmac_sha256(master, "merchant-gateway sealing v1");
}

std::string SecretKey::fingerprint(std::string_view data) const {
    return hmac_sha256_hex(fingerprint_key_, data);
}

std::string SecretKey::seal(std::string_view plaintext, std::string_view context) const {
    std::string nonce(kNonceBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes) != 1) {
        throw std::runtime_error("RAND_bytes failed");
    }
    CipherContext c;
    std::string out = nonce;
    out.resize(kNonceBytes + plaintext.size() + kTagBytes);
    auto* cipher = reinterpret_cast<unsigned char*>(out.data()) + kNonceBytes;
    int written = 0;
    int ignored = 0;
    if (EVP_EncryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, bytes(sealing_key_), bytes(nonce)) !=
            1 ||
        EVP_EncryptUpdate(c.ctx, nullptr, &ignored, bytes(context),
                          static_cast<int>(context.size())) != 1 ||
        EVP_EncryptUpdate(c.ctx, cipher, &written, bytes(plaintext),
                          static_cast<int>(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(c.ctx, cipher + written, &ignored) != 1 ||
        EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, cipher + plaintext.size()) !=
            1) {
        throw std::runtime_error("AES-256-GCM sealing failed");
    }
    return "v1." + base64url_encode(out);
}

bool SecretKey::open(std::string_view sealed, std::string_view context, std::string& out) const {
    std::string raw;
    if (!is_sealed(sealed) || !base64url_decode(sealed.substr(3), raw) ||
        raw.size() < kNonceBytes + kTagBytes) {
        return false;
    }
    const std::string_view nonce(raw.data(), kNonceBytes);
    const std::string_view cipher(raw.data() + kNonceBytes, raw.size() - kNonceBytes - kTagBytes);
    std::string tag(raw.data() + raw.size() - kTagBytes, kTagBytes);
    CipherContext c;
    std::string plain(cipher.size(), '\0');
    int written = 0;
    int ignored = 0;
    if (EVP_DecryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, bytes(sealing_key_), bytes(nonce)) !=
            1 ||
        EVP_DecryptUpdate(c.ctx, nullptr, &ignored, bytes(context),
                          static_cast<int>(context.size())) != 1 ||
        EVP_DecryptUpdate(c.ctx, reinterpret_cast<unsigned char*>(plain.data()), &written,
                          bytes(cipher), static_cast<int>(cipher.size())) != 1 ||
        EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1 ||
        EVP_DecryptFinal_ex(c.ctx, reinterpret_cast<unsigned char*>(plain.data()) + written,
                            &ignored) != 1) {
        return false;
    }
    out = std::move(plain);
    return true;
}

}  // namespace mg::crypto
