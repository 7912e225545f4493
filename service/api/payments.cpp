// /v1/orders/{merchant_uid}/…: paying an order through iamport, and refunding it (SPEC §4, §5).
// Each handler parses the request, names who asks, calls one use case of service/payments
// (calls.hpp, where the money protocol lives) and renders the order it answers: 200, or 202 when
// iamport's answer proved nothing and the call is left for settlement.
#include <chrono>

#include "service/api/api.hpp"
#include "service/api/json_body.hpp"
#include "service/api/order_access.hpp"
#include "service/api/request_bodies.hpp"
#include "service/payments/calls.hpp"
#include "service/payments/lifecycle.hpp"
#include "service/payments/receipts.hpp"

namespace mg::api {

namespace asio = boost::asio;
using http::Status;

namespace {

struct Deps {
    const Config& config;
    payments::CallDeps calls;
};

domain::UnixSeconds now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::vector<std::string> notice_urls(const Config& config) {
    if (!config.public_base_url) {
        return {};
    }
    auto base = *config.public_base_url;
    while (!base.empty() && base.back() == '/') {
        base.pop_back();
    }
    return {base + "/webhooks/iamport"};
}

payments::Call call_of(const http::RequestContext& ctx, const Caller& caller) {
    const auto& merchant_uid = ctx.param("merchant_uid");
    std::optional<std::string> token;
    if (const auto key = ctx.header("Idempotency-Key"); !key.empty()) {
        token = caller.secrets->fingerprint(caller.idempotency_scope(merchant_uid) + '\n' +
                                            std::string(key));
    }
    return payments::Call{merchant_uid, ctx.request_id,
                          [&caller](const std::optional<domain::Order>& order) {
                              require_order_access(caller, order);
                          },
                          std::move(token)};
}

http::Response render(const payments::Answer& answer, const Caller& caller) {
    return http::json_response(answer.unknown ? Status::accepted : Status::ok,
                               order_json(answer.view, caller));
}

// POST /v1/orders/{merchant_uid}/benepia-payment
asio::awaitable<http::Response> benepia_payment(Deps& deps, http::RequestContext& ctx,
                                                const Caller& caller) {
    auto request = decode_benepia_payment(parse_json_object(ctx.request), deps.config);
    co_return render(
        co_await payments::pay_benepia(deps.calls, call_of(ctx, caller), std::move(request)),
        caller);
}

// POST /v1/orders/{merchant_uid}/vbank
asio::awaitable<http::Response> issue_vbank(Deps& deps, http::RequestContext& ctx,
                                            const Caller& caller) {
    auto request = decode_vbank_issue(parse_json_object(ctx.request), deps.config, now_seconds());
    co_return render(
        co_await payments::issue_vbank(deps.calls, call_of(ctx, caller), std::move(request)),
        caller);
}

// PATCH /v1/orders/{merchant_uid}/vbank
asio::awaitable<http::Response> update_vbank(Deps& deps, http::RequestContext& ctx,
                                             const Caller& caller) {
    auto update = decode_vbank_update(parse_json_object(ctx.request), now_seconds());
    co_return render(
        co_await payments::update_vbank(deps.calls, call_of(ctx, caller), std::move(update)),
        caller);
}

// POST /v1/orders/{merchant_uid}/complete
asio::awaitable<http::Response> complete(Deps& deps, http::RequestContext& ctx,
                                         const Caller& caller) {
    auto imp_uid = decode_complete(parse_json_object(ctx.request));
    co_return render(
        co_await payments::complete_checkout(deps.calls, call_of(ctx, caller), std::move(imp_uid)),
        caller);
}

// POST /v1/orders/{merchant_uid}/cancel. A revoke refused because the deposit landed is 409
// with the order as iamport's records left it (paid).
asio::awaitable<http::Response> cancel(Deps& deps, http::RequestContext& ctx,
                                       const Caller& caller) {
    auto decoded = decode_cancel(parse_json_object(ctx.request));
    std::optional<payments::Failure> refused;
    try {
        co_return render(co_await payments::cancel_payment(deps.calls, call_of(ctx, caller),
                                                           std::move(decoded.request),
                                                           std::move(decoded.cash_receipt)),
                         caller);
    } catch (const payments::Failure& failure) {
        if (!failure.order) {
            throw;
        }
        refused = failure;
    }
    boost::json::object error;
    error["code"] = refused->code();
    error["message"] = refused->what();
    boost::json::object body;
    body["error"] = std::move(error);
    body["order"] = order_json(*refused->order, caller);
    co_return http::json_response(Status::conflict, body);
}

// POST /v1/orders/{merchant_uid}/checkout: registers the amount at iamport and answers the
// parameters of IMP.request_pay (the storefront adds pay_method).
asio::awaitable<http::Response> checkout(Deps& deps, http::RequestContext& ctx,
                                         const Caller& caller) {
    const auto body = parse_json_object(ctx.request, true);
    FieldReader(body).reject_unknown();
    const auto view = co_await payments::register_checkout(deps.calls, call_of(ctx, caller));
    const auto& order = view.order;
    boost::json::object params;
    params["merchant_uid"] = order.merchant_uid;
    params["name"] = order.name;
    params["amount"] = order.amount;
    params["currency"] = order.currency;
    if (order.tax_free > 0) {
        params["tax_free"] = order.tax_free;
    }
    const std::pair<const char*, const std::optional<std::string>*> buyer[] = {
        {"buyer_name", &order.buyer.name},
        {"buyer_email", &order.buyer.email},
        {"buyer_tel", &order.buyer.tel},
        {"buyer_addr", &order.buyer.addr},
        {"buyer_postcode", &order.buyer.postcode}};
    for (const auto& [name, value] : buyer) {
        if (*value) {
            params[name] = **value;
        }
    }
    if (!deps.calls.notice_urls.empty()) {
        params["notice_url"] = deps.calls.notice_urls.front();
    }
    // iamport's browser SDK names the channel channelKey; the older form is pg.
    if (deps.config.iamport_channel_key) {
        params["channelKey"] = *deps.config.iamport_channel_key;
    } else if (deps.config.iamport_pg) {
        params["pg"] = *deps.config.iamport_pg;
    }
    co_return http::json_response(Status::ok, params);
}

// POST /v1/orders/{merchant_uid}/cash-receipt
asio::awaitable<http::Response> cash_receipt(Deps& deps, http::RequestContext& ctx,
                                             const Caller& caller) {
    auto ask = decode_receipt_ask(parse_json_object(ctx.request));
    co_return render(
        co_await payments::request_cash_receipt(deps.calls, call_of(ctx, caller), std::move(ask)),
        caller);
}

// POST /v1/orders/{merchant_uid}/review (scope review): an operator's decision.
asio::awaitable<http::Response> review(Deps& deps, http::RequestContext& ctx,
                                       const Caller& caller) {
    auto decision = decode_review(parse_json_object(ctx.request));
    decision.actor = caller.key_name;
    co_return render(
        co_await payments::decide_review(deps.calls, call_of(ctx, caller), std::move(decision)),
        caller);
}

// POST /v1/orders/{merchant_uid}/sync
asio::awaitable<http::Response> sync(Deps& deps, http::RequestContext& ctx, const Caller& caller) {
    const auto body = parse_json_object(ctx.request, true);
    FieldReader(body).reject_unknown();
    co_return render(co_await payments::sync(deps.calls, call_of(ctx, caller)), caller);
}

}  // namespace

void add_payment_routes(Api& api) {
    const auto& config = api.deps().config;
    auto deps = std::make_shared<Deps>(
        Deps{config, payments::CallDeps{api.deps().db, api.deps().iamport, notice_urls(config),
                                        &api.secrets()}});
    using Handler =
        asio::awaitable<http::Response> (*)(Deps&, http::RequestContext&, const Caller&);
    auto route = [&](http::Verb method, const char* path, Access access, Handler handler) {
        api.add(method, std::string("/v1/orders/{merchant_uid}/") + path, access,
                [deps, handler](http::RequestContext& ctx, const Caller& caller) {
                    return handler(*deps, ctx, caller);
                });
    };
    // Browser access per SPEC §4: paying and completing this one order, nothing more.
    route(http::Verb::post, "benepia-payment", Access{Access::Kind::api_key, "write", true},
          benepia_payment);
    route(http::Verb::post, "vbank", Access{Access::Kind::api_key, "write", true}, issue_vbank);
    route(http::Verb::patch, "vbank", Access{Access::Kind::api_key, "write", false}, update_vbank);
    route(http::Verb::post, "complete", Access{Access::Kind::api_key, "write", true}, complete);
    route(http::Verb::post, "cancel", Access{Access::Kind::api_key, "refund", false}, cancel);
    route(http::Verb::post, "sync", Access{Access::Kind::api_key, "write", false}, sync);
    route(http::Verb::post, "checkout", Access{Access::Kind::api_key, "write", true}, checkout);
    route(http::Verb::post, "review", Access{Access::Kind::api_key, "review", false}, review);
    route(http::Verb::post, "cash-receipt", Access{Access::Kind::api_key, "write", true},
          cash_receipt);
}

}  // namespace mg::api
