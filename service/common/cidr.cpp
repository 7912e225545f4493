#include "service/common/cidr.hpp"

#include <charconv>
#include <string>

namespace mg {

namespace ip = boost::asio::ip;

ip::address unmapped(const ip::address& address) {
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        return ip::make_address_v4(ip::v4_mapped, address.to_v6());
    }
    return address;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
    const auto slash = text.find('/');
    const auto host = text.substr(0, slash);
    boost::system::error_code ec;
    const auto address = unmapped(ip::make_address(std::string(host), ec));
    if (ec) {
        return std::nullopt;
    }
    Cidr cidr;
    cidr.v6_ = address.is_v6();
    const unsigned bits = cidr.v6_ ? 128 : 32;
    cidr.prefix_ = bits;
    if (slash != std::string_view::npos) {
        const auto digits = text.substr(slash + 1);
        unsigned prefix = 0;
        const auto [end, error] =
            std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size() ||
            prefix > bits) {
            return std::nullopt;
        }
        cidr.prefix_ = prefix;
    }
    if (cidr.v6_) {
        cidr.bytes_ = address.to_v6().to_bytes();
    } else {
        const auto v4 = address.to_v4().to_bytes();
        std::copy(v4.begin(), v4.end(), cidr.bytes_.begin());
    }
    return cidr;
}

bool Cidr::contains(const ip::address& candidate) const {
    const auto address = unmapped(candidate);
    if (address.is_v6() != v6_) {
        return false;
    }
    std::array<unsigned char, 16> bytes{};
    if (v6_) {
        bytes = address.to_v6().to_bytes();
    } else {
        const auto v4 = address.to_v4().to_bytes();
        std::copy(v4.begin(), v4.end(), bytes.begin());
    }
    unsigned remaining = prefix_;
    for (std::size_t i = 0; remaining > 0; ++i) {
        const unsigned take = remaining >= 8 ? 8 : remaining;
        const auto mask = static_cast<unsigned char>(0xFFu << (8 - take));
        if ((bytes[i] & mask) != (bytes_[i] & mask)) {
            return false;
        }
        remaining -= take;
    }
    return true;
}

bool contains_any(const std::vector<Cidr>& networks, const ip::address& address) {
    for (const auto& network : networks) {
        if (network.contains(address)) {
            return true;
        }
    }
    return false;
}

}  // namespace mg
