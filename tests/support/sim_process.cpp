#include "tests/support/sim_process.hpp"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "test_paths.hpp"

namespace mg::test {
namespace {

std::string default_log_path() {
    static std::atomic<int> counter{0};
    auto dir = std::filesystem::path(kBuildDir) / "test-logs";
    std::filesystem::create_directories(dir);
    return (dir / ("iamport-sim-" + std::to_string(::getpid()) + "-" +
                   std::to_string(counter.fetch_add(1)) + ".log"))
        .string();
}

std::string url_encode_path_segment(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
        }
    }
    return out;
}

}  // namespace

SimProcess::SimProcess() : SimProcess(Options{}) {}

SimProcess::SimProcess(Options options) : options_(std::move(options)) {
    if (options_.log_path.empty()) {
        options_.log_path = default_log_path();
    }
    std::vector<std::string> argv{
        "python3",          std::string(kSourceDir) + "/tests/iamport-sim/iamport_sim.py",
        "--host",           "127.0.0.1",
        "--port",           "0",
        "--imp-key",        options_.imp_key,
        "--imp-secret",     options_.imp_secret,
        "--webhook-format", options_.webhook_format};
    if (!options_.tls_cert.empty()) {
        argv.insert(argv.end(), {"--tls-cert", options_.tls_cert, "--tls-key", options_.tls_key});
    }
    argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
    // Unbuffered, so a crash leaves its traceback in the log.
    process_ = std::make_unique<ChildProcess>(
        ChildProcess::Options{std::move(argv), {{"PYTHONUNBUFFERED", "1"}}, options_.log_path});

    const std::string marker = "LISTENING ";
    if (!process_->wait_for_output(marker, std::chrono::seconds(15))) {
        throw std::runtime_error("iamport simulator did not start; log " + options_.log_path +
                                 ":\n" + process_->output());
    }
    auto text = process_->output();
    auto at = text.find(marker) + marker.size();
    port_ = static_cast<unsigned short>(std::stoi(text.substr(at, text.find('\n', at) - at)));
}

std::string SimProcess::base_url() const {
    if (!options_.tls_cert.empty()) {
        return "https://localhost:" + std::to_string(port_);
    }
    return "http://127.0.0.1:" + std::to_string(port_);
}

boost::json::value SimProcess::control(std::string_view method, std::string_view target,
                                       const boost::json::value& body) const {
    std::string text = body.is_null() ? std::string() : boost::json::serialize(body);
    auto response = http_request("127.0.0.1", port_, method, target, text);
    if (response.status != 200) {
        throw std::runtime_error("simulator control " + std::string(method) + " " +
                                 std::string(target) + " answered " +
                                 std::to_string(response.status) + ": " + response.body);
    }
    return response.json();
}

boost::json::object SimProcess::deposit(std::string_view imp_uid,
                                        std::optional<std::int64_t> amount) const {
    boost::json::object body{{"imp_uid", imp_uid}};
    if (amount) {
        body["amount"] = *amount;
    }
    return control("POST", "/__sim/deposit", body).as_object();
}

boost::json::object SimProcess::create_checkout_payment(const boost::json::object& spec) const {
    return control("POST", "/__sim/payments", spec).as_object();
}

void SimProcess::set_fault(const boost::json::object& spec) const {
    control("POST", "/__sim/faults", spec);
}

void SimProcess::clear_faults() const {
    control("DELETE", "/__sim/faults");
}

void SimProcess::expire_tokens() const {
    control("POST", "/__sim/tokens/expire");
}

void SimProcess::set_clock_offset(std::chrono::seconds offset) const {
    control("POST", "/__sim/clock", boost::json::object{{"offset_seconds", offset.count()}});
}

boost::json::array SimProcess::requests(std::string_view endpoint) const {
    std::string target = "/__sim/requests";
    if (!endpoint.empty()) {
        target += "?endpoint=" + url_encode_path_segment(endpoint);
    }
    return control("GET", target).at("requests").as_array();
}

std::size_t SimProcess::count_requests(std::string_view endpoint) const {
    return requests(endpoint).size();
}

void SimProcess::reset_requests() const {
    control("DELETE", "/__sim/requests");
}

boost::json::array SimProcess::webhook_deliveries() const {
    return control("GET", "/__sim/webhooks").at("deliveries").as_array();
}

boost::json::array SimProcess::wait_for_webhooks(std::size_t count,
                                                 std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        auto deliveries = webhook_deliveries();
        if (deliveries.size() >= count || std::chrono::steady_clock::now() >= deadline) {
            return deliveries;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
}

void SimProcess::reset() const {
    control("POST", "/__sim/reset");
}

}  // namespace mg::test
