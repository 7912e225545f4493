#include "tests/support/process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace mg::test {
namespace {

std::vector<std::string> merged_environment(
    const std::vector<std::pair<std::string, std::string>>& overrides) {
    std::map<std::string, std::string> values;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        std::string_view text(*entry);
        auto eq = text.find('=');
        if (eq == std::string_view::npos) {
            continue;
        }
        values[std::string(text.substr(0, eq))] = std::string(text.substr(eq + 1));
    }
    for (const auto& [key, value] : overrides) {
        values[key] = value;
    }
    std::vector<std::string> out;
    out.reserve(values.size());
    for (const auto& [key, value] : values) {
        out.push_back(key + "=" + value);
    }
    return out;
}

}  // namespace

ChildProcess::ChildProcess(Options options) : options_(std::move(options)) {
    if (options_.argv.empty()) {
        throw std::runtime_error("ChildProcess: empty argv");
    }
    if (options_.log_path.empty()) {
        options_.log_path = "/dev/null";
    } else if (options_.log_path != "/dev/null") {
        // A log left by an earlier process with the same name (pids are reused) must not be
        // read as this one's: wait_for_output would find its lines at once.
        ::unlink(options_.log_path.c_str());
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, options_.log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);

    std::vector<char*> argv;
    for (auto& arg : options_.argv) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    auto env_strings = merged_environment(options_.env);
    std::vector<char*> envp;
    for (auto& entry : env_strings) {
        envp.push_back(entry.data());
    }
    envp.push_back(nullptr);

    int rc = posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        pid_ = -1;
        throw std::runtime_error("cannot start " + options_.argv[0] + ": " + std::strerror(rc));
    }
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0 && !exited_) {
        stop(SIGTERM, std::chrono::seconds(5));
    }
}

bool ChildProcess::reap(bool block) {
    if (exited_) {
        return true;
    }
    int status = 0;
    pid_t r = 0;
    do {
        r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == pid_) {
        exited_ = true;
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        return true;
    }
    if (r < 0) {
        // Not our child any more (reaped elsewhere): treat as gone.
        exited_ = true;
        exit_status_ = -1;
        return true;
    }
    return false;
}

bool ChildProcess::running() {
    return pid_ > 0 && !reap(false);
}

bool ChildProcess::wait_for_output(std::string_view needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (output().find(needle) != std::string::npos) {
            return true;
        }
        if (!running() || std::chrono::steady_clock::now() >= deadline) {
            return output().find(needle) != std::string::npos;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

std::string ChildProcess::output() const {
    std::ifstream in(options_.log_path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

int ChildProcess::stop(int signal, std::chrono::milliseconds timeout) {
    if (pid_ <= 0) {
        return -1;
    }
    if (!reap(false)) {
        ::kill(pid_, signal);
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!reap(false)) {
            if (std::chrono::steady_clock::now() >= deadline) {
                ::kill(pid_, SIGKILL);
                reap(true);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    return exit_status_;
}

void ChildProcess::kill_now() {
    if (pid_ > 0 && !reap(false)) {
        ::kill(pid_, SIGKILL);
        reap(true);
    }
}

}  // namespace mg::test
