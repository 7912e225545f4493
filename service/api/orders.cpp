// /v1/orders: create, read, list.
#include <algorithm>
#include <boost/json/value_from.hpp>
#include <boost/url/parse.hpp>
#include <charconv>

#include "db/errors.hpp"
#include "db/orders_repository.hpp"
#include "db/payments_repository.hpp"
#include "service/api/api.hpp"
#include "service/api/json_body.hpp"
#include "service/api/order_access.hpp"
#include "service/api/paging.hpp"
#include "service/api/request_bodies.hpp"
#include "service/common/crypto.hpp"
#include "service/common/log.hpp"
#include "service/domain/order_json.hpp"
#include "service/http/error.hpp"
#include "service/runtime/db_executor.hpp"
#include "service/runtime/loop_database.hpp"

namespace mg::api {

namespace asio = boost::asio;
using http::Status;

namespace {

db::OrderFilter decode_list_query(std::string_view target) {
    db::OrderFilter filter;
    filter.limit = kDefaultPageSize;
    auto url = boost::urls::parse_origin_form(target);
    if (!url) {
        throw http::bad_request("malformed_request", "the request target is not a valid URL");
    }
    for (const auto& param : url->params()) {
        const std::string_view key = param.key;
        const std::string_view value = param.value;
        if (key == "status") {
            filter.status = domain::parse_order_status(value);
            if (!filter.status) {
                throw http::validation_failed("status", "unknown order status");
            }
        } else if (key == "created_from") {
            filter.created_from = parse_query_time(key, value);
        } else if (key == "created_to") {
            filter.created_to = parse_query_time(key, value);
        } else if (key == "limit") {
            filter.limit = parse_limit(value);
        } else if (key == "cursor") {
            filter.before_id = decode_cursor(value);
        } else {
            throw http::validation_failed(echoable(key), "unknown query parameter");
        }
    }
    return filter;
}

asio::awaitable<http::Response> create_order(http::RequestContext& ctx, const Caller& caller) {
    auto order = decode_new_order(parse_json_object(ctx.request));
    order.client_secret = seal_client_secret(*caller.secrets, order.client_secret);
    domain::Order stored;
    http::Response response;
    try {
        // The order and the answer its Idempotency-Key replays commit together: a crash after
        // the commit replays the order, never creates a second one or answers "taken". Three
        // round trips: BEGIN and the insert; the event and the answer; COMMIT.
        stored = co_await runtime::LoopDatabase::current().transact(
            [&](db::AsyncTransaction& txn) -> asio::awaitable<domain::Order> {
                auto created = co_await db::insert_order(txn, order);
                response = http::json_response(Status::created, order_json(created, {}, caller));
                std::vector<db::Query> rest;
                rest.push_back(db::append_order_event_query(
                    db::OrderEvent{created.id, std::nullopt, domain::OrderStatus::pending,
                                   domain::EventCause::api, std::nullopt, std::nullopt}));
                auto store = idempotent_response_query(caller, response);
                if (store) {
                    rest.push_back(std::move(*store));
                }
                const auto results = co_await txn.exec(std::move(rest));
                if (store) {
                    idempotent_response_stored(caller, results.back());
                }
                co_return created;
            });
    } catch (const db::Conflict&) {
        throw http::conflict("merchant_uid_taken",
                             "an order with this merchant_uid already exists");
    }
    log::info("order created", {{"request_id", ctx.request_id},
                                {"merchant_uid", stored.merchant_uid},
                                {"amount", stored.amount},
                                {"api_key", caller.key_name}});
    co_return response;
}

asio::awaitable<http::Response> get_order(http::RequestContext& ctx, const Caller& caller) {
    const auto& merchant_uid = ctx.param("merchant_uid");
    // One statement in autocommit: BEGIN and COMMIT would only add round trips to a single read.
    auto found =
        co_await runtime::LoopDatabase::current().run([&merchant_uid](db::AsyncConnection& c) {
            return db::find_order_with_payments(c, merchant_uid);
        });
    require_order_access(caller, found ? &found->order : nullptr);
    co_return http::json_response(
        Status::ok, order_json(found->order, found->payments, found->cash_receipt, caller));
}

asio::awaitable<http::Response> list_orders(http::RequestContext& ctx, const Caller& caller,
                                            runtime::DbExecutor& db) {
    const auto filter = decode_list_query(ctx.request.target());
    std::map<std::int64_t, std::vector<domain::Payment>> payments;
    auto page = co_await db.transact([&](pqxx::work& work) {
        auto result = db::list_orders(work, filter);
        std::vector<std::int64_t> ids;
        ids.reserve(result.orders.size());
        for (const auto& order : result.orders) {
            ids.push_back(order.id);
        }
        payments = db::list_payments_for_orders(work, ids);
        return result;
    });
    boost::json::array data;
    data.reserve(page.orders.size());
    static const std::vector<domain::Payment> kNone;
    for (const auto& order : page.orders) {
        const auto found = payments.find(order.id);
        data.push_back(order_json(order, found == payments.end() ? kNone : found->second, caller));
    }
    boost::json::object body;
    body["data"] = std::move(data);
    body["next_cursor"] = page.next_before_id
                              ? boost::json::value(encode_cursor(*page.next_before_id))
                              : boost::json::value(nullptr);
    co_return http::json_response(Status::ok, body);
}

}  // namespace

void add_order_routes(Api& api) {
    auto& db = api.deps().db;
    api.add(
        http::Verb::post, "/v1/orders", Access{Access::Kind::api_key, "write", false},
        [](http::RequestContext& ctx, const Caller& caller) { return create_order(ctx, caller); });
    api.add(http::Verb::get, "/v1/orders", Access{Access::Kind::api_key, "read", false},
            [&db](http::RequestContext& ctx, const Caller& caller) {
                return list_orders(ctx, caller, db);
            });
    api.add(http::Verb::get, "/v1/orders/{merchant_uid}",
            Access{Access::Kind::api_key, "read", true},
            [](http::RequestContext& ctx, const Caller& caller) { return get_order(ctx, caller); });
}

}  // namespace mg::api
