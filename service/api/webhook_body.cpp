#include "service/api/webhook_body.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/url/encoding_opts.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>
#include <cctype>

#include "service/domain/validation.hpp"
#include "service/http/error.hpp"

namespace mg::api {

using http::Status;

namespace {

constexpr std::size_t kMaxField = 100;

std::string_view media_type(std::string_view content_type) {
    auto type = content_type.substr(0, content_type.find(';'));
    while (!type.empty() && type.back() == ' ') {
        type.remove_suffix(1);
    }
    return type;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

void set_field(db::NewDelivery& delivery, std::string_view key, std::string value) {
    if (key == "imp_uid") {
        delivery.imp_uid = std::move(value);
    } else if (key == "merchant_uid") {
        delivery.merchant_uid = std::move(value);
    } else if (key == "status") {
        delivery.status = std::move(value);
    }
    // Other fields (cancellation_id, new ones iamport adds) are kept in the stored body only.
}

}  // namespace

db::NewDelivery parse_delivery(const http::Request& request) {
    db::NewDelivery delivery;
    delivery.body = request.body();
    delivery.content_type = std::string(request[http::beast_http::field::content_type]);
    // Stored as text: it must be UTF-8 without NUL bytes (form data may carry anything raw).
    if (!domain::utf8_length(delivery.body) || delivery.body.find('\0') != std::string::npos) {
        throw http::bad_request("malformed_webhook", "the body is not UTF-8 text");
    }
    const auto type = media_type(delivery.content_type);
    if (iequals(type, "application/json")) {
        boost::system::error_code ec;
        auto value = boost::json::parse(delivery.body, ec);
        if (ec || !value.is_object()) {
            throw http::bad_request("malformed_json", "the body is not a JSON object");
        }
        for (const auto& [key, field] : value.as_object()) {
            if (key == "imp_uid" || key == "merchant_uid" || key == "status") {
                if (!field.is_string()) {
                    throw http::bad_request("malformed_webhook",
                                            std::string(key) + " must be a string");
                }
                set_field(delivery, key, std::string(field.as_string()));
            }
        }
    } else if (iequals(type, "application/x-www-form-urlencoded")) {
        if (!boost::urls::parse_query(delivery.body)) {
            throw http::bad_request("malformed_webhook", "the body is not valid form data");
        }
        boost::urls::encoding_opts options;
        options.space_as_plus = true;
        for (const auto& param : boost::urls::params_view(delivery.body, options)) {
            set_field(delivery, param.key, param.value);
        }
    } else {
        throw http::HttpError(Status::unsupported_media_type, "unsupported_media_type",
                              "send JSON or form data");
    }
    if (delivery.imp_uid.empty()) {
        throw http::bad_request("malformed_webhook", "imp_uid is required");
    }
    for (const auto* field :
         {&delivery.imp_uid, delivery.merchant_uid ? &*delivery.merchant_uid : nullptr,
          delivery.status ? &*delivery.status : nullptr}) {
        if (field && domain::check_text("field", *field, 0, kMaxField)) {
            throw http::bad_request("malformed_webhook",
                                    "imp_uid, merchant_uid and status must be short text");
        }
    }
    return delivery;
}

}  // namespace mg::api
