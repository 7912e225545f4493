// Payments as the gateway keeps them: iamport's Payment object reduced to what storefronts,
// dashboards and the state machine need. The whole answer is kept beside it as JSON text.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "service/domain/order.hpp"

namespace mg::domain {

// One entry of a payment's cancel_history.
struct PaymentCancellation {
    std::string pg_tid;
    Amount amount = 0;
    UnixSeconds cancelled_at = 0;
    std::string reason;
    std::optional<std::string> receipt_url;
    std::optional<std::string> cancellation_id;
};

struct Payment {
    std::string imp_uid;
    std::string merchant_uid;
    std::string status;  // iamport's: ready | paid | cancelled | failed
    std::optional<std::string> pay_method;
    std::optional<std::string> pg_provider;
    std::optional<std::string> pg_tid;
    std::optional<std::string> channel;
    std::optional<std::string> currency;
    Amount amount = 0;
    Amount cancel_amount = 0;
    // UNIX seconds; 0 = has not happened (iamport's convention).
    UnixSeconds started_at = 0;
    UnixSeconds paid_at = 0;
    UnixSeconds failed_at = 0;
    UnixSeconds cancelled_at = 0;
    std::optional<std::string> vbank_code;
    std::optional<std::string> vbank_name;
    std::optional<std::string> vbank_num;
    std::optional<std::string> vbank_holder;
    UnixSeconds vbank_date = 0;
    UnixSeconds vbank_issued_at = 0;
    std::optional<std::string> receipt_url;
    std::optional<std::string> fail_reason;
    std::optional<std::string> cancel_reason;
    std::vector<PaymentCancellation> cancel_history;  // oldest first
    // No call of ours started or vouched for it and it moved no money: kept with the order for
    // operators, it changes nothing (SPEC §5).
    bool unsolicited = false;
    // The payment's tax-free part and how much of it our cancels refunded: iamport's record
    // reports neither, so they are the gateway's own (kept when the record is rewritten).
    Amount tax_free = 0;
    Amount tax_free_cancelled = 0;
    // Why the payment no longer counts for its order (a refunded duplicate, a payment refunded
    // by an operator's decision); nullopt while it does.
    std::optional<std::string> set_aside;
    // iamport's whole record as JSON text, unknown fields included, when the payment comes from
    // iamport (stored as payments.raw); empty when it was read back from our own rows.
    std::string raw_json;

    Amount cancellable_balance() const { return amount - cancel_amount; }
    Amount tax_free_balance() const { return tax_free - tax_free_cancelled; }
};

}  // namespace mg::domain
