"""What iamport's records (the simulator's payments) imply for an order, per SPEC §5–§6, and the
checks of a chaos run against the gateway's database.

An order's expected status comes from the simulator alone, never from the gateway:
- a payment "took money" when it was paid (paid_at > 0), has anything cancelled, or is `paid`;
- two payments that took money, or one whose amount or currency is not the order's → needs_review
  (DUPLICATE_PAYMENT_POLICY=review, the default; a tampered checkout);
- one → paid, partially_cancelled (0 < cancel_amount < amount) or cancelled;
- none, but a `ready` virtual account → awaiting_deposit, or expired once its due time passed;
- none, but a virtual account closed unpaid (revoked, DELETE /vbanks) → expired when it was closed
  at or after its due time (the reconciler closes the accounts of the orders it expires), else
  cancelled (the shop cancelled the order);
- nothing → pending (declined, failed, never paid).
The order's amount is the one the storefront created it with, or, for a virtual account whose
amount the storefront changed (PATCH), the amount iamport holds for it when that is the new one.
"""


def took_money(payment):
    return payment["paid_at"] > 0 or payment["cancel_amount"] > 0 or payment["status"] == "paid"


def expected_amount(plan, payments):
    if plan.patch_to is not None and any(
            p["pay_method"] == "vbank" and p["amount"] == plan.patch_to for p in payments):
        return plan.patch_to
    return plan.amount


def expected_status(plan, payments, now):
    amount = expected_amount(plan, payments)
    money = [p for p in payments if took_money(p)]
    if len(money) > 1:
        return "needs_review", amount
    if money:
        payment = money[0]
        if payment["amount"] != amount or payment.get("currency", "KRW") != "KRW":
            return "needs_review", amount
        if payment["status"] == "cancelled" or payment["cancel_amount"] >= payment["amount"]:
            return "cancelled", amount
        if payment["cancel_amount"] > 0:
            return "partially_cancelled", amount
        return "paid", amount
    ready = [p for p in payments if p["status"] == "ready" and p["pay_method"] == "vbank"]
    if ready:
        if all(0 < p["vbank_date"] <= now for p in ready):
            return "expired", amount
        return "awaiting_deposit", amount
    closed = [p for p in payments if p["status"] == "cancelled" and p["pay_method"] == "vbank"]
    if closed:
        last = closed[-1]
        if 0 < last["vbank_date"] <= last["cancelled_at"]:
            return "expired", amount
        return "cancelled", amount
    return "pending", amount


def check_orders(plans, sim_payments, gateway_orders, gateway_payments, now):
    """Every disagreement between the gateway and iamport's records, as dicts.

    plans: merchant_uid -> plan (kind, amount, patch_to, refund_target, duplicate_on_purpose)
    sim_payments: merchant_uid -> [payment]
    gateway_orders: merchant_uid -> (status, amount)
    gateway_payments: merchant_uid -> {imp_uid: (status, amount, cancel_amount)}
    """
    problems = []
    for uid, plan in plans.items():
        payments = sorted(sim_payments.get(uid, []), key=lambda p: p["started_at"])
        status, amount = expected_status(plan, payments, now)
        actual = gateway_orders.get(uid)
        if actual is None:
            if payments:
                problems.append({"merchant_uid": uid, "kind": plan.kind, "problem": "missing order",
                                 "expected": status, "actual": None})
            continue
        if actual[0] != status:
            problems.append({"merchant_uid": uid, "kind": plan.kind, "problem": "status",
                             "expected": status, "actual": actual[0]})
        elif status != "needs_review" and actual[1] != amount:
            problems.append({"merchant_uid": uid, "kind": plan.kind, "problem": "amount",
                             "expected": amount, "actual": actual[1]})
        money = [p for p in payments if took_money(p)]
        if len(money) > 1 and not plan.duplicate_on_purpose:
            problems.append({"merchant_uid": uid, "kind": plan.kind, "problem": "double charge",
                             "expected": "at most one payment that took money",
                             "actual": [p["imp_uid"] for p in money]})
        if plan.refund_target is not None:
            refunded = sum(p["cancel_amount"] for p in money)
            if refunded > plan.refund_target:
                problems.append({"merchant_uid": uid, "kind": plan.kind,
                                 "problem": "refunded more than asked",
                                 "expected": plan.refund_target, "actual": refunded})
        if status in ("paid", "partially_cancelled", "cancelled") and actual[0] == status:
            stored = gateway_payments.get(uid, {}).get(money[0]["imp_uid"])
            want = (money[0]["status"], money[0]["amount"], money[0]["cancel_amount"])
            if stored != want:
                problems.append({"merchant_uid": uid, "kind": plan.kind,
                                 "problem": "payment record",
                                 "expected": want, "actual": stored})
    return problems


def warnings(plans, sim_payments):
    """Odd but not wrong: an order that got two virtual accounts (a first call that iamport never
    took, declared failed after the settle window, then a second)."""
    notes = []
    for uid, plan in plans.items():
        vbanks = [p for p in sim_payments.get(uid, []) if p["pay_method"] == "vbank"]
        if len(vbanks) > 1:
            notes.append(f"{uid} ({plan.kind}): {len(vbanks)} virtual accounts issued")
    return notes
