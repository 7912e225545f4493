// The client verifies the certificate chain and the host name: a self-signed simulator is
// refused, and accepted once its certificate is configured as a trusted CA.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "client_fixture.hpp"

namespace mg::iamport {
namespace {
using testing::IoThreads;

class TlsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("mg-iamport-tls-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        cert_ = (dir_ / "cert.pem").string();
        key_ = (dir_ / "key.pem").string();
        std::string command =
            "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
            "-addext subjectAltName=DNS:localhost -keyout " +
            key_ + " -out " + cert_ + " >/dev/null 2>&1";
        ASSERT_EQ(std::system(command.c_str()), 0) << "openssl is needed for this test";
        mg::test::SimProcess::Options options;
        options.tls_cert = cert_;
        options.tls_key = key_;
        sim_ = std::make_unique<mg::test::SimProcess>(options);
    }
    void TearDown() override {
        sim_.reset();
        std::filesystem::remove_all(dir_);
    }

    std::filesystem::path dir_;
    std::string cert_;
    std::string key_;
    std::unique_ptr<mg::test::SimProcess> sim_;
    IoThreads threads_;
};

TEST_F(TlsTest, SelfSignedCertificateIsRefused) {
    auto config = testing::config_for(*sim_);
    config.get_attempts = 1;
    Client client(threads_.io().get_executor(), config);
    auto result = threads_.run(client.get_token());
    ASSERT_FALSE(result);
    EXPECT_EQ(result.outcome(), Outcome::not_sent);
    EXPECT_NE(result.error().message.find("TLS"), std::string::npos) << result.error().message;
}

TEST_F(TlsTest, AcceptedWhenItsCaIsConfigured) {
    auto config = testing::config_for(*sim_);
    config.ca_file = cert_;
    Client client(threads_.io().get_executor(), config);
    auto result = threads_.run(client.get_token());
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_FALSE(result->access_token.empty());
}

TEST_F(TlsTest, WrongHostNameIsRefusedEvenWithTheCa) {
    auto config = testing::config_for(*sim_);
    config.ca_file = cert_;
    config.base_url = "https://127.0.0.1:" + std::to_string(sim_->port());  // cert names localhost
    config.get_attempts = 1;
    Client client(threads_.io().get_executor(), config);
    EXPECT_EQ(threads_.run(client.get_token()).outcome(), Outcome::not_sent);
}

}  // namespace
}  // namespace mg::iamport
