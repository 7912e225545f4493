// The shop's endpoints for our events (`/v1/webhook-endpoints`, scope admin): where to send
// which event types. A signing secret is made here, shown once, and kept sealed under
// GATEWAY_SECRET_KEY; a rotation keeps the previous one signing for a stated time.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "db/notifications_repository.hpp"

namespace mg::runtime {
class DbExecutor;
}
namespace mg::crypto {
class SecretKey;
}

namespace mg::notify {

// A request the endpoint rules refuse (a URL, an event type): 422 naming the field.
class Invalid : public std::runtime_error {
  public:
    Invalid(std::string field, const std::string& message)
        : std::runtime_error(message), field_(std::move(field)) {}
    const std::string& field() const { return field_; }

  private:
    std::string field_;
};

// The event types there are (SPEC §11).
const std::vector<std::string>& event_types();

struct EndpointChange {
    std::optional<std::string> url;
    std::optional<std::vector<std::string>> event_types;
    std::optional<bool> enabled;
    std::optional<std::string> description;
};

struct Endpoints {
    runtime::DbExecutor& db;
    const crypto::SecretKey& secrets;
    bool allow_private;

    // The new endpoint and its secret (shown this once).
    boost::asio::awaitable<std::pair<db::Endpoint, std::string>> create(EndpointChange change);
    boost::asio::awaitable<std::vector<db::Endpoint>> list();
    boost::asio::awaitable<std::optional<db::Endpoint>> find(std::string id);
    boost::asio::awaitable<std::optional<db::Endpoint>> update(std::string id,
                                                               EndpointChange change);
    boost::asio::awaitable<bool> remove(std::string id);
    // A new secret (shown this once); the current one signs too for `previous_valid_for`.
    boost::asio::awaitable<std::optional<std::pair<db::Endpoint, std::string>>> rotate(
        std::string id, std::chrono::seconds previous_valid_for);
};

}  // namespace mg::notify
