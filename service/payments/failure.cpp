#include "service/payments/failure.hpp"

#include "service/common/log.hpp"

namespace mg::payments {

Failure iamport_failure(const iamport::Error& error, bool payment_call) {
    using iamport::Outcome;
    using Kind = Failure::Kind;
    switch (error.outcome) {
        case Outcome::declined:
            if (!payment_call) {
                break;
            }
            return Failure(Kind::declined, "payment_failed",
                           error.message.empty() ? "iamport declined the payment" : error.message);
        case Outcome::breaker_open: {
            Failure failure(Kind::iamport_paused, "iamport_unavailable",
                            "iamport is failing; calls are paused for a few seconds");
            failure.retry_after = std::chrono::seconds(10);
            return failure;
        }
        case Outcome::not_sent:
        case Outcome::upstream_error: {
            // Not sent, or a read (or the access token) that never got its answer: nothing
            // moved at iamport. A write whose answer was lost is unknown_outcome, never this.
            if (error.timed_out) {
                return Failure(Kind::iamport_timeout, "iamport_timeout",
                               "iamport did not answer in time; nothing was charged, retry later");
            }
            if (error.outcome == Outcome::not_sent) {
                return Failure(Kind::iamport_unreachable, "iamport_unreachable",
                               "iamport could not be reached; nothing was sent");
            }
            break;
        }
        case Outcome::not_found:
        case Outcome::rejected:
        case Outcome::unknown_outcome:
        case Outcome::success:
            break;
    }
    // iamport's own text (about tokens, hosts, its internals) is for the log, never a caller.
    log::warn("iamport failed to answer properly", {{"outcome", iamport::to_string(error.outcome)},
                                                    {"http_status", error.http_status},
                                                    {"error", error.message}});
    return Failure(Kind::iamport_error, "iamport_error",
                   "iamport failed to answer properly; see the service's log");
}

}  // namespace mg::payments
