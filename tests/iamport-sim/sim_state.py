"""The simulated iamport account: its clock, access tokens and payments.

Every method is called with `lock` held by the HTTP layer; methods return
(http_status, code, message, response) tuples shaped like iamport's envelope.
"""

import json
import random
import secrets
import threading
import time

from sim_envelope import fail, ok
from sim_lifecycle import Lifecycle

TOKEN_LIFETIME = 30 * 60      # a token lives 30 minutes
TOKEN_EXTENSION = 5 * 60      # asked for in its last minute, it is extended by 5 minutes
TOKEN_LAST_MINUTE = 60

# KFTC bank codes -> the names iamport answers with.
BANK_NAMES = {
    "002": "KDB산업은행", "003": "IBK기업은행", "004": "KB국민은행", "007": "수협은행",
    "011": "NH농협은행", "020": "우리은행", "023": "SC제일은행", "027": "한국씨티은행",
    "031": "대구은행", "032": "부산은행", "034": "광주은행", "035": "제주은행",
    "037": "전북은행", "039": "경남은행", "045": "새마을금고", "048": "신협",
    "071": "우체국", "081": "하나은행", "088": "신한은행", "089": "케이뱅크",
    "090": "카카오뱅크", "092": "토스뱅크",
}

PAYMENT_STATUSES = ("ready", "paid", "cancelled", "failed")

# Benepia credentials the simulator declines, like the real one does for a bad login or an
# empty point balance (HTTP 200 with code -1 and a message).
BENEPIA_DECLINED_PASSWORD = "wrong"
BENEPIA_NO_POINTS_USER = "no_points"



class State(Lifecycle):
    def __init__(self, imp_key, imp_secret):
        self.imp_key = imp_key
        self.imp_secret = imp_secret
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        self.clock_offset = 0
        self.tokens = {}           # access_token -> expires_at (simulator clock)
        self.current_token = None  # the token getToken hands out while it is valid
        self.payments = {}         # imp_uid -> payment dict (the API's Payment object)
        self.notice_urls = {}      # imp_uid -> [url]
        self.sequence = 0          # creation order, to sort payments started in one second
        self.reset_lifecycle()     # pre-registered amounts, cash receipts (sim_lifecycle.py)

    # --- clock and tokens -------------------------------------------------------------------

    def now(self):
        return int(time.time()) + self.clock_offset

    def get_token(self, imp_key, imp_secret):
        if imp_key != self.imp_key or not secrets.compare_digest(
                str(imp_secret).encode(), self.imp_secret.encode()):
            return fail("imp_key, imp_secret 파라메터가 올바르지 않습니다.", -1, 401)
        now = self.now()
        token = self.current_token
        if token is None or self.tokens.get(token, 0) <= now:
            token = secrets.token_hex(20)
            self.tokens[token] = now + TOKEN_LIFETIME
            self.current_token = token
        elif self.tokens[token] - now <= TOKEN_LAST_MINUTE:
            self.tokens[token] += TOKEN_EXTENSION
        return ok({"access_token": token, "expired_at": self.tokens[token], "now": now})

    def token_valid(self, authorization):
        if not authorization:
            return False
        token = authorization.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        expires_at = self.tokens.get(token)
        return expires_at is not None and expires_at > self.now()

    def expire_tokens(self):
        now = self.now()
        for token in self.tokens:
            self.tokens[token] = min(self.tokens[token], now)
        self.current_token = None

    # --- payments ---------------------------------------------------------------------------

    def _new_imp_uid(self):
        while True:
            imp_uid = "imps_" + "".join(random.choice("0123456789") for _ in range(12))
            if imp_uid not in self.payments:
                return imp_uid

    def _blank_payment(self, merchant_uid, amount, pay_method, pg_provider):
        self.sequence += 1
        imp_uid = self._new_imp_uid()
        payment = {
            "imp_uid": imp_uid, "merchant_uid": merchant_uid, "pay_method": pay_method,
            "channel": "api", "pg_provider": pg_provider, "emb_pg_provider": None,
            "pg_tid": "tid_" + secrets.token_hex(8), "pg_id": "sim_mid", "escrow": False,
            "apply_num": "", "bank_code": None, "bank_name": None, "card_code": None,
            "card_name": None, "card_quota": 0, "card_number": None, "card_type": None,
            "vbank_code": None, "vbank_name": None, "vbank_num": None, "vbank_holder": None,
            "vbank_date": 0, "vbank_issued_at": 0, "name": None, "amount": amount,
            "cancel_amount": 0, "currency": "KRW", "buyer_name": None, "buyer_email": None,
            "buyer_tel": None, "buyer_addr": None, "buyer_postcode": None, "custom_data": None,
            "user_agent": "sorry_not_supported", "status": "ready", "started_at": self.now(),
            "paid_at": 0, "failed_at": 0, "cancelled_at": 0, "fail_reason": None,
            "cancel_reason": None, "receipt_url": f"https://sim.iamport.local/receipt/{imp_uid}",
            "cancel_history": [], "cancel_receipt_urls": [], "cash_receipt_issued": False,
            "customer_uid": None, "customer_uid_usage": None,
            "_sequence": self.sequence, "_tax_free": 0, "_tax_free_cancelled": 0,
        }
        self.payments[imp_uid] = payment
        return payment

    @staticmethod
    def public(payment):
        """The Payment as iamport answers it: what the simulator keeps besides (names starting
        with `_`, in the payment and its cancel_history) is left out."""
        view = {k: v for k, v in payment.items() if not k.startswith("_")}
        view["cancel_history"] = [{k: v for k, v in entry.items() if not k.startswith("_")}
                                  for entry in payment["cancel_history"]]
        view["cancel_receipt_urls"] = list(payment["cancel_receipt_urls"])
        return view

    def _ever_paid(self, merchant_uid):
        return any(p["merchant_uid"] == merchant_uid and p["paid_at"] > 0
                   for p in self.payments.values())

    @staticmethod
    def _copy_order_fields(payment, fields):
        for name in ("name", "buyer_name", "buyer_email", "buyer_tel", "buyer_addr",
                     "buyer_postcode", "custom_data"):
            if fields.get(name) is not None:
                payment[name] = fields[name]

    def get_payment(self, imp_uid):
        payment = self.payments.get(imp_uid)
        if payment is None:
            return fail("존재하지 않는 결제정보입니다.", 1, 404)
        return ok(self.public(payment))

    def find_payment(self, merchant_uid, payment_status, sorting):
        if payment_status is not None and payment_status not in PAYMENT_STATUSES:
            return fail("payment_status 값이 올바르지 않습니다.", -1, 400)
        found = [p for p in self.payments.values() if p["merchant_uid"] == merchant_uid
                 and (payment_status is None or p["status"] == payment_status)]
        if not found:
            return fail("존재하지 않는 결제정보입니다.", 1, 404)
        key_name = (sorting or "-started").lstrip("-")
        key_field = {"started": "started_at", "paid": "paid_at"}.get(key_name, "_sequence")
        found.sort(key=lambda p: (p[key_field], p["_sequence"]),
                   reverse=(sorting or "-started").startswith("-"))
        return ok(self.public(found[0]))

    def find_all_payments(self, merchant_uid, payment_status, sorting, page, limit):
        """Every payment of a merchant_uid (newest first by default), 20 a page by default, at
        most 1000: `{total, previous, next, list}`; none → 404 as find does."""
        if payment_status is not None and payment_status not in PAYMENT_STATUSES:
            return fail("payment_status 값이 올바르지 않습니다.", -1, 400)
        page = 1 if page is None else page
        limit = 20 if limit is None else limit
        if page < 1 or not 1 <= limit <= 1000:
            return fail("page 는 1 이상, limit 는 1~1000 이어야 합니다.", -1, 400)
        found = [p for p in self.payments.values() if p["merchant_uid"] == merchant_uid
                 and (payment_status is None or p["status"] == payment_status)]
        if not found:
            return fail("존재하지 않는 결제정보입니다.", 1, 404)
        key_name = (sorting or "-started").lstrip("-")
        key_field = {"started": "started_at", "paid": "paid_at"}.get(key_name, "_sequence")
        found.sort(key=lambda p: (p[key_field], p["_sequence"]),
                   reverse=(sorting or "-started").startswith("-"))
        start = (page - 1) * limit
        shown = found[start:start + limit]
        return ok({"total": len(found), "previous": page - 1 if page > 1 else 0,
                   "next": page + 1 if start + limit < len(found) else 0,
                   "list": [self.public(p) for p in shown]})

    @staticmethod
    def _integral_amount(value):
        if isinstance(value, float):
            if not value.is_integer():
                return None
            value = int(value)
        return value

    def issue_vbank(self, fields):
        amount = self._integral_amount(fields["amount"])
        if amount is None or amount <= 0:
            return fail("결제금액이 올바르지 않습니다.")
        bank_name = BANK_NAMES.get(fields["vbank_code"])
        if bank_name is None:
            return fail("지원하지 않는 은행코드입니다.")
        if int(fields["vbank_due"]) <= self.now():
            return fail("가상계좌 입금기한이 현재시각 이전입니다.")
        tax_free = self._integral_amount(fields.get("tax_free") or 0)
        if not 0 <= tax_free <= amount:
            return fail("면세금액(tax_free)이 결제금액을 초과하거나 올바르지 않습니다.")
        if self._ever_paid(fields["merchant_uid"]):
            return fail("이미 결제가 완료된 merchant_uid 입니다.")
        mismatch = self.prepared_mismatch(fields["merchant_uid"], amount)
        if mismatch is not None:
            return fail(mismatch)
        payment = self._blank_payment(fields["merchant_uid"], amount, "vbank",
                                      fields.get("pg") or "nice")
        self._copy_order_fields(payment, fields)
        payment["_tax_free"] = tax_free
        payment.update({
            "vbank_code": fields["vbank_code"], "vbank_name": bank_name,
            "vbank_num": "".join(random.choice("0123456789") for _ in range(14)),
            "vbank_holder": fields.get("vbank_holder") or "(주)시뮬레이터상점",
            "vbank_date": int(fields["vbank_due"]), "vbank_issued_at": self.now(),
        })
        self.notice_urls[payment["imp_uid"]] = list(fields.get("notice_url") or [])
        return ok(self.public(payment))

    def update_vbank(self, imp_uid, fields):
        payment = self.payments.get(imp_uid)
        if payment is None:
            return fail("존재하지 않는 결제정보입니다.", 1, 404)
        if payment["pay_method"] != "vbank" or payment["status"] != "ready":
            return fail("입금대기 상태의 가상계좌가 아닙니다.", 1, 400)
        if fields.get("amount") is None and fields.get("vbank_due") is None:
            return fail("amount 또는 vbank_due 중 하나는 필요합니다.", 1, 400)
        if fields.get("amount") is not None:
            amount = self._integral_amount(fields["amount"])
            if amount is None or amount <= 0:
                return fail("결제금액이 올바르지 않습니다.", 1, 400)
            payment["amount"] = amount
        if fields.get("vbank_due") is not None:
            if int(fields["vbank_due"]) <= self.now():
                return fail("가상계좌 입금기한이 현재시각 이전입니다.", 1, 400)
            payment["vbank_date"] = int(fields["vbank_due"])
        return ok(self.public(payment))

    def benepia_payment(self, fields):
        # iamport answers every Benepia failure with HTTP 500 and the envelope (the official
        # Swagger file: 500 "베네피아 포인트 결제 실패"), not with HTTP 200 and code != 0.
        amount = self._integral_amount(fields["amount"])
        if amount is None or amount <= 0:
            return fail("결제금액이 올바르지 않습니다.", -1, 500)
        if fields["benepia_password"] == BENEPIA_DECLINED_PASSWORD:
            return fail("베네피아 아이디 또는 비밀번호가 올바르지 않습니다.", -1, 500)
        if fields["benepia_user"] == BENEPIA_NO_POINTS_USER:
            return fail("베네피아 포인트 잔액이 부족합니다.", -1, 500)
        if self._ever_paid(fields["merchant_uid"]):
            return fail("이미 결제가 완료된 merchant_uid 입니다.", -1, 500)
        # iamport checks a pre-registered amount itself, before it asks the PG: a refusal
        # like the other API refusals (HTTP 200, code 1), not a Benepia decline.
        mismatch = self.prepared_mismatch(fields["merchant_uid"], amount)
        if mismatch is not None:
            return fail(mismatch)
        payment = self._blank_payment(fields["merchant_uid"], amount, "point", "kcp")
        self._copy_order_fields(payment, fields)
        payment.update({"status": "paid", "paid_at": self.now(), "apply_num": "B" +
                        "".join(random.choice("0123456789") for _ in range(8))})
        self.notice_urls[payment["imp_uid"]] = list(fields.get("notice_url") or [])
        return ok(self.public(payment))

    def cancel_payment(self, fields):
        if fields.get("imp_uid"):
            payment = self.payments.get(fields["imp_uid"])
        else:
            candidates = [p for p in self.payments.values()
                          if p["merchant_uid"] == fields.get("merchant_uid")
                          and p["status"] == "paid"]
            candidates.sort(key=lambda p: p["_sequence"], reverse=True)
            payment = candidates[0] if candidates else None
        if payment is None:
            return fail("취소할 결제건이 존재하지 않습니다.")
        if payment["status"] == "cancelled":
            return fail("이미 전액취소된 주문입니다.")
        if payment["status"] != "paid":
            return fail("결제완료 상태가 아니어서 취소할 수 없습니다.")
        balance = payment["amount"] - payment["cancel_amount"]
        requested = self._integral_amount(fields.get("amount") or 0)
        if requested is None or requested < 0:
            return fail("취소 요청금액이 올바르지 않습니다.")
        amount = requested or balance
        if amount > balance:
            return fail("취소 요청금액이 취소가능잔액을 초과합니다.")
        # Left out, the tax-free part of a cancel is 0 (the Swagger file's `tax_free`).
        tax_free = self._integral_amount(fields.get("tax_free") or 0)
        tax_refusal = self.tax_free_refusal(payment, amount, balance, tax_free)
        if tax_refusal is not None:
            return fail(tax_refusal)
        if fields.get("checksum") is not None and self._integral_amount(
                fields["checksum"]) != balance:
            return fail("요청된 checksum 이 취소가능잔액과 일치하지 않습니다."
                        " 취소 요청을 처리하지 않습니다.")
        if payment["pay_method"] == "vbank" and not all(
                fields.get(name) for name in ("refund_holder", "refund_bank", "refund_account")):
            return fail("가상계좌 환불에는 refund_holder, refund_bank, refund_account 가 필요합니다.")
        now = self.now()
        entry = {
            "pg_tid": "ctid_" + secrets.token_hex(8), "amount": amount, "cancelled_at": now,
            "reason": fields.get("reason") or "", "cancellation_id": "c" + secrets.token_hex(6),
            "receipt_url": f"https://sim.iamport.local/cancel-receipt/{payment['imp_uid']}"
                           f"/{len(payment['cancel_history']) + 1}",
            "_tax_free": tax_free,
        }
        payment["cancel_history"].append(entry)
        payment["cancel_receipt_urls"].append(entry["receipt_url"])
        payment["cancel_amount"] += amount
        payment["_tax_free_cancelled"] += tax_free
        payment["cancel_reason"] = entry["reason"]
        if payment["cancel_amount"] == payment["amount"]:
            payment["status"] = "cancelled"
            payment["cancelled_at"] = now
        return ok(self.public(payment))

    # --- control ----------------------------------------------------------------------------

    def deposit(self, imp_uid, amount):
        payment = self.payments.get(imp_uid)
        if payment is None:
            return 404, {"error": "no such payment"}
        if payment.get("_revoked_at"):
            return 409, {"error": "the virtual account was revoked (DELETE /vbanks/{imp_uid})"}
        if payment["pay_method"] != "vbank" or payment["status"] != "ready":
            return 409, {"error": "not a vbank awaiting deposit"}
        if amount is not None and amount != payment["amount"]:
            return 409, {"error": "deposit amount differs from the vbank amount"}
        payment["status"] = "paid"
        payment["paid_at"] = self.now()
        return 200, self.public(payment)

    def create_checkout_payment(self, spec):
        """A payment made in the browser checkout (POST /__sim/payments, the test window):
        (payment, refusal). A pre-registered amount or currency that differs stops it as iamport
        stops its window before the PG is asked: the payment is `failed`, its fail_reason (and
        `refusal`) saying why, no money moved. With `ignore_prepare` it goes through anyway."""
        amount, currency = spec["amount"], spec.get("currency", "KRW")
        tax_free = spec.get("tax_free", 0)
        if isinstance(tax_free, bool) or not isinstance(tax_free, int) or not (
                0 <= tax_free <= amount):
            raise ValueError("tax_free must be an integer from 0 to amount")
        status = spec.get("status", "paid")
        if status not in PAYMENT_STATUSES:
            raise ValueError(f"status must be one of {PAYMENT_STATUSES}")
        refusal = None if spec.get("ignore_prepare") else self.prepared_mismatch(
            spec["merchant_uid"], amount, currency)
        payment = self._blank_payment(spec["merchant_uid"], amount,
                                      spec.get("pay_method", "card"),
                                      spec.get("pg_provider", "html5_inicis"))
        payment["channel"] = spec.get("channel", "pc")
        payment["currency"] = currency
        payment["_tax_free"] = tax_free
        custom_data = spec.get("custom_data")
        if custom_data is not None and not isinstance(custom_data, str):
            spec = dict(spec, custom_data=json.dumps(custom_data, ensure_ascii=False))
        self._copy_order_fields(payment, spec)
        self.notice_urls[payment["imp_uid"]] = list(spec.get("notice_url") or [])
        now = self.now()
        if refusal is not None:
            payment.update({"status": "failed", "failed_at": now, "fail_reason": refusal})
            return payment, refusal
        payment["status"] = status
        if status in ("paid", "cancelled"):
            payment["paid_at"] = now
        if status == "cancelled":
            payment["cancelled_at"] = now
            payment["cancel_amount"] = payment["amount"]
        if status == "failed":
            payment["failed_at"] = now
            payment["fail_reason"] = spec.get("fail_reason", "사용자가 결제를 취소하셨습니다")
        if payment["pay_method"] == "vbank":
            code = spec.get("vbank_code", "004")
            payment.update({"vbank_code": code, "vbank_name": BANK_NAMES.get(code, code),
                            "vbank_num": "".join(random.choice("0123456789") for _ in range(14)),
                            "vbank_holder": spec.get("vbank_holder") or "(주)시뮬레이터상점",
                            "vbank_date": spec.get("vbank_due", now + 86400),
                            "vbank_issued_at": now})
        if payment["pay_method"] == "trans":
            payment.update({"bank_code": "004", "bank_name": BANK_NAMES["004"]})
        if payment["pay_method"] == "card":
            payment.update({"card_code": "361", "card_name": "BC카드",
                            "card_number": "910020*********5", "apply_num": "30012345"})
        return payment, None
