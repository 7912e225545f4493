#include "service/api/client_address.hpp"

#include <string>
#include <string_view>

namespace mg::api {

boost::asio::ip::address client_address(const http::RequestContext& ctx,
                                        const std::vector<Cidr>& trusted_proxies) {
    namespace ip = boost::asio::ip;
    auto source = unmapped(ctx.connection.remote_address);
    if (trusted_proxies.empty() || !contains_any(trusted_proxies, source)) {
        return source;
    }
    // Every X-Forwarded-For line, in order, is one list (RFC 9110 §5.3): a proxy that appends
    // a line of its own leaves the client's forged first line at the far end, never trusted.
    std::string all_lines;
    const auto lines = ctx.request.equal_range("X-Forwarded-For");
    for (auto line = lines.first; line != lines.second; ++line) {
        all_lines += all_lines.empty() ? "" : ",";
        all_lines += std::string_view(line->value());
    }
    std::string_view forwarded = all_lines;
    while (!forwarded.empty()) {
        const auto comma = forwarded.rfind(',');
        auto item = comma == std::string_view::npos ? forwarded : forwarded.substr(comma + 1);
        forwarded =
            comma == std::string_view::npos ? std::string_view{} : forwarded.substr(0, comma);
        while (!item.empty() && item.front() == ' ') {
            item.remove_prefix(1);
        }
        while (!item.empty() && item.back() == ' ') {
            item.remove_suffix(1);
        }
        boost::system::error_code ec;
        const auto hop = unmapped(ip::make_address(std::string(item), ec));
        if (ec) {
            break;  // unreadable from here on: trust no further
        }
        source = hop;
        if (!contains_any(trusted_proxies, hop)) {
            break;
        }
    }
    return source;
}

}  // namespace mg::api
