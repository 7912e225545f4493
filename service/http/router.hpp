// Routes keyed by path pattern and method. A path that matches no pattern is a 404; a path
// that matches with another method is a 405 listing the allowed ones. HEAD matches the GET
// route of a path (the server then sends the response's head only).
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "service/http/types.hpp"

namespace mg::http {

class Router {
  public:
    struct Match {
        const Handler* handler;
        const std::string* pattern;
        PathParams params;
    };
    struct NoRoute {};
    struct WrongMethod {
        std::string allow;  // e.g. "GET, POST"
    };
    using Result = std::variant<Match, NoRoute, WrongMethod>;

    // Patterns are absolute paths whose segments are literals or `{name}`, e.g.
    // "/v1/orders/{merchant_uid}/cancel". Registering a pattern+method twice throws.
    void add(Verb method, std::string pattern, Handler handler);

    // `path` without the query string, still percent-encoded.
    Result match(Verb method, std::string_view path) const;

    // Every registered (method, pattern), for documentation checks.
    std::vector<std::pair<Verb, std::string>> routes() const;

  private:
    struct Route {
        Verb method;
        std::string pattern;
        std::vector<std::string> segments;  // "{name}" marks a parameter
        Handler handler;
    };
    std::vector<Route> routes_;
};

// Splits "/a/b/c" into {"a","b","c"}; false when the path is not absolute or a segment is
// empty ("//", trailing "/").
bool split_path(std::string_view path, std::vector<std::string_view>& segments);

// Percent-decodes one path segment; false on a bad escape or a decoded '/' or NUL.
bool decode_segment(std::string_view segment, std::string& out);

}  // namespace mg::http
