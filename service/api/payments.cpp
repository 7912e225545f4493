// /v1/orders/{merchant_uid}/…: paying an order through iamport, and refunding it (SPEC §4, §5).
//
// Every money-moving call follows the same three steps, so that no order is charged twice:
//   1. begin: under the order's row lock, check who asks and the order's state, and record a
//      payment attempt. The database allows one open attempt per order, so of many concurrent
//      calls exactly one gets past here; the others get 409 order_not_payable.
//   2. call iamport, outside any transaction.
//   3. finish: under the row lock again, record what iamport said and apply its payment. An
//      answer that was lost leaves the attempt `unknown` (202); sync and the reconciler settle it.
// If the process dies between 1 and 3, the attempt stays in_flight and is settled the same way.
#include <boost/json/serialize.hpp>
#include <chrono>
#include <functional>

#include "db/errors.hpp"
#include "db/orders_repository.hpp"
#include "db/payments_repository.hpp"
#include "db/webhook_inbox_repository.hpp"
#include "service/api/api.hpp"
#include "service/api/json_body.hpp"
#include "service/api/order_access.hpp"
#include "service/api/request_bodies.hpp"
#include "service/app/db_executor.hpp"
#include "service/common/log.hpp"
#include "service/domain/order_state.hpp"
#include "service/domain/validation.hpp"
#include "service/http/error.hpp"
#include "service/iamport/client.hpp"
#include "service/iamport/requests.hpp"
#include "service/payments/settlement.hpp"

namespace mg::api {

namespace asio = boost::asio;
using http::Status;
using payments::OrderView;

namespace {

struct Deps {
    const Config& config;
    app::DbExecutor& db;
    iamport::Client& iamport;
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

iamport::Buyer buyer_of(const domain::Order& order) {
    return iamport::Buyer{order.buyer.name, order.buyer.email, order.buyer.tel, order.buyer.addr,
                          order.buyer.postcode};
}

http::Response view_response(Status status, const OrderView& view, const Caller& caller) {
    return http::json_response(status, order_json(view.order, view.payments, caller));
}

// What step 1 found, for step 2 to use.
struct Begun {
    domain::Order order;
    std::vector<domain::Payment> payments;
    std::int64_t attempt_id = 0;
};

// Decides, under the row lock, whether the call may go ahead; throws the refusal. Returns the
// attempt's amount and imp_uid (recorded with it).
struct AttemptPlan {
    std::optional<domain::Amount> amount;
    std::optional<std::string> imp_uid;
};
using Admission =
    std::function<AttemptPlan(const domain::Order&, const std::vector<domain::Payment>&)>;

asio::awaitable<Begun> begin_attempt(Deps& deps, http::RequestContext& ctx, const Caller& caller,
                                     db::AttemptKind kind, Admission admit) {
    const auto& merchant_uid = ctx.param("merchant_uid");
    if (deps.iamport.breaker_state() == iamport::BreakerState::open) {
        // iamport is down: fail fast, before touching the order or recording an attempt.
        throw payments::iamport_failure(
            iamport::Error{iamport::Outcome::breaker_open, 0, 0, "circuit breaker open"});
    }
    auto begun = co_await deps.db.run([&](pqxx::connection& c) {
        pqxx::work work(c);
        auto order = db::find_order_for_update(work, merchant_uid);
        require_order_access(caller, order);
        auto payments = db::list_payments(work, order->id);
        const auto plan = admit(*order, payments);
        std::int64_t attempt_id = 0;
        try {
            attempt_id = db::insert_attempt(work, order->id, kind, plan.amount, plan.imp_uid,
                                            ctx.request_id);
        } catch (const db::Conflict& e) {
            if (e.constraint() != db::kOneOpenAttemptPerOrder) {
                throw;
            }
            const auto code = kind == db::AttemptKind::vbank_update ? "order_not_updatable"
                              : kind == db::AttemptKind::cancel     ? "order_not_cancellable"
                                                                    : "order_not_payable";
            throw http::conflict(code,
                                 "another payment call for this order is in flight or of "
                                 "unknown outcome; nothing was sent to iamport");
        }
        work.commit();
        return Begun{std::move(*order), std::move(payments), attempt_id};
    });
    log::info("payment call", {{"request_id", ctx.request_id},
                               {"merchant_uid", merchant_uid},
                               {"kind", db::to_string(kind)},
                               {"attempt", begun.attempt_id}});
    co_return begun;
}

// Hook run in step 3 before iamport's payment is applied (a vbank amount change).
using BeforeApply = std::function<void(pqxx::work&, domain::Order&)>;

// Step 3. Returns 200 or 202 with the order; throws the HTTP error for a failed call after
// recording it.
asio::awaitable<http::Response> finish_attempt(Deps& deps, http::RequestContext& ctx,
                                               const Caller& caller, const Begun& begun,
                                               const iamport::Result<iamport::Payment>& result,
                                               const BeforeApply& before_apply = {}) {
    using iamport::Outcome;
    const auto& merchant_uid = ctx.param("merchant_uid");
    const auto outcome = result.outcome();
    bool settled_meanwhile = false;
    auto view = co_await deps.db.run([&](pqxx::connection& c) {
        pqxx::work work(c);
        auto order = db::find_order_for_update(work, merchant_uid);
        if (!order) {
            throw std::logic_error("order vanished during a payment call");
        }
        bool open = true;
        if (outcome == Outcome::success) {
            if (before_apply) {
                before_apply(work, *order);
            }
            payments::apply_payment(work, *order, result.value(), domain::EventCause::api,
                                    payments::kOwnAnswer);
            open = db::finish_attempt(work, begun.attempt_id, db::AttemptState::succeeded,
                                      result->imp_uid, std::nullopt, std::nullopt);
        } else {
            const auto state = outcome == Outcome::unknown_outcome ? db::AttemptState::unknown
                                                                   : db::AttemptState::failed;
            open = db::finish_attempt(work, begun.attempt_id, state, std::nullopt,
                                      std::string(iamport::to_string(outcome)),
                                      result.error().message);
            if (open && state == db::AttemptState::unknown) {
                db::lookup_soon(work, order->id);
            }
        }
        settled_meanwhile = !open;
        auto loaded = payments::load_view(work, std::move(*order));
        work.commit();
        return loaded;
    });
    log::info("payment call finished", {{"request_id", ctx.request_id},
                                        {"merchant_uid", merchant_uid},
                                        {"attempt", begun.attempt_id},
                                        {"outcome", iamport::to_string(outcome)},
                                        {"settled_meanwhile", settled_meanwhile},
                                        {"status", domain::to_string(view.order.status)}});
    if (settled_meanwhile) {
        // The reconciler (or a sync) settled the attempt from iamport's records while this call
        // was still running: its settlement stands, and the order as it is now is the answer.
        co_return view_response(Status::ok, view, caller);
    }
    if (outcome == Outcome::success) {
        co_return view_response(Status::ok, view, caller);
    }
    if (outcome == Outcome::unknown_outcome) {
        log::warn("payment call outcome unknown; left for settlement",
                  {{"request_id", ctx.request_id},
                   {"merchant_uid", merchant_uid},
                   {"attempt", begun.attempt_id}});
        co_return view_response(Status::accepted, view, caller);
    }
    throw payments::iamport_failure(result.error());
}

AttemptPlan require_payable(const domain::Order& order, const std::vector<domain::Payment>&) {
    if (!domain::is_payable(order.status)) {
        throw http::conflict("order_not_payable", "the order is " +
                                                      std::string(domain::to_string(order.status)) +
                                                      "; only a pending order can be paid");
    }
    return AttemptPlan{order.amount, std::nullopt};
}

// POST /v1/orders/{merchant_uid}/benepia-payment
asio::awaitable<http::Response> benepia_payment(Deps& deps, http::RequestContext& ctx,
                                                const Caller& caller) {
    auto request = decode_benepia_payment(parse_json_object(ctx.request), deps.config);

    const auto begun =
        co_await begin_attempt(deps, ctx, caller, db::AttemptKind::benepia, require_payable);
    request.merchant_uid = begun.order.merchant_uid;
    request.amount = begun.order.amount;
    request.name = begun.order.name;
    request.buyer = buyer_of(begun.order);
    request.notice_url = notice_urls(deps.config);
    const auto result = co_await deps.iamport.benepia_payment(std::move(request));
    co_return co_await finish_attempt(deps, ctx, caller, begun, result);
}

// POST /v1/orders/{merchant_uid}/vbank
asio::awaitable<http::Response> issue_vbank(Deps& deps, http::RequestContext& ctx,
                                            const Caller& caller) {
    auto request = decode_vbank_issue(parse_json_object(ctx.request), deps.config, now_seconds());

    const auto begun =
        co_await begin_attempt(deps, ctx, caller, db::AttemptKind::vbank, require_payable);
    request.merchant_uid = begun.order.merchant_uid;
    request.amount = begun.order.amount;
    request.name = begun.order.name;
    request.buyer = buyer_of(begun.order);
    request.notice_url = notice_urls(deps.config);
    const auto result = co_await deps.iamport.issue_vbank(std::move(request));
    co_return co_await finish_attempt(deps, ctx, caller, begun, result);
}

// The order's virtual account still awaiting deposit.
const domain::Payment* open_vbank(const std::vector<domain::Payment>& payments) {
    for (auto it = payments.rbegin(); it != payments.rend(); ++it) {
        if (it->status == "ready") {
            return &*it;
        }
    }
    return nullptr;
}

// PATCH /v1/orders/{merchant_uid}/vbank
asio::awaitable<http::Response> update_vbank(Deps& deps, http::RequestContext& ctx,
                                             const Caller& caller) {
    const auto update = decode_vbank_update(parse_json_object(ctx.request), now_seconds());

    std::string imp_uid;
    const auto begun = co_await begin_attempt(
        deps, ctx, caller, db::AttemptKind::vbank_update,
        [&](const domain::Order& order, const std::vector<domain::Payment>& payments) {
            const auto* vbank = open_vbank(payments);
            if (order.status != domain::OrderStatus::awaiting_deposit || vbank == nullptr) {
                throw http::conflict("order_not_updatable",
                                     "the order is " +
                                         std::string(domain::to_string(order.status)) +
                                         "; only a virtual account awaiting deposit can change");
            }
            imp_uid = vbank->imp_uid;
            return AttemptPlan{update.amount, vbank->imp_uid};
        });
    const auto result = co_await deps.iamport.update_vbank(imp_uid, update);
    if (!result && result.outcome() == iamport::Outcome::declined) {
        // iamport refuses changes once the account is no longer `ready` (deposited, closed):
        // record the failure, then take iamport's current word on the payment.
        try {
            co_await finish_attempt(deps, ctx, caller, begun, result);
        } catch (const http::HttpError&) {
        }
        co_await payments::sync_order(deps.db, deps.iamport, ctx.param("merchant_uid"),
                                      domain::EventCause::api);
        throw http::conflict("order_not_updatable", "iamport refused the change (" +
                                                        result.error().message +
                                                        "); the order was refreshed from iamport");
    }
    const auto new_amount = update.amount;
    co_return co_await finish_attempt(deps, ctx, caller, begun, result,
                                      [&](pqxx::work& work, domain::Order& order) {
                                          if (new_amount && result->amount == *new_amount) {
                                              db::set_order_amount(work, order.id, *new_amount);
                                              order.amount = *new_amount;
                                          }
                                      });
}

// POST /v1/orders/{merchant_uid}/complete
asio::awaitable<http::Response> complete(Deps& deps, http::RequestContext& ctx,
                                         const Caller& caller) {
    const auto imp_uid = decode_complete(parse_json_object(ctx.request));

    const auto& merchant_uid = ctx.param("merchant_uid");
    co_await deps.db.run([&](pqxx::connection& c) {
        pqxx::work work(c);
        require_order_access(caller, db::find_order(work, merchant_uid));
        work.commit();
    });
    // The browser's word is only a pointer: iamport's record is what counts.
    const auto payment = co_await deps.iamport.get_payment(imp_uid);
    if (!payment) {
        if (payment.outcome() == iamport::Outcome::not_found) {
            throw http::HttpError(Status::unprocessable_entity, "payment_not_found",
                                  "iamport has no payment with this imp_uid", "imp_uid");
        }
        throw payments::iamport_failure(payment.error(), false);
    }
    if (payment->merchant_uid == merchant_uid) {
        co_await payments::apply_fresh(deps.db, deps.iamport, payment.value(),
                                       domain::EventCause::api);
    }
    auto view = co_await deps.db.run([&](pqxx::connection& c) {
        pqxx::work work(c);
        auto order = db::find_order_for_update(work, merchant_uid);
        if (payment->merchant_uid != merchant_uid) {
            // Another order's payment shown as this one's: judged against this order (it needs
            // review if it took money), never filed under it.
            payments::apply_payment(work, *order, payment.value(), domain::EventCause::api,
                                    payments::kOwnAnswer);
        }
        auto loaded = payments::load_view(work, std::move(*order));
        work.commit();
        return loaded;
    });
    log::info("checkout completed", {{"request_id", ctx.request_id},
                                     {"merchant_uid", merchant_uid},
                                     {"imp_uid", imp_uid},
                                     {"iamport_status", payment->status},
                                     {"status", domain::to_string(view.order.status)}});
    if (payment->status == "failed") {
        throw http::HttpError(Status::payment_required, "payment_failed",
                              payment->fail_reason.value_or("the payment failed at iamport"));
    }
    co_return view_response(Status::ok, view, caller);
}

// POST /v1/orders/{merchant_uid}/cancel
asio::awaitable<http::Response> cancel(Deps& deps, http::RequestContext& ctx,
                                       const Caller& caller) {
    auto request = decode_cancel(parse_json_object(ctx.request));
    const auto amount = request.amount;

    const auto begun = co_await begin_attempt(
        deps, ctx, caller, db::AttemptKind::cancel,
        [&](const domain::Order& order, const std::vector<domain::Payment>& payments) {
            const domain::Payment* paid = nullptr;
            for (const auto& payment : payments) {
                if (payment.status == "paid" && payment.cancellable_balance() > 0) {
                    paid = &payment;
                }
            }
            if (!domain::is_cancellable(order.status) || paid == nullptr) {
                throw http::conflict("order_not_cancellable",
                                     "the order is " +
                                         std::string(domain::to_string(order.status)) +
                                         "; only a paid order can be cancelled");
            }
            const auto balance = paid->cancellable_balance();
            if (amount && *amount > balance) {
                throw http::HttpError(
                    Status::unprocessable_entity, "amount_exceeds_balance",
                    "at most " + std::to_string(balance) + " can still be cancelled", "amount");
            }
            if (paid->pay_method == "vbank") {
                const std::pair<const char*, const std::optional<std::string>*> required[] = {
                    {"refund_holder", &request.refund_holder},
                    {"refund_bank", &request.refund_bank},
                    {"refund_account", &request.refund_account}};
                for (const auto& [field, value] : required) {
                    if (!*value) {
                        throw http::validation_failed(
                            field, std::string(field) +
                                       " is required to refund a virtual account payment");
                    }
                }
            }
            request.imp_uid = paid->imp_uid;
            request.checksum = balance;
            request.amount = amount.value_or(balance);
            return AttemptPlan{request.amount, paid->imp_uid};
        });
    const auto checksum = request.checksum;
    const auto imp_uid = *request.imp_uid;
    const auto result = co_await deps.iamport.cancel_payment(std::move(request));
    if (!result && result.outcome() == iamport::Outcome::declined) {
        // Refused: most often the balance changed behind our back (a refund made in iamport's
        // console), which the checksum exists to catch. Take iamport's word on the payment.
        try {
            co_await finish_attempt(deps, ctx, caller, begun, result);
        } catch (const http::HttpError&) {
        }
        const auto fresh = co_await deps.iamport.get_payment(imp_uid);
        if (fresh) {
            co_await payments::sync_order(deps.db, deps.iamport, ctx.param("merchant_uid"),
                                          domain::EventCause::api);
            if (fresh->cancellable_balance() != checksum) {
                throw http::conflict("balance_changed",
                                     "the cancellable balance is now " +
                                         std::to_string(fresh->cancellable_balance()) +
                                         "; the order was refreshed from iamport, nothing was "
                                         "cancelled");
            }
        }
        throw payments::iamport_failure(result.error());
    }
    co_return co_await finish_attempt(deps, ctx, caller, begun, result);
}

// POST /v1/orders/{merchant_uid}/sync
asio::awaitable<http::Response> sync(Deps& deps, http::RequestContext& ctx, const Caller& caller) {
    const auto body = parse_json_object(ctx.request, true);
    FieldReader(body).reject_unknown();
    auto view = co_await payments::sync_order(deps.db, deps.iamport, ctx.param("merchant_uid"),
                                              domain::EventCause::sync);
    if (!view) {
        throw http::not_found("order_not_found", "no order has this merchant_uid");
    }
    co_return view_response(Status::ok, *view, caller);
}

}  // namespace

void add_payment_routes(Api& api) {
    auto deps = std::make_shared<Deps>(Deps{api.deps().config, api.deps().db, api.deps().iamport});
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
}

}  // namespace mg::api
