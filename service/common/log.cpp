#include "service/common/log.hpp"

#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <ctime>
#include <mutex>

namespace mg::log {
namespace {

// Separates the message from the pre-rendered fields inside one spdlog payload, so plain
// spdlog calls (no fields) and ours share one formatter. It cannot occur in rendered fields:
// append_json_string escapes every control character.
constexpr char kFieldMark = '\x1e';

// "2026-12-06T18:47:51.123Z". The date and time of day are formatted once a second per thread.
void append_timestamp(std::string& out, spdlog::log_clock::time_point tp) {
    const auto since_epoch = tp.time_since_epoch();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    const auto millis = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count());
    thread_local std::time_t cached_second = -1;
    thread_local std::array<char, 40> cached{};
    thread_local std::size_t cached_size = 0;
    const std::time_t t = static_cast<std::time_t>(seconds.count());
    if (t != cached_second) {
        std::tm tm{};
        gmtime_r(&t, &tm);
        cached_size = std::strftime(cached.data(), cached.size(), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_second = t;
    }
    out.append(cached.data(), cached_size);
    const char ms[] = {'.', static_cast<char>('0' + millis / 100),
                       static_cast<char>('0' + millis / 10 % 10),
                       static_cast<char>('0' + millis % 10), 'Z'};
    out.append(ms, sizeof ms);
}

void append_value(std::string& out, const Field::Value& value, bool quote_strings) {
    std::visit(
        [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string_view>) {
                if (quote_strings) {
                    append_json_string(out, v);
                } else {
                    out += v;
                }
            } else if constexpr (std::is_same_v<T, bool>) {
                out += v ? "true" : "false";
            } else if constexpr (std::is_same_v<T, double>) {
                std::array<char, 32> buffer{};
                const auto r = std::to_chars(buffer.data(), buffer.data() + buffer.size(), v);
                out.append(buffer.data(), r.ptr);
            } else {
                out += std::to_string(v);
            }
        },
        value);
}

class LineFormatter final : public spdlog::formatter {
  public:
    explicit LineFormatter(Format format) : format_(format) {}

    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        const std::string_view payload(msg.payload.data(), msg.payload.size());
        const auto mark = payload.rfind(kFieldMark);
        const std::string_view text = payload.substr(0, mark);
        const std::string_view fields =
            mark == std::string_view::npos ? std::string_view{} : payload.substr(mark + 1);
        std::string line;
        line.reserve(payload.size() + 64);
        const auto level = spdlog::level::to_string_view(msg.level);
        if (format_ == Format::json) {
            line += "{\"ts\":\"";
            append_timestamp(line, msg.time);
            line += "\",\"level\":\"";
            line.append(level.data(), level.size());
            line += "\",\"msg\":";
            append_json_string(line, text);
            line += fields;  // already `,"key":value` pairs
            line += "}\n";
        } else {
            append_timestamp(line, msg.time);
            line += ' ';
            line.append(level.data(), level.size());
            line += ' ';
            line += text;
            line += fields;  // already ` key=value` pairs
            line += '\n';
        }
        dest.append(line.data(), line.data() + line.size());
    }

    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<LineFormatter>(format_);
    }

  private:
    Format format_;
};

Format g_format = Format::json;

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
    out += '"';
    for (const char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    std::array<char, 8> buffer{};
                    std::snprintf(buffer.data(), buffer.size(), "\\u%04x",
                                  static_cast<unsigned>(static_cast<unsigned char>(c)));
                    out += buffer.data();
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

std::unique_ptr<spdlog::formatter> make_formatter(Format format) {
    return std::make_unique<LineFormatter>(format);
}

namespace {

void write_all(std::string_view text) {
    std::size_t written = 0;
    while (written < text.size()) {
        const auto n = ::write(STDERR_FILENO, text.data() + written, text.size() - written);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;  // nowhere to write to: the lines are dropped, the server goes on
        }
        written += static_cast<std::size_t>(n);
    }
}

// The lines a thread that called buffer_this_thread() has not written yet. Only that thread
// touches them: no lock. Whatever is left when the thread ends is written then.
struct ThreadBuffer {
    bool enabled = false;
    std::string lines;
    ~ThreadBuffer() { write_all(lines); }
};
thread_local ThreadBuffer t_buffer;

// Lines to standard error. A buffering thread's lines below `warn` wait in its own buffer until
// 64 KiB are waiting or it calls flush(); every other line is written at once (after what its
// thread has waiting, so a thread's lines keep their order). Each write holds whole lines, so
// threads' lines never interleave within a line.
class ThreadBufferedStderrSink final : public spdlog::sinks::sink {
  public:
    void log(const spdlog::details::log_msg& message) override {
        spdlog::memory_buf_t line;
        formatter_->format(message, line);
        const std::string_view text(line.data(), line.size());
        if (!t_buffer.enabled || message.level >= spdlog::level::warn) {
            if (t_buffer.lines.empty()) {
                write_all(text);
                return;
            }
            t_buffer.lines.append(text);
            flush();
            return;
        }
        t_buffer.lines.append(text);
        if (t_buffer.lines.size() >= kFlushAt) {
            flush();
        }
    }

    void flush() override {
        write_all(t_buffer.lines);
        t_buffer.lines.clear();
    }

    void set_pattern(const std::string&) override {}  // the format is LineFormatter's alone

    void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
        formatter_ = std::move(formatter);  // once, when installed: before any line
    }

  private:
    static constexpr std::size_t kFlushAt = 64 * 1024;
    std::unique_ptr<spdlog::formatter> formatter_ = std::make_unique<LineFormatter>(g_format);
};

void install(std::shared_ptr<spdlog::sinks::sink> sink, spdlog::level::level_enum level,
             spdlog::level::level_enum flush_level) {
    auto logger = std::make_shared<spdlog::logger>("merchant-gateway", std::move(sink));
    logger->set_formatter(std::make_unique<LineFormatter>(g_format));
    logger->set_level(level);
    logger->flush_on(flush_level);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace

void buffer_output() {
    const auto level = spdlog::default_logger()->level();
    spdlog::default_logger()->flush();
    install(std::make_shared<ThreadBufferedStderrSink>(), level, spdlog::level::off);
}

void buffer_this_thread() {
    t_buffer.enabled = true;
}

void flush() {
    write_all(t_buffer.lines);
    t_buffer.lines.clear();
}

void setup(spdlog::level::level_enum level, Format format) {
    g_format = format;
    install(std::make_shared<spdlog::sinks::stderr_sink_mt>(), level, spdlog::level::trace);
}

bool parse_level(std::string_view text, spdlog::level::level_enum& out) {
    static constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 6> kLevels{{
        {"trace", spdlog::level::trace},
        {"debug", spdlog::level::debug},
        {"info", spdlog::level::info},
        {"warn", spdlog::level::warn},
        {"error", spdlog::level::err},
        {"off", spdlog::level::off},
    }};
    for (const auto& [name, level] : kLevels) {
        if (name == text) {
            out = level;
            return true;
        }
    }
    return false;
}

bool parse_format(std::string_view text, Format& out) {
    if (text == "json") {
        out = Format::json;
        return true;
    }
    if (text == "text") {
        out = Format::text;
        return true;
    }
    return false;
}

void write(spdlog::level::level_enum level, std::string_view message, Fields fields) {
    auto* logger = spdlog::default_logger_raw();
    if (!logger->should_log(level)) {
        return;
    }
    // The message is our own text, but no control character of it may reach a line as such:
    // JSON escapes them; the text format writes each as \uXXXX. The field mark always follows
    // the message and the formatter looks for the last one, so a mark inside the message (or
    // anywhere but there) splits nothing.
    std::string payload;
    payload.reserve(message.size() + 16 * fields.size() + 1);
    for (const char c : message) {
        if (g_format == Format::text && (static_cast<unsigned char>(c) < 0x20 || c == '\x7f')) {
            std::array<char, 8> buffer{};
            std::snprintf(buffer.data(), buffer.size(), "\\u%04x",
                          static_cast<unsigned>(static_cast<unsigned char>(c)));
            payload += buffer.data();
        } else {
            payload += c;
        }
    }
    payload += kFieldMark;
    if (fields.size() != 0) {
        for (const auto& field : fields) {
            if (g_format == Format::json) {
                payload += ',';
                append_json_string(payload, field.key);
                payload += ':';
                append_value(payload, field.value, true);
            } else {
                payload += ' ';
                payload += field.key;
                payload += '=';
                // Text quoted and escaped as in JSON, so that no value can forge another field
                // or a line of its own.
                append_value(payload, field.value, true);
            }
        }
    }
    logger->log(level, std::string_view(payload));
}

std::string mask_email(std::string_view email) {
    const auto at = email.find('@');
    if (at == std::string_view::npos || at == 0) {
        return "***";
    }
    std::string out;
    out += email.front();
    out += "***";
    out += email.substr(at);
    return out;
}

std::string mask_tel(std::string_view tel) {
    std::string out(tel);
    int digits_total = 0;
    for (const char c : tel) {
        digits_total += (c >= '0' && c <= '9') ? 1 : 0;
    }
    // Keep the first three and the last four digits, mask the ones between.
    int seen = 0;
    for (char& c : out) {
        if (c >= '0' && c <= '9') {
            ++seen;
            if (seen > 3 && seen <= digits_total - 4) {
                c = '*';
            }
        }
    }
    if (digits_total <= 7) {
        for (char& c : out) {
            if (c >= '0' && c <= '9') {
                c = '*';
            }
        }
    }
    return out;
}

}  // namespace mg::log
