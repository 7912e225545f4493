// What our calls send. Each body holds only parameters iamport's Swagger file allows for that
// endpoint (tests/iamport-sim enforces the same table), and only those that are set.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "service/iamport/models.hpp"

namespace mg::iamport {

// Which PG contract to use: the channel key, or the older `pg` code (e.g. "kcp", "nice.MID1").
struct Channel {
    std::optional<std::string> channel_key;
    std::optional<std::string> pg;
};

struct Buyer {
    std::optional<std::string> name;
    std::optional<std::string> email;
    std::optional<std::string> tel;
    std::optional<std::string> addr;
    std::optional<std::string> postcode;
};

struct VbankRequest {
    std::string merchant_uid;
    Amount amount = 0;
    std::string vbank_code;  // 3-digit KFTC bank code
    UnixSeconds vbank_due = 0;
    std::optional<std::string> vbank_holder;
    std::optional<std::string> name;
    Buyer buyer;
    Channel channel;
    std::vector<std::string> notice_url;
    std::optional<std::string> custom_data;  // JSON text; iamport stores it as a string
    std::optional<Amount> tax_free;          // sent when the order has a tax-free part
};

struct VbankUpdate {
    std::optional<Amount> amount;
    std::optional<UnixSeconds> vbank_due;
};

struct BenepiaRequest {
    std::string benepia_user;
    std::string benepia_password;  // a secret: sent to iamport and nowhere else
    std::string merchant_uid;
    Amount amount = 0;
    std::string name;
    Buyer buyer;
    Channel channel;
    std::vector<std::string> notice_url;
    std::optional<std::string> custom_data;
};

struct CancelRequest {
    std::optional<std::string> imp_uid;  // wins over merchant_uid when both are set
    std::optional<std::string> merchant_uid;
    std::optional<Amount> amount;  // absent: everything that remains
    Amount checksum = 0;           // the cancellable balance we believe remains
    std::optional<std::string> reason;
    std::optional<std::string> refund_holder;  // vbank refunds
    std::optional<std::string> refund_bank;
    std::optional<std::string> refund_account;
    std::optional<std::string> refund_tel;
    std::optional<Amount> tax_free;  // the tax-free part of what is cancelled
    bool enable_webhook = false;
};

// POST /receipts/{imp_uid}: a cash receipt for a paid payment.
struct ReceiptRequest {
    std::string identifier;  // a phone or business number: personal data, never logged
    std::optional<std::string> identifier_type;  // person | business | phone | taxcard
    std::string type = "person";                 // iamport's: person | company
    std::optional<std::string> buyer_name;
    std::optional<std::string> buyer_email;
    std::optional<std::string> buyer_tel;
    std::optional<Amount> tax_free;
};

boost::json::object to_body(const VbankRequest& request);
boost::json::object to_body(const VbankUpdate& update);
boost::json::object to_body(const BenepiaRequest& request);
boost::json::object to_body(const CancelRequest& request);
boost::json::object to_body(const ReceiptRequest& request);

}  // namespace mg::iamport
