"""The chaos test's verdicts: what iamport's records imply for an order (chaos_check)."""

import unittest
from types import SimpleNamespace

import chaos_check

NOW = 1_800_000_000


def plan(kind="k", amount=10_000, patch_to=None, refund_target=None, duplicate=False):
    return SimpleNamespace(kind=kind, amount=amount, patch_to=patch_to,
                           refund_target=refund_target, duplicate_on_purpose=duplicate)


def payment(imp_uid="imps_1", status="paid", amount=10_000, cancel_amount=0, pay_method="card",
            paid_at=None, vbank_date=0, started_at=NOW - 100):
    if paid_at is None:
        paid_at = NOW - 50 if status in ("paid", "cancelled") else 0
    return {"imp_uid": imp_uid, "status": status, "amount": amount,
            "cancel_amount": cancel_amount, "pay_method": pay_method, "paid_at": paid_at,
            "vbank_date": vbank_date, "started_at": started_at, "currency": "KRW"}


class ExpectedStatus(unittest.TestCase):
    def status(self, the_plan, payments):
        return chaos_check.expected_status(the_plan, payments, NOW)[0]

    def test_money_taken_once(self):
        self.assertEqual(self.status(plan(), [payment()]), "paid")
        self.assertEqual(self.status(plan(), [payment(cancel_amount=400)]), "partially_cancelled")
        self.assertEqual(self.status(plan(), [payment(status="cancelled", cancel_amount=10_000)]),
                         "cancelled")

    def test_nothing_taken(self):
        self.assertEqual(self.status(plan(), []), "pending")
        self.assertEqual(self.status(plan(), [payment(status="failed")]), "pending")
        vbank = payment(status="ready", pay_method="vbank", vbank_date=NOW + 60)
        self.assertEqual(self.status(plan(), [vbank]), "awaiting_deposit")
        vbank["vbank_date"] = NOW - 1
        self.assertEqual(self.status(plan(), [vbank]), "expired")

    def test_a_virtual_account_closed_unpaid(self):
        # Closed by the reconciler once its due time passed: the order expired.
        closed = payment(status="cancelled", pay_method="vbank", paid_at=0, vbank_date=NOW - 60)
        closed["cancelled_at"] = NOW - 10
        self.assertEqual(self.status(plan(), [closed]), "expired")
        # Closed before its due time: the shop cancelled the order.
        closed["vbank_date"] = NOW + 3600
        self.assertEqual(self.status(plan(), [closed]), "cancelled")

    def test_review_for_another_amount_or_a_second_payment(self):
        self.assertEqual(self.status(plan(), [payment(amount=9_000)]), "needs_review")
        self.assertEqual(self.status(plan(), [payment(), payment("imps_2")]), "needs_review")
        # A failed checkout before the paid one is no second payment.
        self.assertEqual(self.status(plan(), [payment("imps_0", status="failed"), payment()]),
                         "paid")

    def test_a_changed_vbank_amount_is_the_order_amount_once_iamport_holds_it(self):
        changed = plan(patch_to=12_000)
        paid_new = payment(amount=12_000, pay_method="vbank")
        self.assertEqual(chaos_check.expected_status(changed, [paid_new], NOW),
                         ("paid", 12_000))
        paid_old = payment(amount=10_000, pay_method="vbank")
        self.assertEqual(chaos_check.expected_status(changed, [paid_old], NOW),
                         ("paid", 10_000))


class CheckOrders(unittest.TestCase):
    def test_each_kind_of_problem(self):
        plans = {"a": plan(), "b": plan(), "c": plan(refund_target=300), "d": plan(duplicate=True),
                 "e": plan()}
        sim = {"a": [payment("ia")], "b": [payment("ib1"), payment("ib2")],
               "c": [payment("ic", cancel_amount=500)],
               "d": [payment("id1"), payment("id2")], "e": [payment("ie")]}
        gateway = {"a": ("paid", 10_000), "b": ("needs_review", 10_000),
                   "c": ("partially_cancelled", 10_000), "d": ("needs_review", 10_000),
                   "e": ("pending", 10_000)}
        stored = {"a": {"ia": ("paid", 10_000, 0)}, "c": {"ic": ("paid", 10_000, 500)}}
        problems = chaos_check.check_orders(plans, sim, gateway, stored, NOW)
        found = sorted((p["merchant_uid"], p["problem"]) for p in problems)
        self.assertEqual(found, [("b", "double charge"), ("c", "refunded more than asked"),
                                 ("e", "status")])

    def test_the_stored_payment_must_match_iamport(self):
        problems = chaos_check.check_orders(
            {"a": plan()}, {"a": [payment("ia", cancel_amount=100)]},
            {"a": ("partially_cancelled", 10_000)}, {"a": {"ia": ("paid", 10_000, 0)}}, NOW)
        self.assertEqual([p["problem"] for p in problems], ["payment record"])


if __name__ == "__main__":
    unittest.main()
