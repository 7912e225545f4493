"""The browser side of iamport: a stand-in for its JS SDK and a test payment window.

    GET  /js/iamport.payment.js (and /js/iamport.payment-1.2.0.js)   web/sdk.js: window.IMP
    GET  /checkout?session=&parent_origin=&imp=&params=              web/checkout.html
    POST /checkout/open {params}          may the window open? (prepared amount, paid order)
    POST /checkout/pay  {action, params}  approve | decline | close | issue_vbank

The SDK shows the window in an in-page overlay (an iframe served from here), which talks back
to the storefront with postMessage. The window's buttons make payments through the same code as
POST /__sim/payments. No token is needed, as with iamport's own SDK; nothing is logged.
"""

import datetime
import json
import os
import urllib.parse

WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
SDK_PATHS = ("/js/iamport.payment.js", "/js/iamport.payment-1.2.0.js")
KST = datetime.timezone(datetime.timedelta(hours=9))

# PaymentAnnotation.pay_method in the Swagger file.
PAY_METHODS = ("samsung", "card", "trans", "vbank", "phone", "cultureland", "smartculture",
               "booknlife", "point", "ssgpay", "lpay", "payco", "kakaopay", "tosspay",
               "naverpay", "applepay", "paypal")
BUYER_FIELDS = ("name", "buyer_name", "buyer_email", "buyer_tel", "buyer_addr",
                "buyer_postcode")

# The callback's error_code values. iamport publishes no list (its SDK passes on what the PG
# says), so these are the simulator's own; the messages follow iamport's wording.
E_PARAMS, E_DECLINED, E_CLOSED, E_PREPARED, E_PAID = ("F1000", "F1001", "F1002", "F1003",
                                                      "F1004")
MSG_CLOSED = "사용자가 결제를 취소하셨습니다"
MSG_DECLINED = "카드사 승인이 거절되었습니다. (한도초과 또는 잔액부족)"
MSG_PAID = "이미 결제가 완료된 merchant_uid 입니다."


def serves(method, path):
    return ((method == "GET" and (path in SDK_PATHS or path == "/checkout"))
            or (method == "POST" and path in ("/checkout/open", "/checkout/pay")))


def send(handler, status, content_type, data, headers=()):
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.send_header("Cache-Control", "no-store")
    handler.send_header("X-Content-Type-Options", "nosniff")
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def read_web_file(name):
    with open(os.path.join(WEB, name), "rb") as handle:
        return handle.read()


def serve(handler, method, url, raw):
    if method == "GET" and url.path in SDK_PATHS:
        scheme = "https" if handler.server.tls_context is not None else "http"
        origin = f"{scheme}://{handler.headers.get('Host') or 'localhost'}"
        script = read_web_file("sdk.js").replace(b"__SIM_ORIGIN__",
                                                  json.dumps(origin).encode()[1:-1])
        # Loaded by a <script> tag of the storefront's page, from another origin.
        send(handler, 200, "application/javascript; charset=utf-8", script,
             [("Access-Control-Allow-Origin", "*"),
              ("Cross-Origin-Resource-Policy", "cross-origin")])
        return
    if method == "GET":
        send(handler, 200, "text/html; charset=utf-8", read_web_file("checkout.html"))
        return
    try:
        request = json.loads(raw or b"{}")
        if not isinstance(request, dict) or not isinstance(request.get("params"), dict):
            raise ValueError("the body must be {params: {...}}")
    except ValueError as error:
        handler._send_json(400, {"error": str(error)})
        return
    if url.path == "/checkout/open":
        handler._send_json(200, open_window(handler.sim, request["params"]))
    else:
        handler._send_json(200, pay(handler.sim, request.get("action"), request["params"]))


# --- what the window does -------------------------------------------------------------------

def normalize(params):
    """The IMP.request_pay parameters as a checkout spec for State.create_checkout_payment, plus
    `m_redirect_url`; ValueError naming what is wrong."""
    merchant_uid = params.get("merchant_uid")
    if not isinstance(merchant_uid, str) or not 1 <= len(merchant_uid) <= 40:
        raise ValueError("merchant_uid 는 1~40자의 문자열이어야 합니다.")
    amount = whole(params.get("amount"))
    if amount is None or amount <= 0:
        raise ValueError("amount 는 양의 정수여야 합니다.")
    tax_free = whole(params.get("tax_free", 0) or 0)
    if tax_free is None or not 0 <= tax_free <= amount:
        raise ValueError("tax_free 는 0 이상 amount 이하의 정수여야 합니다.")
    pay_method = params.get("pay_method") or "card"
    if pay_method not in PAY_METHODS:
        raise ValueError(f"지원하지 않는 pay_method 입니다: {pay_method}")
    pg = params.get("pg")
    notice_url = params.get("notice_url") or []
    notice_url = [notice_url] if isinstance(notice_url, str) else notice_url
    if not isinstance(notice_url, list) or not all(isinstance(u, str) for u in notice_url):
        raise ValueError("notice_url 은 URL 문자열이거나 그 배열이어야 합니다.")
    spec = {"merchant_uid": merchant_uid, "amount": amount, "tax_free": tax_free,
            "currency": str(params.get("currency") or "KRW"), "pay_method": pay_method,
            "pg_provider": pg.split(".")[0] if isinstance(pg, str) and pg else "html5_inicis",
            "channel": "pc", "notice_url": notice_url, "custom_data": params.get("custom_data")}
    for name in BUYER_FIELDS:
        if params.get(name) is not None:
            spec[name] = str(params[name])
    if params.get("vbank_due") is not None:
        spec["vbank_due"] = vbank_due(params["vbank_due"])
    if isinstance(params.get("vbank_holder"), str) and params["vbank_holder"]:
        spec["vbank_holder"] = params["vbank_holder"]
    redirect = params.get("m_redirect_url")
    return spec, redirect if isinstance(redirect, str) and redirect else None


def whole(value):
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    return value


def vbank_due(value):
    """The SDK's vbank_due, 'YYYYMMDD' (the end of that day) or 'YYYYMMDDhhmm', Korean time; a
    UNIX time is taken as it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    formats = {8: "%Y%m%d", 12: "%Y%m%d%H%M"}
    if not text.isdigit() or len(text) not in formats:
        raise ValueError("vbank_due 는 YYYYMMDD 또는 YYYYMMDDhhmm 이어야 합니다.")
    due = datetime.datetime.strptime(text, formats[len(text)]).replace(tzinfo=KST)
    if len(text) == 8:
        due += datetime.timedelta(days=1, seconds=-1)
    return int(due.timestamp())


def open_window(sim, params):
    """`{ok: true, order}` when the window may open, else `{ok: false, result}`: iamport stops
    its window for a merchant_uid already paid (no payment) or whose pre-registered amount
    differs (a `failed` payment that says so)."""
    state = sim.state
    try:
        spec, redirect = normalize(params)
    except ValueError as error:
        return {"ok": False, "result": result(None, None, None, E_PARAMS, str(error))}
    with state.lock:
        if state._ever_paid(spec["merchant_uid"]):
            return {"ok": False, "result": result(spec, None, redirect, E_PAID, MSG_PAID)}
        if state.prepared_mismatch(spec["merchant_uid"], spec["amount"], spec["currency"]):
            payment, refusal = state.create_checkout_payment(spec)
            return {"ok": False,
                    "result": result(spec, payment, redirect, E_PREPARED, refusal)}
    shown = {k: spec.get(k) for k in ("merchant_uid", "amount", "tax_free", "currency",
                                      "pay_method", "name", "buyer_name")}
    return {"ok": True, "order": shown}


def pay(sim, action, params):
    """The buyer's choice in the window, made into a payment as iamport makes it; answers
    `{response, redirect}`: the callback's argument, and where m_redirect_url sends the page."""
    state = sim.state
    try:
        spec, redirect = normalize(params)
        if action not in ("approve", "decline", "close", "issue_vbank"):
            raise ValueError("action 은 approve, decline, close, issue_vbank 중 하나입니다.")
        if (action == "issue_vbank") != (spec["pay_method"] == "vbank") and action != "close":
            raise ValueError(f"{spec['pay_method']} 결제창에서 {action} 할 수 없습니다.")
    except ValueError as error:
        return result(None, None, None, E_PARAMS, str(error))
    with state.lock:
        if action == "close":
            # The buyer gave up: html5_inicis (the simulator's PG) records the attempt as
            # failed; nothing was asked of the PG, so a registered amount is not checked.
            spec.update(status="failed", fail_reason=MSG_CLOSED, ignore_prepare=True)
            payment, _ = state.create_checkout_payment(spec)
            return result(spec, payment, redirect, E_CLOSED, MSG_CLOSED)
        if state._ever_paid(spec["merchant_uid"]):
            return result(spec, None, redirect, E_PAID, MSG_PAID)
        spec["status"] = {"approve": "paid", "decline": "failed", "issue_vbank": "ready"}[action]
        if action == "decline":
            spec["fail_reason"] = MSG_DECLINED
        payment, refusal = state.create_checkout_payment(spec)
        if refusal is not None:
            return result(spec, payment, redirect, E_PREPARED, refusal)
        if payment["status"] in ("paid", "ready"):
            sim.notify(payment, payment["status"])  # no notice for a failure, as iamport
        if action == "decline":
            return result(spec, payment, redirect, E_DECLINED, MSG_DECLINED)
        return result(spec, payment, redirect, None, None)


def result(spec, payment, redirect, error_code, error_msg):
    """The argument of request_pay's callback (V1 SDK fields), and the m_redirect_url target."""
    payment = payment or {}
    spec = spec or {}
    success = error_code is None
    response = {
        "success": success, "error_code": error_code, "error_msg": error_msg,
        "imp_uid": payment.get("imp_uid"),
        "merchant_uid": payment.get("merchant_uid", spec.get("merchant_uid")),
        "pay_method": payment.get("pay_method", spec.get("pay_method")),
        "paid_amount": payment["amount"] if payment.get("status") in ("paid", "ready") else 0,
        "status": payment.get("status"), "currency": payment.get("currency"),
        "pg_provider": payment.get("pg_provider"), "pg_tid": payment.get("pg_tid"),
        "paid_at": payment.get("paid_at", 0), "receipt_url": payment.get("receipt_url"),
        "apply_num": payment.get("apply_num"), "card_name": payment.get("card_name"),
        "card_number": payment.get("card_number"), "card_quota": payment.get("card_quota", 0),
        "custom_data": payment.get("custom_data"),
    }
    for name in BUYER_FIELDS:
        response[name] = payment.get(name, spec.get(name))
    for name in ("vbank_num", "vbank_name", "vbank_holder", "vbank_date"):
        response[name] = payment.get(name)
    target = None
    if redirect:
        query = {"imp_uid": response["imp_uid"] or "", "merchant_uid":
                 response["merchant_uid"] or "", "imp_success": "true" if success else "false"}
        if not success:
            query.update(error_code=error_code, error_msg=error_msg)
        base, _, fragment = redirect.partition("#")
        target = base + ("&" if "?" in base else "?") + urllib.parse.urlencode(query)
        target += ("#" + fragment) if fragment else ""
    return {"response": response, "redirect": target}
