#include "service/iamport/requests.hpp"

#include <boost/json.hpp>

namespace mg::iamport {
namespace json = boost::json;
namespace {

void put(json::object& body, std::string_view name, const std::optional<std::string>& value) {
    if (value) {
        body[name] = *value;
    }
}

void put_buyer(json::object& body, const Buyer& buyer) {
    put(body, "buyer_name", buyer.name);
    put(body, "buyer_email", buyer.email);
    put(body, "buyer_tel", buyer.tel);
    put(body, "buyer_addr", buyer.addr);
    put(body, "buyer_postcode", buyer.postcode);
}

void put_channel(json::object& body, const Channel& channel) {
    // One of the two, never both: channel_key is the current form, pg the older one.
    if (channel.channel_key) {
        body["channel_key"] = *channel.channel_key;
    } else if (channel.pg) {
        body["pg"] = *channel.pg;
    }
}

void put_notice_url(json::object& body, const std::vector<std::string>& urls) {
    // The Swagger file types notice_url as an array; a plain string is the old form.
    if (!urls.empty()) {
        json::array array;
        for (const auto& url : urls) {
            array.emplace_back(url);
        }
        body["notice_url"] = std::move(array);
    }
}

}  // namespace

json::object to_body(const VbankRequest& r) {
    json::object body;
    body["merchant_uid"] = r.merchant_uid;
    body["amount"] = r.amount;
    body["vbank_code"] = r.vbank_code;
    body["vbank_due"] = r.vbank_due;
    put(body, "vbank_holder", r.vbank_holder);
    put(body, "name", r.name);
    put_buyer(body, r.buyer);
    put_channel(body, r.channel);
    put_notice_url(body, r.notice_url);
    put(body, "custom_data", r.custom_data);
    if (r.tax_free) {
        body["tax_free"] = *r.tax_free;
    }
    return body;
}

json::object to_body(const VbankUpdate& u) {
    json::object body;
    if (u.amount) {
        body["amount"] = *u.amount;
    }
    if (u.vbank_due) {
        body["vbank_due"] = *u.vbank_due;
    }
    return body;
}

json::object to_body(const BenepiaRequest& r) {
    json::object body;
    body["benepia_user"] = r.benepia_user;
    body["benepia_password"] = r.benepia_password;
    body["merchant_uid"] = r.merchant_uid;
    body["amount"] = r.amount;
    body["name"] = r.name;
    put_buyer(body, r.buyer);
    put_channel(body, r.channel);
    put_notice_url(body, r.notice_url);
    put(body, "custom_data", r.custom_data);
    return body;
}

json::object to_body(const CancelRequest& r) {
    json::object body;
    put(body, "imp_uid", r.imp_uid);
    put(body, "merchant_uid", r.merchant_uid);
    if (r.amount) {
        body["amount"] = *r.amount;
    }
    body["checksum"] = r.checksum;
    put(body, "reason", r.reason);
    put(body, "refund_holder", r.refund_holder);
    put(body, "refund_bank", r.refund_bank);
    put(body, "refund_account", r.refund_account);
    put(body, "refund_tel", r.refund_tel);
    if (r.tax_free) {
        body["tax_free"] = *r.tax_free;
    }
    if (r.enable_webhook) {
        body["enable_webhook"] = true;
    }
    return body;
}

json::object to_body(const ReceiptRequest& r) {
    json::object body;
    body["identifier"] = r.identifier;
    put(body, "identifier_type", r.identifier_type);
    body["type"] = r.type;
    put(body, "buyer_name", r.buyer_name);
    put(body, "buyer_email", r.buyer_email);
    put(body, "buyer_tel", r.buyer_tel);
    if (r.tax_free) {
        body["tax_free"] = *r.tax_free;
    }
    return body;
}

}  // namespace mg::iamport
