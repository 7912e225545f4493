// iamport's answers about a payment's surroundings: the amount registered for a browser
// checkout (payments/prepare) and cash receipts (receipts/{imp_uid}). Decoded as strictly as
// payments: an amount is an exact integer.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>

#include "service/iamport/models.hpp"

namespace mg::iamport {

// PaymentPrepareAnnotation.
struct Prepared {
    std::string merchant_uid;
    Amount amount = 0;
};

// ReceiptAnnotation.
struct Receipt {
    std::string imp_uid;
    std::optional<std::string> receipt_tid;
    std::optional<std::string> apply_num;
    std::optional<std::string> type;
    Amount amount = 0;
    Amount vat = 0;
    std::optional<std::string> receipt_url;
    UnixSeconds applied_at = 0;
    UnixSeconds cancelled_at = 0;
};

Prepared tag_invoke(boost::json::value_to_tag<Prepared>, const boost::json::value& value);
Receipt tag_invoke(boost::json::value_to_tag<Receipt>, const boost::json::value& value);

}  // namespace mg::iamport
