// A result read with libpq's asynchronous API (db/async_connection.hpp), with the few parts of
// libpqxx's row and field interface that the repositories' row readers use: the same reader (a
// template over the row type) turns a pqxx::row and a PgRow into the same domain value.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mg::db {

class PgField {
  public:
    PgField(const PGresult* result, int row, int column)
        : result_(result), row_(row), column_(column) {}

    bool is_null() const { return PQgetisnull(result_, row_, column_) != 0; }
    const char* c_str() const { return PQgetvalue(result_, row_, column_); }
    std::string_view view() const {
        return {PQgetvalue(result_, row_, column_),
                static_cast<std::size_t>(PQgetlength(result_, row_, column_))};
    }

    // The field's text as T (std::string, bool, int, std::int64_t); std::invalid_argument when
    // it is NULL or does not read as T.
    template <class T>
    T as() const;

  private:
    const PGresult* result_;
    int row_;
    int column_;
};

template <>
std::string PgField::as<std::string>() const;
template <>
bool PgField::as<bool>() const;
template <>
int PgField::as<int>() const;
template <>
std::int64_t PgField::as<std::int64_t>() const;

// A row, or the columns [first, end) of one (slice).
class PgRow {
  public:
    PgRow(const PGresult* result, int row, int first, int end)
        : result_(result), row_(row), first_(first), end_(end) {}

    PgField operator[](int column) const { return PgField(result_, row_, first_ + column); }
    int size() const { return end_ - first_; }
    PgRow slice(int first, int end) const {
        return PgRow(result_, row_, first_ + first, first_ + end);
    }

  private:
    const PGresult* result_;
    int row_;
    int first_;
    int end_;
};

// Owns a PGresult.
class PgResult {
  public:
    PgResult() = default;
    explicit PgResult(PGresult* result) : result_(result, &PQclear) {}

    bool empty() const { return size() == 0; }
    int size() const { return result_ ? PQntuples(result_.get()) : 0; }
    int columns() const { return result_ ? PQnfields(result_.get()) : 0; }
    PgRow operator[](int row) const { return PgRow(result_.get(), row, 0, columns()); }
    // The row, or std::out_of_range.
    PgRow at(int row) const;
    // Rows changed by an INSERT, UPDATE or DELETE.
    std::int64_t affected_rows() const;

    class iterator {
      public:
        iterator(const PgResult* result, int row) : result_(result), row_(row) {}
        PgRow operator*() const { return (*result_)[row_]; }
        iterator& operator++() {
            ++row_;
            return *this;
        }
        bool operator!=(const iterator& other) const { return row_ != other.row_; }

      private:
        const PgResult* result_;
        int row_;
    };
    iterator begin() const { return {this, 0}; }
    iterator end() const { return {this, size()}; }

  private:
    std::shared_ptr<PGresult> result_;
};

}  // namespace mg::db
