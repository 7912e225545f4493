#include "service/http/router.hpp"

#include <gtest/gtest.h>

namespace mg::http {
namespace {

Handler noop() {
    return [](RequestContext&) -> boost::asio::awaitable<Response> { co_return Response{}; };
}

TEST(Router, MatchesLiteralAndParameterSegments) {
    Router router;
    router.add(Verb::get, "/v1/orders", noop());
    router.add(Verb::get, "/v1/orders/{merchant_uid}", noop());
    router.add(Verb::post, "/v1/orders/{merchant_uid}/cancel", noop());

    auto result = router.match(Verb::get, "/v1/orders/ord-1");
    ASSERT_TRUE(std::holds_alternative<Router::Match>(result));
    const auto& match = std::get<Router::Match>(result);
    EXPECT_EQ(*match.pattern, "/v1/orders/{merchant_uid}");
    ASSERT_EQ(match.params.size(), 1u);
    EXPECT_EQ(match.params[0].first, "merchant_uid");
    EXPECT_EQ(match.params[0].second, "ord-1");

    result = router.match(Verb::post, "/v1/orders/abc/cancel");
    ASSERT_TRUE(std::holds_alternative<Router::Match>(result));
    EXPECT_EQ(*std::get<Router::Match>(result).pattern, "/v1/orders/{merchant_uid}/cancel");
}

TEST(Router, UnknownPathIsNoRouteAndWrongMethodListsAllowed) {
    Router router;
    router.add(Verb::post, "/v1/orders", noop());
    router.add(Verb::get, "/v1/orders", noop());
    EXPECT_TRUE(std::holds_alternative<Router::NoRoute>(router.match(Verb::get, "/v1/nothing")));
    EXPECT_TRUE(std::holds_alternative<Router::NoRoute>(router.match(Verb::get, "/v1/orders/a/b")));
    const auto result = router.match(Verb::delete_, "/v1/orders");
    ASSERT_TRUE(std::holds_alternative<Router::WrongMethod>(result));
    EXPECT_EQ(std::get<Router::WrongMethod>(result).allow, "GET, HEAD, POST");
}

TEST(Router, PercentDecodesParametersAndRefusesEncodedSlash) {
    Router router;
    router.add(Verb::get, "/v1/orders/{merchant_uid}", noop());
    auto result = router.match(Verb::get, "/v1/orders/a%2Db");
    ASSERT_TRUE(std::holds_alternative<Router::Match>(result));
    EXPECT_EQ(std::get<Router::Match>(result).params[0].second, "a-b");
    EXPECT_TRUE(
        std::holds_alternative<Router::NoRoute>(router.match(Verb::get, "/v1/orders/a%2Fb")));
    EXPECT_TRUE(
        std::holds_alternative<Router::NoRoute>(router.match(Verb::get, "/v1/orders/a%00")));
    EXPECT_TRUE(std::holds_alternative<Router::NoRoute>(router.match(Verb::get, "/v1/orders/a%4")));
    EXPECT_TRUE(std::holds_alternative<Router::NoRoute>(router.match(Verb::get, "/v1/orders/%zz")));
}

TEST(Router, RefusesEmptySegmentsAndRelativePaths) {
    Router router;
    router.add(Verb::get, "/v1/orders", noop());
    EXPECT_TRUE(std::holds_alternative<Router::NoRoute>(router.match(Verb::get, "/v1//orders")));
    EXPECT_TRUE(std::holds_alternative<Router::NoRoute>(router.match(Verb::get, "/v1/orders/")));
    EXPECT_TRUE(std::holds_alternative<Router::NoRoute>(router.match(Verb::get, "v1/orders")));
    EXPECT_TRUE(std::holds_alternative<Router::NoRoute>(router.match(Verb::get, "")));
}

TEST(Router, DuplicateRegistrationThrows) {
    Router router;
    router.add(Verb::get, "/healthz", noop());
    EXPECT_THROW(router.add(Verb::get, "/healthz", noop()), std::invalid_argument);
    EXPECT_NO_THROW(router.add(Verb::post, "/healthz", noop()));
    EXPECT_THROW(router.add(Verb::get, "relative", noop()), std::invalid_argument);
}

}  // namespace
}  // namespace mg::http
