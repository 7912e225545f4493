"""Pre-registered amounts, revoked virtual accounts, cash receipts and tax-free amounts: the part
of the simulated iamport account that `State` (sim_state.py) takes in as a mixin.

Like the rest of State, every method runs with `lock` held and answers
(http_status, code, message, response), iamport's envelope.
"""

import random
import secrets

from sim_envelope import fail, ok

# Payment methods that are cash for the National Tax Service: the only ones a cash receipt is
# issued for (the Swagger file: "현금성 거래(가상계좌, 계좌이체)").
CASH_PAY_METHODS = ("vbank", "trans")

RECEIPT_FIELDS = ("imp_uid", "receipt_tid", "apply_num", "type", "amount", "vat", "receipt_url",
                  "applied_at", "cancelled_at")


def whole(value):
    """An amount as an int when it is a whole number (10000 or 10000.0), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    return value


def mask_identifier(identifier):
    """A cash receipt identifier with only its last 4 characters shown: `*******5678`."""
    text = str(identifier)
    if len(text) <= 4:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


def vat_of(taxable):
    """The VAT inside a tax-inclusive amount: taxable − round(taxable / 1.1), half up."""
    supply = (taxable * 10 * 2 + 11) // (11 * 2)
    return taxable - supply


class Lifecycle:
    def reset_lifecycle(self):
        self.prepared = {}  # merchant_uid -> {merchant_uid, amount, currency}
        self.receipts = {}  # imp_uid -> [receipt], oldest first; the last one is the current

    # --- POST/PUT/GET /payments/prepare -----------------------------------------------------

    def prepare(self, fields):
        merchant_uid = fields["merchant_uid"]
        if merchant_uid in self.prepared:
            return fail("이미 사전등록된 merchant_uid 입니다. 금액 변경은 PUT /payments/prepare 를"
                        " 이용해주세요.")
        amount = self._prepared_amount(fields["amount"])
        if amount is None:
            return fail("결제예정금액이 올바르지 않습니다.")
        self.prepared[merchant_uid] = {"merchant_uid": merchant_uid, "amount": amount,
                                       "currency": fields.get("currency")}
        return ok(dict(self.prepared[merchant_uid]))

    def update_prepared(self, fields):
        merchant_uid = fields["merchant_uid"]
        if merchant_uid not in self.prepared:
            return fail("사전등록된 결제정보를 찾을 수 없습니다.", 1, 404)
        amount = self._prepared_amount(fields["amount"])
        if amount is None:
            return fail("결제예정금액이 올바르지 않습니다.")
        # The registration is replaced: a currency left out is null (no currency check), as
        # the Swagger file describes it for both POST and PUT.
        self.prepared[merchant_uid] = {"merchant_uid": merchant_uid, "amount": amount,
                                       "currency": fields.get("currency")}
        return ok(dict(self.prepared[merchant_uid]))

    def get_prepared(self, merchant_uid):
        if merchant_uid not in self.prepared:
            return fail("사전등록된 결제정보를 찾을 수 없습니다.", 1, 404)
        return ok(dict(self.prepared[merchant_uid]))

    @staticmethod
    def _prepared_amount(value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return value if value > 0 else None

    def prepared_mismatch(self, merchant_uid, amount, currency="KRW"):
        """Why a payment of this amount cannot be made for this merchant_uid (its registered
        amount or currency differs), or None."""
        prepared = self.prepared.get(merchant_uid)
        if prepared is None:
            return None
        if prepared["amount"] == amount and prepared["currency"] in (None, currency):
            return None
        registered = f"{prepared['amount']} {prepared['currency'] or currency}"
        return (f"사전등록된 결제금액({registered})과 요청된 결제금액({amount} {currency})이"
                " 일치하지 않습니다.")

    # --- tax-free amounts -------------------------------------------------------------------

    def tax_free_refusal(self, payment, amount, balance, tax_free):
        """Why a cancel of `amount` with `tax_free` of it cannot be made, or None. The tax-free
        part is at most what was cancelled and what remains tax-free; the taxable part at most
        what remains taxable (so a full cancel takes all the tax-free balance)."""
        tax_free_left = payment["_tax_free"] - payment["_tax_free_cancelled"]
        if tax_free is None or tax_free < 0:
            return "취소 면세금액(tax_free)이 올바르지 않습니다."
        if tax_free > amount:
            return "취소 면세금액(tax_free)이 취소 요청금액을 초과합니다."
        if tax_free > tax_free_left:
            return (f"취소 면세금액(tax_free)이 취소가능 면세금액({tax_free_left})을"
                    " 초과합니다.")
        if amount - tax_free > balance - tax_free_left:
            return (f"과세 취소금액이 취소가능 과세금액({balance - tax_free_left})을 초과합니다."
                    f" 면세금액(tax_free)을 {tax_free_left - (balance - amount)} 이상으로"
                    " 지정해주세요.")
        return None

    def control_view(self, payment):
        """The Payment with what iamport records but its V1 Payment object does not show:
        `tax_free`, `tax_free_cancelled`, and `tax_free` in each cancel_history entry."""
        view = self.public(payment)
        view["tax_free"] = payment["_tax_free"]
        view["tax_free_cancelled"] = payment["_tax_free_cancelled"]
        view["cancel_history"] = [dict(public_entry, tax_free=entry["_tax_free"])
                                  for public_entry, entry in zip(view["cancel_history"],
                                                                 payment["cancel_history"])]
        view["revoked_at"] = payment.get("_revoked_at", 0)
        return view

    # --- DELETE /vbanks/{imp_uid} -----------------------------------------------------------

    def revoke_vbank(self, imp_uid):
        payment = self.payments.get(imp_uid)
        if payment is None:
            return fail("존재하지 않는 결제정보입니다.", 1, 404)
        if payment["pay_method"] != "vbank" or payment["status"] != "ready":
            return fail("입금대기 상태의 가상계좌가 아니어서 발급취소할 수 없습니다.", 1, 400)
        now = self.now()
        # Nothing was deposited, so nothing is refunded: cancel_amount stays 0 and no
        # cancel_history entry is written; the account can no longer take a deposit.
        payment["status"] = "cancelled"
        payment["cancelled_at"] = now
        payment["_revoked_at"] = now
        return ok(self.public(payment))

    # --- POST/GET/DELETE /receipts/{imp_uid} ------------------------------------------------

    def _current_receipt(self, imp_uid):
        issued = self.receipts.get(imp_uid)
        return issued[-1] if issued else None

    def issue_receipt(self, imp_uid, fields):
        payment = self.payments.get(imp_uid)
        if payment is None:
            return fail("존재하지 않는 결제정보입니다.", 1, 404)
        if payment["status"] != "paid":
            return fail("결제완료(paid) 상태가 아닌 결제건에는 현금영수증을 발행할 수 없습니다.",
                        1, 400)
        if payment["pay_method"] not in CASH_PAY_METHODS:
            return fail("현금성 거래(가상계좌, 계좌이체)가 아니어서 현금영수증을 발행할 수"
                        " 없습니다.", 1, 400)
        current = self._current_receipt(imp_uid)
        if current is not None and current["cancelled_at"] == 0:
            return fail("이미 현금영수증이 발행된 결제건입니다.", 1, 400)
        amount = payment["amount"] - payment["cancel_amount"]
        tax_free = whole(fields.get("tax_free") or 0)
        if tax_free is None or not 0 <= tax_free <= amount:
            return fail("면세금액(tax_free)이 발행금액을 초과하거나 올바르지 않습니다.", 1, 400)
        given_vat = next((fields[name] for name in ("vat_amount", "vat")
                          if fields.get(name) is not None), None)
        vat = vat_of(amount - tax_free) if given_vat is None else whole(given_vat)
        if vat is None or not 0 <= vat <= amount - tax_free:
            return fail("부가세(vat_amount)가 올바르지 않습니다.", 1, 400)
        now = self.now()
        receipt = {
            "imp_uid": imp_uid, "receipt_tid": "rtid_" + secrets.token_hex(8),
            "apply_num": "".join(random.choice("0123456789") for _ in range(9)),
            "type": fields.get("type") or "person", "amount": amount, "vat": vat,
            "receipt_url": f"https://sim.iamport.local/cash-receipt/{imp_uid}/"
                           f"{len(self.receipts.get(imp_uid, [])) + 1}",
            "applied_at": now, "cancelled_at": 0,
            "_merchant_uid": payment["merchant_uid"], "_identifier": fields["identifier"],
            "_identifier_type": fields.get("identifier_type"), "_tax_free": tax_free,
        }
        self.receipts.setdefault(imp_uid, []).append(receipt)
        return ok(self.public_receipt(receipt))

    def get_receipt(self, imp_uid):
        current = self._current_receipt(imp_uid)
        if imp_uid not in self.payments or current is None:
            return fail("현금영수증 발행내역이 존재하지 않습니다.", 1, 404)
        return ok(self.public_receipt(current))

    def cancel_receipt(self, imp_uid):
        if imp_uid not in self.payments:
            return fail("존재하지 않는 결제정보입니다.", 1, 404)
        current = self._current_receipt(imp_uid)
        if current is None or current["cancelled_at"] != 0:
            return fail("포트원으로 발행된 현금영수증이 없습니다.", 1, 400)
        current["cancelled_at"] = self.now()
        return ok(self.public_receipt(current))

    @staticmethod
    def public_receipt(receipt):
        return {name: receipt[name] for name in RECEIPT_FIELDS}

    def receipts_view(self, imp_uid=None):
        """Every receipt issued (of that imp_uid), oldest first, the identifier masked."""
        found = []
        for receipts_of in ([self.receipts.get(imp_uid, [])] if imp_uid
                            else self.receipts.values()):
            for receipt in receipts_of:
                found.append(dict(
                    self.public_receipt(receipt), merchant_uid=receipt["_merchant_uid"],
                    identifier=mask_identifier(receipt["_identifier"]),
                    identifier_type=receipt["_identifier_type"], tax_free=receipt["_tax_free"],
                    state="cancelled" if receipt["cancelled_at"] else "issued"))
        return sorted(found, key=lambda r: r["applied_at"])
