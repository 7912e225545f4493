#include "service/api/request_bodies.hpp"

#include "service/api/json_body.hpp"
#include "service/common/crypto.hpp"
#include "service/domain/validation.hpp"
#include "service/http/error.hpp"

namespace mg::api {

using http::Status;

namespace {

constexpr std::size_t kMaxBenepiaField = 100;
constexpr std::size_t kMaxChannel = 100;
constexpr std::size_t kMaxImpUid = 64;
constexpr std::size_t kMaxReason = 200;
constexpr std::size_t kMaxRefundAccount = 32;

// 192 bits: the secret is the only thing standing between a buyer's browser and the order.
std::string new_client_secret() {
    return "cs_" + crypto::random_token(24);
}
std::string new_merchant_uid() {
    return "ord_" + crypto::random_token(16);
}

void check(const std::optional<domain::ValidationError>& error) {
    if (error) {
        throw http::HttpError(Status::unprocessable_entity, error->code, error->message,
                              error->field);
    }
}

void check_future(std::string_view field, domain::UnixSeconds value, domain::UnixSeconds now) {
    if (value <= now) {
        throw http::validation_failed(std::string(field),
                                      std::string(field) + " must be a UNIX time in the future");
    }
}

// The PG channel: the request's channel_key or pg, else the configured default.
iamport::Channel read_channel(FieldReader& fields, const Config& config) {
    iamport::Channel channel;
    channel.channel_key = fields.optional_string("channel_key");
    channel.pg = fields.optional_string("pg");
    if (channel.channel_key && channel.pg) {
        throw http::validation_failed("channel_key", "send channel_key or pg, not both");
    }
    if (channel.channel_key) {
        check(domain::check_text("channel_key", *channel.channel_key, 1, kMaxChannel));
        return channel;
    }
    if (channel.pg) {
        check(domain::check_text("pg", *channel.pg, 1, kMaxChannel));
        return channel;
    }
    if (config.iamport_channel_key) {
        channel.channel_key = config.iamport_channel_key;
    } else if (config.iamport_pg) {
        channel.pg = config.iamport_pg;
    } else {
        throw http::validation_failed(
            "channel_key", "no payment channel: send channel_key or pg (no default is configured)");
    }
    return channel;
}

// The account a virtual-account payment is refunded to, where given.
void check_refund_account(const std::optional<std::string>& holder,
                          const std::optional<std::string>& bank,
                          const std::optional<std::string>& account,
                          const std::optional<std::string>& tel) {
    if (holder) {
        check(domain::check_text("refund_holder", *holder, 1, domain::kMaxVbankHolder));
    }
    if (bank) {
        check(domain::check_bank_code("refund_bank", *bank));
    }
    if (account) {
        check(domain::check_text("refund_account", *account, 1, kMaxRefundAccount));
    }
    if (tel) {
        check(domain::check_text("refund_tel", *tel, 1, domain::kMaxBuyerTel));
    }
}

}  // namespace

domain::NewOrder decode_new_order(const boost::json::object& body) {
    FieldReader fields(body);
    domain::NewOrder order;
    auto merchant_uid = fields.optional_string("merchant_uid");
    order.merchant_uid = merchant_uid ? std::move(*merchant_uid) : new_merchant_uid();
    order.name = fields.required_string("name");
    order.amount = fields.required_integer("amount");
    order.tax_free = fields.optional_integer("tax_free").value_or(0);
    order.currency = fields.optional_string("currency").value_or("KRW");
    order.buyer.name = fields.optional_string("buyer_name");
    order.buyer.email = fields.optional_string("buyer_email");
    order.buyer.tel = fields.optional_string("buyer_tel");
    order.buyer.addr = fields.optional_string("buyer_addr");
    order.buyer.postcode = fields.optional_string("buyer_postcode");
    order.custom_data_json = fields.optional_json("custom_data");
    fields.reject_unknown();
    check(domain::validate_new_order(order));
    order.client_secret = new_client_secret();
    return order;
}

iamport::BenepiaRequest decode_benepia_payment(const boost::json::object& body,
                                               const Config& config) {
    FieldReader fields(body);
    iamport::BenepiaRequest request;
    request.benepia_user = fields.required_string("benepia_user");
    request.benepia_password = fields.required_string("benepia_password");
    request.channel = read_channel(fields, config);
    fields.reject_unknown();
    check(domain::check_text("benepia_user", request.benepia_user, 1, kMaxBenepiaField));
    // The password's value never appears in a message: only its field is named.
    check(domain::check_text("benepia_password", request.benepia_password, 1, kMaxBenepiaField));
    return request;
}

iamport::VbankRequest decode_vbank_issue(const boost::json::object& body, const Config& config,
                                         domain::UnixSeconds now) {
    FieldReader fields(body);
    iamport::VbankRequest request;
    request.vbank_code = fields.required_string("vbank_code");
    request.vbank_due = fields.required_integer("vbank_due");
    request.vbank_holder = fields.optional_string("vbank_holder");
    request.channel = read_channel(fields, config);
    fields.reject_unknown();
    check(domain::check_bank_code("vbank_code", request.vbank_code));
    check_future("vbank_due", request.vbank_due, now);
    if (request.vbank_holder) {
        check(
            domain::check_text("vbank_holder", *request.vbank_holder, 1, domain::kMaxVbankHolder));
    }
    return request;
}

iamport::VbankUpdate decode_vbank_update(const boost::json::object& body, domain::UnixSeconds now) {
    FieldReader fields(body);
    iamport::VbankUpdate update;
    update.amount = fields.optional_integer("amount");
    update.vbank_due = fields.optional_integer("vbank_due");
    fields.reject_unknown();
    if (!update.amount && !update.vbank_due) {
        throw http::validation_failed("amount", "send amount, vbank_due or both");
    }
    if (update.amount) {
        check(domain::check_amount("amount", *update.amount));
    }
    if (update.vbank_due) {
        check_future("vbank_due", *update.vbank_due, now);
    }
    return update;
}

std::string decode_complete(const boost::json::object& body) {
    FieldReader fields(body);
    auto imp_uid = fields.required_string("imp_uid");
    fields.reject_unknown();
    check(domain::check_text("imp_uid", imp_uid, 1, kMaxImpUid));
    return imp_uid;
}

payments::ReceiptAsk decode_receipt_ask(const boost::json::object& body) {
    FieldReader fields(body);
    payments::ReceiptAsk ask;
    const auto identifier = fields.required_string("identifier");
    ask.identifier_type = fields.optional_string("identifier_type");
    ask.type = fields.optional_string("type").value_or("personal");
    fields.reject_unknown();
    for (const char c : identifier) {
        if (c >= '0' && c <= '9') {
            ask.identifier.push_back(c);
        } else if (c != '-' && c != ' ') {
            throw http::validation_failed("identifier",
                                          "identifier must be digits (hyphens and spaces allowed)");
        }
    }
    // A phone (10–11 digits), business (10), resident (13) or cash receipt card (13–19) number.
    if (ask.identifier.size() < 10 || ask.identifier.size() > 19) {
        throw http::validation_failed("identifier", "identifier must have 10 to 19 digits");
    }
    if (ask.identifier_type && *ask.identifier_type != "phone" &&
        *ask.identifier_type != "business" && *ask.identifier_type != "taxcard" &&
        *ask.identifier_type != "person") {
        throw http::validation_failed("identifier_type",
                                      "identifier_type must be phone, business, taxcard or person");
    }
    if (ask.type != "personal" && ask.type != "company") {
        throw http::validation_failed("type", "type must be personal or company");
    }
    return ask;
}

CancelBody decode_cancel(const boost::json::object& body) {
    FieldReader fields(body);
    CancelBody decoded;
    auto& request = decoded.request;
    if (const auto* receipt = fields.optional_object("cash_receipt")) {
        decoded.cash_receipt = decode_receipt_ask(*receipt);
    }
    request.amount = fields.optional_integer("amount");
    request.reason = fields.required_string("reason");
    request.refund_holder = fields.optional_string("refund_holder");
    request.refund_bank = fields.optional_string("refund_bank");
    request.refund_account = fields.optional_string("refund_account");
    request.refund_tel = fields.optional_string("refund_tel");
    request.tax_free = fields.optional_integer("tax_free");
    fields.reject_unknown();
    if (request.amount) {
        check(domain::check_amount("amount", *request.amount));
    }
    if (request.tax_free && (*request.tax_free < 0 || *request.tax_free > domain::kMaxAmount)) {
        throw http::validation_failed("tax_free", "tax_free must be a whole number of won, >= 0");
    }
    check(domain::check_text("reason", *request.reason, 1, kMaxReason));
    check_refund_account(request.refund_holder, request.refund_bank, request.refund_account,
                         request.refund_tel);
    return decoded;
}

payments::Decision decode_review(const boost::json::object& body) {
    FieldReader fields(body);
    payments::Decision decision;
    const auto action = fields.required_string("action");
    decision.imp_uid = fields.required_string("imp_uid");
    decision.reason = fields.required_string("reason");
    decision.amount = fields.optional_integer("amount");
    decision.refund_holder = fields.optional_string("refund_holder");
    decision.refund_bank = fields.optional_string("refund_bank");
    decision.refund_account = fields.optional_string("refund_account");
    decision.refund_tel = fields.optional_string("refund_tel");
    fields.reject_unknown();
    if (action == "refund") {
        decision.action = payments::Decision::Action::refund;
        if (decision.amount) {
            throw http::validation_failed("amount",
                                          "a refund decision refunds the whole payment: no amount");
        }
    } else if (action == "accept") {
        decision.action = payments::Decision::Action::accept;
        if (!decision.amount) {
            throw http::validation_failed(
                "amount", "accept restates the payment's amount at iamport: amount is required");
        }
        check(domain::check_amount("amount", *decision.amount));
    } else {
        throw http::validation_failed("action", "action must be refund or accept");
    }
    check(domain::check_text("imp_uid", decision.imp_uid, 1, kMaxImpUid));
    check(domain::check_text("reason", decision.reason, 1, kMaxReason));
    check_refund_account(decision.refund_holder, decision.refund_bank, decision.refund_account,
                         decision.refund_tel);
    return decision;
}

}  // namespace mg::api
