// The three steps every call that moves money takes (calls.hpp explains them), shared by the
// use cases of calls.cpp, lifecycle.cpp and receipts.cpp. Internal to service/payments.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "db/payments_repository.hpp"
#include "service/payments/calls.hpp"

namespace mg::payments {

iamport::Buyer buyer_of(const domain::Order& order);
std::string status_text(const domain::Order& order);

// What step 1 found, for step 2 to use.
struct Begun {
    domain::Order order;
    std::vector<domain::Payment> payments;
    std::int64_t attempt_id = 0;
    // A call made earlier under the same Idempotency-Key that may have moved money: nothing is
    // sent again, the answer is what it did.
    std::optional<db::Attempt> earlier;
};

// What the call may do, decided under the row lock (or thrown as its refusal): the attempt's
// amount and imp_uid, recorded with it.
struct AttemptPlan {
    std::optional<domain::Amount> amount;
    std::optional<std::string> imp_uid;
    // cancel: the tax-free part it sends and the payment's cancel_amount now.
    std::optional<domain::Amount> tax_free;
    std::optional<domain::Amount> prior_cancel_amount;
};
using Admission =
    std::function<AttemptPlan(const domain::Order&, const std::vector<domain::Payment>&)>;

// Step 1: under the order's row lock, checks the caller, the decline budget (for payments) and
// `admit`, and records an in_flight attempt; or finds the earlier attempt of the same
// Idempotency-Key. Throws the refusal.
boost::asio::awaitable<Begun> begin_attempt(CallDeps& deps, const Call& call, db::AttemptKind kind,
                                            const Admission& admit);

// The answer for a retry of a call already made under the same key: the order as it is now,
// unknown (202) while that call is unsettled.
Answer answer_from_earlier(const Begun& begun);

// Run in step 3 before iamport's payment is applied (a vbank amount change).
using BeforeApply = std::function<void(pqxx::work&, domain::Order&)>;

// Run in step 3 once this call's success closed its attempt (exactly once, even when the step
// is re-run after a commit in doubt).
using AfterSuccess = std::function<void(pqxx::work&, domain::Order&)>;

// Step 3. Answers the order (unknown when iamport's answer proved nothing); throws the Failure
// of a refused call after recording it.
boost::asio::awaitable<Answer> finish_attempt(CallDeps& deps, const Call& call, const Begun& begun,
                                              const iamport::Result<iamport::Payment>& result,
                                              const BeforeApply& before_apply = {},
                                              const AfterSuccess& after_success = {});

// Records a refused call, then takes iamport's current word on the order: a refusal often means
// iamport's record moved on (a deposit, a refund in its console).
boost::asio::awaitable<void> finish_refused_and_sync(
    CallDeps& deps, const Call& call, const Begun& begun,
    const iamport::Result<iamport::Payment>& result);

// Admissions: a pending order may be paid.
AttemptPlan require_payable(const domain::Order& order, const std::vector<domain::Payment>&);

// A virtual-account payment is refunded by bank transfer: the account must be named (a Failure
// naming the missing field otherwise).
void require_refund_account(const domain::Payment& payment,
                            const std::optional<std::string>& holder,
                            const std::optional<std::string>& bank,
                            const std::optional<std::string>& account);

// The order's virtual account still awaiting deposit.
const domain::Payment* open_vbank(const std::vector<domain::Payment>& payments);

}  // namespace mg::payments
