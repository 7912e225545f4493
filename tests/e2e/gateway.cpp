#include "tests/e2e/gateway.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "test_paths.hpp"

namespace mg::test {
namespace {

std::string shell_quote(const std::string& text) {
    std::string out = "'";
    for (const char c : text) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

std::string next_log_path() {
    static std::atomic<int> counter{0};
    return (std::filesystem::temp_directory_path() /
            ("mg-e2e-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".log"))
        .string();
}

}  // namespace

CommandResult run_gateway_command(const std::vector<std::string>& args, const Headers& env,
                                  bool with_stderr) {
    std::string command = "env";
    for (const auto& [key, value] : env) {
        command += " " + key + "=" + shell_quote(value);
    }
    command += " " + shell_quote(kGatewayBinary);
    for (const auto& arg : args) {
        command += " " + shell_quote(arg);
    }
    if (with_stderr) {
        command += " 2>&1";
    }
    CommandResult result;
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) {
        throw std::runtime_error("popen failed");
    }
    std::array<char, 4096> buffer{};
    std::size_t n = 0;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
        result.out.append(buffer.data(), n);
    }
    const int status = pclose(pipe);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

Gateway::Gateway(std::string database_url, Headers env)
    : database_url_(std::move(database_url)), env_(std::move(env)) {
    Headers full{{"DATABASE_URL", database_url_},
                 {"IAMPORT_IMP_KEY", "e2e_imp_key"},
                 {"IAMPORT_IMP_SECRET", "e2e_imp_secret_do_not_log"},
                 {"GATEWAY_SECRET_KEY", kTestSecretKey},
                 // Nothing listens there: tests that need iamport start the simulator.
                 {"IAMPORT_BASE_URL", "http://127.0.0.1:9"},
                 {"LOG_LEVEL", "info"},
                 {"LOG_FORMAT", "json"},
                 {"API_KEY_CACHE_SECONDS", "0"}};
    for (const auto& [key, value] : env_) {
        std::erase_if(full, [&](const auto& item) { return item.first == key; });
        full.emplace_back(key, value);
    }
    // A port picked free may be taken by the time the gateway binds it; try again then.
    for (int attempt = 0; attempt < 5; ++attempt) {
        port_ = free_port();
        auto env_with_port = full;
        const auto listen =
            std::find_if(env_.begin(), env_.end(), [](auto& e) { return e.first == "LISTEN"; });
        if (listen == env_.end()) {
            env_with_port.emplace_back("LISTEN", "127.0.0.1:" + std::to_string(port_));
        } else {
            port_ = static_cast<unsigned short>(
                std::stoi(listen->second.substr(listen->second.rfind(':') + 1)));
        }
        process_ = std::make_unique<ChildProcess>(
            ChildProcess::Options{{kGatewayBinary, "serve"}, env_with_port, next_log_path()});
        if (process_->wait_for_output("\"listening\"", std::chrono::seconds(60))) {
            return;
        }
        if (process_->output().find("Address already in use") == std::string::npos) {
            break;
        }
    }
    throw std::runtime_error("the gateway did not start:\n" + process_->output());
}

Gateway::~Gateway() {
    if (process_ && process_->running()) {
        process_->stop(SIGTERM, std::chrono::seconds(20));
    }
}

HttpResponse Gateway::request(std::string_view method, std::string_view target,
                              std::string_view body, const Headers& headers) const {
    return http_request("127.0.0.1", port_, method, target, body, headers);
}

HttpResponse Gateway::post_json(std::string_view target, const boost::json::value& body,
                                const Headers& headers) const {
    Headers with_type = headers;
    with_type.emplace_back("Content-Type", "application/json");
    return request("POST", target, boost::json::serialize(body), with_type);
}

std::string Gateway::create_api_key(const std::string& name,
                                    const std::vector<std::string>& scopes) const {
    std::vector<std::string> args{"api-key", "create", "--name", name};
    for (const auto& scope : scopes) {
        args.push_back("--scope");
        args.push_back(scope);
    }
    const auto result = run_gateway_command(args, {{"DATABASE_URL", database_url_}});
    if (result.status != 0) {
        throw std::runtime_error("api-key create failed: " + result.out);
    }
    auto out = result.out;
    while (!out.empty() && out.back() == '\n')
        out.pop_back();
    return out.substr(out.rfind('\n') + 1);
}

void GatewayTest::SetUp() {
    database_ = std::make_unique<TestDatabase>();
    gateway_ = std::make_unique<Gateway>(database_->url(), extra_env());
    key_ = gateway_->create_api_key("storefront", {"read", "write", "refund"});
}

void GatewayTest::TearDown() {
    gateway_.reset();
    database_.reset();
}

HttpResponse GatewayTest::create_order(const boost::json::value& body, Headers headers) {
    if (headers.empty()) {
        headers = auth();
    }
    return gateway_->post_json("/v1/orders", body, headers);
}

std::string raw_exchange(unsigned short port, const std::string& bytes,
                         std::chrono::milliseconds timeout) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket(io);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    boost::system::error_code ec;
    boost::asio::write(socket, boost::asio::buffer(bytes), ec);
    std::string received;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    socket.non_blocking(true);
    while (std::chrono::steady_clock::now() < deadline) {
        char buffer[4096];
        const auto n = socket.read_some(boost::asio::buffer(buffer), ec);
        if (ec == boost::asio::error::would_block) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            continue;
        }
        if (ec)
            break;
        received.append(buffer, n);
    }
    return received;
}

}  // namespace mg::test
