#include "service/common/exact_json.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/value_stack.hpp>
#include <boost/system/system_error.hpp>
#include <charconv>
#include <string>
#include <unordered_set>
#include <vector>

namespace mg {
namespace {

using boost::json::string_view;
using boost::system::error_code;

// boost::json::parser's handler, but for doubles.
struct ExactHandler {
    static constexpr std::size_t max_object_size = boost::json::object::max_size();
    static constexpr std::size_t max_array_size = boost::json::array::max_size();
    static constexpr std::size_t max_key_size = boost::json::string::max_size();
    static constexpr std::size_t max_string_size = boost::json::string::max_size();

    boost::json::value_stack stack;
    std::string number;  // the text of a number that arrives in parts
    // With duplicate keys refused: the keys of each object being read, innermost last.
    bool refuse_duplicates = false;
    std::vector<std::unordered_set<std::string>> keys;
    std::string key;  // the text of a key that arrives in parts

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }
    bool on_object_begin(error_code&) {
        if (refuse_duplicates) {
            keys.emplace_back();
        }
        return true;
    }
    bool on_object_end(std::size_t n, error_code&) {
        if (refuse_duplicates) {
            keys.pop_back();
        }
        stack.push_object(n);
        return true;
    }
    bool on_array_begin(error_code&) { return true; }
    bool on_array_end(std::size_t n, error_code&) {
        stack.push_array(n);
        return true;
    }
    bool on_key_part(string_view s, std::size_t, error_code&) {
        if (refuse_duplicates) {
            key.append(s.data(), s.size());
        }
        stack.push_chars(s);
        return true;
    }
    bool on_key(string_view s, std::size_t, error_code& ec) {
        if (refuse_duplicates) {
            key.append(s.data(), s.size());
            const bool fresh = keys.back().insert(key).second;
            key.clear();
            if (!fresh) {
                ec = duplicate_key_error();
                return false;
            }
        }
        stack.push_key(s);
        return true;
    }
    bool on_string_part(string_view s, std::size_t, error_code&) {
        stack.push_chars(s);
        return true;
    }
    bool on_string(string_view s, std::size_t, error_code&) {
        stack.push_string(s);
        return true;
    }
    bool on_number_part(string_view s, error_code&) {
        number.append(s.data(), s.size());
        return true;
    }
    bool on_int64(std::int64_t i, string_view, error_code&) {
        number.clear();
        stack.push_int64(i);
        return true;
    }
    bool on_uint64(std::uint64_t u, string_view, error_code&) {
        number.clear();
        stack.push_uint64(u);
        return true;
    }
    bool on_double(double d, string_view s, error_code&) {
        number.append(s.data(), s.size());
        double exact = 0;
        const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), exact);
        // Beyond the range of a double (1e400, 1e-400): keep Boost's infinity or zero.
        stack.push_double(ec == std::errc{} && end == number.data() + number.size() ? exact : d);
        number.clear();
        return true;
    }
    bool on_bool(bool b, error_code&) {
        stack.push_bool(b);
        return true;
    }
    bool on_null(error_code&) {
        stack.push_null();
        return true;
    }
    bool on_comment_part(string_view, error_code&) { return true; }
    bool on_comment(string_view, error_code&) { return true; }
};

}  // namespace

error_code duplicate_key_error() {
    return boost::system::errc::make_error_code(boost::system::errc::file_exists);
}

boost::json::value parse_exact_json(std::string_view text, error_code& ec,
                                    const boost::json::parse_options& options,
                                    DuplicateKeys duplicates) {
    boost::json::basic_parser<ExactHandler> parser(options);
    parser.handler().stack.reset();
    parser.handler().refuse_duplicates = duplicates == DuplicateKeys::refuse;
    const auto used = parser.write_some(false, text.data(), text.size(), ec);
    if (!ec && used < text.size()) {
        ec = boost::json::error::extra_data;
    }
    if (ec) {
        return nullptr;
    }
    return parser.handler().stack.release();
}

boost::json::value parse_exact_json(std::string_view text) {
    error_code ec;
    auto value = parse_exact_json(text, ec);
    if (ec) {
        throw boost::system::system_error(ec);
    }
    return value;
}

}  // namespace mg
