#include "service/api/json_body.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <cmath>

#include "service/common/exact_json.hpp"
#include "service/http/error.hpp"

namespace mg::api {
namespace {

bool is_json_content_type(std::string_view value) {
    const auto semicolon = value.find(';');
    auto media = value.substr(0, semicolon);
    while (!media.empty() && media.back() == ' ') {
        media.remove_suffix(1);
    }
    if (media.size() != 16) {
        return false;
    }
    return std::equal(
        media.begin(), media.end(), std::string_view("application/json").begin(),
        [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

// JSON has no infinity, but Boost.JSON reads a number beyond the range of a double (1e400) as
// one, and would write it back as `Infinity`: text that is neither JSON nor storable as jsonb.
bool has_non_finite_number(const boost::json::value& value) {
    if (value.is_double()) {
        return !std::isfinite(value.get_double());
    }
    if (const auto* array = value.if_array()) {
        return std::any_of(array->begin(), array->end(), has_non_finite_number);
    }
    if (const auto* object = value.if_object()) {
        return std::any_of(object->begin(), object->end(),
                           [](const auto& item) { return has_non_finite_number(item.value()); });
    }
    return false;
}

}  // namespace

boost::json::object parse_json_object(const http::Request& request, bool allow_empty) {
    if (request.body().empty() && allow_empty) {
        return {};
    }
    const auto content_type = request[http::beast_http::field::content_type];
    if (!is_json_content_type(content_type)) {
        throw http::HttpError(http::Status::unsupported_media_type, "unsupported_media_type",
                              "the request body must be application/json");
    }
    boost::json::parse_options options;
    // Deep nesting is refused early rather than parsed: nothing we accept nests deeper.
    options.max_depth = 32;
    boost::system::error_code ec;
    // Numbers read exactly: custom_data is stored as sent and must read back the same.
    auto value = parse_exact_json(request.body(), ec, options, DuplicateKeys::refuse);
    if (ec == duplicate_key_error()) {
        throw http::bad_request("duplicate_key", "the request body names a member twice");
    }
    if (ec) {
        throw http::bad_request("malformed_json", "the request body is not valid JSON");
    }
    if (!value.is_object()) {
        throw http::bad_request("malformed_json", "the request body must be a JSON object");
    }
    return std::move(value.as_object());
}

const boost::json::value* FieldReader::find(std::string_view name) {
    read_.emplace_back(name);
    const auto it = object_.find(name);
    if (it == object_.end() || it->value().is_null()) {
        return nullptr;
    }
    return &it->value();
}

std::optional<std::string> FieldReader::optional_string(std::string_view name) {
    const auto* value = find(name);
    if (!value) {
        return std::nullopt;
    }
    if (!value->is_string()) {
        throw http::validation_failed(std::string(name), std::string(name) + " must be a string");
    }
    return std::string(value->as_string());
}

std::string FieldReader::required_string(std::string_view name) {
    auto value = optional_string(name);
    if (!value) {
        throw http::validation_failed(std::string(name), std::string(name) + " is required");
    }
    return std::move(*value);
}

std::optional<std::int64_t> FieldReader::optional_integer(std::string_view name) {
    const auto* value = find(name);
    if (!value) {
        return std::nullopt;
    }
    if (value->is_int64()) {
        return value->as_int64();
    }
    if (value->is_uint64()) {
        // Above INT64_MAX: far beyond any valid amount or time; report it as out of range.
        throw http::validation_failed(std::string(name), std::string(name) + " is out of range");
    }
    throw http::validation_failed(std::string(name), std::string(name) + " must be an integer");
}

std::int64_t FieldReader::required_integer(std::string_view name) {
    auto value = optional_integer(name);
    if (!value) {
        throw http::validation_failed(std::string(name), std::string(name) + " is required");
    }
    return *value;
}

std::optional<std::string> FieldReader::optional_json(std::string_view name) {
    const auto* value = find(name);
    if (!value) {
        return std::nullopt;
    }
    if (has_non_finite_number(*value)) {
        throw http::validation_failed(std::string(name),
                                      std::string(name) + " holds a number too large for JSON");
    }
    return boost::json::serialize(*value);
}

const boost::json::object* FieldReader::optional_object(std::string_view name) {
    const auto* value = find(name);
    if (!value) {
        return nullptr;
    }
    if (!value->is_object()) {
        throw http::validation_failed(std::string(name), std::string(name) + " must be an object");
    }
    return &value->get_object();
}

void FieldReader::reject_unknown() const {
    for (const auto& item : object_) {
        const std::string_view key = item.key();
        if (std::find(read_.begin(), read_.end(), key) == read_.end()) {
            throw http::validation_failed(std::string(key), "unknown field " + std::string(key));
        }
    }
}

}  // namespace mg::api
