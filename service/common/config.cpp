#include "service/common/config.hpp"

#include <spdlog/common.h>

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "service/common/crypto.hpp"
#include "service/common/log.hpp"

namespace mg {
namespace {

std::string trim(std::string_view text) {
    std::size_t begin = 0;
    std::size_t end = text.size();
    while (begin < end && std::isspace(static_cast<unsigned char>(text[begin])))
        ++begin;
    while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1])))
        --end;
    return std::string(text.substr(begin, end - begin));
}

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> items;
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ',')) {
        auto trimmed = trim(item);
        if (!trimmed.empty()) {
            items.push_back(std::move(trimmed));
        }
    }
    return items;
}

std::uint64_t parse_unsigned(const std::string& key, const std::string& text, std::uint64_t min,
                             std::uint64_t max) {
    std::uint64_t value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end || text.empty()) {
        throw ConfigError(key, "must be a whole number, got '" + text + "'");
    }
    if (value < min || value > max) {
        throw ConfigError(key, "must be between " + std::to_string(min) + " and " +
                                   std::to_string(max) + ", got " + text);
    }
    return value;
}

void require_http_url(const std::string& key, const std::string& value) {
    if (value.rfind("http://", 0) != 0 && value.rfind("https://", 0) != 0) {
        throw ConfigError(key, "must be an http:// or https:// URL");
    }
    if (value.find_first_of(" \t\r\n") != std::string::npos) {
        throw ConfigError(key, "must not contain whitespace");
    }
}

std::string strip_trailing_slash(std::string value) {
    while (!value.empty() && value.back() == '/') {
        value.pop_back();
    }
    return value;
}

std::optional<std::string> non_empty(const Lookup& lookup, const std::string& key) {
    auto value = lookup(key);
    if (value && trim(*value).empty()) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

HostPort parse_host_port(const std::string& key, const std::string& text) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        throw ConfigError(key, "must be host:port, got '" + text + "'");
    }
    HostPort result;
    result.host = text.substr(0, colon);
    if (result.host.size() > 2 && result.host.front() == '[' && result.host.back() == ']') {
        result.host = result.host.substr(1, result.host.size() - 2);
    }
    result.port = static_cast<std::uint16_t>(parse_unsigned(key, text.substr(colon + 1), 0, 65535));
    return result;
}

Lookup with_file_secrets(Lookup base) {
    return [base = std::move(base)](const std::string& key) -> std::optional<std::string> {
        if (auto value = base(key)) {
            return value;
        }
        const auto path = base(key + "_FILE");
        if (!path) {
            return std::nullopt;
        }
        std::ifstream file(*path, std::ios::binary);
        if (!file) {
            throw ConfigError(key + "_FILE", "cannot read the file it names");
        }
        std::string content((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
        // Secret files usually end with a newline that is not part of the secret.
        while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) {
            content.pop_back();
        }
        return content;
    };
}

Lookup environment_lookup() {
    return with_file_secrets([](const std::string& key) -> std::optional<std::string> {
        if (const char* value = std::getenv(key.c_str())) {
            return std::string(value);
        }
        return std::nullopt;
    });
}

Lookup file_lookup(const std::string& path) {
    std::ifstream file(path);
    if (!file) {
        throw ConfigError("--config", "cannot read " + path);
    }
    auto values = std::make_shared<std::map<std::string, std::string>>();
    std::string line;
    int number = 0;
    while (std::getline(file, line)) {
        ++number;
        const auto text = trim(line);
        if (text.empty() || text.front() == '#') {
            continue;
        }
        const auto eq = text.find('=');
        if (eq == std::string::npos) {
            throw ConfigError("--config",
                              path + ":" + std::to_string(number) + ": expected KEY=VALUE");
        }
        (*values)[trim(text.substr(0, eq))] = trim(text.substr(eq + 1));
    }
    auto environment = environment_lookup();
    return with_file_secrets(
        [values, environment](const std::string& key) -> std::optional<std::string> {
            if (const auto it = values->find(key); it != values->end()) {
                return it->second;
            }
            return environment(key);
        });
}

namespace {

std::vector<Cidr> parse_networks(const std::string& key, const std::string& text) {
    std::vector<Cidr> networks;
    for (const auto& item : split_list(text)) {
        auto network = Cidr::parse(item);
        if (!network) {
            throw ConfigError(key, "'" + item + "' is not an IP address or CIDR network");
        }
        networks.push_back(*network);
    }
    return networks;
}

}  // namespace

Config load_config(const Lookup& lookup, ConfigPurpose purpose) {
    Config config;
    auto database_url = non_empty(lookup, "DATABASE_URL");
    if (!database_url) {
        throw ConfigError("DATABASE_URL", "is required (a libpq connection string or URI)");
    }
    config.database_url = *database_url;

    if (auto level = non_empty(lookup, "LOG_LEVEL")) {
        spdlog::level::level_enum parsed{};
        if (!log::parse_level(*level, parsed)) {
            throw ConfigError("LOG_LEVEL", "must be one of trace, debug, info, warn, error, off");
        }
        config.log_level = *level;
    }
    if (auto format = non_empty(lookup, "LOG_FORMAT")) {
        log::Format parsed{};
        if (!log::parse_format(*format, parsed)) {
            throw ConfigError("LOG_FORMAT", "must be json or text");
        }
        config.log_format = *format;
    }
    if (auto size = non_empty(lookup, "DB_POOL_SIZE")) {
        config.db_pool_size = parse_unsigned("DB_POOL_SIZE", *size, 1, 500);
    }
    if (purpose == ConfigPurpose::database_only) {
        return config;
    }

    if (auto listen = non_empty(lookup, "LISTEN")) {
        config.listen = parse_host_port("LISTEN", *listen);
    }
    if (auto admin = non_empty(lookup, "ADMIN_LISTEN")) {
        config.admin_listen = parse_host_port("ADMIN_LISTEN", *admin);
        if (config.admin_listen->host == config.listen.host &&
            config.admin_listen->port == config.listen.port) {
            config.admin_listen.reset();  // the same address: served together
        }
    }
    if (auto url = non_empty(lookup, "PUBLIC_BASE_URL")) {
        require_http_url("PUBLIC_BASE_URL", *url);
        config.public_base_url = strip_trailing_slash(*url);
    }
    if (auto url = non_empty(lookup, "IAMPORT_BASE_URL")) {
        require_http_url("IAMPORT_BASE_URL", *url);
        config.iamport_base_url = strip_trailing_slash(*url);
    }
    config.iamport_imp_key = non_empty(lookup, "IAMPORT_IMP_KEY");
    config.iamport_imp_secret = non_empty(lookup, "IAMPORT_IMP_SECRET");
    if (!config.iamport_imp_key) {
        throw ConfigError("IAMPORT_IMP_KEY", "is required (iamport REST API key)");
    }
    if (!config.iamport_imp_secret) {
        throw ConfigError("IAMPORT_IMP_SECRET", "is required (iamport REST API secret)");
    }
    if (auto key = non_empty(lookup, "GATEWAY_SECRET_KEY")) {
        std::string decoded;
        if (!crypto::base64_decode(*key, decoded) || decoded.size() < 32) {
            throw ConfigError(
                "GATEWAY_SECRET_KEY",
                "must be at least 32 random bytes in base64 (openssl rand -base64 32)");
        }
        config.gateway_secret_key = std::move(decoded);
    } else {
        throw ConfigError("GATEWAY_SECRET_KEY",
                          "is required (at least 32 random bytes in base64: openssl rand -base64 "
                          "32); it keys idempotency fingerprints and encrypts secrets at rest");
    }
    config.iamport_channel_key = non_empty(lookup, "IAMPORT_CHANNEL_KEY");
    config.iamport_pg = non_empty(lookup, "IAMPORT_PG");
    config.iamport_ca_file = non_empty(lookup, "IAMPORT_CA_FILE");
    if (auto v = non_empty(lookup, "IAMPORT_CONNECT_TIMEOUT_MS")) {
        config.iamport_connect_timeout = std::chrono::milliseconds(
            parse_unsigned("IAMPORT_CONNECT_TIMEOUT_MS", *v, 100, 600'000));
    }
    if (auto v = non_empty(lookup, "IAMPORT_TIMEOUT_MS")) {
        config.iamport_attempt_timeout =
            std::chrono::milliseconds(parse_unsigned("IAMPORT_TIMEOUT_MS", *v, 100, 600'000));
    }
    if (auto v = non_empty(lookup, "IAMPORT_CALL_TIMEOUT_MS")) {
        config.iamport_call_timeout =
            std::chrono::milliseconds(parse_unsigned("IAMPORT_CALL_TIMEOUT_MS", *v, 100, 600'000));
    }
    if (config.iamport_call_timeout < config.iamport_attempt_timeout) {
        throw ConfigError("IAMPORT_CALL_TIMEOUT_MS", "must not be shorter than IAMPORT_TIMEOUT_MS");
    }
    if (auto ips = non_empty(lookup, "WEBHOOK_ALLOWED_IPS")) {
        config.webhook_allowed_ips = parse_networks("WEBHOOK_ALLOWED_IPS", *ips);
    }
    if (auto proxies = non_empty(lookup, "WEBHOOK_TRUSTED_PROXIES")) {
        config.webhook_trusted_proxies = parse_networks("WEBHOOK_TRUSTED_PROXIES", *proxies);
    }
    if (auto v = non_empty(lookup, "WEBHOOK_RATE_LIMIT_PER_SECOND")) {
        config.webhook_rate_per_second =
            static_cast<double>(parse_unsigned("WEBHOOK_RATE_LIMIT_PER_SECOND", *v, 1, 1'000'000));
    }
    if (auto v = non_empty(lookup, "WEBHOOK_RATE_LIMIT_BURST")) {
        config.webhook_rate_burst =
            static_cast<double>(parse_unsigned("WEBHOOK_RATE_LIMIT_BURST", *v, 1, 1'000'000));
    }
    if (auto v = non_empty(lookup, "BROWSER_RATE_LIMIT_PER_SECOND")) {
        config.browser_rate_per_second =
            static_cast<double>(parse_unsigned("BROWSER_RATE_LIMIT_PER_SECOND", *v, 1, 1'000'000));
    }
    if (auto v = non_empty(lookup, "BROWSER_RATE_LIMIT_BURST")) {
        config.browser_rate_burst =
            static_cast<double>(parse_unsigned("BROWSER_RATE_LIMIT_BURST", *v, 1, 1'000'000));
    }
    if (auto v = non_empty(lookup, "WEBHOOK_MAX_ATTEMPTS")) {
        config.webhook_max_attempts =
            static_cast<int>(parse_unsigned("WEBHOOK_MAX_ATTEMPTS", *v, 1, 100'000));
    }
    if (auto v = non_empty(lookup, "WEBHOOK_CONCURRENCY")) {
        config.webhook_concurrency = parse_unsigned("WEBHOOK_CONCURRENCY", *v, 1, 256);
    }
    if (auto v = non_empty(lookup, "IAMPORT_NOTICE_CONNECTIONS")) {
        config.iamport_notice_connections =
            parse_unsigned("IAMPORT_NOTICE_CONNECTIONS", *v, 1, 256);
    }
    if (auto v = non_empty(lookup, "IAMPORT_MAX_CONNECTIONS")) {
        config.iamport_max_connections = parse_unsigned("IAMPORT_MAX_CONNECTIONS", *v, 1, 1024);
    }
    if (auto v = non_empty(lookup, "WEBHOOK_RETENTION_DAYS")) {
        config.webhook_retention_days =
            static_cast<int>(parse_unsigned("WEBHOOK_RETENTION_DAYS", *v, 1, 3650));
    }
    if (auto allow = non_empty(lookup, "NOTIFY_ALLOW_PRIVATE")) {
        if (*allow != "true" && *allow != "false") {
            throw ConfigError("NOTIFY_ALLOW_PRIVATE", "must be true or false");
        }
        config.notify_allow_private = *allow == "true";
    }
    if (auto v = non_empty(lookup, "NOTIFY_TIMEOUT_MS")) {
        config.notify_timeout =
            std::chrono::milliseconds(parse_unsigned("NOTIFY_TIMEOUT_MS", *v, 100, 120'000));
    }
    if (auto v = non_empty(lookup, "NOTIFY_CONCURRENCY")) {
        config.notify_concurrency = parse_unsigned("NOTIFY_CONCURRENCY", *v, 1, 1024);
    }
    if (auto v = non_empty(lookup, "NOTIFY_POLL_MS")) {
        config.notify_poll_interval =
            std::chrono::milliseconds(parse_unsigned("NOTIFY_POLL_MS", *v, 10, 60'000));
    }
    if (auto schedule = non_empty(lookup, "NOTIFY_RETRY_SCHEDULE")) {
        for (const auto& wait : split_list(*schedule)) {
            config.notify_retry_schedule.emplace_back(
                parse_unsigned("NOTIFY_RETRY_SCHEDULE", wait, 1, 7 * 86'400));
        }
    }
    if (auto policy = non_empty(lookup, "DUPLICATE_PAYMENT_POLICY")) {
        if (*policy != "review" && *policy != "refund") {
            throw ConfigError("DUPLICATE_PAYMENT_POLICY", "must be review or refund");
        }
        config.refund_duplicate_payments = *policy == "refund";
    }
    if (auto origins = non_empty(lookup, "CORS_ALLOWED_ORIGINS")) {
        config.cors_allowed_origins = split_list(*origins);
        for (auto& origin : config.cors_allowed_origins) {
            require_http_url("CORS_ALLOWED_ORIGINS", origin);
            origin = strip_trailing_slash(origin);
        }
    }
    if (auto interval = non_empty(lookup, "RECONCILE_INTERVAL")) {
        config.reconcile_interval =
            std::chrono::seconds(parse_unsigned("RECONCILE_INTERVAL", *interval, 1, 86'400));
    }
    if (auto v = non_empty(lookup, "MAX_BODY_BYTES")) {
        config.limits.body_bytes = parse_unsigned("MAX_BODY_BYTES", *v, 1024, 64 << 20);
    }
    if (auto v = non_empty(lookup, "MAX_HEADER_BYTES")) {
        config.limits.header_bytes = parse_unsigned("MAX_HEADER_BYTES", *v, 1024, 1 << 20);
    }
    if (auto v = non_empty(lookup, "REQUEST_TIMEOUT")) {
        config.limits.request_timeout =
            std::chrono::seconds(parse_unsigned("REQUEST_TIMEOUT", *v, 1, 3600));
    }
    if (auto v = non_empty(lookup, "MAX_CONNECTIONS")) {
        config.limits.max_connections = parse_unsigned("MAX_CONNECTIONS", *v, 1, 1'000'000);
    }
    if (auto v = non_empty(lookup, "RATE_LIMIT_PER_SECOND")) {
        config.limits.rate_per_second =
            static_cast<double>(parse_unsigned("RATE_LIMIT_PER_SECOND", *v, 1, 10'000'000));
    }
    if (auto v = non_empty(lookup, "RATE_LIMIT_BURST")) {
        config.limits.rate_burst =
            static_cast<double>(parse_unsigned("RATE_LIMIT_BURST", *v, 1, 10'000'000));
    }
    if (auto v = non_empty(lookup, "IO_THREADS")) {
        config.io_threads = parse_unsigned("IO_THREADS", *v, 1, 256);
    }
    if (auto v = non_empty(lookup, "DB_QUEUE_LIMIT")) {
        config.db_queue_limit = parse_unsigned("DB_QUEUE_LIMIT", *v, 1, 1'000'000);
    }
    if (auto v = non_empty(lookup, "DRAIN_TIMEOUT")) {
        config.drain_timeout = std::chrono::seconds(parse_unsigned("DRAIN_TIMEOUT", *v, 0, 3600));
    }
    if (auto v = non_empty(lookup, "API_KEY_CACHE_SECONDS")) {
        config.api_key_cache_ttl =
            std::chrono::seconds(parse_unsigned("API_KEY_CACHE_SECONDS", *v, 0, 3600));
    }
    return config;
}

}  // namespace mg
