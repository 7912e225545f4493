// IP networks in CIDR notation ("203.0.113.0/24", "2001:db8::/32", or a bare address), for
// the webhook allowlist and the trusted proxies. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d)
// are compared as the IPv4 address they carry.
#pragma once

#include <array>
#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string_view>
#include <vector>

namespace mg {

class Cidr {
  public:
    // nullopt for anything that is not an address with an optional /prefix in range.
    static std::optional<Cidr> parse(std::string_view text);

    bool contains(const boost::asio::ip::address& address) const;

  private:
    bool v6_ = false;
    std::array<unsigned char, 16> bytes_{};
    unsigned prefix_ = 0;
};

// True when any network of the list contains the address.
bool contains_any(const std::vector<Cidr>& networks, const boost::asio::ip::address& address);

// The address, with an IPv4-mapped IPv6 address turned into plain IPv4.
boost::asio::ip::address unmapped(const boost::asio::ip::address& address);

}  // namespace mg
