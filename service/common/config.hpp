// Configuration from the environment (SPEC §3), or from a `--config FILE` of the same
// KEY=VALUE lines. A bad or missing value is a ConfigError naming the key; the process exits
// with that one line.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "service/common/cidr.hpp"

namespace mg {

class ConfigError : public std::runtime_error {
  public:
    ConfigError(std::string key, const std::string& problem)
        : std::runtime_error(key + ": " + problem), key_(std::move(key)) {}
    const std::string& key() const { return key_; }

  private:
    std::string key_;
};

struct HostPort {
    std::string host;
    std::uint16_t port = 0;
};

struct Limits {
    std::size_t body_bytes = 64 * 1024;
    std::size_t header_bytes = 8 * 1024;
    std::chrono::seconds request_timeout{10};  // to send a request's headers and body
    std::size_t max_connections = 10'000;
    double rate_per_second = 1000;  // per API key
    double rate_burst = 2000;
};

struct Config {
    std::string database_url;
    HostPort listen{"127.0.0.1", 8080};
    // ADMIN_LISTEN: where /metrics, /healthz and /readyz are served apart from the API; unset,
    // they are served on LISTEN with the API.
    std::optional<HostPort> admin_listen;
    std::optional<std::string> public_base_url;
    std::string iamport_base_url = "https://api.iamport.kr";
    std::optional<std::string> iamport_imp_key;
    std::optional<std::string> iamport_imp_secret;
    // GATEWAY_SECRET_KEY, decoded: keys idempotency fingerprints, seals client secrets and stored
    // responses (crypto::SecretKey). Never logged.
    std::string gateway_secret_key;
    std::optional<std::string> iamport_channel_key;
    std::optional<std::string> iamport_pg;
    std::optional<std::string> iamport_ca_file;
    std::chrono::milliseconds iamport_connect_timeout{3000};
    std::chrono::milliseconds iamport_attempt_timeout{10'000};  // one HTTP exchange
    std::chrono::milliseconds iamport_call_timeout{30'000};     // a call, retries included
    std::vector<Cidr> webhook_allowed_ips;                      // empty: any source
    std::vector<Cidr> webhook_trusted_proxies;                  // whose X-Forwarded-For is believed
    double webhook_rate_per_second = 50;                        // per source address
    double webhook_rate_burst = 200;
    int webhook_max_attempts = 60;  // processing attempts before a delivery is `failed`
    // Deliveries processed at once by this instance (each one re-fetch); the rest wait in the
    // inbox. Notice-caused reads go through their own IAMPORT_NOTICE_CONNECTIONS connections
    // and circuit breaker, apart from the calls that move money.
    std::size_t webhook_concurrency = 4;
    std::size_t iamport_notice_connections = 4;
    std::size_t iamport_max_connections = 16;
    // Processed deliveries are purged after this many days (failed ones, and those that sent
    // an order to review, stay).
    int webhook_retention_days = 90;
    // DUPLICATE_PAYMENT_POLICY: a second payment taking money for an order another payment
    // already settled goes to review, or is refunded in full automatically.
    bool refund_duplicate_payments = false;
    // The shop's events (SPEC §11): private, loopback and link-local targets (and plain http)
    // only when allowed; one attempt's whole time; the waits between attempts (empty: the
    // default of about three days); attempts at once per instance; how often due ones are looked
    // for.
    bool notify_allow_private = false;
    std::chrono::milliseconds notify_timeout{10'000};
    std::vector<std::chrono::seconds> notify_retry_schedule;
    std::size_t notify_concurrency = 32;
    std::chrono::milliseconds notify_poll_interval{200};
    // Browser callers (a client secret): a token bucket per order, per secret and per source
    // address (the peer, or X-Forwarded-For from WEBHOOK_TRUSTED_PROXIES).
    double browser_rate_per_second = 5;
    double browser_rate_burst = 20;
    std::vector<std::string> cors_allowed_origins;
    std::chrono::seconds reconcile_interval{30};
    std::string log_level = "info";
    std::string log_format = "json";
    Limits limits;
    std::size_t io_threads = 2;
    std::size_t db_pool_size = 8;
    std::size_t db_queue_limit = 1000;
    std::chrono::seconds drain_timeout{30};
    // How long a verified API key is trusted without asking the database again; a revoked
    // key keeps working at most this long.
    std::chrono::seconds api_key_cache_ttl{5};

    // How long an Idempotency-Key claim holds before a retry may take it over (its holder is
    // presumed dead): longer than the slowest request, which makes at most three iamport calls
    // (a token, the call, a fresh re-fetch), each bounded by IAMPORT_CALL_TIMEOUT_MS, plus its
    // database work. A holder that outlives it anyway is fenced out (see
    // db::claim_idempotency_key).
    std::chrono::seconds idempotency_claim_lifetime() const {
        return std::chrono::ceil<std::chrono::seconds>(3 * iamport_call_timeout) +
               std::chrono::seconds(30);
    }
};

// Looks a variable up; nullopt when unset.
using Lookup = std::function<std::optional<std::string>(const std::string&)>;

// A lookup over the process environment, with `NAME_FILE` read as the value of NAME.
Lookup environment_lookup();
// Same over KEY=VALUE lines of a file (comments with #), falling back to the environment.
Lookup file_lookup(const std::string& path);
// Wraps a lookup so that NAME_FILE (a path) stands for NAME when NAME itself is unset.
Lookup with_file_secrets(Lookup base);

// What the command needs: `serve` needs everything, `migrate` and `api-key` only the database.
enum class ConfigPurpose { serve, database_only };

Config load_config(const Lookup& lookup, ConfigPurpose purpose);

HostPort parse_host_port(const std::string& key, const std::string& text);

}  // namespace mg
