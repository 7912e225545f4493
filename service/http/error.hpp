// The one error type handlers throw for a client-visible failure, and its JSON form:
// {"error":{"code":"snake_case_code","message":"human text","field":"name"?}}
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "service/http/types.hpp"

namespace mg::http {

class HttpError : public std::runtime_error {
  public:
    HttpError(Status status, std::string code, const std::string& message,
              std::optional<std::string> field = std::nullopt)
        : std::runtime_error(message),
          status_(status),
          code_(std::move(code)),
          field_(std::move(field)) {}

    Status status() const { return status_; }
    const std::string& code() const { return code_; }
    const std::optional<std::string>& field() const { return field_; }
    // For 429 and 503: how long the client should wait.
    std::optional<std::chrono::seconds> retry_after;

  private:
    Status status_;
    std::string code_;
    std::optional<std::string> field_;
};

Response error_response(Status status, std::string_view code, std::string_view message,
                        const std::optional<std::string>& field = std::nullopt,
                        unsigned version = 11);
Response error_response(const HttpError& error, unsigned version = 11);

// Shorthands for the common cases.
HttpError bad_request(std::string code, const std::string& message);
HttpError validation_failed(const std::string& field, const std::string& message);
HttpError not_found(std::string code, const std::string& message);
HttpError conflict(std::string code, const std::string& message);

}  // namespace mg::http
