#include "service/http/router.hpp"

#include <algorithm>
#include <stdexcept>

namespace mg::http {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool is_parameter(std::string_view segment) {
    return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

bool split_path(std::string_view path, std::vector<std::string_view>& segments) {
    segments.clear();
    if (path.empty() || path.front() != '/') {
        return false;
    }
    if (path == "/") {
        return true;
    }
    std::size_t start = 1;
    while (start <= path.size()) {
        const auto slash = path.find('/', start);
        const auto end = slash == std::string_view::npos ? path.size() : slash;
        if (end == start) {
            return false;
        }
        segments.push_back(path.substr(start, end - start));
        if (slash == std::string_view::npos) {
            break;
        }
        start = slash + 1;
    }
    return true;
}

bool decode_segment(std::string_view segment, std::string& out) {
    out.clear();
    out.reserve(segment.size());
    for (std::size_t i = 0; i < segment.size(); ++i) {
        char c = segment[i];
        if (c == '%') {
            if (i + 2 >= segment.size()) {
                return false;
            }
            const int hi = hex_value(segment[i + 1]);
            const int lo = hex_value(segment[i + 2]);
            if (hi < 0 || lo < 0) {
                return false;
            }
            c = static_cast<char>(hi * 16 + lo);
            if (c == '/' || c == '\0') {
                return false;
            }
            i += 2;
        }
        out += c;
    }
    return true;
}

void Router::add(Verb method, std::string pattern, Handler handler) {
    std::vector<std::string_view> parts;
    if (!split_path(pattern, parts)) {
        throw std::invalid_argument("bad route pattern: " + pattern);
    }
    for (const auto& route : routes_) {
        if (route.method == method && route.pattern == pattern) {
            throw std::invalid_argument("route registered twice: " + pattern);
        }
    }
    Route route{method, pattern, {}, std::move(handler)};
    for (const auto part : parts) {
        route.segments.emplace_back(part);
    }
    routes_.push_back(std::move(route));
}

Router::Result Router::match(Verb method, std::string_view path) const {
    std::vector<std::string_view> parts;
    if (!split_path(path, parts)) {
        return NoRoute{};
    }
    std::vector<std::string_view> allowed;
    for (const auto& route : routes_) {
        if (route.segments.size() != parts.size()) {
            continue;
        }
        PathParams params;
        bool matched = true;
        for (std::size_t i = 0; i < parts.size() && matched; ++i) {
            const auto& segment = route.segments[i];
            if (is_parameter(segment)) {
                std::string value;
                if (!decode_segment(parts[i], value)) {
                    matched = false;
                    break;
                }
                params.emplace_back(segment.substr(1, segment.size() - 2), std::move(value));
            } else if (segment != parts[i]) {
                matched = false;
            }
        }
        if (!matched) {
            continue;
        }
        // HEAD is answered by the GET route (the server sends its head only).
        if (route.method == method || (method == Verb::head && route.method == Verb::get)) {
            return Match{&route.handler, &route.pattern, std::move(params)};
        }
        const auto name = boost::beast::http::to_string(route.method);
        allowed.emplace_back(name.data(), name.size());
        if (route.method == Verb::get) {
            allowed.emplace_back("HEAD");
        }
    }
    if (!allowed.empty()) {
        std::sort(allowed.begin(), allowed.end());  // a stable Allow whatever the order of add()
        std::string allow;
        for (const auto name : allowed) {
            if (!allow.empty()) {
                allow += ", ";
            }
            allow += name;
        }
        return WrongMethod{std::move(allow)};
    }
    return NoRoute{};
}

std::vector<std::pair<Verb, std::string>> Router::routes() const {
    std::vector<std::pair<Verb, std::string>> out;
    out.reserve(routes_.size());
    for (const auto& route : routes_) {
        out.emplace_back(route.method, route.pattern);
    }
    return out;
}

}  // namespace mg::http
