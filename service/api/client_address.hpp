// Who a request comes from, for allowlists and per-source budgets.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <vector>

#include "service/common/cidr.hpp"
#include "service/http/types.hpp"

namespace mg::api {

// The peer, or — when the peer is one of `trusted_proxies` — the nearest address in
// X-Forwarded-For (every line of it, in order) that is not itself a trusted proxy.
boost::asio::ip::address client_address(const http::RequestContext& ctx,
                                        const std::vector<Cidr>& trusted_proxies);

}  // namespace mg::api
