// Child processes for tests (the simulator, the gateway binary): started with posix_spawn,
// stdout and stderr appended to a log file that the test can poll and print on failure.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mg::test {

class ChildProcess {
  public:
    struct Options {
        std::vector<std::string> argv;
        // Added to (or overriding) the current environment.
        std::vector<std::pair<std::string, std::string>> env;
        std::string log_path;
    };

    // Throws std::runtime_error when the program cannot be started.
    explicit ChildProcess(Options options);
    // SIGTERM, then SIGKILL after 5 s if it is still running.
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    bool running();
    // Polls the log file until `needle` appears, the process exits or the time is up.
    bool wait_for_output(std::string_view needle, std::chrono::milliseconds timeout);
    // The whole log so far.
    std::string output() const;
    // Sends `signal` and waits; the exit status, or -signal when it was killed by one.
    // SIGKILL follows when it has not exited within `timeout`.
    int stop(int signal = SIGTERM, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    void kill_now();
    const std::string& log_path() const { return options_.log_path; }

  private:
    bool reap(bool block);

    Options options_;
    pid_t pid_ = -1;
    bool exited_ = false;
    int exit_status_ = 0;
};

}  // namespace mg::test
