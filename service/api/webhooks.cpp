// POST /webhooks/iamport: iamport's notice_url (SPEC §6). The body is unsigned and may be
// forged, repeated or reordered, so it is only stored here (inbox first) and answered 200; the
// reconciler then takes iamport's own word on the payment (GET /payments/{imp_uid}).
#include "db/webhook_inbox_repository.hpp"
#include "service/api/api.hpp"
#include "service/api/client_address.hpp"
#include "service/api/webhook_body.hpp"
#include "service/common/cidr.hpp"
#include "service/common/log.hpp"
#include "service/http/error.hpp"
#include "service/metrics/metrics.hpp"
#include "service/payments/reconciler.hpp"
#include "service/runtime/loop_database.hpp"

namespace mg::api {

namespace asio = boost::asio;
namespace ip = boost::asio::ip;
using http::Status;

namespace {

constexpr std::size_t kMaxWebhookBody = 16 * 1024;

}  // namespace

void add_webhook_routes(Api& api) {
    auto& deps = api.deps();
    auto limiter = std::make_shared<RateLimiter>(deps.config.webhook_rate_per_second,
                                                 deps.config.webhook_rate_burst);
    api.add(
        http::Verb::post, "/webhooks/iamport", Access{Access::Kind::open, {}, false},
        [&deps, limiter](http::RequestContext& ctx,
                         const Caller&) -> asio::awaitable<http::Response> {
            const auto source = client_address(ctx, deps.config.webhook_trusted_proxies);
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
            // Inbox first: once this commits, the notice can't be lost. One insert in autocommit,
            // on this loop's own connection.
            const auto id = co_await runtime::LoopDatabase::current().run(
                [&delivery](db::AsyncConnection& c) { return db::insert_delivery(c, delivery); });
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
