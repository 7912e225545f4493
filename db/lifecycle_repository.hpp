// What the payment lifecycle keeps besides payments and attempts (migration 0009): amounts
// registered for browser checkouts, payments set aside from their order's reckoning, the tax-free
// part refunded, operators' decisions, and cash receipts.
#pragma once

#include <cstdint>
#include <optional>
#include <pqxx/transaction>
#include <string>
#include <string_view>
#include <vector>

#include "service/domain/order.hpp"

namespace mg::db {

// The amount iamport holds for the order's browser checkouts (payments/prepare).
void set_registered_amount(pqxx::work& txn, std::int64_t order_id, domain::Amount amount);

// Takes the payment out of its order's reckoning (`reason`: duplicate, refunded_by_operator).
void set_payment_aside(pqxx::work& txn, std::string_view imp_uid, std::string_view reason);

// Counts `tax_free` more of the payment's tax-free part as refunded (never beyond all of it).
void add_tax_free_cancelled(pqxx::work& txn, std::string_view imp_uid, domain::Amount tax_free);

// A cancel attempt's tax-free part and the payment's cancel_amount when it was made.
void set_cancel_details(pqxx::work& txn, std::int64_t attempt_id, domain::Amount tax_free,
                        domain::Amount prior_cancel_amount);

// An operator's decision on an order in needs_review: the order moves from `from` to `to` (the
// same status when the decision leaves it in review) and an order_events row with cause
// operator, the deciding API key's name and `details_json` records it. False when the order was
// no longer in `from`.
bool record_decision(pqxx::work& txn, std::int64_t order_id, domain::OrderStatus from,
                     domain::OrderStatus to, std::string_view imp_uid, std::string_view actor,
                     std::string_view details_json);

// Orders whose payments hold a duplicate still to refund (DUPLICATE_PAYMENT_POLICY=refund).
std::vector<std::string> orders_with_duplicates_to_refund(pqxx::work& txn, int limit);

struct CashReceipt {
    std::int64_t id = 0;
    std::int64_t order_id = 0;
    std::optional<std::string> imp_uid;
    std::string state;  // requested, issuing, unknown, issued, cancelled, failed, needs_operator
    std::string type;   // personal, company
    std::optional<std::string> identifier_type;
    std::string identifier_masked;
    std::optional<std::string> identifier_sealed;
    std::optional<domain::Amount> amount;
    std::optional<domain::Amount> tax_free;
    std::optional<std::string> apply_num;
    std::optional<std::string> receipt_url;
    std::optional<std::string> error_message;
    domain::UnixSeconds issued_at = 0;
    domain::UnixSeconds cancelled_at = 0;
    domain::UnixSeconds created_at = 0;
};

// The order's newest receipt, if any.
std::optional<CashReceipt> latest_cash_receipt(pqxx::transaction_base& txn, std::int64_t order_id);
// The order's receipts, oldest first.
std::vector<CashReceipt> list_cash_receipts(pqxx::transaction_base& txn, std::int64_t order_id);
// The order's live receipt (requested, issuing, unknown, issued or needs_operator), if any.
std::optional<CashReceipt> find_live_cash_receipt(pqxx::work& txn, std::int64_t order_id);
// Records a new receipt request in `state` (requested or issuing). Throws db::Conflict
// (constraint "cash_receipts_one_live_per_order") when the order already has a live one.
std::int64_t insert_cash_receipt(pqxx::work& txn, std::int64_t order_id,
                                 const CashReceipt& receipt);
// Writes the receipt's state and what iamport answered; the sealed identifier is erased once the
// state no longer waits (issued, cancelled, failed, needs_operator).
void update_cash_receipt(pqxx::work& txn, const CashReceipt& receipt);
// Orders with receipts to issue (requested, whose payment may be paid by now) or to look up
// (issuing or unknown for longer than `stale_seconds`).
std::vector<std::string> orders_with_open_cash_receipts(pqxx::work& txn, int stale_seconds,
                                                        int limit);

}  // namespace mg::db
