#include "service/app/cli.hpp"

#include <iostream>
#include <pqxx/connection>
#include <pqxx/transaction>
#include <string>
#include <vector>

#include "db/api_keys_repository.hpp"
#include "db/errors.hpp"
#include "db/transaction.hpp"
#include "service/api/api_keys.hpp"
#include "service/app/serve.hpp"
#include "service/common/config.hpp"
#include "service/common/log.hpp"

namespace mg::app {
namespace {

constexpr std::string_view kUsage =
    "usage: merchant-gateway [--config FILE] [serve]\n"
    "       merchant-gateway [--config FILE] migrate\n"
    "       merchant-gateway [--config FILE] api-key create --name NAME\n"
    "                [--scope read|write|refund|review|admin ...]\n"
    "       merchant-gateway [--config FILE] api-key revoke --name NAME\n"
    "Configuration comes from the environment (see README.md); --config reads the same\n"
    "KEY=VALUE pairs from a file.\n";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void setup_logging(const Config& config) {
    spdlog::level::level_enum level{};
    log::Format format{};
    log::parse_level(config.log_level, level);
    log::parse_format(config.log_format, format);
    log::setup(level, format);
}

int api_key_create(const Config& config, const std::vector<std::string>& args) {
    std::string name;
    std::vector<std::string> scopes;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--name" && i + 1 < args.size()) {
            name = args[++i];
        } else if (args[i] == "--scope" && i + 1 < args.size()) {
            const auto& scope = args[++i];
            if (!api::is_valid_scope(scope)) {
                throw UsageError("--scope must be read, write, refund, review or admin, got '" +
                                 scope + "'");
            }
            if (std::find(scopes.begin(), scopes.end(), scope) == scopes.end()) {
                scopes.push_back(scope);
            }
        } else {
            throw UsageError("unexpected argument '" + args[i] + "'");
        }
    }
    if (name.empty() || name.size() > 100) {
        throw UsageError("api-key create needs --name NAME (1 to 100 characters)");
    }
    if (scopes.empty()) {
        // Refunds move money back out: a key gets that power only when asked for by name.
        scopes = {"read", "write"};
    }
    const auto key = api::generate_api_key();
    try {
        pqxx::connection connection(config.database_url);
        db::with_transaction(connection, [&](pqxx::work& work) {
            db::insert_api_key(work, name, api::hash_api_key(key), scopes);
        });
    } catch (const db::Conflict&) {
        std::cerr << "merchant-gateway: an active API key named '" << name
                  << "' exists; revoke it first\n";
        return 1;
    }
    std::string joined;
    for (const auto& scope : scopes) {
        joined += (joined.empty() ? "" : ",") + scope;
    }
    std::cout << "Created API key '" << name << "' with scopes " << joined
              << ". It is shown only now; store it safely.\n"
              << key << std::endl;
    return 0;
}

int api_key_revoke(const Config& config, const std::vector<std::string>& args) {
    if (args.size() != 2 || args[0] != "--name") {
        throw UsageError("api-key revoke needs --name NAME");
    }
    pqxx::connection connection(config.database_url);
    const int revoked = db::with_transaction(
        connection, [&](pqxx::work& work) { return db::revoke_api_key(work, args[1]); });
    if (revoked == 0) {
        std::cerr << "merchant-gateway: no active API key is named '" << args[1] << "'\n";
        return 1;
    }
    std::cout << "Revoked API key '" << args[1] << "'.\n";
    return 0;
}

int dispatch(std::vector<std::string> args) {
    std::optional<std::string> config_file;
    if (args.size() >= 2 && args[0] == "--config") {
        config_file = args[1];
        args.erase(args.begin(), args.begin() + 2);
    }
    const std::string command = args.empty() ? "serve" : args[0];
    if (command == "--help" || command == "-h" || command == "help") {
        std::cout << kUsage;
        return 0;
    }
    const auto lookup = config_file ? file_lookup(*config_file) : environment_lookup();
    if (command == "serve") {
        if (args.size() > 1) {
            throw UsageError("serve takes no arguments");
        }
        const auto config = load_config(lookup, ConfigPurpose::serve);
        setup_logging(config);
        return serve(config);
    }
    const auto config = load_config(lookup, ConfigPurpose::database_only);
    setup_logging(config);
    if (command == "migrate") {
        if (args.size() > 1) {
            throw UsageError("migrate takes no arguments");
        }
        migrate_database(config, std::chrono::seconds(30));
        return 0;
    }
    if (command == "api-key" && args.size() >= 2) {
        const std::vector<std::string> rest(args.begin() + 2, args.end());
        if (args[1] == "create") {
            return api_key_create(config, rest);
        }
        if (args[1] == "revoke") {
            return api_key_revoke(config, rest);
        }
    }
    throw UsageError("unknown command '" + command + "'");
}

}  // namespace

int run_cli(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        return dispatch(std::move(args));
    } catch (const ConfigError& e) {
        std::cerr << "merchant-gateway: configuration error: " << e.what() << '\n';
        return 2;
    } catch (const UsageError& e) {
        std::cerr << "merchant-gateway: " << e.what() << '\n' << kUsage;
        return 64;
    } catch (const db::MigrationError& e) {
        std::cerr << "merchant-gateway: migration refused: " << e.what() << '\n';
        return 3;
    } catch (const db::Unavailable& e) {
        std::cerr << "merchant-gateway: database unavailable: " << e.what() << '\n';
        return 3;
    } catch (const std::exception& e) {
        std::cerr << "merchant-gateway: " << e.what() << '\n';
        return 1;
    }
}

}  // namespace mg::app
