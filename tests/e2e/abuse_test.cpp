// Hostile clients against the real binary: oversized and endless bodies, header floods, bytes that
// are not text, JSON nested without end, numbers that are not amounts, SQL metacharacters, idle
// and trickling connections, SIGTERM with a request in flight, the connection cap. Each is
// refused clearly (or its connection closed where HTTP cannot answer), the service keeps
// answering others, and the database is left as it was.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "tests/e2e/gateway.hpp"
#include "tests/support/sim_process.hpp"

namespace mg::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using namespace std::string_literals;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMebibyte = 1024 * 1024;

// A connection to 127.0.0.1:port; the errno when it cannot be made.
int connect_to(unsigned short port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        const int error = errno;
        ::close(fd);
        return -error;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

// A raw client socket that records what the server sends and when it closes. Sending reads too,
// so that an answer which arrives while a large request is still going out is not lost.
class RawSocket {
  public:
    explicit RawSocket(unsigned short port) : RawSocket(connect_to(port)) {}
    // Takes over a descriptor from connect_to; throws when that failed.
    explicit RawSocket(int fd) : fd_(fd), opened_(Clock::now()) {
        if (fd_ < 0) {
            throw std::runtime_error(std::string("connect: ") + std::strerror(-fd_));
        }
    }
    ~RawSocket() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    RawSocket(RawSocket&& other) noexcept
        : fd_(std::exchange(other.fd_, -1)),
          opened_(other.opened_),
          closed_at_(other.closed_at_),
          received_(std::move(other.received_)) {}
    RawSocket(const RawSocket&) = delete;
    RawSocket& operator=(const RawSocket&) = delete;
    RawSocket& operator=(RawSocket&&) = delete;

    int fd() const { return fd_; }

    // Sends all of `bytes`; false when the server closed first or the time ran out.
    bool send(std::string_view bytes, std::chrono::milliseconds timeout = 5s) {
        const auto deadline = Clock::now() + timeout;
        while (!bytes.empty()) {
            pump();
            if (closed()) {
                return false;
            }
            const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                bytes.remove_prefix(static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                pump();
                mark_closed();
                return false;
            }
            const auto left = deadline - Clock::now();
            if (left <= 0s) {
                return false;
            }
            pollfd events{fd_, POLLIN | POLLOUT, 0};
            ::poll(&events, 1, poll_timeout(left));
        }
        return true;
    }

    // Takes in whatever has arrived, without waiting.
    void pump() {
        char buffer[16 * 1024];
        while (!closed()) {
            const auto n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
            if (n > 0) {
                received_.append(buffer, static_cast<std::size_t>(n));
            } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                mark_closed();  // end of stream, or reset
            } else {
                return;
            }
        }
    }

    // Reads until the server closes the connection; false when it is still open at `timeout`.
    bool wait_closed(std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        for (pump(); !closed() && Clock::now() < deadline; pump()) {
            pollfd events{fd_, POLLIN, 0};
            ::poll(&events, 1, poll_timeout(deadline - Clock::now()) + 1);
        }
        return closed();
    }

    // Reads until `text` has arrived after the first `from` bytes (or the connection closed, or
    // the time ran out).
    bool wait_for(std::string_view text, std::chrono::milliseconds timeout, std::size_t from = 0) {
        const auto deadline = Clock::now() + timeout;
        for (pump(); received_.find(text, from) == std::string::npos && !closed() &&
                     Clock::now() < deadline;
             pump()) {
            pollfd events{fd_, POLLIN, 0};
            ::poll(&events, 1, poll_timeout(deadline - Clock::now()) + 1);
        }
        return received_.find(text, from) != std::string::npos;
    }

    bool closed() const { return closed_at_.has_value(); }
    // How long the connection lived, from connect to the server's close.
    std::chrono::milliseconds lifetime() const {
        return milliseconds(closed_at_.value_or(Clock::now()) - opened_);
    }
    const std::string& received() const { return received_; }

    // The status of the first response, 0 when none arrived.
    int status() const {
        if (received_.size() < 12 || !received_.starts_with("HTTP/1.1 ")) {
            return 0;
        }
        return std::stoi(received_.substr(9, 3));
    }
    // `error.code` of the first response's JSON body.
    std::string error_code() const {
        const auto end_of_head = received_.find("\r\n\r\n");
        if (end_of_head == std::string::npos) {
            return {};
        }
        boost::system::error_code ec;
        const auto body = json::parse(std::string_view(received_).substr(end_of_head + 4), ec);
        if (ec || !body.is_object() || !body.as_object().contains("error")) {
            return {};
        }
        return std::string(body.at("error").at("code").as_string());
    }

  private:
    static std::chrono::milliseconds milliseconds(Clock::duration d) {
        return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(d), 0ms);
    }
    static int poll_timeout(Clock::duration d) { return static_cast<int>(milliseconds(d).count()); }
    void mark_closed() {
        if (!closed_at_) {
            closed_at_ = Clock::now();
        }
    }

    int fd_ = -1;
    Clock::time_point opened_;
    std::optional<Clock::time_point> closed_at_;
    std::string received_;
};

std::string head(std::string_view method, std::string_view target, const Headers& headers) {
    std::string text(method);
    text += ' ';
    text += target;
    text += " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [name, value] : headers) {
        text += name;
        text += ": ";
        text += value;
        text += "\r\n";
    }
    text += "\r\n";
    return text;
}

std::string code_of(const HttpResponse& response) {
    try {
        return std::string(response.json().at("error").at("code").as_string());
    } catch (const std::exception&) {
        return "(no error code in: " + response.body.substr(0, 200) + ")";
    }
}

std::string field_of(const HttpResponse& response) {
    try {
        return std::string(response.json().at("error").at("field").as_string());
    } catch (const std::exception&) {
        return {};
    }
}

// Bytes made readable in a failure message.
std::string printable(std::string_view bytes) {
    std::string out;
    for (const char c : bytes.substr(0, 120)) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7F) {
            out += c;
        } else {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\x%02X", byte);
            out += escaped;
        }
    }
    return out;
}

std::string percent_encode(std::string_view text) {
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) || c == '-' || c == '.' || c == '~') {
            out += c;
        } else {
            char escaped[4];
            std::snprintf(escaped, sizeof escaped, "%%%02X", byte);
            out += escaped;
        }
    }
    return out;
}

class Abuse : public GatewayTest {
  protected:
    Headers extra_env() const override { return {{"REQUEST_TIMEOUT", "2"}}; }

    void SetUp() override {
        GatewayTest::SetUp();
        const auto seeded = create_order({{"merchant_uid", "seed-1"},
                                          {"name", "원두 1kg"},
                                          {"amount", 32000},
                                          {"buyer_name", "홍길동"},
                                          {"custom_data", {{"cart", "c-1"}}}});
        ASSERT_EQ(seeded.status, 201) << seeded.body;
        before_ = snapshot();
    }

    // What abuse must not change: row counts of every table a request can write, and the
    // orders' contents.
    std::string snapshot() const {
        pqxx::connection connection(database_->url());
        pqxx::work work(connection);
        return work
            .exec1(
                "SELECT concat_ws(' ', (SELECT count(*) FROM orders), "
                "(SELECT count(*) FROM order_events), (SELECT count(*) FROM payments), "
                "(SELECT count(*) FROM webhook_inbox), (SELECT count(*) FROM idempotency_keys), "
                "(SELECT md5(coalesce(string_agg(concat_ws('|', merchant_uid, name, amount, "
                "currency, status, client_secret, buyer_name, buyer_email, buyer_tel, buyer_addr, "
                "buyer_postcode, custom_data::text), ',' ORDER BY id), '')) FROM orders))")[0]
            .as<std::string>();
    }

    std::string query(const std::string& sql) const {
        pqxx::connection connection(database_->url());
        pqxx::work work(connection);
        const auto row = work.exec1(sql);
        return row[0].is_null() ? std::string("NULL") : row[0].as<std::string>();
    }

    // The service still answers on a fresh connection, and nothing was written.
    void expect_unharmed() {
        const auto health = gateway_->request("GET", "/healthz");
        EXPECT_EQ(health.status, 200) << health.body;
        const auto seed = gateway_->request("GET", "/v1/orders/seed-1", {}, auth());
        EXPECT_EQ(seed.status, 200) << seed.body;
        EXPECT_EQ(snapshot(), before_) << "the database changed";
        EXPECT_TRUE(gateway_->process().running()) << gateway_->log();
        expect_no_failure_logged();
    }
    // No request failed inside, and the sanitizers found nothing.
    void expect_no_failure_logged() const {
        const auto log = gateway_->log();
        for (const auto* sign : {"\"request failed\"", "\"request handler failed\"",
                                 "AddressSanitizer", "runtime error:"}) {
            EXPECT_EQ(log.find(sign), std::string::npos) << sign << " in the log:\n" << log;
        }
    }

    Headers json_auth() const {
        auto headers = auth();
        headers.emplace_back("Content-Type", "application/json");
        return headers;
    }
    HttpResponse post_raw(std::string_view target, std::string_view body,
                          const Headers& headers) const {
        return gateway_->request("POST", target, body, headers);
    }
    HttpResponse create_raw(std::string_view body) const {
        return post_raw("/v1/orders", body, json_auth());
    }

    std::string before_;
};

// --- bodies -------------------------------------------------------------------------------

TEST_F(Abuse, OneMebibyteBodyIs413WithoutBeingRead) {
    auto headers = json_auth();
    headers.emplace_back("Content-Length", std::to_string(kMebibyte));
    const auto request_head = head("POST", "/v1/orders", headers);

    // The answer comes from Content-Length alone: no byte of the body has been sent.
    RawSocket announced(gateway_->port());
    ASSERT_TRUE(announced.send(request_head));
    ASSERT_TRUE(announced.wait_closed(5s)) << printable(announced.received());
    EXPECT_EQ(announced.status(), 413) << printable(announced.received());
    EXPECT_EQ(announced.error_code(), "payload_too_large");

    // A client that sends it all without waiting for an answer still gets one.
    RawSocket blind(gateway_->port());
    blind.send(request_head + std::string(kMebibyte, 'a'));
    ASSERT_TRUE(blind.wait_closed(5s));
    EXPECT_EQ(blind.status(), 413) << printable(blind.received());

    // With Expect: 100-continue it is refused instead of invited.
    auto expecting = headers;
    expecting.emplace_back("Expect", "100-continue");
    RawSocket polite(gateway_->port());
    ASSERT_TRUE(polite.send(head("POST", "/v1/orders", expecting)));
    ASSERT_TRUE(polite.wait_closed(5s));
    EXPECT_EQ(polite.status(), 413) << printable(polite.received());
    EXPECT_EQ(polite.received().find("100 Continue"), std::string::npos);

    expect_unharmed();
}

TEST_F(Abuse, OneMebibyteWebhookIs413) {
    const std::string body =
        "{\"imp_uid\":\"imp_1\",\"pad\":\"" + std::string(kMebibyte, 'a') + "\"}";
    RawSocket socket(gateway_->port());
    socket.send(head("POST", "/webhooks/iamport",
                     {{"Content-Type", "application/json"},
                      {"Content-Length", std::to_string(body.size())}}) +
                body);
    ASSERT_TRUE(socket.wait_closed(5s));
    EXPECT_EQ(socket.status(), 413) << printable(socket.received());
    EXPECT_EQ(socket.error_code(), "payload_too_large");
    // Between the route's own limit (16 KiB) and the server's (64 KiB): the route refuses it.
    const std::string medium = "imp_uid=imp_1&pad=" + std::string(32 * 1024, 'a');
    const auto response =
        gateway_->request("POST", "/webhooks/iamport", medium,
                          {{"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_EQ(response.status, 413) << response.body;
    EXPECT_EQ(code_of(response), "payload_too_large");
    expect_unharmed();
}

TEST_F(Abuse, EndlessChunkedBodyIs413PastTheLimitAndClosed) {
    auto headers = json_auth();
    headers.emplace_back("Transfer-Encoding", "chunked");
    RawSocket socket(gateway_->port());
    ASSERT_TRUE(socket.send(head("POST", "/v1/orders", headers)));
    std::string chunk = "1000\r\n";  // 4 KiB a chunk, as long as the server lets it go on
    chunk += std::string(4096, ' ');
    chunk += "\r\n";
    std::size_t sent = 0;
    std::optional<std::size_t> sent_when_answered;
    const auto deadline = Clock::now() + 10s;
    while (!socket.closed() && Clock::now() < deadline && sent < 16 * kMebibyte) {
        if (!socket.send(chunk, 2s)) {
            break;
        }
        sent += 4096;
        socket.pump();
        if (!sent_when_answered && !socket.received().empty()) {
            sent_when_answered = sent;
        }
        std::this_thread::sleep_for(2ms);
    }
    ASSERT_TRUE(socket.wait_closed(5s)) << "still open after " << sent << " bytes";
    EXPECT_EQ(socket.status(), 413) << printable(socket.received());
    EXPECT_EQ(socket.error_code(), "payload_too_large");
    // Refused once past 64 KiB: what was sent beyond it sat in socket buffers, never parsed.
    EXPECT_LT(sent_when_answered.value_or(sent), 4 * kMebibyte);
    expect_unharmed();
}

// --- headers ------------------------------------------------------------------------------

TEST_F(Abuse, HeaderFloodsAre431AndClosed) {
    Headers flood = auth();
    for (int i = 0; i < 10'000; ++i) {
        flood.emplace_back("X-Flood-" + std::to_string(i), "1");
    }
    RawSocket many(gateway_->port());
    many.send(head("GET", "/v1/orders", flood));
    ASSERT_TRUE(many.wait_closed(5s));
    EXPECT_EQ(many.status(), 431) << printable(many.received());
    EXPECT_EQ(many.error_code(), "headers_too_large");

    RawSocket huge(gateway_->port());
    huge.send(head("GET", "/v1/orders", {{"X-Huge", std::string(100 * 1024, 'h')}}));
    ASSERT_TRUE(huge.wait_closed(5s));
    EXPECT_EQ(huge.status(), 431) << printable(huge.received());
    EXPECT_EQ(huge.error_code(), "headers_too_large");

    // A header line that never ends is the same thing.
    RawSocket endless(gateway_->port());
    endless.send("GET /healthz HTTP/1.1\r\nX-Endless: " + std::string(64 * 1024, 'e'));
    ASSERT_TRUE(endless.wait_closed(5s));
    EXPECT_EQ(endless.status(), 431) << printable(endless.received());
    expect_unharmed();
}

// --- bytes that are not text ----------------------------------------------------------------

const std::vector<std::string> kInvalidUtf8{
    "\xC3\x28",          // a lead byte without its continuation
    "\xFF",              // never valid
    "\xC0\xAF",          // overlong '/'
    "\xED\xA0\x80",      // a UTF-16 surrogate
    "\xF4\x90\x80\x80",  // above U+10FFFF
    "caf\xE9",           // Latin-1
    "\xE2\x82",          // cut short
};

TEST_F(Abuse, InvalidUtf8InJsonStringsIsMalformedJson) {
    for (const auto& bad : kInvalidUtf8) {
        for (const auto* field : {"name", "buyer_name", "buyer_addr", "currency"}) {
            std::string body = "{\"name\":\"ok\",\"amount\":1000,\"";
            if (std::string_view(field) == "name") {
                body = "{\"amount\":1000,\"";
            }
            body += field;
            body += "\":\"a";
            body += bad;
            body += "b\"}";
            const auto response = create_raw(body);
            EXPECT_EQ(response.status, 400) << field << ": " << printable(bad);
            EXPECT_EQ(code_of(response), "malformed_json") << field << ": " << printable(bad);
        }
        // In a key, and in custom_data.
        auto response =
            create_raw("{\"name\":\"ok\",\"amount\":1000,\"custom_data\":{\"k" + bad + "\":1}}");
        EXPECT_EQ(response.status, 400) << printable(bad);
        response =
            create_raw("{\"name\":\"ok\",\"amount\":1000,\"custom_data\":[\"" + bad + "\"]}");
        EXPECT_EQ(response.status, 400) << printable(bad);
    }
    // Escapes that name half a surrogate pair are not text either.
    for (const auto* escaped : {"\\ud800", "\\udc00", "\\ud800\\u0041", "\\udbff\\udbff"}) {
        const auto response =
            create_raw(std::string("{\"amount\":1000,\"name\":\"a") + escaped + "\"}");
        EXPECT_EQ(response.status, 400) << escaped << " → " << response.body;
        EXPECT_EQ(code_of(response), "malformed_json") << escaped;
    }
    // Valid text of every width is accepted and kept as sent.
    const std::string wide = "a\xC3\xA9\xED\x95\x9C\xF0\x9F\x98\x80";  // a é 한 😀
    const auto created =
        create_raw("{\"merchant_uid\":\"utf8-ok\",\"amount\":1000,\"name\":\"" + wide + "\"}");
    ASSERT_EQ(created.status, 201) << created.body;
    EXPECT_EQ(created.json().at("name").as_string(), wide);
    EXPECT_EQ(query("SELECT name FROM orders WHERE merchant_uid = 'utf8-ok'"), wide);
    before_ = snapshot();
    expect_unharmed();
}

TEST_F(Abuse, InvalidUtf8InThePathQueryAndHeadersIsRefused) {
    for (const auto& bad : kInvalidUtf8) {
        const auto encoded = percent_encode("ord-" + bad);
        for (const auto* suffix : {"", "/sync"}) {
            const auto target = "/v1/orders/" + encoded + suffix;
            const auto method = std::string_view(suffix).empty() ? "GET" : "POST";
            auto response = gateway_->request(method, target, {}, auth());
            EXPECT_EQ(response.status, 404) << target << " → " << response.body;
            EXPECT_EQ(code_of(response), "order_not_found") << target;
            // A browser's client secret learns nothing about it either (and may not sync).
            response = gateway_->request(method, target, {},
                                         {{"X-Client-Secret", "cs_not_a_real_secret_at_all"}});
            EXPECT_EQ(response.status, 401) << target << " → " << response.body;
            EXPECT_EQ(code_of(response), std::string_view(suffix).empty() ? "invalid_client_secret"
                                                                          : "api_key_required");
        }
        // With an Idempotency-Key, which would be stored under the order's name.
        auto response = gateway_->request(
            "POST", "/v1/orders/" + encoded + "/complete", "{\"imp_uid\":\"imp_1\"}",
            {{"X-Client-Secret", "cs_not_a_real_secret_at_all"}, {"Idempotency-Key", "k-1"}});
        EXPECT_EQ(response.status, 401) << response.body;
        EXPECT_EQ(code_of(response), "invalid_client_secret");
        response = gateway_->request("GET", "/v1/orders?status=" + percent_encode(bad), {}, auth());
        EXPECT_EQ(response.status, 422) << printable(bad) << " → " << response.body;
        EXPECT_EQ(field_of(response), "status");
        response = gateway_->request("GET", "/v1/orders?cursor=" + percent_encode(bad), {}, auth());
        EXPECT_EQ(response.status, 422) << printable(bad) << " → " << response.body;
        EXPECT_EQ(field_of(response), "cursor");
    }
    // Raw (unencoded) bytes in the request line reach the route as they are: no order.
    RawSocket raw(gateway_->port());
    raw.send(head("GET", "/v1/orders/ord-\xFF\xFE", auth()));
    ASSERT_TRUE(raw.wait_for("\r\n\r\n", 5s)) << printable(raw.received());
    EXPECT_EQ(raw.status(), 404) << printable(raw.received());

    // Header values are bytes on the wire; an Idempotency-Key is stored, so it must be text.
    for (const auto& bad : kInvalidUtf8) {
        auto headers = json_auth();
        headers.emplace_back("Idempotency-Key", "key-" + bad);
        RawSocket socket(gateway_->port());
        const std::string body = R"({"name":"idem","amount":1000})";
        headers.emplace_back("Content-Length", std::to_string(body.size()));
        headers.emplace_back("Connection", "close");
        socket.send(head("POST", "/v1/orders", headers) + body);
        ASSERT_TRUE(socket.wait_closed(5s)) << printable(bad);
        EXPECT_EQ(socket.status(), 422) << printable(bad) << " → " << printable(socket.received());
        EXPECT_EQ(socket.error_code(), "validation_failed") << printable(bad);
    }
    expect_unharmed();
}

TEST_F(Abuse, NulBytesAreRefused) {
    // Escaped: valid JSON, but not text a field may hold.
    for (const auto* field : {"name", "buyer_name", "buyer_tel", "buyer_addr", "buyer_postcode"}) {
        json::object body{{"name", "ok"}, {"amount", 1000}};
        body[field] = "a\0b"s;
        const auto response = create_order(body);
        EXPECT_EQ(response.status, 422) << field << " → " << response.body;
        EXPECT_EQ(field_of(response), field);
    }
    json::object email{{"name", "ok"}, {"amount", 1000}};
    email["buyer_email"] = "a\0@example.com"s;
    EXPECT_EQ(create_order(email).status, 422);
    // custom_data is stored as jsonb, which cannot hold U+0000: refused, in values and keys.
    for (const auto* custom : {R"({"note":"a\u0000b"})", R"({"a\u0000":1})",
                               R"(["x",{"deep":["\u0000"]}])", R"("\u0000")"}) {
        const auto response =
            create_raw(std::string(R"({"name":"ok","amount":1000,"custom_data":)") + custom + "}");
        EXPECT_EQ(response.status, 422) << custom << " → " << response.body;
        EXPECT_EQ(field_of(response), "custom_data") << custom;
    }
    // A backslash followed by "u0000" is text like any other.
    const auto literal = create_raw(
        R"({"merchant_uid":"nul-literal","name":"ok","amount":1000,"custom_data":{"note":"\\u0000"}})");
    ASSERT_EQ(literal.status, 201) << literal.body;
    EXPECT_EQ(literal.json().at("custom_data").at("note").as_string(), "\\u0000");
    before_ = snapshot();
    // Raw: not JSON at all.
    for (const auto& raw : {"{\"name\":\"a\0b\",\"amount\":1000}"s,
                            "{\"name\":\"ab\",\"amount\":1000}\0"s, "\0{}"s}) {
        const auto response = create_raw(raw);
        EXPECT_EQ(response.status, 400) << printable(raw) << " → " << response.body;
        EXPECT_EQ(code_of(response), "malformed_json") << printable(raw);
    }
    // In the path: no order has it.
    auto response = gateway_->request("GET", "/v1/orders/seed-1%00", {}, auth());
    EXPECT_EQ(response.status, 404) << response.body;
    // In a header: not HTTP.
    RawSocket header(gateway_->port());
    header.send(head("GET", "/healthz", {{"X-Request-Id", "a\0b"s}}));
    ASSERT_TRUE(header.wait_closed(5s));
    EXPECT_EQ(header.status(), 400) << printable(header.received());
    // In a webhook, as JSON escape, raw, and form data.
    for (const auto& [type, body] : std::vector<std::pair<std::string, std::string>>{
             {"application/json", R"({"imp_uid":"imp_\u0000"})"},
             {"application/json", "{\"imp_uid\":\"imp_\0\"}"s},
             {"application/x-www-form-urlencoded", "imp_uid=imp_%00"},
             {"application/x-www-form-urlencoded", "imp_uid=imp_\0"s}}) {
        response = gateway_->request("POST", "/webhooks/iamport", body, {{"Content-Type", type}});
        EXPECT_EQ(response.status, 400) << printable(body) << " → " << response.body;
    }
    expect_unharmed();
}

// --- JSON shapes and numbers --------------------------------------------------------------

TEST_F(Abuse, JsonNestedTenThousandDeepIsMalformed) {
    const std::string arrays = std::string(10'000, '[') + std::string(10'000, ']');
    std::string objects;
    for (int i = 0; i < 10'000; ++i) {
        objects += "{\"a\":";
    }
    objects += "1";
    objects += std::string(10'000, '}');
    for (const auto& body :
         {arrays, objects, R"({"name":"deep","amount":1000,"custom_data":)" + arrays + "}",
          R"({"name":"deep","amount":1000,"custom_data":)" + objects + "}",
          std::string(60'000, '[')}) {
        const auto response = create_raw(body);
        EXPECT_EQ(response.status, 400) << body.substr(0, 60) << " → " << response.body;
        EXPECT_EQ(code_of(response), "malformed_json");
    }
    // A webhook body is at most 16 KiB: 10,000 levels opened, never closed.
    for (const auto& body :
         {std::string(10'000, '['), R"({"imp_uid":"imp_1","a":)" + std::string(10'000, '[')}) {
        const auto hook = gateway_->request("POST", "/webhooks/iamport", body,
                                            {{"Content-Type", "application/json"}});
        EXPECT_EQ(hook.status, 400) << hook.body;
        EXPECT_EQ(code_of(hook), "malformed_json");
    }
    // On a payment route too (the order exists; its body is read before anything is sent).
    const auto response = post_raw("/v1/orders/seed-1/cancel", arrays, json_auth());
    EXPECT_EQ(response.status, 400) << response.body;
    EXPECT_EQ(code_of(response), "malformed_json");
    expect_unharmed();
}

TEST_F(Abuse, AmountsThatAreNotPlainIntegersAre422) {
    const std::string digits400(400, '9');
    for (const auto& amount : std::vector<std::string>{digits400,
                                                       "-" + digits400,
                                                       "1" + std::string(399, '0'),
                                                       "1e999999999",
                                                       "-1e999999999",
                                                       "1e400",
                                                       "1e-400",
                                                       "-0",
                                                       "0",
                                                       "-0.0",
                                                       "1e3",
                                                       "1E3",
                                                       "1.0",
                                                       "1000.0",
                                                       "1000.5",
                                                       "0.1",
                                                       "9223372036854775807",
                                                       "9223372036854775808",
                                                       "18446744073709551615",
                                                       "18446744073709551616",
                                                       "1000000000001",
                                                       "-1",
                                                       "\"1000\"",
                                                       "true",
                                                       "null",
                                                       "[]",
                                                       "{}",
                                                       "[1000]"}) {
        const auto response = create_raw(R"({"name":"amount","amount":)" + amount + "}");
        EXPECT_EQ(response.status, 422) << amount.substr(0, 40) << " → " << response.body;
        EXPECT_EQ(field_of(response), "amount") << amount.substr(0, 40);
    }
    // An exponent beyond what the JSON parser counts is refused as unreadable JSON.
    const auto response = create_raw(R"({"name":"amount","amount":1e99999999999999999999})");
    EXPECT_EQ(response.status, 400) << response.body;
    EXPECT_EQ(code_of(response), "malformed_json");
    expect_unharmed();
}

// --- SQL metacharacters ---------------------------------------------------------------------

const std::vector<std::string> kSqlish{
    "'; DROP TABLE orders; --",
    "' OR '1'='1",
    "%",
    "_",
    "\\",
    "$1",
    "\"",
    "'",
    "\\'; --",
    "%_%\\_",
    "홍길동'); DELETE FROM orders;--",
    "Robert'); DROP TABLE order_events;--",
};

TEST_F(Abuse, SqlMetacharactersAreStoredVerbatimOrRefused) {
    // Every string field of an order, then read back byte for byte.
    json::object custom;
    for (std::size_t i = 0; i < kSqlish.size(); ++i) {
        custom[kSqlish[i]] = kSqlish[(i + 1) % kSqlish.size()];
    }
    const json::object fields{{"name", "'; DROP TABLE orders; --"},
                              {"buyer_name", "홍'\"%_\\$1"},
                              {"buyer_email", "o'brien+%_$1\\@example.com"},
                              {"buyer_tel", "$1'; --"},
                              {"buyer_addr", "서울 'x'); DELETE FROM payments; -- %_\\ $1 \""},
                              {"buyer_postcode", "%_\\'$1"},
                              {"custom_data", custom}};
    json::object body = fields;
    body["merchant_uid"] = "sql-all";
    body["amount"] = 1000;
    const auto created = create_order(body);
    ASSERT_EQ(created.status, 201) << created.body;
    const auto read = gateway_->request("GET", "/v1/orders/sql-all", {}, auth());
    ASSERT_EQ(read.status, 200) << read.body;
    const auto order = read.json().as_object();
    for (const auto& [key, value] : fields) {
        EXPECT_EQ(order.at(key), value) << key;
    }
    EXPECT_EQ(query("SELECT buyer_addr FROM orders WHERE merchant_uid = 'sql-all'"),
              fields.at("buyer_addr").as_string());

    // Each as a name on its own, and as a merchant_uid (refused unless it is a valid one).
    std::size_t orders = 2;  // seed-1, sql-all
    for (std::size_t i = 0; i < kSqlish.size(); ++i) {
        const auto& text = kSqlish[i];
        const auto named = create_order(
            {{"merchant_uid", "sql-" + std::to_string(i)}, {"name", text}, {"amount", 1000}});
        ASSERT_EQ(named.status, 201) << text << " → " << named.body;
        ++orders;
        const auto back =
            gateway_->request("GET", "/v1/orders/sql-" + std::to_string(i), {}, auth());
        EXPECT_EQ(back.json().at("name").as_string(), text);

        const auto as_uid = create_order({{"merchant_uid", text}, {"name", "x"}, {"amount", 1}});
        if (text == "_") {
            ASSERT_EQ(as_uid.status, 201) << as_uid.body;  // a valid merchant_uid
            ++orders;
        } else {
            EXPECT_EQ(as_uid.status, 422) << text << " → " << as_uid.body;
            EXPECT_EQ(field_of(as_uid), "merchant_uid");
        }
        // In the path: found only when it is exactly an order's merchant_uid.
        const auto by_path =
            gateway_->request("GET", "/v1/orders/" + percent_encode(text), {}, auth());
        if (text == "_") {
            EXPECT_EQ(by_path.status, 200);
            EXPECT_EQ(by_path.json().at("merchant_uid").as_string(), "_");
        } else {
            EXPECT_EQ(by_path.status, 404) << text << " → " << by_path.body;
        }
        // In every query parameter of the list, and as a parameter name.
        for (const auto* parameter : {"status", "created_from", "created_to", "limit", "cursor"}) {
            const auto response = gateway_->request(
                "GET", std::string("/v1/orders?") + parameter + "=" + percent_encode(text), {},
                auth());
            EXPECT_EQ(response.status, 422) << parameter << "=" << text << " → " << response.body;
            EXPECT_EQ(field_of(response), parameter);
        }
        const auto named_parameter =
            gateway_->request("GET", "/v1/orders?" + percent_encode(text) + "=1", {}, auth());
        EXPECT_EQ(named_parameter.status, 422) << text;
    }
    // LIKE wildcards match nothing but themselves.
    for (const auto* target :
         {"/v1/orders/sql-_", "/v1/orders/sql-%25", "/v1/orders/sql-1_", "/v1/orders/SQL-ALL"}) {
        EXPECT_EQ(gateway_->request("GET", target, {}, auth()).status, 404) << target;
    }

    // Webhooks: stored as received, JSON and form alike.
    for (std::size_t i = 0; i < kSqlish.size(); ++i) {
        const auto& imp_uid = kSqlish[i];
        const auto& merchant_uid = kSqlish[(i + 3) % kSqlish.size()];
        const auto& status = kSqlish[(i + 7) % kSqlish.size()];
        auto response = gateway_->post_json(
            "/webhooks/iamport",
            {{"imp_uid", imp_uid}, {"merchant_uid", merchant_uid}, {"status", status}});
        ASSERT_EQ(response.status, 200) << imp_uid << " → " << response.body;
        response = gateway_->request("POST", "/webhooks/iamport",
                                     "imp_uid=" + percent_encode(imp_uid) +
                                         "&merchant_uid=" + percent_encode(merchant_uid) +
                                         "&status=" + percent_encode(status),
                                     {{"Content-Type", "application/x-www-form-urlencoded"}});
        ASSERT_EQ(response.status, 200) << imp_uid << " → " << response.body;

        pqxx::connection connection(database_->url());
        pqxx::work work(connection);
        const auto rows = work.exec_params(
            "SELECT merchant_uid, claimed_status FROM webhook_inbox WHERE imp_uid = $1", imp_uid);
        ASSERT_EQ(rows.size(), 2u) << imp_uid;
        for (const auto& row : rows) {
            EXPECT_EQ(row[0].as<std::string>(), merchant_uid);
            EXPECT_EQ(row[1].as<std::string>(), status);
        }
    }

    // The tables are all there, holding exactly what was written.
    for (const auto* table :
         {"orders", "order_events", "payments", "webhook_inbox", "idempotency_keys", "api_keys"}) {
        EXPECT_NE(query(std::string("SELECT to_regclass('") + table + "')"), "NULL") << table;
    }
    EXPECT_EQ(query("SELECT count(*) FROM orders"), std::to_string(orders));
    EXPECT_EQ(query("SELECT count(*) FROM order_events"), std::to_string(orders));
    EXPECT_EQ(query("SELECT count(*) FROM webhook_inbox"), std::to_string(2 * kSqlish.size()));
    EXPECT_EQ(query("SELECT count(*) FROM api_keys"), "1");
    EXPECT_EQ(gateway_->request("GET", "/healthz").status, 200);
    expect_no_failure_logged();
}

// --- connections --------------------------------------------------------------------------

// 1,000 idle connections need more descriptors than a default soft limit of 1,024 leaves; the
// gateway is started under a low soft limit to show that it raises its own.
class AbuseIdle : public Abuse {
  protected:
    Headers extra_env() const override { return {{"REQUEST_TIMEOUT", "4"}}; }
    void SetUp() override {
        rlimit limit{};
        ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
        if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < 1500) {
            GTEST_SKIP() << "the hard RLIMIT_NOFILE (" << limit.rlim_max << ") is below 1500";
        }
        // Low enough that 1,000 connections do not fit, with room for what this process has open.
        const auto open_now = static_cast<rlim_t>(
            std::distance(std::filesystem::directory_iterator("/proc/self/fd"), {}));
        rlimit low = limit;
        low.rlim_cur = std::max<rlim_t>(512, open_now + 128);
        ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
        // Whatever happens next, this process gets all the room, for its side of the connections.
        struct Raise {
            rlimit limit;
            ~Raise() {
                limit.rlim_cur = limit.rlim_max;
                ::setrlimit(RLIMIT_NOFILE, &limit);
            }
        } raise{limit};
        Abuse::SetUp();  // the gateway inherits the low soft limit
    }
    // "Max open files" soft and hard of a process, from /proc.
    static std::pair<std::string, std::string> open_files_limit(pid_t pid) {
        std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
        std::string line;
        while (std::getline(limits, line)) {
            if (line.starts_with("Max open files")) {
                std::istringstream fields(line.substr(14));
                std::string soft;
                std::string hard;
                fields >> soft >> hard;
                return {soft, hard};
            }
        }
        return {};
    }
};

TEST_F(AbuseIdle, AThousandIdleConnectionsDoNotStarveOthersAndAreClosedAtTheTimeout) {
    const auto [soft, hard] = open_files_limit(gateway_->process().pid());
    EXPECT_EQ(soft, hard) << "the gateway did not raise its soft RLIMIT_NOFILE";

    const auto started = Clock::now();
    std::vector<RawSocket> idle;
    idle.reserve(1000);
    for (int i = 0; i < 1000; ++i) {
        idle.emplace_back(gateway_->port());
    }
    // A keep-alive connection that made one request and then says nothing more.
    RawSocket kept(gateway_->port());
    ASSERT_TRUE(kept.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(kept.wait_for("\"ok\"", 10s)) << printable(kept.received());
    const auto answered_kept = Clock::now();

    // Fresh connections are answered promptly meanwhile.
    for (int i = 0; i < 20; ++i) {
        const auto sent = Clock::now();
        const auto response =
            http_request("127.0.0.1", gateway_->port(), "GET",
                         i % 2 ? "/healthz" : "/v1/orders/seed-1", {}, auth(), 10s);
        EXPECT_EQ(response.status, 200) << response.body;
        EXPECT_LT(Clock::now() - sent, 5s) << "request " << i;
    }
    // Nothing was dropped early: REQUEST_TIMEOUT is 4 s, and at most 3 s have passed.
    if (Clock::now() - started < 3s) {
        std::size_t open = 0;
        for (auto& socket : idle) {
            socket.pump();
            open += socket.closed() ? 0 : 1;
        }
        EXPECT_EQ(open, 1000u);
    }

    // Then the server closes every one of them, with no answer, at its timeout.
    std::vector<pollfd> fds;
    const auto deadline = Clock::now() + 15s;
    for (;;) {
        fds.clear();
        for (auto& socket : idle) {
            if (!socket.closed()) {
                fds.push_back({socket.fd(), POLLIN, 0});
            }
        }
        if (fds.empty() || Clock::now() >= deadline) {
            break;
        }
        ::poll(fds.data(), fds.size(), 100);
        for (auto& socket : idle) {
            socket.pump();
        }
    }
    std::size_t closed = 0;
    std::chrono::milliseconds shortest = 1h;
    for (const auto& socket : idle) {
        if (socket.closed()) {
            ++closed;
            shortest = std::min(shortest, socket.lifetime());
        }
        EXPECT_TRUE(socket.received().empty()) << printable(socket.received());
    }
    EXPECT_EQ(closed, 1000u);
    EXPECT_GE(shortest, 3500ms) << "closed before REQUEST_TIMEOUT (4 s)";
    ASSERT_TRUE(kept.wait_closed(10s));
    EXPECT_GE(Clock::now() - answered_kept, 3500ms);
    expect_unharmed();
}

TEST_F(Abuse, SlowLorisClientsAreCutOffAtTheRequestTimeoutWhileOthersAreServed) {
    // Headers a byte a second, and a body a byte a second after complete headers.
    const std::string slow_head =
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(100, 's') + "\r\n\r\n";
    auto body_headers = json_auth();
    body_headers.emplace_back("Content-Length", "200");
    const std::string slow_body = head("POST", "/v1/orders", body_headers);
    const std::string body_bytes =
        R"({"name":"slow","amount":1000,"pad":")" + std::string(162, ' ') + "\"}";
    ASSERT_EQ(body_bytes.size(), 200u);
    struct Client {
        RawSocket socket;
        std::string_view pending;  // what it has yet to send, a byte a second
    };
    std::vector<Client> clients;
    for (int i = 0; i < 10; ++i) {
        clients.push_back({RawSocket(gateway_->port()), slow_head});
    }
    for (int i = 0; i < 5; ++i) {
        clients.push_back({RawSocket(gateway_->port()), body_bytes});
        ASSERT_TRUE(clients.back().socket.send(slow_body));
    }

    const auto deadline = Clock::now() + 10s;
    int served = 0;
    while (Clock::now() < deadline) {
        bool any_open = false;
        for (auto& client : clients) {
            client.socket.pump();
            if (client.socket.closed()) {
                continue;
            }
            any_open = true;
            if (!client.pending.empty()) {
                client.socket.send(client.pending.substr(0, 1), 1s);
                client.pending.remove_prefix(1);
            }
        }
        if (!any_open) {
            break;
        }
        // Others are served while the slow ones dawdle, until the next byte is due.
        const auto next_byte = Clock::now() + 1s;
        do {
            const auto response =
                http_request("127.0.0.1", gateway_->port(), "GET", "/healthz", {}, {}, 10s);
            EXPECT_EQ(response.status, 200);
            ++served;
            std::this_thread::sleep_for(100ms);
            for (auto& client : clients) {
                client.socket.pump();  // notes when the server cut it off
            }
        } while (Clock::now() < next_byte);
    }
    EXPECT_GE(served, 2);
    for (const auto& client : clients) {
        EXPECT_TRUE(client.socket.closed()) << "a slow client was never cut off";
        EXPECT_GE(client.socket.lifetime(), 1500ms);  // REQUEST_TIMEOUT is 2 s
        EXPECT_LE(client.socket.lifetime(), 8s);
        EXPECT_EQ(client.socket.status(), 0) << printable(client.socket.received());
        EXPECT_FALSE(client.pending.empty()) << "a slow client finished its request";
    }
    expect_unharmed();
}

class AbuseCapped : public Abuse {
  protected:
    Headers extra_env() const override { return {{"MAX_CONNECTIONS", "16"}}; }
};

TEST_F(AbuseCapped, ConnectionsBeyondTheCapAreClosedAtOnceAndTheCapRecovers) {
    const std::string ping = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    // Fills the whole cap with live keep-alive connections. Connections just closed may still
    // count for a moment (the server notices their end asynchronously): a connection turned
    // away is tried again, for a few seconds.
    auto hold = [&] {
        std::vector<RawSocket> held;
        const auto deadline = Clock::now() + 5s;
        while (held.size() < 16 && Clock::now() < deadline) {
            RawSocket socket(gateway_->port());
            if (socket.send(ping) && socket.wait_for("\"ok\"", 10s)) {
                held.push_back(std::move(socket));
            } else {
                std::this_thread::sleep_for(50ms);
            }
        }
        EXPECT_EQ(held.size(), 16u) << "the cap did not admit 16 connections";
        return held;
    };
    auto held = hold();
    for (int i = 0; i < 8; ++i) {
        RawSocket extra(gateway_->port());
        extra.send(ping);
        ASSERT_TRUE(extra.wait_closed(3s)) << "a connection beyond the cap was kept waiting";
        EXPECT_EQ(extra.status(), 0) << printable(extra.received());
        EXPECT_LT(extra.lifetime(), 3s);
    }
    // The held ones still work.
    for (auto& socket : held) {
        const auto answered = socket.received().size();
        ASSERT_TRUE(socket.send(ping));
        ASSERT_TRUE(socket.wait_for("HTTP/1.1 200", 5s, answered));
    }

    held.clear();
    held = hold();  // the whole cap again, once the server has seen them go
    held.clear();
    const auto deadline = Clock::now() + 5s;
    int status = 0;
    while (status != 200 && Clock::now() < deadline) {
        try {
            status = gateway_->request("GET", "/healthz").status;
        } catch (const std::exception&) {
            std::this_thread::sleep_for(50ms);
        }
    }
    EXPECT_EQ(status, 200) << "released connections did not make room";
    expect_unharmed();
}

// --- SIGTERM ------------------------------------------------------------------------------

class AbuseDrain : public Abuse {
  protected:
    void SetUp() override {
        sim_ = std::make_unique<SimProcess>();
        Abuse::SetUp();
    }
    Headers extra_env() const override {
        return {{"IAMPORT_BASE_URL", sim_->base_url()},
                {"IAMPORT_IMP_KEY", "sandbox_imp_key"},
                {"IAMPORT_IMP_SECRET", "sandbox_imp_secret"},
                {"IAMPORT_PG", "kcp"},
                {"IAMPORT_TIMEOUT_MS", "8000"},
                {"IAMPORT_CALL_TIMEOUT_MS", "10000"},
                {"PUBLIC_BASE_URL", "http://127.0.0.1:9"},
                {"REQUEST_TIMEOUT", "2"},
                {"DRAIN_TIMEOUT", "10"}};
    }
    std::unique_ptr<SimProcess> sim_;
};

TEST_F(AbuseDrain, SigtermFinishesTheRequestInFlightRefusesNewOnesAndExitsZero) {
    ASSERT_EQ(
        create_order({{"merchant_uid", "drain-1"}, {"name", "원두"}, {"amount", 32000}}).status,
        201);
    sim_->set_fault(
        {{"endpoint", "POST /benepia/payment"}, {"kind", "latency"}, {"latency_ms", 2500}});
    HttpResponse paid;
    std::string pay_error;
    std::thread pay([&] {
        try {
            paid = gateway_->post_json(
                "/v1/orders/drain-1/benepia-payment",
                {{"benepia_user", "member01"}, {"benepia_password", "Bnp-Secret-7731!"}}, auth());
        } catch (const std::exception& e) {
            pay_error = e.what();
        }
    });
    // An idle keep-alive connection, which must not hold the stop up.
    RawSocket idle(gateway_->port());
    ASSERT_TRUE(idle.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(idle.wait_for("\"ok\"", 10s));

    const auto until = Clock::now() + 10s;
    while (sim_->count_requests("POST /benepia/payment") == 0 && Clock::now() < until) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(sim_->count_requests("POST /benepia/payment"), 1u) << gateway_->log();

    const auto signalled = Clock::now();
    ASSERT_EQ(::kill(gateway_->process().pid(), SIGTERM), 0);
    ASSERT_TRUE(gateway_->process().wait_for_output("\"stopping", 5s)) << gateway_->log();

    // From now on a new connection is refused, or closed unanswered, or answered 503.
    std::this_thread::sleep_for(100ms);
    for (int i = 0; i < 10; ++i) {
        const int fd = connect_to(gateway_->port());
        if (fd < 0) {
            EXPECT_EQ(-fd, ECONNREFUSED) << std::strerror(-fd);
        } else {
            RawSocket late(fd);
            late.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
            ASSERT_TRUE(late.wait_closed(3s));
            EXPECT_TRUE(late.status() == 0 || late.status() == 503) << printable(late.received());
        }
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_TRUE(idle.wait_closed(2s)) << "an idle connection outlived SIGTERM";

    pay.join();
    EXPECT_TRUE(pay_error.empty()) << pay_error;
    EXPECT_EQ(paid.status, 200) << paid.body;

    while (gateway_->process().running() && Clock::now() - signalled < 12s) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_FALSE(gateway_->process().running()) << "not stopped within DRAIN_TIMEOUT";
    EXPECT_EQ(gateway_->process().stop(), 0) << gateway_->log();
    EXPECT_LT(Clock::now() - signalled, 10s);
    EXPECT_NE(gateway_->log().find("\"stopped\""), std::string::npos);
    EXPECT_EQ(gateway_->log().find("drain timeout reached"), std::string::npos);

    // The payment that was in flight is recorded in full.
    EXPECT_EQ(query("SELECT status FROM orders WHERE merchant_uid = 'drain-1'"), "paid");
    EXPECT_EQ(query("SELECT count(*) FROM payments"), "1");
}

}  // namespace
}  // namespace mg::test
