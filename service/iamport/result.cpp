#include "service/iamport/result.hpp"

namespace mg::iamport {

std::string_view to_string(Outcome outcome) {
    switch (outcome) {
        case Outcome::success:
            return "success";
        case Outcome::declined:
            return "declined";
        case Outcome::not_found:
            return "not_found";
        case Outcome::rejected:
            return "rejected";
        case Outcome::upstream_error:
            return "upstream_error";
        case Outcome::not_sent:
            return "not_sent";
        case Outcome::unknown_outcome:
            return "unknown_outcome";
        case Outcome::breaker_open:
            return "breaker_open";
    }
    return "unknown";
}

}  // namespace mg::iamport
