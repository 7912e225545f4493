"""The simulated API's routes (method, path pattern, key of sim_rules.RULES), the short endpoint
names tests use for faults and log filters, and what the request log masks."""

import re
import urllib.parse

# Masked in the request log, in bodies and queries. `identifier` is a cash receipt's phone,
# business or card number: personal data, shown nowhere (GET /__sim/receipts keeps its last 4).
SECRET_FIELDS = {"imp_secret", "benepia_password", "access_token", "escrow_password",
                 "pg_api_key", "identifier"}

# (method, regex, endpoint key of the rule table)
ROUTES = [
    ("POST", re.compile(r"^/users/getToken$"), ("POST", "/users/getToken")),
    ("GET", re.compile(r"^/payments/find/(?P<merchant_uid>[^/]+)(?:/(?P<payment_status>[^/]+))?$"),
     ("GET", "/payments/find/{merchant_uid}/{payment_status}")),
    ("GET", re.compile(
        r"^/payments/findAll/(?P<merchant_uid>[^/]+)(?:/(?P<payment_status>[^/]+))?$"),
     ("GET", "/payments/findAll/{merchant_uid}/{payment_status}")),
    ("GET", re.compile(r"^/payments/prepare/(?P<merchant_uid>[^/]+)$"),
     ("GET", "/payments/prepare/{merchant_uid}")),
    ("POST", re.compile(r"^/payments/prepare$"), ("POST", "/payments/prepare")),
    ("PUT", re.compile(r"^/payments/prepare$"), ("PUT", "/payments/prepare")),
    ("GET", re.compile(r"^/payments/(?P<imp_uid>[^/]+)$"), ("GET", "/payments/{imp_uid}")),
    ("POST", re.compile(r"^/payments/cancel$"), ("POST", "/payments/cancel")),
    ("POST", re.compile(r"^/vbanks$"), ("POST", "/vbanks")),
    ("PUT", re.compile(r"^/vbanks/(?P<imp_uid>[^/]+)$"), ("PUT", "/vbanks/{imp_uid}")),
    ("DELETE", re.compile(r"^/vbanks/(?P<imp_uid>[^/]+)$"), ("DELETE", "/vbanks/{imp_uid}")),
    ("POST", re.compile(r"^/benepia/payment$"), ("POST", "/benepia/payment")),
    ("POST", re.compile(r"^/receipts/(?P<imp_uid>[^/]+)$"), ("POST", "/receipts/{imp_uid}")),
    ("GET", re.compile(r"^/receipts/(?P<imp_uid>[^/]+)$"), ("GET", "/receipts/{imp_uid}")),
    ("DELETE", re.compile(r"^/receipts/(?P<imp_uid>[^/]+)$"), ("DELETE", "/receipts/{imp_uid}")),
]


def endpoint_name(endpoint):
    """The short name tests use for faults and log filters, e.g. "POST /vbanks"."""
    method, path = endpoint
    if path.startswith("/payments/find/"):
        return "GET /payments/find/{merchant_uid}"
    if path.startswith("/payments/findAll/"):
        return "GET /payments/findAll/{merchant_uid}"
    return f"{method} {path}"


def mask(value):
    if isinstance(value, dict):
        return {k: ("[masked]" if k in SECRET_FIELDS else mask(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def mask_query(query):
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    if not any(name in SECRET_FIELDS for name, _ in pairs):
        return query
    return urllib.parse.urlencode([(name, "[masked]" if name in SECRET_FIELDS else value)
                                   for name, value in pairs])
