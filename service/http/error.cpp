#include "service/http/error.hpp"

#include <boost/json/object.hpp>

namespace mg::http {

Response error_response(Status status, std::string_view code, std::string_view message,
                        const std::optional<std::string>& field, unsigned version) {
    boost::json::object error;
    error["code"] = code;
    error["message"] = message;
    if (field) {
        error["field"] = *field;
    }
    boost::json::object body;
    body["error"] = std::move(error);
    return json_response(status, body, version);
}

Response error_response(const HttpError& error, unsigned version) {
    auto response =
        error_response(error.status(), error.code(), error.what(), error.field(), version);
    if (error.retry_after) {
        response.set(beast_http::field::retry_after, std::to_string(error.retry_after->count()));
    }
    return response;
}

HttpError bad_request(std::string code, const std::string& message) {
    return HttpError(Status::bad_request, std::move(code), message);
}

HttpError validation_failed(const std::string& field, const std::string& message) {
    return HttpError(Status::unprocessable_entity, "validation_failed", message, field);
}

HttpError not_found(std::string code, const std::string& message) {
    return HttpError(Status::not_found, std::move(code), message);
}

HttpError conflict(std::string code, const std::string& message) {
    return HttpError(Status::conflict, std::move(code), message);
}

}  // namespace mg::http
