#include "service/common/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstring>
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

// OpenSSL 3 looks an algorithm up by name (a locked table search) whenever it is given one of
// the legacy EVP_sha256()-style handles, and HMAC() fetches its MAC the same way: once per call.
// These are fetched once for the process, and each thread reuses its contexts, so a request pays
// for the arithmetic alone.
const EVP_MD* sha256_md() {
    static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (md == nullptr) {
        throw std::runtime_error("SHA-256 is not available");
    }
    return md;
}

const EVP_CIPHER* aes_256_gcm() {
    static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    if (cipher == nullptr) {
        throw std::runtime_error("AES-256-GCM is not available");
    }
    return cipher;
}

// One HMAC-SHA256 context per thread, keyed anew by each call.
class HmacContext {
  public:
    static HmacContext& of_this_thread() {
        thread_local HmacContext context;
        return context;
    }

    std::array<unsigned char, EVP_MAX_MD_SIZE> mac(std::string_view key, std::string_view data,
                                                   std::size_t& length) {
        std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
        const auto* k = reinterpret_cast<const unsigned char*>(key.data());
        const auto* d = reinterpret_cast<const unsigned char*>(data.data());
        if (EVP_MAC_init(ctx_, k, key.size(), nullptr) != 1 ||
            EVP_MAC_update(ctx_, d, data.size()) != 1 ||
            EVP_MAC_final(ctx_, out.data(), &length, out.size()) != 1) {
            throw std::runtime_error("HMAC-SHA256 failed");
        }
        return out;
    }

    HmacContext(const HmacContext&) = delete;
    HmacContext& operator=(const HmacContext&) = delete;
    ~HmacContext() { EVP_MAC_CTX_free(ctx_); }

  private:
    HmacContext() {
        static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        ctx_ = mac == nullptr ? nullptr : EVP_MAC_CTX_new(mac);
        char digest[] = "SHA256";
        const OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
            OSSL_PARAM_construct_end()};
        if (ctx_ == nullptr || EVP_MAC_CTX_set_params(ctx_, params) != 1) {
            EVP_MAC_CTX_free(ctx_);
            throw std::runtime_error("HMAC-SHA256 is not available");
        }
    }

    EVP_MAC_CTX* ctx_ = nullptr;
};

// Random bytes drawn from OpenSSL's generator a block at a time: one call (and its lock) per
// block instead of per token. A byte handed out is wiped from the block.
class RandomPool {
  public:
    static RandomPool& of_this_thread() {
        thread_local RandomPool pool;
        return pool;
    }

    void fill(unsigned char* out, std::size_t size) {
        while (size > 0) {
            if (used_ == block_.size()) {
                if (RAND_bytes(block_.data(), static_cast<int>(block_.size())) != 1) {
                    throw std::runtime_error("the system random generator failed");
                }
                used_ = 0;
            }
            const std::size_t n = std::min(size, block_.size() - used_);
            std::memcpy(out, block_.data() + used_, n);
            OPENSSL_cleanse(block_.data() + used_, n);
            used_ += n;
            out += n;
            size -= n;
        }
    }

    RandomPool(const RandomPool&) = delete;
    RandomPool& operator=(const RandomPool&) = delete;
    ~RandomPool() { OPENSSL_cleanse(block_.data(), block_.size()); }

  private:
    RandomPool() = default;

    std::array<unsigned char, 512> block_{};
    std::size_t used_ = block_.size();
};

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
    out.resize(text.size() * 3 / 4);
    std::size_t written = 0;
    unsigned buffer = 0;
    int bits = 0;
    for (const char c : text) {
        const int v = decode_char(c);
        if (v < 0) {
            out.clear();
            return false;
        }
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[written++] = static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    out.resize(written);
    return true;
}

std::string random_token(std::size_t bytes) {
    std::vector<unsigned char> buffer(bytes);
    RandomPool::of_this_thread().fill(buffer.data(), buffer.size());
    return base64url_encode(
        std::string_view(reinterpret_cast<const char*>(buffer.data()), buffer.size()));
}

std::string sha256_hex(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &length, sha256_md(), nullptr) != 1) {
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
    std::size_t length = 0;
    const auto digest = HmacContext::of_this_thread().mac(key, data, length);
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

// One AES-256-GCM context per thread: each seal or open initialises it afresh (cipher, key,
// nonce), which costs far less than making one.
EVP_CIPHER_CTX* cipher_context() {
    struct Holder {
        EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
        ~Holder() { EVP_CIPHER_CTX_free(ctx); }
    };
    thread_local Holder holder;
    if (holder.ctx == nullptr) {
        throw std::runtime_error("EVP_CIPHER_CTX_new failed");
    }
    return holder.ctx;
}

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
    RandomPool::of_this_thread().fill(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes);
    auto* const ctx = cipher_context();
    std::string out = nonce;
    out.resize(kNonceBytes + plaintext.size() + kTagBytes);
    auto* cipher = reinterpret_cast<unsigned char*>(out.data()) + kNonceBytes;
    int written = 0;
    int ignored = 0;
    if (EVP_EncryptInit_ex2(ctx, aes_256_gcm(), bytes(sealing_key_), bytes(nonce), nullptr) != 1 ||
        EVP_EncryptUpdate(ctx, nullptr, &ignored, bytes(context),
                          static_cast<int>(context.size())) != 1 ||
        EVP_EncryptUpdate(ctx, cipher, &written, bytes(plaintext),
                          static_cast<int>(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx, cipher + written, &ignored) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, cipher + plaintext.size()) != 1) {
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
    auto* const ctx = cipher_context();
    std::string plain(cipher.size(), '\0');
    int written = 0;
    int ignored = 0;
    if (EVP_DecryptInit_ex2(ctx, aes_256_gcm(), bytes(sealing_key_), bytes(nonce), nullptr) != 1 ||
        EVP_DecryptUpdate(ctx, nullptr, &ignored, bytes(context),
                          static_cast<int>(context.size())) != 1 ||
        EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(plain.data()), &written,
                          bytes(cipher), static_cast<int>(cipher.size())) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1 ||
        EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(plain.data()) + written,
                            &ignored) != 1) {
        return false;
    }
    out = std::move(plain);
    return true;
}

}  // namespace mg::crypto
