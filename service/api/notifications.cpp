// Scope admin: the shop's endpoints for our events (/v1/webhook-endpoints), the events and their
// delivery attempts (/v1/events), and iamport's notices as the inbox holds them
// (/v1/webhook-deliveries), each with a way to send or process again (SPEC §11).
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "db/notifications_repository.hpp"
#include "db/webhook_inbox_repository.hpp"
#include "service/api/api.hpp"
#include "service/api/json_body.hpp"
#include "service/api/paging.hpp"
#include "service/http/error.hpp"
#include "service/notify/endpoints.hpp"
#include "service/runtime/db_executor.hpp"

namespace mg::api {

namespace asio = boost::asio;
namespace json = boost::json;
using http::Status;

namespace {

// How long a rotated-out secret may still sign, by default and at most.
constexpr std::chrono::seconds kDefaultOverlap{24 * 3600};
constexpr std::chrono::seconds kMaxOverlap{7 * 24 * 3600};

struct Deps {
    runtime::DbExecutor& db;
    notify::Endpoints endpoints;
};

json::value optional_text(const std::optional<std::string>& text) {
    return text ? json::value(*text) : json::value();
}

json::object endpoint_json(const db::Endpoint& e) {
    json::object o;
    o["id"] = e.id;
    o["url"] = e.url;
    json::array types;
    for (const auto& type : e.event_types) {
        types.emplace_back(type);
    }
    o["event_types"] = std::move(types);
    o["enabled"] = e.enabled;
    o["description"] = optional_text(e.description);
    o["previous_secret_valid_until"] = e.previous_secret_sealed && e.previous_secret_until > 0
                                           ? json::value(e.previous_secret_until)
                                           : json::value();
    o["created_at"] = e.created_at;
    o["updated_at"] = e.updated_at;
    return o;
}

notify::EndpointChange decode_change(const json::object& body, bool creating) {
    FieldReader fields(body);
    notify::EndpointChange change;
    change.url =
        creating ? std::optional(fields.required_string("url")) : fields.optional_string("url");
    change.description = fields.optional_string("description");
    if (const auto enabled = fields.optional_json("enabled")) {
        if (*enabled != "true" && *enabled != "false") {
            throw http::validation_failed("enabled", "enabled must be true or false");
        }
        change.enabled = *enabled == "true";
    }
    if (const auto types = fields.optional_json("event_types")) {
        const auto parsed = json::parse(*types);
        if (!parsed.is_array()) {
            throw http::validation_failed("event_types", "event_types must be an array of types");
        }
        std::vector<std::string> list;
        for (const auto& item : parsed.as_array()) {
            if (!item.is_string()) {
                throw http::validation_failed("event_types", "event_types must hold strings");
            }
            list.emplace_back(item.as_string());
        }
        change.event_types = std::move(list);
    }
    fields.reject_unknown();
    return change;
}

http::HttpError endpoint_not_found() {
    return http::not_found("endpoint_not_found", "no webhook endpoint has this id");
}

asio::awaitable<http::Response> create_endpoint(Deps& deps, http::RequestContext& ctx) {
    auto change = decode_change(parse_json_object(ctx.request), true);
    std::optional<std::pair<db::Endpoint, std::string>> created;
    try {
        created = co_await deps.endpoints.create(std::move(change));
    } catch (const notify::Invalid& invalid) {
        throw http::validation_failed(invalid.field(), invalid.what());
    }
    auto body = endpoint_json(created->first);
    body["secret"] = created->second;  // shown this once
    co_return http::json_response(Status::created, body);
}

asio::awaitable<http::Response> list_endpoints(Deps& deps, http::RequestContext&) {
    json::array data;
    for (const auto& endpoint : co_await deps.endpoints.list()) {
        data.push_back(endpoint_json(endpoint));
    }
    co_return http::json_response(Status::ok, json::object{{"data", std::move(data)}});
}

asio::awaitable<http::Response> get_endpoint(Deps& deps, http::RequestContext& ctx) {
    const auto endpoint = co_await deps.endpoints.find(ctx.param("id"));
    if (!endpoint) {
        throw endpoint_not_found();
    }
    co_return http::json_response(Status::ok, endpoint_json(*endpoint));
}

asio::awaitable<http::Response> update_endpoint(Deps& deps, http::RequestContext& ctx) {
    auto change = decode_change(parse_json_object(ctx.request), false);
    std::optional<db::Endpoint> endpoint;
    try {
        endpoint = co_await deps.endpoints.update(ctx.param("id"), std::move(change));
    } catch (const notify::Invalid& invalid) {
        throw http::validation_failed(invalid.field(), invalid.what());
    }
    if (!endpoint) {
        throw endpoint_not_found();
    }
    co_return http::json_response(Status::ok, endpoint_json(*endpoint));
}

asio::awaitable<http::Response> delete_endpoint(Deps& deps, http::RequestContext& ctx) {
    if (!co_await deps.endpoints.remove(ctx.param("id"))) {
        throw endpoint_not_found();
    }
    http::Response response{Status::no_content, 11};
    co_return response;
}

asio::awaitable<http::Response> rotate_secret(Deps& deps, http::RequestContext& ctx) {
    const auto body = parse_json_object(ctx.request, true);
    FieldReader fields(body);
    const auto seconds = fields.optional_integer("previous_secret_valid_seconds");
    fields.reject_unknown();
    const auto overlap = seconds ? std::chrono::seconds(*seconds) : kDefaultOverlap;
    if (overlap < std::chrono::seconds(0) || overlap > kMaxOverlap) {
        throw http::validation_failed("previous_secret_valid_seconds",
                                      "previous_secret_valid_seconds must be 0 to 604800");
    }
    const auto rotated = co_await deps.endpoints.rotate(ctx.param("id"), overlap);
    if (!rotated) {
        throw endpoint_not_found();
    }
    auto answer = endpoint_json(rotated->first);
    answer["secret"] = rotated->second;
    co_return http::json_response(Status::ok, answer);
}

json::object event_json(const db::EventRow& event) {
    json::object o;
    o["id"] = event.id;
    o["type"] = event.type;
    o["created_at"] = event.created_at;
    o["data"] = json::parse(event.data_json);
    return o;
}

asio::awaitable<http::Response> list_events(Deps& deps, http::RequestContext& ctx) {
    db::EventFilter filter;
    filter.limit = kDefaultPageSize;
    auto url = boost::urls::parse_origin_form(ctx.request.target());
    if (!url) {
        throw http::bad_request("malformed_request", "the request target is not a valid URL");
    }
    for (const auto& param : url->params()) {
        const std::string_view key = param.key;
        if (key == "type") {
            filter.type = std::string(param.value);
        } else if (key == "order") {
            filter.merchant_uid = std::string(param.value);
        } else if (key == "limit") {
            filter.limit = parse_limit(param.value);
        } else if (key == "cursor") {
            filter.before_seq = decode_cursor(param.value);
        } else {
            throw http::validation_failed(echoable(key), "unknown query parameter");
        }
    }
    auto events =
        co_await deps.db.transact([&](pqxx::work& work) { return db::list_events(work, filter); });
    json::array data;
    std::optional<std::int64_t> next;
    for (const auto& event : events) {
        if (data.size() == static_cast<std::size_t>(filter.limit)) {
            break;
        }
        data.push_back(event_json(event));
        next = event.seq;
    }
    const bool more = events.size() > static_cast<std::size_t>(filter.limit);
    co_return http::json_response(
        Status::ok,
        json::object{{"data", std::move(data)},
                     {"next_cursor", more ? json::value(encode_cursor(*next)) : json::value()}});
}

asio::awaitable<http::Response> get_event(Deps& deps, http::RequestContext& ctx) {
    const auto& id = ctx.param("id");
    auto found = co_await deps.db.transact(
        [&](pqxx::work& work)
            -> std::optional<std::pair<db::EventRow, std::vector<db::DeliveryView>>> {
            auto event = db::find_event(work, id);
            if (!event) {
                return std::nullopt;
            }
            return std::make_pair(std::move(*event), db::list_event_deliveries(work, id));
        });
    if (!found) {
        throw http::not_found("event_not_found", "no event has this id");
    }
    auto body = event_json(found->first);
    json::array deliveries;
    for (const auto& d : found->second) {
        json::array attempts;
        for (const auto& a : d.attempts_made) {
            attempts.push_back(json::object{
                {"attempted_at", a.attempted_at},
                {"http_status", a.http_status ? json::value(*a.http_status) : json::value()},
                {"latency_ms", a.latency_ms},
                {"error", optional_text(a.error)},
                {"response_excerpt", optional_text(a.response_excerpt)}});
        }
        deliveries.push_back(json::object{{"endpoint_id", d.endpoint_id},
                                          {"state", d.state},
                                          {"attempts", d.attempts},
                                          {"next_attempt_at", d.next_attempt_at},
                                          {"delivered_at", d.delivered_at},
                                          {"attempts_made", std::move(attempts)}});
    }
    body["deliveries"] = std::move(deliveries);
    co_return http::json_response(Status::ok, body);
}

asio::awaitable<http::Response> redeliver(Deps& deps, http::RequestContext& ctx) {
    const auto& id = ctx.param("id");
    const auto due = co_await deps.db.transact([&](pqxx::work& work) -> std::optional<int> {
        if (!db::find_event(work, id)) {
            return std::nullopt;
        }
        return db::redeliver_event(work, id);
    });
    if (!due) {
        throw http::not_found("event_not_found", "no event has this id");
    }
    co_return http::json_response(Status::accepted,
                                  json::object{{"id", id}, {"deliveries_due", *due}});
}

json::object inbox_json(const db::Delivery& d) {
    return json::object{{"id", d.id},
                        {"imp_uid", d.imp_uid},
                        {"merchant_uid", optional_text(d.merchant_uid)},
                        {"claimed_status", optional_text(d.status)},
                        {"state", db::to_string(d.state)},
                        {"attempts", d.attempts},
                        {"outcome", optional_text(d.outcome)},
                        {"last_error", optional_text(d.last_error)},
                        {"received_at", d.received_at}};
}

asio::awaitable<http::Response> list_inbox(Deps& deps, http::RequestContext& ctx) {
    std::optional<db::DeliveryState> state;
    std::optional<std::int64_t> before;
    int limit = kDefaultPageSize;
    auto url = boost::urls::parse_origin_form(ctx.request.target());
    if (!url) {
        throw http::bad_request("malformed_request", "the request target is not a valid URL");
    }
    for (const auto& param : url->params()) {
        const std::string_view key = param.key;
        if (key == "state") {
            for (auto known : {db::DeliveryState::pending, db::DeliveryState::processed,
                               db::DeliveryState::failed}) {
                if (db::to_string(known) == param.value) {
                    state = known;
                }
            }
            if (!state) {
                throw http::validation_failed("state",
                                              "state must be pending, processed or failed");
            }
        } else if (key == "limit") {
            limit = parse_limit(param.value);
        } else if (key == "cursor") {
            before = decode_cursor(param.value);
        } else {
            throw http::validation_failed(echoable(key), "unknown query parameter");
        }
    }
    auto rows = co_await deps.db.transact(
        [&](pqxx::work& work) { return db::list_inbox(work, state, before, limit); });
    json::array data;
    for (std::size_t i = 0; i < rows.size() && i < static_cast<std::size_t>(limit); ++i) {
        data.push_back(inbox_json(rows[i]));
    }
    const bool more = rows.size() > static_cast<std::size_t>(limit);
    co_return http::json_response(
        Status::ok,
        json::object{{"data", std::move(data)},
                     {"next_cursor",
                      more ? json::value(encode_cursor(rows[limit - 1].id)) : json::value()}});
}

asio::awaitable<http::Response> retry_inbox(Deps& deps, http::RequestContext& ctx) {
    const auto id = parse_query_integer("id", ctx.param("id"));
    auto delivery = co_await deps.db.transact(
        [&](pqxx::work& work) { return db::retry_inbox_delivery(work, *id); });
    if (!delivery) {
        throw http::conflict("delivery_not_retryable",
                             "no such delivery, or it is waiting to be processed already");
    }
    co_return http::json_response(Status::accepted, inbox_json(*delivery));
}

}  // namespace

void add_notification_routes(Api& api) {
    auto deps = std::make_shared<Deps>(Deps{
        api.deps().db,
        notify::Endpoints{api.deps().db, api.secrets(), api.deps().config.notify_allow_private}});
    using Handler = asio::awaitable<http::Response> (*)(Deps&, http::RequestContext&);
    auto route = [&](http::Verb method, const char* path, Handler handler) {
        api.add(method, path, Access{Access::Kind::api_key, "admin", false},
                [deps, handler](http::RequestContext& ctx, const Caller&) {
                    return handler(*deps, ctx);
                });
    };
    route(http::Verb::post, "/v1/webhook-endpoints", create_endpoint);
    route(http::Verb::get, "/v1/webhook-endpoints", list_endpoints);
    route(http::Verb::get, "/v1/webhook-endpoints/{id}", get_endpoint);
    route(http::Verb::patch, "/v1/webhook-endpoints/{id}", update_endpoint);
    route(http::Verb::delete_, "/v1/webhook-endpoints/{id}", delete_endpoint);
    route(http::Verb::post, "/v1/webhook-endpoints/{id}/rotate-secret", rotate_secret);
    route(http::Verb::get, "/v1/events", list_events);
    route(http::Verb::get, "/v1/events/{id}", get_event);
    route(http::Verb::post, "/v1/events/{id}/redeliver", redeliver);
    route(http::Verb::get, "/v1/webhook-deliveries", list_inbox);
    route(http::Verb::post, "/v1/webhook-deliveries/{id}/retry", retry_inbox);
}

}  // namespace mg::api
