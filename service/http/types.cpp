#include "service/http/types.hpp"

#include <boost/json/serialize.hpp>

namespace mg::http {

const std::string& RequestContext::param(std::string_view name) const {
    static const std::string kEmpty;
    for (const auto& [key, value] : params) {
        if (key == name) {
            return value;
        }
    }
    return kEmpty;
}

std::string_view RequestContext::header(std::string_view name) const {
    const auto it = request.find(name);
    if (it == request.end()) {
        return {};
    }
    return it->value();
}

Response json_response(Status status, const boost::json::value& body, unsigned version) {
    Response response{status, version};
    response.set(beast_http::field::content_type, "application/json");
    response.body() = boost::json::serialize(body);
    response.prepare_payload();
    return response;
}

}  // namespace mg::http
