#include "db/pg_result.hpp"

#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace mg::db {

namespace {

[[noreturn]] void unreadable(const PgField& field, const char* type) {
    throw std::invalid_argument(std::string("a database field does not read as ") + type + ": '" +
                                std::string(field.view().substr(0, 40)) + "'");
}

template <class Integer>
Integer integer_of(const PgField& field, const char* type) {
    if (field.is_null()) {
        unreadable(field, type);
    }
    const auto text = field.view();
    Integer value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
        unreadable(field, type);
    }
    return value;
}

}  // namespace

template <>
std::string PgField::as<std::string>() const {
    if (is_null()) {
        unreadable(*this, "text");
    }
    return std::string(view());
}

template <>
bool PgField::as<bool>() const {
    const auto text = view();
    if (!is_null() && text == "t") {
        return true;
    }
    if (!is_null() && text == "f") {
        return false;
    }
    unreadable(*this, "a boolean");
}

template <>
int PgField::as<int>() const {
    return integer_of<int>(*this, "an integer");
}

template <>
std::int64_t PgField::as<std::int64_t>() const {
    return integer_of<std::int64_t>(*this, "a bigint");
}

PgRow PgResult::at(int row) const {
    if (row < 0 || row >= size()) {
        throw std::out_of_range("a database result has no row " + std::to_string(row));
    }
    return (*this)[row];
}

std::int64_t PgResult::affected_rows() const {
    if (!result_) {
        return 0;
    }
    const char* tuples = PQcmdTuples(result_.get());
    return tuples[0] == '\0' ? 0 : std::strtoll(tuples, nullptr, 10);
}

}  // namespace mg::db
