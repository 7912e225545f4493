// iamport's answers as typed values. Decoding is tolerant where iamport is loose (null or
// missing optional fields, new fields, timestamps sent as numbers or numeric strings) and strict
// where money is concerned: an amount must be an exact integer, never a fraction.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "service/domain/order.hpp"
#include "service/domain/payment.hpp"

namespace mg::iamport {

using domain::Amount;
using domain::UnixSeconds;

// A field of an answer that cannot be read; names the field.
class DecodeError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct AccessToken {
    std::string access_token;
    UnixSeconds expired_at = 0;  // iamport's clock
    UnixSeconds now = 0;         // iamport's clock when it answered
};

// One entry of Payment.cancel_history (PaymentCancelAnnotation).
struct CancelHistoryEntry {
    std::string pg_tid;
    Amount amount = 0;
    UnixSeconds cancelled_at = 0;
    std::string reason;
    std::string receipt_url;
    std::optional<std::string> cancellation_id;  // sent with newer answers and cancel webhooks
};

// The Payment object (PaymentAnnotation) of GET /payments/{imp_uid}. Times are UNIX seconds,
// 0 meaning "not happened"; absent or null strings are nullopt.
struct Payment {
    std::string imp_uid;
    std::string merchant_uid;
    std::optional<std::string> pay_method;
    std::optional<std::string> channel;
    std::optional<std::string> pg_provider;
    std::optional<std::string> emb_pg_provider;
    std::optional<std::string> pg_tid;
    std::optional<std::string> pg_id;
    bool escrow = false;
    std::optional<std::string> apply_num;
    std::optional<std::string> bank_code;
    std::optional<std::string> bank_name;
    std::optional<std::string> card_code;
    std::optional<std::string> card_name;
    std::int64_t card_quota = 0;
    std::optional<std::string> card_number;
    std::optional<std::string> card_type;
    std::optional<std::string> vbank_code;
    std::optional<std::string> vbank_name;
    std::optional<std::string> vbank_num;
    std::optional<std::string> vbank_holder;
    UnixSeconds vbank_date = 0;
    UnixSeconds vbank_issued_at = 0;
    std::optional<std::string> name;
    Amount amount = 0;
    Amount cancel_amount = 0;
    std::optional<std::string> currency;
    std::optional<std::string> buyer_name;
    std::optional<std::string> buyer_email;
    std::optional<std::string> buyer_tel;
    std::optional<std::string> buyer_addr;
    std::optional<std::string> buyer_postcode;
    // iamport echoes custom_data as a JSON string; an object is kept as its serialization.
    std::optional<std::string> custom_data;
    std::optional<std::string> user_agent;
    std::string status;  // ready | paid | cancelled | failed
    UnixSeconds started_at = 0;
    UnixSeconds paid_at = 0;
    UnixSeconds failed_at = 0;
    UnixSeconds cancelled_at = 0;
    std::optional<std::string> fail_reason;
    std::optional<std::string> cancel_reason;
    std::optional<std::string> receipt_url;
    std::vector<CancelHistoryEntry> cancel_history;
    std::vector<std::string> cancel_receipt_urls;
    bool cash_receipt_issued = false;
    std::optional<std::string> customer_uid;
    std::optional<std::string> customer_uid_usage;

    // The whole object as received, unknown fields included (stored as jsonb by the caller);
    // a number beyond the range of a double, which JSON cannot hold once read, becomes null.
    boost::json::object raw;

    // What can still be cancelled: the checksum POST /payments/cancel expects.
    Amount cancellable_balance() const { return amount - cancel_amount; }
};

// The record as the rest of the service knows a payment: converted once, where iamport's answer
// enters the payments layer; `raw` travels along as raw_json.
domain::Payment to_domain(const Payment& payment);

// An amount: an integer, or a JSON double that is exactly an integer. Throws DecodeError.
Amount decode_amount(const boost::json::value& value, std::string_view field);

// Boost.JSON conversions. value_to throws DecodeError naming the bad field.
AccessToken tag_invoke(boost::json::value_to_tag<AccessToken>, const boost::json::value& value);
CancelHistoryEntry tag_invoke(boost::json::value_to_tag<CancelHistoryEntry>,
                              const boost::json::value& value);
Payment tag_invoke(boost::json::value_to_tag<Payment>, const boost::json::value& value);
void tag_invoke(boost::json::value_from_tag, boost::json::value& out,
                const CancelHistoryEntry& entry);
void tag_invoke(boost::json::value_from_tag, boost::json::value& out, const Payment& payment);

}  // namespace mg::iamport
