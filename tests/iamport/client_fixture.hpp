// A simulator child process and an io_context on two threads (as the server runs it), with a
// helper that runs one client coroutine to completion from the test thread.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "service/iamport/client.hpp"
#include "tests/support/sim_process.hpp"

namespace mg::iamport::testing {

class IoThreads {
  public:
    explicit IoThreads(int count = 2) : guard_(boost::asio::make_work_guard(io_)) {
        for (int i = 0; i < count; ++i) {
            threads_.emplace_back([this] { io_.run(); });
        }
    }
    ~IoThreads() {
        guard_.reset();
        io_.stop();
        for (auto& thread : threads_) {
            thread.join();
        }
    }
    boost::asio::io_context& io() { return io_; }

    // Runs `task` on the io_context and waits for its result.
    template <class T>
    T run(boost::asio::awaitable<T> task) {
        auto future = boost::asio::co_spawn(io_, std::move(task), boost::asio::use_future);
        return future.get();
    }

  private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
    std::vector<std::thread> threads_;
};

inline ClientConfig config_for(const mg::test::SimProcess& sim) {
    ClientConfig config;
    config.base_url = sim.base_url();
    config.imp_key = sim.options().imp_key;
    config.imp_secret = sim.options().imp_secret;
    config.connect_timeout = std::chrono::milliseconds(2000);
    config.attempt_timeout = std::chrono::milliseconds(3000);
    config.call_timeout = std::chrono::milliseconds(10000);
    config.retry_initial_backoff = std::chrono::milliseconds(20);
    config.retry_max_backoff = std::chrono::milliseconds(100);
    return config;
}

inline VbankRequest vbank_request(std::string merchant_uid, Amount amount = 10'000) {
    VbankRequest request;
    request.merchant_uid = std::move(merchant_uid);
    request.amount = amount;
    request.vbank_code = "004";
    request.vbank_due = std::time(nullptr) + 86'400;
    request.vbank_holder = "홍길동";
    request.name = "주문 상품";
    request.channel.channel_key = "channel-key-test";
    return request;
}

}  // namespace mg::iamport::testing
