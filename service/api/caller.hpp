// Who is calling: a storefront server with an API key, or a buyer's browser holding one
// order's client secret (SPEC §4).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "service/common/crypto.hpp"

namespace mg::api {

// The Idempotency-Key claim a request runs under, when it sent one (set by the API before the
// handler runs). A handler that creates something stores its answer in the transaction that
// creates it (store_idempotent_response), so a crash leaves either both or neither.
struct IdempotentRequest {
    std::string scope;
    std::string key;
    std::int64_t claim = 0;  // the claim's fencing number
    bool stored = false;     // the answer is stored already
};

struct Caller {
    enum class Kind { api_key, browser };
    Kind kind = Kind::api_key;
    std::int64_t key_id = 0;
    std::string key_name;
    std::vector<std::string> scopes;
    // For a browser: the secret it presented; valid only for the order it belongs to, which
    // the handler checks when it loads that order.
    std::string client_secret;
    // The service's key for what it keeps at rest: client secrets are stored sealed under it.
    const crypto::SecretKey* secrets = nullptr;
    // The request's Idempotency-Key claim; null without one.
    IdempotentRequest* idempotency = nullptr;

    bool is_browser() const { return kind == Kind::browser; }
    bool has_scope(std::string_view scope) const {
        return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
    }
    // Idempotency keys are scoped per API key; a browser's per order it acts on and per secret
    // it holds, so that a caller without the order's secret can neither read a stored answer
    // nor plant one (the secret itself is checked only later, by the handler).
    std::string idempotency_scope(std::string_view merchant_uid) const {
        return is_browser() ? "order:" + std::string(merchant_uid) + ":" +
                                  secrets->fingerprint(client_secret)
                            : "key:" + std::to_string(key_id);
    }
};

}  // namespace mg::api
