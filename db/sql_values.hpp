// Conversions between C++ values and statement parameters / result fields that libpqxx 6.4
// does not provide itself (it has no parameter conversion for std::optional or string_view).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <pqxx/field>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mg::db {

// A text parameter that is SQL NULL when `value` is empty. The pointer refers into `value`,
// which must outlive the statement call.
inline const char* nullable(const std::optional<std::string>& value) {
    return value ? value->c_str() : nullptr;
}

// `field` is a pqxx::field or a db::PgField.
template <class T, class Field>
std::optional<T> optional_field(const Field& field) {
    if (field.is_null()) {
        return std::nullopt;
    }
    return field.template as<T>();
}

// A duration parameter, in whole seconds (statements multiply it by interval '1 second').
inline std::int64_t seconds_of(std::chrono::seconds duration) {
    return static_cast<std::int64_t>(duration.count());
}

// Guards a repository function's arguments: std::invalid_argument with `message` otherwise.
inline void require(bool condition, const char* message) {
    if (!condition) {
        throw std::invalid_argument(message);
    }
}

}  // namespace mg::db
