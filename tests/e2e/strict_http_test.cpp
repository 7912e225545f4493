// What an unauthenticated client can make of the service's HTTP: made-up methods, framings a
// proxy could read otherwise, a missing Host, HEAD, JSON and query values that are not what they
// seem. Every case against the real binary.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "tests/e2e/gateway.hpp"

namespace mg::test {
namespace {

namespace json = boost::json;

class StrictHttp : public GatewayTest {
  protected:
    std::size_t metrics_size() {
        const auto metrics = gateway_->request("GET", "/metrics");
        EXPECT_EQ(metrics.status, 200);
        return metrics.body.size();
    }

    // Resident memory of the gateway process, in KiB.
    long rss_kib() {
        std::ifstream status("/proc/" + std::to_string(gateway_->process().pid()) + "/status");
        std::string line;
        while (std::getline(status, line)) {
            if (line.rfind("VmRSS:", 0) == 0) {
                return std::stol(line.substr(6));
            }
        }
        return -1;
    }

    std::int64_t order_count() {
        const auto page = gateway_->request("GET", "/v1/orders?limit=100", {}, auth());
        EXPECT_EQ(page.status, 200) << page.body;
        return static_cast<std::int64_t>(page.json().at("data").as_array().size());
    }
};

std::string status_line(const std::string& reply) {
    return reply.substr(0, reply.find("\r\n"));
}

TEST_F(StrictHttp, MadeUpMethodsAre501AndNeverBecomeMetricLabels) {
    const auto before = metrics_size();
    const auto rss_before = rss_kib();
    std::mt19937 random(7);
    std::uniform_int_distribution<int> letter('A', 'Z');
    for (int i = 0; i < 1000; ++i) {
        std::string method(4000, 'A');
        for (auto& c : method) {
            c = static_cast<char>(letter(random));
        }
        const auto reply =
            raw_exchange(gateway_->port(), method + " /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        ASSERT_EQ(status_line(reply), "HTTP/1.1 501 Not Implemented") << reply.substr(0, 200);
    }
    const auto after = metrics_size();
    const auto rss_after = rss_kib();
    // One series more at most (the refusals are not requests of a route), never one per method.
    EXPECT_LT(after, before + 4096) << "metrics grew from " << before << " to " << after;
    // (AddressSanitizer's quarantine holds freed memory for a while: the bound is loose.)
    EXPECT_LT(rss_after - rss_before, 64 * 1024) << "RSS " << rss_before << " → " << rss_after;
    std::printf("1,000 made-up methods: /metrics %zu → %zu bytes, RSS %ld → %ld KiB\n", before,
                after, rss_before, rss_after);
    const auto metrics = gateway_->request("GET", "/metrics");
    EXPECT_EQ(metrics.body.find("AAAAAAAAAA"), std::string::npos);
}

TEST_F(StrictHttp, KnownMethodsOutsideTheApiAreLabelledOther) {
    const auto reply = raw_exchange(
        gateway_->port(), "PROPFIND /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_line(reply), "HTTP/1.1 405 Method Not Allowed") << reply;
    const auto metrics = gateway_->request("GET", "/metrics").body;
    EXPECT_EQ(metrics.find("PROPFIND"), std::string::npos);
    EXPECT_NE(metrics.find("method=\"other\""), std::string::npos);
}

// Status lines in a reply: more than one means a request after the refusal was answered.
int status_lines(const std::string& reply) {
    int count = reply.rfind("HTTP/1.", 0) == 0 ? 1 : 0;
    for (auto at = reply.find("\r\nHTTP/1."); at != std::string::npos;
         at = reply.find("\r\nHTTP/1.", at + 1)) {
        ++count;
    }
    return count;
}

TEST_F(StrictHttp, TransferEncodingsOtherThanChunkedAre400AndClose) {
    const std::string body = R"({"name":"원두","amount":1000})";
    // Without a Content-Length a proxy that takes these for chunked reads the body, we would
    // read a request without one and the body as the next request: smuggling.
    const std::string encodings[] = {"chunked, identity", "xchunked", "identity", "gzip, chunked",
                                     "chunked\r\nTransfer-Encoding: chunked"};
    const auto smuggled =
        "GET /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key_ + "\r\n\r\n";
    for (const auto& encoding : encodings) {
        const auto reply = raw_exchange(
            gateway_->port(),
            "POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key_ +
                "\r\nContent-Type: application/json\r\nTransfer-Encoding: " + encoding +
                "\r\n\r\n" + smuggled);
        EXPECT_EQ(status_line(reply), "HTTP/1.1 400 Bad Request") << encoding << ": " << reply;
        // (Two Transfer-Encoding lines Beast itself refuses as malformed.)
        EXPECT_TRUE(reply.find("unsupported_transfer_encoding") != std::string::npos ||
                    reply.find("malformed_request") != std::string::npos)
            << reply;
        // Closed after the refusal: the smuggled second request is never answered.
        EXPECT_EQ(status_lines(reply), 1) << reply;
        // With a Content-Length beside it, refused as well.
        const auto with_length =
            raw_exchange(gateway_->port(),
                         "POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key_ +
                             "\r\nContent-Type: application/json\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nTransfer-Encoding: " + encoding +
                             "\r\n\r\n" + body + smuggled);
        EXPECT_EQ(status_line(with_length), "HTTP/1.1 400 Bad Request") << with_length;
        EXPECT_EQ(status_lines(with_length), 1) << with_length;
    }
    // Chunked together with a Content-Length is refused too.
    const auto both = raw_exchange(
        gateway_->port(),
        "POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: "
        "chunked\r\n\r\n0\r\n\r\n");
    EXPECT_EQ(status_line(both), "HTTP/1.1 400 Bad Request") << both;
    EXPECT_EQ(order_count(), 0);
    // Plain chunked is served.
    std::ostringstream hex;
    hex << std::hex << body.size();
    const auto chunked = raw_exchange(
        gateway_->port(), "POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key_ +
                              "\r\nContent-Type: application/json\r\nTransfer-Encoding: "
                              "chunked\r\nConnection: close\r\n\r\n" +
                              hex.str() + "\r\n" + body + "\r\n0\r\n\r\n");
    EXPECT_EQ(status_line(chunked), "HTTP/1.1 201 Created") << chunked;
    EXPECT_EQ(order_count(), 1);
}

TEST_F(StrictHttp, Http11NeedsExactlyOneHost) {
    auto reply = raw_exchange(gateway_->port(), "GET /healthz HTTP/1.1\r\n\r\n");
    EXPECT_EQ(status_line(reply), "HTTP/1.1 400 Bad Request") << reply;
    reply = raw_exchange(gateway_->port(), "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    EXPECT_EQ(status_line(reply), "HTTP/1.1 400 Bad Request") << reply;
    reply = raw_exchange(gateway_->port(),
                         "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_line(reply), "HTTP/1.1 200 OK") << reply;
    reply = raw_exchange(gateway_->port(), "GET /healthz HTTP/1.0\r\n\r\n");
    EXPECT_EQ(status_line(reply), "HTTP/1.0 200 OK") << reply;
}

TEST_F(StrictHttp, HeadAnswersTheHeadOfGetWithoutABody) {
    const auto created =
        create_order({{"merchant_uid", "head-1"}, {"name", "원두"}, {"amount", 1000}});
    ASSERT_EQ(created.status, 201) << created.body;
    const auto get = gateway_->request("GET", "/v1/orders/head-1", {}, auth());
    ASSERT_EQ(get.status, 200);
    // HEAD, then GET on the same connection: the second answer must be read intact.
    const std::string authorization = "Authorization: Bearer " + key_ + "\r\n";
    const auto reply = raw_exchange(
        gateway_->port(), "HEAD /v1/orders/head-1 HTTP/1.1\r\nHost: x\r\n" + authorization +
                              "\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(status_line(reply), "HTTP/1.1 200 OK") << reply;
    const auto first_end = reply.find("\r\n\r\n");
    ASSERT_NE(first_end, std::string::npos);
    const auto head = reply.substr(0, first_end);
    EXPECT_NE(head.find("Content-Length: " + std::to_string(get.body.size())), std::string::npos)
        << head;
    EXPECT_EQ(reply.substr(first_end + 4, 15), "HTTP/1.1 200 OK") << reply;
    // A HEAD refused (a route that takes only POST) has no body either.
    const auto refused = raw_exchange(
        gateway_->port(), "HEAD /v1/orders/head-1/cancel HTTP/1.1\r\nHost: x\r\n" + authorization +
                              "\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_line(refused), "HTTP/1.1 405 Method Not Allowed") << refused;
    EXPECT_EQ(refused.substr(refused.find("\r\n\r\n") + 4, 15), "HTTP/1.1 200 OK") << refused;
}

TEST_F(StrictHttp, DuplicateJsonMembersAre400AndStoreNothing) {
    const auto response =
        gateway_->request("POST", "/v1/orders", R"({"name":"원두","amount":1000,"amount":1})", [&] {
            auto headers = auth();
            headers.emplace_back("Content-Type", "application/json");
            return headers;
        }());
    EXPECT_EQ(response.status, 400) << response.body;
    EXPECT_EQ(response.json().at("error").at("code"), "duplicate_key");
    // Nested objects are held to the same rule; the same name in two objects is fine.
    const auto nested = create_order({{"name", "원두"},
                                      {"amount", 1000},
                                      {"custom_data", {{"name", 1}, {"inner", {{"name", 2}}}}}});
    EXPECT_EQ(nested.status, 201) << nested.body;
    EXPECT_EQ(order_count(), 1);
}

TEST_F(StrictHttp, QueryValuesAreRangeCheckedAndNothingInvalidIsEchoed) {
    auto response = gateway_->request("GET", "/v1/orders?created_from=99999999999999", {}, auth());
    EXPECT_EQ(response.status, 422) << response.body;
    EXPECT_EQ(response.json().at("error").at("field"), "created_from");
    response = gateway_->request("GET", "/v1/orders?created_to=-1", {}, auth());
    EXPECT_EQ(response.status, 422) << response.body;
    response = gateway_->request("GET", "/v1/orders?%ff=1", {}, auth());
    EXPECT_EQ(response.status, 422) << response.body;
    boost::system::error_code ec;
    const auto parsed = json::parse(response.body, ec);  // valid UTF-8, valid JSON
    ASSERT_FALSE(ec) << response.body;
    EXPECT_EQ(parsed.at("error").at("field"), "query");
    response =
        gateway_->request("GET", "/v1/orders?created_from=0&created_to=253402300799", {}, auth());
    EXPECT_EQ(response.status, 200) << response.body;
}

class StrictHttpCors : public StrictHttp {
  protected:
    Headers extra_env() const override {
        return {{"CORS_ALLOWED_ORIGINS", "https://shop.example"}};
    }
};

TEST_F(StrictHttpCors, PreflightsAnswerOnlyForRoutesThatExist) {
    const Headers preflight{{"Origin", "https://shop.example"},
                            {"Access-Control-Request-Method", "POST"}};
    auto response = gateway_->request("OPTIONS", "/v1/orders/o-1/complete", {}, preflight);
    EXPECT_EQ(response.status, 204);
    response = gateway_->request("OPTIONS", "/v1/no-such-route", {}, preflight);
    EXPECT_EQ(response.status, 404) << response.body;
    response = gateway_->request("OPTIONS", "/v1/orders/o-1/complete/extra", {}, preflight);
    EXPECT_EQ(response.status, 404) << response.body;
}

}  // namespace
}  // namespace mg::test
