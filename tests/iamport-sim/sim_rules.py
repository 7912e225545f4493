"""Request validation for the simulated iamport endpoints.

The rule table below is written from iamport's official Swagger file
(/work/shared/iamport/v1.openapi.json, `paths.<path>.<method>.parameters`): for every endpoint
the simulator serves, each allowed parameter with its location, type, whether it is required
and its maxLength. Anything else in a body or query is rejected, so a client that passes its
tests here sends only what the real API documents. test_rules.py checks this table against the
Swagger file.

Documented deviations (LEGACY_FIELDS, ONE_OF_REQUIRED): the Swagger file lists `channel_key`
as required for POST /vbanks and POST /benepia/payment, while iamport's own API pages
(000_..., 002_...) and every official client still send the older `pg` instead; the real API
accepts either. So `pg` is allowed there and "channel_key or pg" is what is required.
"""

from dataclasses import dataclass
import math


@dataclass(frozen=True)
class Param:
    type: str  # string | integer | number | boolean | array
    required: bool = False
    max_length: int | None = None
    location: str = "formData"  # formData (the body) | query | path
    enum: tuple | None = None


def body(type_, required=False, max_length=None, enum=None):
    return Param(type_, required, max_length, "formData", enum)


def query(type_, required=False, enum=None):
    return Param(type_, required, None, "query", enum)


def path(type_="string", required=True):
    return Param(type_, required, None, "path")


_SORTING = ("-started", "started", "-paid", "paid", "-updated", "updated")

# (method, swagger path) -> {parameter name: Param}
RULES = {
    ("POST", "/users/getToken"): {
        "imp_key": body("string", True),
        "imp_secret": body("string", True),
    },
    ("GET", "/payments/{imp_uid}"): {
        "imp_uid": path(),
        "include_sandbox": query("boolean"),
    },
    ("GET", "/payments/find/{merchant_uid}/{payment_status}"): {
        "merchant_uid": path(),
        "payment_status": path(required=False),
        "sorting": query("string", enum=_SORTING),
    },
    ("GET", "/payments/findAll/{merchant_uid}/{payment_status}"): {
        "merchant_uid": path(),
        "payment_status": path(required=False),
        "page": query("integer"),
        "limit": query("integer"),
        "sorting": query("string", enum=_SORTING),
    },
    ("POST", "/vbanks"): {
        "channel_key": body("string", True),
        "merchant_uid": body("string", True, 40),
        "amount": body("number", True),
        "product_type": body("string", enum=("real", "digital")),
        "vbank_num": body("string"),
        "vbank_code": body("string", True),
        "vbank_due": body("integer", True),
        "vbank_holder": body("string", max_length=16),
        "vbank_key": body("string", max_length=13),
        "name": body("string", max_length=40),
        "buyer_name": body("string", max_length=16),
        "buyer_email": body("string", max_length=64),
        "buyer_tel": body("string", max_length=16),
        "business_registration_number": body("string", max_length=10),
        "buyer_addr": body("string", max_length=128),
        "buyer_postcode": body("string", max_length=8),
        "notice_url": body("array"),
        "custom_data": body("string"),
        "tax_free": body("integer"),
        "vat_amount": body("number"),
        "pg_api_key": query("string"),
        "product_count": body("integer"),
        "escrow_password": body("string"),
        "fixed_unlimited_vbank": body("boolean"),
    },
    ("PUT", "/vbanks/{imp_uid}"): {
        "imp_uid": path(),
        "amount": body("integer"),
        "vbank_due": body("integer"),
    },
    ("POST", "/benepia/payment"): {
        "benepia_user": body("string", True),
        "benepia_password": body("string", True),
        "benepia_member_code": body("string"),
        "merchant_uid": body("string", True, 40),
        "amount": body("number", True),
        "name": body("string", True, 40),
        "buyer_name": body("string", max_length=16),
        "buyer_email": body("string", max_length=64),
        "buyer_tel": body("string", max_length=16),
        "buyer_addr": body("string", max_length=128),
        "buyer_postcode": body("string", max_length=8),
        "channel_key": body("string", True),
        "notice_url": body("array"),
        "custom_data": body("string"),
    },
    ("POST", "/payments/cancel"): {
        "imp_uid": body("string"),
        "merchant_uid": body("string"),
        "amount": body("number"),
        "tax_free": body("number"),
        "vat_amount": body("number"),
        "checksum": body("number"),
        "reason": body("string"),
        "refund_holder": body("string"),
        "refund_bank": body("string"),
        "refund_account": body("string"),
        "refund_tel": body("string"),
        "retain_promotion": body("boolean"),
        "enable_webhook": body("boolean"),
        "extra": body("array"),
    },
}

RULES.update({
    ("POST", "/payments/prepare"): {
        "merchant_uid": body("string", True, 40),
        "amount": body("number", True),
        "currency": body("string"),
    },
    ("PUT", "/payments/prepare"): {
        "merchant_uid": body("string", True, 40),
        "amount": body("number", True),
        "currency": body("string"),
    },
    ("GET", "/payments/prepare/{merchant_uid}"): {
        "merchant_uid": path(),
    },
    ("DELETE", "/vbanks/{imp_uid}"): {
        "imp_uid": path(),
        "pg_api_key": query("string"),
    },
    ("POST", "/receipts/{imp_uid}"): {
        "imp_uid": path(),
        "product_type": body("string", enum=("real", "digital")),
        "identifier": body("string", True),
        "identifier_type": body("string", enum=("person", "business", "phone", "taxcard")),
        "type": body("string", enum=("person", "company")),
        "company_tel": body("string"),
        "company_name": body("string"),
        "corp_reg_no": body("string"),
        "buyer_name": body("string"),
        "buyer_email": body("string"),
        "buyer_tel": body("string"),
        "tax_free": body("integer"),
        "vat": body("integer"),  # deprecated in the Swagger file in favour of tax_free
        "vat_amount": body("number"),
    },
    ("GET", "/receipts/{imp_uid}"): {
        "imp_uid": path(),
    },
    ("DELETE", "/receipts/{imp_uid}"): {
        "imp_uid": path(),
    },
})

# Fields the real API accepts beyond the Swagger file (see the module docstring).
LEGACY_FIELDS = {
    ("POST", "/vbanks"): {"pg": body("string")},
    ("POST", "/benepia/payment"): {"pg": body("string")},
}

# Groups of which at least one must be present; their members are then not required alone.
ONE_OF_REQUIRED = {
    ("POST", "/vbanks"): [("channel_key", "pg")],
    ("POST", "/benepia/payment"): [("channel_key", "pg")],
    ("POST", "/payments/cancel"): [("imp_uid", "merchant_uid")],
}


def effective_rules(endpoint):
    rules = dict(RULES[endpoint])
    rules.update(LEGACY_FIELDS.get(endpoint, {}))
    return rules


def _type_ok(kind, value):
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer())
    if kind == "number":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    return False


def coerce_form_value(kind, raw_values):
    """Form bodies carry strings; turn them into what the JSON form would hold."""
    if kind == "array":
        return list(raw_values)
    text = raw_values[-1]
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            number = float(text)
            return int(number) if number.is_integer() else number
        if kind == "boolean":
            if text in ("true", "false"):
                return text == "true"
            return text
    except ValueError:
        return text
    return text


def validate(endpoint, body_fields, query_fields):
    """Returns an error message, or None when the request follows the rules."""
    rules = effective_rules(endpoint)
    one_of = ONE_OF_REQUIRED.get(endpoint, [])
    grouped = {name for group in one_of for name in group}
    for location, fields in (("formData", body_fields), ("query", query_fields)):
        for name, value in fields.items():
            rule = rules.get(name)
            if rule is None or rule.location != location:
                return f"허용되지 않는 파라미터입니다: {name}"
            if value is None:
                continue
            if not _type_ok(rule.type, value):
                return f"{name} 파라미터의 형식({rule.type})이 올바르지 않습니다."
            if rule.type == "array" and not all(isinstance(v, str) for v in value):
                return f"{name} 파라미터의 항목은 문자열이어야 합니다."
            if rule.max_length is not None and len(value) > rule.max_length:
                return f"{name} 파라미터는 최대 {rule.max_length}자입니다."
            if rule.enum is not None and value not in rule.enum:
                return f"{name} 파라미터 값이 올바르지 않습니다."
    for name, rule in rules.items():
        if rule.required and rule.location == "formData" and name not in grouped:
            if body_fields.get(name) is None:
                return f"{name} 파라미터는 필수입니다."
    for group in one_of:
        if all(body_fields.get(name) in (None, "") for name in group):
            return f"{' 또는 '.join(group)} 파라미터 중 하나는 필수입니다."
    return None
