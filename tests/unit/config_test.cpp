#include "service/common/config.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace mg {
namespace {

Lookup map_lookup(std::map<std::string, std::string> values) {
    return with_file_secrets([values](const std::string& key) -> std::optional<std::string> {
        const auto it = values.find(key);
        return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
}

std::map<std::string, std::string> minimal() {
    return {{"DATABASE_URL", "postgresql://localhost/mg"},
            {"IAMPORT_IMP_KEY", "key"},
            {"IAMPORT_IMP_SECRET", "secret"},
            {"GATEWAY_SECRET_KEY", "ZTJlLWdhdGV3YXktc2VjcmV0LWtleS0zMi1ieXRlcyE="}};
}

std::string error_key(const std::map<std::string, std::string>& values,
                      ConfigPurpose purpose = ConfigPurpose::serve) {
    try {
        load_config(map_lookup(values), purpose);
    } catch (const ConfigError& e) {
        return e.key();
    }
    return "";
}

TEST(Config, DefaultsFromSpec) {
    const auto config = load_config(map_lookup(minimal()), ConfigPurpose::serve);
    EXPECT_EQ(config.listen.host, "127.0.0.1");
    EXPECT_EQ(config.listen.port, 8080);
    EXPECT_EQ(config.iamport_base_url, "https://api.iamport.kr");
    EXPECT_EQ(config.reconcile_interval, std::chrono::seconds(30));
    EXPECT_EQ(config.log_level, "info");
    EXPECT_EQ(config.log_format, "json");
    EXPECT_EQ(config.limits.body_bytes, 64u * 1024);
    EXPECT_EQ(config.limits.header_bytes, 8u * 1024);
    EXPECT_EQ(config.limits.request_timeout, std::chrono::seconds(10));
    EXPECT_EQ(config.limits.max_connections, 10'000u);
    EXPECT_EQ(config.limits.rate_per_second, 1000);
    EXPECT_EQ(config.limits.rate_burst, 2000);
    EXPECT_TRUE(config.webhook_allowed_ips.empty());
    EXPECT_TRUE(config.cors_allowed_origins.empty());
}

TEST(Config, MissingRequiredKeysAreNamed) {
    EXPECT_EQ(error_key({}), "DATABASE_URL");
    auto values = minimal();
    values.erase("IAMPORT_IMP_SECRET");
    EXPECT_EQ(error_key(values), "IAMPORT_IMP_SECRET");
    // migrate and api-key need only the database.
    EXPECT_EQ(error_key(values, ConfigPurpose::database_only), "");
    values["DATABASE_URL"] = "  ";
    EXPECT_EQ(error_key(values, ConfigPurpose::database_only), "DATABASE_URL");
}

TEST(Config, BadValuesAreNamed) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"LISTEN", "8080"},
        {"LISTEN", "127.0.0.1:99999"},
        {"LISTEN", "127.0.0.1:http"},
        {"IAMPORT_BASE_URL", "api.iamport.kr"},
        {"PUBLIC_BASE_URL", "ftp://shop.example"},
        {"RECONCILE_INTERVAL", "0"},
        {"RECONCILE_INTERVAL", "30s"},
        {"LOG_LEVEL", "verbose"},
        {"LOG_FORMAT", "xml"},
        {"CORS_ALLOWED_ORIGINS", "shop.example"},
        {"MAX_BODY_BYTES", "-1"},
    };
    for (const auto& [key, value] : cases) {
        auto values = minimal();
        values[key] = value;
        EXPECT_EQ(error_key(values), key) << key << "=" << value;
    }
}

TEST(Config, ParsesListsAndValues) {
    auto values = minimal();
    values["LISTEN"] = "0.0.0.0:9000";
    values["WEBHOOK_ALLOWED_IPS"] = "52.78.100.19/32, 52.78.48.223/32,,";
    values["CORS_ALLOWED_ORIGINS"] = "https://shop.example/, http://localhost:3000";
    values["PUBLIC_BASE_URL"] = "https://pay.shop.example/";
    values["RECONCILE_INTERVAL"] = "5";
    const auto config = load_config(map_lookup(values), ConfigPurpose::serve);
    EXPECT_EQ(config.listen.host, "0.0.0.0");
    EXPECT_EQ(config.listen.port, 9000);
    ASSERT_EQ(config.webhook_allowed_ips.size(), 2u);
    EXPECT_TRUE(
        config.webhook_allowed_ips[1].contains(boost::asio::ip::make_address("52.78.48.223")));
    EXPECT_FALSE(
        config.webhook_allowed_ips[1].contains(boost::asio::ip::make_address("52.78.48.224")));
    EXPECT_EQ(config.cors_allowed_origins,
              (std::vector<std::string>{"https://shop.example", "http://localhost:3000"}));
    EXPECT_EQ(config.public_base_url, "https://pay.shop.example");
    EXPECT_EQ(config.reconcile_interval, std::chrono::seconds(5));
}

TEST(Config, SecretsFromFiles) {
    const auto path = std::filesystem::temp_directory_path() / "mg_config_test_secret";
    {
        std::ofstream file(path);
        file << "from-file-secret\n";
    }
    auto values = minimal();
    values.erase("IAMPORT_IMP_SECRET");
    values["IAMPORT_IMP_SECRET_FILE"] = path.string();
    const auto config = load_config(map_lookup(values), ConfigPurpose::serve);
    EXPECT_EQ(config.iamport_imp_secret, "from-file-secret");
    std::filesystem::remove(path);

    values["IAMPORT_IMP_SECRET_FILE"] = "/nonexistent/secret";
    EXPECT_EQ(error_key(values), "IAMPORT_IMP_SECRET_FILE");
}

TEST(Config, GatewaySecretKeyIsRequiredAndAtLeast32BytesOfBase64) {
    auto values = minimal();
    EXPECT_EQ(load_config(map_lookup(values), ConfigPurpose::serve).gateway_secret_key,
              "e2e-gateway-secret-key-32-bytes!");
    values.erase("GATEWAY_SECRET_KEY");
    EXPECT_EQ(error_key(values), "GATEWAY_SECRET_KEY");
    values["GATEWAY_SECRET_KEY"] = "c2hvcnQ=";  // "short"
    EXPECT_EQ(error_key(values), "GATEWAY_SECRET_KEY");
    values["GATEWAY_SECRET_KEY"] = "not base64 at all, but long enough to be 32 bytes";
    EXPECT_EQ(error_key(values), "GATEWAY_SECRET_KEY");
    // The migration command needs no key.
    values.erase("GATEWAY_SECRET_KEY");
    EXPECT_NO_THROW(load_config(map_lookup(values), ConfigPurpose::database_only));
}

TEST(Config, ConfigFileOfKeyValueLines) {
    const auto path = std::filesystem::temp_directory_path() / "mg_config_test.env";
    {
        std::ofstream file(path);
        file << "# local settings\nDATABASE_URL = postgresql://db/mg\nIAMPORT_IMP_KEY=k\n"
                "IAMPORT_IMP_SECRET=s\nLISTEN=127.0.0.1:8181\nGATEWAY_SECRET_KEY="
                "ZTJlLWdhdGV3YXktc2VjcmV0LWtleS0zMi1ieXRlcyE=\n";
    }
    const auto config = load_config(file_lookup(path.string()), ConfigPurpose::serve);
    EXPECT_EQ(config.database_url, "postgresql://db/mg");
    EXPECT_EQ(config.listen.port, 8181);
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace mg

namespace mg {
namespace {

TEST(Config, BadNetworksNameTheirKey) {
    std::map<std::string, std::string> values{
        {"DATABASE_URL", "postgresql://x/y"},
        {"IAMPORT_IMP_KEY", "k"},
        {"IAMPORT_IMP_SECRET", "s"},
        {"GATEWAY_SECRET_KEY", "ZTJlLWdhdGV3YXktc2VjcmV0LWtleS0zMi1ieXRlcyE="},
        {"WEBHOOK_ALLOWED_IPS", "10.0.0.0/8, 300.1.1.1"}};
    auto lookup = [&](const std::string& key) -> std::optional<std::string> {
        const auto it = values.find(key);
        return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    try {
        load_config(lookup, ConfigPurpose::serve);
        FAIL() << "accepted a bad network";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.key(), "WEBHOOK_ALLOWED_IPS");
    }
    values["WEBHOOK_ALLOWED_IPS"] = "10.0.0.0/33";
    EXPECT_THROW(load_config(lookup, ConfigPurpose::serve), ConfigError);
    values["WEBHOOK_ALLOWED_IPS"] = "2001:db8::/32";
    values["WEBHOOK_TRUSTED_PROXIES"] = "127.0.0.1";
    const auto config = load_config(lookup, ConfigPurpose::serve);
    EXPECT_TRUE(
        config.webhook_allowed_ips[0].contains(boost::asio::ip::make_address("2001:db8::1")));
    EXPECT_TRUE(config.webhook_trusted_proxies[0].contains(
        boost::asio::ip::make_address("::ffff:127.0.0.1")));
}

TEST(Cidr, MatchesByPrefix) {
    const auto net = Cidr::parse("192.168.16.0/20");
    ASSERT_TRUE(net);
    EXPECT_TRUE(net->contains(boost::asio::ip::make_address("192.168.31.255")));
    EXPECT_FALSE(net->contains(boost::asio::ip::make_address("192.168.32.0")));
    EXPECT_FALSE(net->contains(boost::asio::ip::make_address("::1")));
    EXPECT_TRUE(Cidr::parse("0.0.0.0/0")->contains(boost::asio::ip::make_address("8.8.8.8")));
    EXPECT_TRUE(Cidr::parse("::/0")->contains(boost::asio::ip::make_address("2001:db8::5")));
    EXPECT_FALSE(Cidr::parse(""));
    EXPECT_FALSE(Cidr::parse("10.0.0.0/"));
    EXPECT_FALSE(Cidr::parse("10.0.0.0/8x"));
    EXPECT_FALSE(Cidr::parse("example.com"));
}

}  // namespace
}  // namespace mg
