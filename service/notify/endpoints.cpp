#include "service/notify/endpoints.hpp"

#include <algorithm>

#include "service/common/crypto.hpp"
#include "service/common/log.hpp"
#include "service/notify/sender.hpp"
#include "service/notify/signing.hpp"
#include "service/runtime/db_executor.hpp"

namespace mg::notify {

namespace asio = boost::asio;

namespace {

constexpr std::string_view kSecretContext = "webhook_endpoints.secret";
constexpr std::size_t kMaxUrl = 2048;
constexpr std::size_t kMaxDescription = 200;

void check(const EndpointChange& change, bool allow_private) {
    if (change.url) {
        if (change.url->size() > kMaxUrl) {
            throw Invalid("url", "url must be at most 2048 characters");
        }
        if (auto why = check_endpoint_url(*change.url, allow_private)) {
            throw Invalid("url", *why);
        }
    }
    if (change.event_types) {
        for (const auto& type : *change.event_types) {
            const auto& known = event_types();
            if (std::find(known.begin(), known.end(), type) == known.end()) {
                throw Invalid("event_types", "unknown event type " + type);
            }
        }
    }
    if (change.description && change.description->size() > kMaxDescription) {
        throw Invalid("description", "description must be at most 200 characters");
    }
}

void apply(db::Endpoint& endpoint, EndpointChange change) {
    if (change.url) {
        endpoint.url = std::move(*change.url);
    }
    if (change.event_types) {
        endpoint.event_types = std::move(*change.event_types);
    }
    if (change.enabled) {
        endpoint.enabled = *change.enabled;
    }
    if (change.description) {
        endpoint.description = std::move(*change.description);
    }
}

}  // namespace

const std::vector<std::string>& event_types() {
    static const std::vector<std::string> types = {"order.awaiting_deposit",
                                                   "order.paid",
                                                   "order.partially_cancelled",
                                                   "order.cancelled",
                                                   "order.expired",
                                                   "order.needs_review",
                                                   "order.review_decided",
                                                   "order.cash_receipt_issued",
                                                   "order.cash_receipt_cancelled"};
    return types;
}

asio::awaitable<std::pair<db::Endpoint, std::string>> Endpoints::create(EndpointChange change) {
    if (!change.url) {
        throw Invalid("url", "url is required");
    }
    check(change, allow_private);
    db::Endpoint endpoint;
    endpoint.id = "we_" + crypto::random_token(16);
    apply(endpoint, std::move(change));
    auto secret = new_secret();
    endpoint.secret_sealed = secrets.seal(secret, kSecretContext);
    auto stored = co_await db.transact([&](pqxx::work& work) {
        db::insert_endpoint(work, endpoint);
        return *db::find_endpoint(work, endpoint.id);
    });
    log::info("webhook endpoint created", {{"endpoint", stored.id}});
    co_return std::make_pair(std::move(stored), std::move(secret));
}

asio::awaitable<std::vector<db::Endpoint>> Endpoints::list() {
    co_return co_await db.transact([](pqxx::work& work) { return db::list_endpoints(work); });
}

asio::awaitable<std::optional<db::Endpoint>> Endpoints::find(std::string id) {
    co_return co_await db.transact([&](pqxx::work& work) { return db::find_endpoint(work, id); });
}

asio::awaitable<std::optional<db::Endpoint>> Endpoints::update(std::string id,
                                                               EndpointChange change) {
    check(change, allow_private);
    co_return co_await db.transact([&](pqxx::work& work) -> std::optional<db::Endpoint> {
        auto endpoint = db::find_endpoint(work, id);
        if (!endpoint) {
            return std::nullopt;
        }
        apply(*endpoint, std::move(change));
        db::update_endpoint(work, *endpoint);
        return db::find_endpoint(work, id);
    });
}

asio::awaitable<bool> Endpoints::remove(std::string id) {
    co_return co_await db.transact([&](pqxx::work& work) { return db::delete_endpoint(work, id); });
}

asio::awaitable<std::optional<std::pair<db::Endpoint, std::string>>> Endpoints::rotate(
    std::string id, std::chrono::seconds previous_valid_for) {
    auto secret = new_secret();
    const auto sealed = secrets.seal(secret, kSecretContext);
    auto stored = co_await db.transact([&](pqxx::work& work) -> std::optional<db::Endpoint> {
        if (!db::rotate_endpoint_secret(work, id, sealed, previous_valid_for)) {
            return std::nullopt;
        }
        return db::find_endpoint(work, id);
    });
    if (!stored) {
        co_return std::nullopt;
    }
    log::info("webhook endpoint secret rotated",
              {{"endpoint", id}, {"previous_valid_s", previous_valid_for.count()}});
    co_return std::make_pair(std::move(*stored), std::move(secret));
}

}  // namespace mg::notify
