// Structured logging over spdlog. One line per event: JSON by default (LOG_FORMAT=json), or
// `time level message key=value …` for humans (LOG_FORMAT=text).
//
//   mg::log::info("order created", {{"merchant_uid", uid}, {"amount", amount}});
//
// Secrets are never passed here; contact data goes through the mask_* helpers first.
#pragma once

#include <spdlog/common.h>
#include <spdlog/formatter.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

namespace mg::log {

enum class Format { json, text };

struct Field {
    using Value = std::variant<std::string_view, std::int64_t, double, bool>;
    std::string_view key;
    Value value;

    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
    Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
    Field(std::string_view k, std::int64_t v) : key(k), value(v) {}
    Field(std::string_view k, int v) : key(k), value(static_cast<std::int64_t>(v)) {}
    Field(std::string_view k, unsigned v) : key(k), value(static_cast<std::int64_t>(v)) {}
    Field(std::string_view k, std::size_t v) : key(k), value(static_cast<std::int64_t>(v)) {}
    Field(std::string_view k, double v) : key(k), value(v) {}
    Field(std::string_view k, bool v) : key(k), value(v) {}
};

using Fields = std::initializer_list<Field>;

// Installs the process-wide logger writing to stderr. Plain `spdlog::info("…")` calls from
// anywhere end up in the same format.
void setup(spdlog::level::level_enum level, Format format);
// Lets threads buffer their lines: a thread that then calls buffer_this_thread() keeps its
// lines below `warn` (the access log) in a buffer of its own, without a lock, and writes them
// all in one system call when 64 KiB are waiting or it calls flush(); a warning or worse is
// written at once, after what the thread had waiting. Other threads write each line at once.
// The server's event loops buffer and flush on a timer, when idle, and when they stop; the
// command-line tools write each line at once.
void buffer_output();
void buffer_this_thread();
// Writes out what the calling thread has buffered.
void flush();
// The line formatter setup() installs; for extra sinks (tests capturing the log).
std::unique_ptr<spdlog::formatter> make_formatter(Format format);

// Parses LOG_LEVEL / LOG_FORMAT values; nullopt-like false on an unknown name.
bool parse_level(std::string_view text, spdlog::level::level_enum& out);
bool parse_format(std::string_view text, Format& out);

void write(spdlog::level::level_enum level, std::string_view message, Fields fields = {});
inline void debug(std::string_view m, Fields f = {}) {
    write(spdlog::level::debug, m, f);
}
inline void info(std::string_view m, Fields f = {}) {
    write(spdlog::level::info, m, f);
}
inline void warn(std::string_view m, Fields f = {}) {
    write(spdlog::level::warn, m, f);
}
inline void error(std::string_view m, Fields f = {}) {
    write(spdlog::level::err, m, f);
}

// "kim@example.com" -> "k***@example.com"
std::string mask_email(std::string_view email);
// "010-1234-5678" -> "010-****-5678": keeps the first 3 and the last 4 digits' positions.
std::string mask_tel(std::string_view tel);
// Any secret: only its length class survives.
inline constexpr std::string_view kRedacted = "[redacted]";

// JSON string escaping used by the formatter (exposed for tests).
void append_json_string(std::string& out, std::string_view text);

}  // namespace mg::log
