#include "service/iamport/redact.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>

namespace mg::iamport {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

bool is_secret_field(std::string_view name) {
    static constexpr std::array<std::string_view, 6> kSecretNames{
        "imp_secret",    "access_token",    "benepia_password",
        "authorization", "escrow_password", "pg_api_key"};
    return std::any_of(kSecretNames.begin(), kSecretNames.end(),
                       [name](std::string_view secret) { return iequals(name, secret); });
}

boost::json::value redact(const boost::json::value& value) {
    if (const auto* object = value.if_object()) {
        boost::json::object out;
        for (const auto& [key, field] : *object) {
            if (is_secret_field(key)) {
                out[key] = kRedactedValue;
            } else {
                out[key] = redact(field);
            }
        }
        return out;
    }
    if (const auto* array = value.if_array()) {
        boost::json::array out;
        for (const auto& element : *array) {
            out.push_back(redact(element));
        }
        return out;
    }
    return value;
}

std::string redact_json_text(std::string_view body) {
    boost::system::error_code ec;
    auto parsed = boost::json::parse(body, ec);
    if (ec) {
        return "[non-JSON body of " + std::to_string(body.size()) + " bytes]";
    }
    return boost::json::serialize(redact(parsed));
}

}  // namespace mg::iamport
