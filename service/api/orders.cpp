// /v1/orders: create, read, list.
#include <algorithm>
#include <boost/json/value_from.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <pqxx/nontransaction>

#include "db/errors.hpp"
#include "db/orders_repository.hpp"
#include "db/payments_repository.hpp"
#include "service/api/api.hpp"
#include "service/api/json_body.hpp"
#include "service/api/order_access.hpp"
#include "service/api/request_bodies.hpp"
#include "service/common/crypto.hpp"
#include "service/common/log.hpp"
#include "service/domain/order_json.hpp"
#include "service/http/error.hpp"
#include "service/runtime/db_executor.hpp"

namespace mg::api {

namespace asio = boost::asio;
using http::Status;

namespace {

constexpr int kDefaultPageSize = 20;
constexpr int kMaxPageSize = 100;
constexpr std::string_view kCursorPrefix = "o1:";

std::optional<std::int64_t> parse_query_integer(std::string_view field, std::string_view text) {
    std::int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty()) {
        throw http::validation_failed(std::string(field),
                                      std::string(field) + " must be an integer");
    }
    return value;
}

// created_from / created_to: UNIX seconds from 1970 to the end of year 9999, which PostgreSQL's
// timestamps hold (beyond it the query would fail, not the request).
constexpr std::int64_t kLatestSecond = 253402300799;
std::optional<std::int64_t> parse_query_time(std::string_view field, std::string_view text) {
    const auto value = parse_query_integer(field, text);
    if (*value < 0 || *value > kLatestSecond) {
        throw http::validation_failed(
            std::string(field),
            std::string(field) + " must be UNIX seconds between 0 and 253402300799");
    }
    return value;
}

// A query key as an error may name it: printable ASCII of a sane length, else not echoed.
std::string echoable(std::string_view key) {
    const bool printable =
        !key.empty() && key.size() <= 64 && std::all_of(key.begin(), key.end(), [](char c) {
            return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
        });
    return printable ? std::string(key) : std::string("query");
}

std::string encode_cursor(std::int64_t before_id) {
    return crypto::base64url_encode(std::string(kCursorPrefix) + std::to_string(before_id));
}

std::int64_t decode_cursor(std::string_view cursor) {
    std::string decoded;
    std::int64_t id = 0;
    if (crypto::base64url_decode(cursor, decoded) && decoded.starts_with(kCursorPrefix)) {
        const std::string_view digits = std::string_view(decoded).substr(kCursorPrefix.size());
        const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
        if (ec == std::errc{} && ptr == digits.data() + digits.size() && id > 0) {
            return id;
        }
    }
    throw http::validation_failed("cursor", "cursor is not one this API returned");
}

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
            const auto limit = *parse_query_integer(key, value);
            if (limit < 1) {
                throw http::validation_failed("limit", "limit must be at least 1");
            }
            // Above the maximum is clamped, not refused (SPEC §4).
            filter.limit = static_cast<int>(std::min<std::int64_t>(limit, kMaxPageSize));
        } else if (key == "cursor") {
            filter.before_id = decode_cursor(value);
        } else {
            throw http::validation_failed(echoable(key), "unknown query parameter");
        }
    }
    return filter;
}

asio::awaitable<http::Response> create_order(http::RequestContext& ctx, const Caller& caller,
                                             runtime::DbExecutor& db) {
    auto order = decode_new_order(parse_json_object(ctx.request));
    order.client_secret = seal_client_secret(*caller.secrets, order.client_secret);
    domain::Order stored;
    http::Response response;
    try {
        // The order and the answer its Idempotency-Key replays commit together: a crash after
        // the commit replays the order, never creates a second one or answers "taken".
        stored = co_await db.transact([&](pqxx::work& work) {
            auto created = db::insert_order(work, order);
            db::append_order_event(
                work, db::OrderEvent{created.id, std::nullopt, domain::OrderStatus::pending,
                                     domain::EventCause::api, std::nullopt, std::nullopt});
            response = http::json_response(Status::created, order_json(created, {}, caller));
            store_idempotent_response(work, caller, response);
            return created;
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

asio::awaitable<http::Response> get_order(http::RequestContext& ctx, const Caller& caller,
                                          runtime::DbExecutor& db) {
    const auto& merchant_uid = ctx.param("merchant_uid");
    // One statement in autocommit: BEGIN and COMMIT would only add round trips to a single read.
    auto found = co_await db.run([&](pqxx::connection& c) {
        pqxx::nontransaction read(c);
        return db::find_order_with_payments(read, merchant_uid);
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
    api.add(http::Verb::post, "/v1/orders", Access{Access::Kind::api_key, "write", false},
            [&db](http::RequestContext& ctx, const Caller& caller) {
                return create_order(ctx, caller, db);
            });
    api.add(http::Verb::get, "/v1/orders", Access{Access::Kind::api_key, "read", false},
            [&db](http::RequestContext& ctx, const Caller& caller) {
                return list_orders(ctx, caller, db);
            });
    api.add(http::Verb::get, "/v1/orders/{merchant_uid}",
            Access{Access::Kind::api_key, "read", true},
            [&db](http::RequestContext& ctx, const Caller& caller) {
                return get_order(ctx, caller, db);
            });
}

}  // namespace mg::api
