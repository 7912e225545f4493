// The merchant API's JSON request bodies, decoded and validated (SPEC §4). Pure functions of the
// parsed body, run by the route handlers before anything touches the database or iamport; each
// throws HttpError 422 naming the first bad field.
#pragma once

#include <boost/json/object.hpp>
#include <string>

#include "service/common/config.hpp"
#include "service/domain/order.hpp"
#include "service/iamport/requests.hpp"
#include "service/payments/lifecycle.hpp"
#include "service/payments/receipts.hpp"

namespace mg::api {

// POST /v1/orders. A missing merchant_uid is generated; the client secret is always new.
domain::NewOrder decode_new_order(const boost::json::object& body);

// POST /v1/orders/{merchant_uid}/benepia-payment: the buyer's Benepia login and the channel
// (the configured default when the body names none). The order's fields are the caller's.
iamport::BenepiaRequest decode_benepia_payment(const boost::json::object& body,
                                               const Config& config);

// POST /v1/orders/{merchant_uid}/vbank; vbank_due must be later than `now`.
iamport::VbankRequest decode_vbank_issue(const boost::json::object& body, const Config& config,
                                         domain::UnixSeconds now);

// PATCH /v1/orders/{merchant_uid}/vbank; a vbank_due must be later than `now`.
iamport::VbankUpdate decode_vbank_update(const boost::json::object& body, domain::UnixSeconds now);

// POST /v1/orders/{merchant_uid}/complete: the imp_uid the browser's checkout reported.
std::string decode_complete(const boost::json::object& body);

// POST /v1/orders/{merchant_uid}/cancel: amount (absent: all that remains), reason and the
// refund account. imp_uid and checksum are the caller's, from the order's payments.
// `cash_receipt`: whom to re-issue the order's cash receipt to after a partial refund.
struct CancelBody {
    iamport::CancelRequest request;
    std::optional<payments::ReceiptAsk> cash_receipt;
};
CancelBody decode_cancel(const boost::json::object& body);

// POST /v1/orders/{merchant_uid}/cash-receipt, and a cancel's `cash_receipt`: {identifier,
// identifier_type?, type?}. The identifier (a phone, business, card or resident number) is
// digits, hyphens and spaces dropped; it never appears in a message.
payments::ReceiptAsk decode_receipt_ask(const boost::json::object& body);

// POST /v1/orders/{merchant_uid}/review: refund (no amount) or accept (amount restated). The
// actor is the caller's.
payments::Decision decode_review(const boost::json::object& body);

}  // namespace mg::api
