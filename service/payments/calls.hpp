// The payment calls a storefront makes (SPEC §4, §5), as use cases: each takes a request already
// parsed, does what the money protocol says, and answers the order as it is afterwards, or
// throws a Failure. Nothing here knows HTTP; service/api parses, authorises, calls one of these
// and renders.
//
// Every call that moves money follows the same three steps, so that no order is charged twice:
//   1. begin: under the order's row lock, check the caller and the order's state, and record a
//      payment attempt. The database allows one open attempt per order, so of many concurrent
//      calls exactly one gets past here; the others are refused (conflict).
//   2. call iamport, outside any transaction.
//   3. finish: under the row lock again, record what iamport said and apply its payment. An
//      answer that proves nothing leaves the attempt `unknown` (accepted); sync and the reconciler
//      settle it. A finish whose commit is in doubt is read back, never guessed.
// If the process dies between 1 and 3, the attempt stays in_flight and is settled the same way.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "service/domain/order.hpp"
#include "service/iamport/requests.hpp"
#include "service/payments/failure.hpp"
#include "service/payments/settlement.hpp"

namespace mg::runtime {
class DbExecutor;
}
namespace mg::crypto {
class SecretKey;
}
namespace mg::iamport {
class Client;
}

namespace mg::payments {

// The cap on declined payment calls (Benepia, vbank issue) per order: after kMaxDeclines within
// kDeclineWindow, 429 too_many_attempts until the oldest of them is older than the window.
inline constexpr int kMaxDeclines = 5;
inline constexpr std::chrono::seconds kDeclineWindow{15 * 60};

struct CallDeps {
    runtime::DbExecutor& db;
    iamport::Client& iamport;
    std::vector<std::string> notice_urls;  // sent with payments that iamport notifies about
    // Seals what must be kept for a while but never in the clear (a cash receipt's identifier
    // until it is issued).
    const crypto::SecretKey* secrets = nullptr;
};

// Who asks, and for which order. `authorize` runs under the order's lock with the order (nullopt
// when there is none) and throws when the caller may not act on it.
// `idempotency_token`: a keyed fingerprint of the request's Idempotency-Key, when it has one. A
// call that may have moved money under that token is never made again under it: a retry after
// the request that made it died answers from what it did (202 while it is unsettled).
struct Call {
    std::string merchant_uid;
    std::string request_id;
    std::function<void(const std::optional<domain::Order>&)> authorize;
    std::optional<std::string> idempotency_token;
    // What the order's events name as the cause of what the call changes.
    domain::EventCause cause = domain::EventCause::api;
};

// The order after the call. `unknown`: iamport's answer proved nothing; the attempt is left
// for settlement (the API's 202).
struct Answer {
    OrderView view;
    bool unknown = false;
};

// POST /v1/orders/{merchant_uid}/benepia-payment: charges Benepia points for the order's amount.
boost::asio::awaitable<Answer> pay_benepia(CallDeps& deps, const Call& call,
                                           iamport::BenepiaRequest request);

// POST /v1/orders/{merchant_uid}/vbank: issues a virtual account for the order's amount.
boost::asio::awaitable<Answer> issue_vbank(CallDeps& deps, const Call& call,
                                           iamport::VbankRequest request);

// PATCH /v1/orders/{merchant_uid}/vbank: changes the amount or due time of the account
// awaiting deposit; the order's amount follows iamport's answer.
boost::asio::awaitable<Answer> update_vbank(CallDeps& deps, const Call& call,
                                            iamport::VbankUpdate update);

// POST /v1/orders/{merchant_uid}/complete: the browser names a payment; iamport's record of it
// is what counts. A payment of another order is judged against this one, never filed under it.
boost::asio::awaitable<Answer> complete_checkout(CallDeps& deps, const Call& call,
                                                 std::string imp_uid);

// POST /v1/orders/{merchant_uid}/cancel: refunds `request.amount` (everything left when absent)
// of the order's paid payment, with the balance we hold as iamport's checksum.
// Whom a cash receipt names (receipts.hpp).
struct ReceiptAsk {
    std::string identifier;                      // digits (hyphens dropped); never logged
    std::optional<std::string> identifier_type;  // phone | business | taxcard | person
    std::string type = "personal";               // personal (income deduction) | company
};

// A cash receipt of the order follows the refund (receipts.hpp, follow_refund): `reissue_to`
// names the buyer for the receipt of what remains after a partial refund.
boost::asio::awaitable<Answer> cancel_payment(CallDeps& deps, const Call& call,
                                              iamport::CancelRequest request,
                                              std::optional<ReceiptAsk> reissue_to);

// The tax-free part a cancel of `cancelled` won of `payment` sends: `asked` when given (refused
// beyond the payment's tax-free balance or the amount cancelled); else, for a full cancel, the
// whole tax-free balance, and for a partial one its share of the amount, rounded down
// (floor(cancelled × tax-free balance / balance)).
domain::Amount tax_free_of_cancel(const domain::Payment& payment, domain::Amount cancelled,
                                  std::optional<domain::Amount> asked);

// An order awaiting its deposit, cancelled: DELETE /vbanks/{imp_uid} closes its account and the
// order is cancelled (expired, when the reconciler closes an account past its due time). When
// iamport refuses because the deposit has landed, the order follows iamport (paid) and the
// Failure (conflict, deposit_arrived) carries the order.
boost::asio::awaitable<Answer> revoke_vbank(CallDeps& deps, const Call& call);

// POST /v1/orders/{merchant_uid}/sync: the order re-read from iamport's records.
boost::asio::awaitable<Answer> sync(CallDeps& deps, const Call& call);

}  // namespace mg::payments
