// Cash receipts (현금영수증) for virtual-account sales (SPEC §5): issued at iamport once the
// payment is paid, held until the deposit lands when asked earlier, cancelled on a full refund,
// cancelled and re-issued for what remains on a partial refund when the buyer's identifier is given
// again (else left for an operator). The identifier — a phone or business number — is sent to
// iamport and kept only masked; while a request waits it is also held sealed under
// GATEWAY_SECRET_KEY, erased once iamport has it. It never reaches a log.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "service/payments/calls.hpp"

namespace mg::payments {

// The identifier as kept: every character but the last four masked.
std::string mask_identifier(std::string_view identifier);

// POST /v1/orders/{merchant_uid}/cash-receipt: for an order paid by a virtual account, issues the
// receipt at iamport now (POST /receipts/{imp_uid}); for one still awaiting its deposit, records
// the request, issued by the reconciler once the deposit lands. One live receipt per order
// (conflict cash_receipt_exists). The answer is the order with its receipt; unknown when
// iamport's answer was lost (the reconciler looks the receipt up).
boost::asio::awaitable<Answer> request_cash_receipt(CallDeps& deps, const Call& call,
                                                    ReceiptAsk ask);

// After a refund of the order (cancel_payment, revoke_vbank): a full refund cancels its receipt
// (a request not yet issued is dropped); a partial one cancels it and issues a new one for what
// remains when `reissue_to` names the buyer again, else marks it for an operator.
boost::asio::awaitable<void> follow_refund(CallDeps& deps, const std::string& merchant_uid,
                                           std::optional<ReceiptAsk> reissue_to);

// The reconciler's part: issues the requests whose deposit has landed, and settles issues of
// unknown outcome from iamport's record (GET /receipts/{imp_uid}).
boost::asio::awaitable<void> settle_cash_receipts(CallDeps& deps, std::string merchant_uid);

}  // namespace mg::payments
