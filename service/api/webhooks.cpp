// POST /webhooks/iamport: iamport's notice_url (SPEC §6). The body is unsigned and may be
// forged, repeated or reordered, so it is only stored here (inbox first) and answered 200; the
// reconciler then takes iamport's own word on the payment (GET /payments/{imp_uid}).
#include <boost/json/parse.hpp>
#include <boost/url/encoding_opts.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>

#include "db/webhook_inbox_repository.hpp"
#include "service/api/api.hpp"
#include "service/app/db_executor.hpp"
#include "service/common/cidr.hpp"
#include "service/common/log.hpp"
#include "service/domain/validation.hpp"
#include "service/http/error.hpp"
#include "service/metrics/metrics.hpp"
#include "service/payments/reconciler.hpp"

namespace mg::api {

namespace asio = boost::asio;
namespace ip = boost::asio::ip;
using http::Status;

namespace {

constexpr std::size_t kMaxWebhookBody = 16 * 1024;
constexpr std::size_t kMaxField = 100;

// The client the allowlist judges: the peer, or — when the peer is a trusted proxy — the
// nearest address in X-Forwarded-For that is not itself a trusted proxy.
ip::address source_of(const http::RequestContext& ctx, const Config& config) {
    auto source = unmapped(ctx.connection.remote_address);
    if (config.webhook_trusted_proxies.empty() ||
        !contains_any(config.webhook_trusted_proxies, source)) {
        return source;
    }
    std::string_view forwarded = ctx.header("X-Forwarded-For");
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
        if (!contains_any(config.webhook_trusted_proxies, hop)) {
            break;
        }
    }
    return source;
}

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

}  // namespace

void add_webhook_routes(Api& api) {
    auto& deps = api.deps();
    auto limiter = std::make_shared<RateLimiter>(deps.config.webhook_rate_per_second,
                                                 deps.config.webhook_rate_burst);
    api.add(
        http::Verb::post, "/webhooks/iamport", Access{Access::Kind::open, {}, false},
        [&deps, limiter](http::RequestContext& ctx,
                         const Caller&) -> asio::awaitable<http::Response> {
            const auto source = source_of(ctx, deps.config);
            const auto source_text = source.to_string();
            if (!deps.config.webhook_allowed_ips.empty() &&
                !contains_any(deps.config.webhook_allowed_ips, source)) {
                log::warn("webhook from a source outside WEBHOOK_ALLOWED_IPS",
                          {{"request_id", ctx.request_id}, {"source", source_text}});
                throw http::HttpError(Status::forbidden, "forbidden_source",
                                      "this source may not send webhooks");
            }
            std::chrono::seconds retry_after{1};
            if (!limiter->allow(source_text, retry_after)) {
                http::HttpError error(Status::too_many_requests, "rate_limited",
                                      "too many webhooks from this source");
                error.retry_after = retry_after;
                throw error;
            }
            if (ctx.request.body().size() > kMaxWebhookBody) {
                throw http::HttpError(Status::payload_too_large, "payload_too_large",
                                      "a webhook body is at most 16 KiB");
            }
            auto delivery = parse_delivery(ctx.request);
            delivery.source_ip = source_text;
            // Inbox first: once this commits, the notice can't be lost.
            const auto id = co_await deps.db.run([&](pqxx::connection& c) {
                pqxx::work work(c);
                const auto stored = db::insert_delivery(work, delivery);
                work.commit();
                return stored;
            });
            log::info("webhook received", {{"request_id", ctx.request_id},
                                           {"delivery", id},
                                           {"imp_uid", delivery.imp_uid},
                                           {"claimed_status", delivery.status.value_or("")},
                                           {"source", source_text}});
            metrics::count_webhook("received");
            if (deps.reconciler) {
                deps.reconciler->process_soon(id);
            }
            co_return http::json_response(Status::ok, boost::json::object{{"status", "received"}});
        });
}

}  // namespace mg::api
