"""Pre-registered amounts, revoked virtual accounts, cash receipts and tax-free amounts, with
faults and the request log on those endpoints."""

import json
import socket
import time
import unittest
import urllib.error
import urllib.request

from sim_testing import SimTestCase

PHONE = "01012345678"
RECEIPT_FIELDS = {"imp_uid", "receipt_tid", "apply_num", "type", "amount", "vat", "receipt_url",
                  "applied_at", "cancelled_at"}
NEW_ENDPOINTS = ["POST /payments/prepare", "PUT /payments/prepare",
                 "GET /payments/prepare/{merchant_uid}", "DELETE /vbanks/{imp_uid}",
                 "POST /receipts/{imp_uid}", "GET /receipts/{imp_uid}",
                 "DELETE /receipts/{imp_uid}"]


class Lifecycle(SimTestCase, unittest.TestCase):
    def api(self, method, path, body=None):
        return self.sim.call(method, path, body, self.token)

    def vbank(self, merchant_uid="v1", amount=10000, **extra):
        body = {"merchant_uid": merchant_uid, "amount": amount, "vbank_code": "004",
                "vbank_due": int(time.time()) + 86400, "channel_key": "ck", **extra}
        return self.api("POST", "/vbanks", body)

    def paid_vbank(self, merchant_uid="v1", amount=10000, **extra):
        status, answer = self.vbank(merchant_uid, amount, **extra)
        self.assertEqual((status, answer["code"]), (200, 0), answer)
        imp_uid = answer["response"]["imp_uid"]
        self.assertEqual(self.sim.call("POST", "/__sim/deposit", {"imp_uid": imp_uid})[0], 200)
        return imp_uid

    def control_payment(self, imp_uid):
        _, found = self.sim.call("GET", "/__sim/payments")
        return next(p for p in found["payments"] if p["imp_uid"] == imp_uid)

    # --- pre-registered amounts -------------------------------------------------------------

    def test_prepare_registers_changes_and_reads_an_amount(self):
        status, answer = self.api("POST", "/payments/prepare",
                                  {"merchant_uid": "p1", "amount": 10000})
        self.assertEqual((status, answer["code"], answer["response"]),
                         (200, 0, {"merchant_uid": "p1", "amount": 10000, "currency": None}))
        status, again = self.api("POST", "/payments/prepare",
                                 {"merchant_uid": "p1", "amount": 5000})
        self.assertEqual((status, again["code"], again["response"]), (200, 1, None))
        status, changed = self.api("PUT", "/payments/prepare",
                                   {"merchant_uid": "p1", "amount": 12000, "currency": "KRW"})
        self.assertEqual((status, changed["response"]["amount"]), (200, 12000))
        status, read = self.api("GET", "/payments/prepare/p1")
        self.assertEqual((status, read["response"]),
                         (200, {"merchant_uid": "p1", "amount": 12000, "currency": "KRW"}))
        self.assertEqual(self.api("GET", "/payments/prepare/none")[0], 404)
        self.assertEqual(self.sim.call("GET", "/__sim/prepared")[1]["prepared"],
                         [{"merchant_uid": "p1", "amount": 12000, "currency": "KRW"}])
        status, missing = self.api("PUT", "/payments/prepare",
                                   {"merchant_uid": "none", "amount": 1})
        self.assertEqual((status, missing["code"]), (404, 1))
        # Validated against the Swagger file: required amount, maxLength 40, no tax_free.
        for body in ({"merchant_uid": "p2"}, {"merchant_uid": "x" * 41, "amount": 1},
                     {"merchant_uid": "p2", "amount": 1, "tax_free": 0},
                     {"merchant_uid": "p2", "amount": "1"}):
            status, refused = self.api("POST", "/payments/prepare", body)
            self.assertEqual((status, refused["code"]), (400, -1), body)
        self.assertEqual(self.api("POST", "/payments/prepare",
                                  {"merchant_uid": "p3", "amount": 0})[1]["code"], 1)
        self.assertEqual(self.sim.call("GET", "/payments/prepare/p1")[0], 401)

    def test_checkout_of_another_amount_is_stopped_and_recorded_as_failed(self):
        self.api("POST", "/payments/prepare", {"merchant_uid": "p1", "amount": 10000})
        status, answer = self.sim.call("POST", "/__sim/payments", {
            "merchant_uid": "p1", "amount": 9000, "notice_url": [self.receiver.url]})
        self.assertEqual(status, 409)
        self.assertIn("10000", answer["error"])
        failed = answer["payment"]
        self.assertEqual((failed["status"], failed["paid_at"]), ("failed", 0))
        self.assertIn("10000", failed["fail_reason"])
        _, fetched = self.api("GET", "/payments/" + failed["imp_uid"])
        self.assertEqual(fetched["response"]["status"], "failed")
        status, paid = self.sim.call("POST", "/__sim/payments", {
            "merchant_uid": "p1", "amount": 9000, "ignore_prepare": True, "webhook": False})
        self.assertEqual((status, paid["status"], paid["amount"]), (200, "paid", 9000))
        status, same = self.sim.call("POST", "/__sim/payments",
                                     {"merchant_uid": "p1", "amount": 10000, "webhook": False})
        self.assertEqual((status, same["status"]), (200, "paid"))
        self.api("POST", "/payments/prepare",
                 {"merchant_uid": "p2", "amount": 10000, "currency": "USD"})
        self.assertEqual(self.sim.call("POST", "/__sim/payments",
                                       {"merchant_uid": "p2", "amount": 10000})[0], 409)
        time.sleep(0.2)
        self.assertEqual(self.receiver.received, [], "no notice for a stopped checkout")

    def test_vbank_and_benepia_of_another_amount_are_refused(self):
        self.api("POST", "/payments/prepare", {"merchant_uid": "p1", "amount": 10000})
        status, answer = self.vbank("p1", 9000)
        self.assertEqual((status, answer["code"], answer["response"]), (200, 1, None))
        self.assertIn("10000", answer["message"])
        body = {"benepia_user": "u", "benepia_password": "pw", "merchant_uid": "p1",
                "amount": 9000, "name": "n", "channel_key": "ck"}
        status, answer = self.api("POST", "/benepia/payment", body)
        self.assertEqual((status, answer["code"]), (200, 1))
        self.assertEqual(self.api("GET", "/payments/find/p1")[0], 404, "nothing was made")
        status, answer = self.vbank("p1", 10000)
        self.assertEqual((status, answer["code"]), (200, 0))

    # --- revoked virtual accounts -----------------------------------------------------------

    def test_revoke_a_ready_vbank_then_a_deposit_is_refused(self):
        _, issued = self.vbank(notice_url=[self.receiver.url])
        imp_uid = issued["response"]["imp_uid"]
        status, answer = self.sim.call("DELETE", f"/vbanks/{imp_uid}?pg_api_key=pgsecret",
                                       token=self.token)
        self.assertEqual((status, answer["code"]), (200, 0))
        revoked = answer["response"]
        self.assertEqual((revoked["status"], revoked["cancel_amount"], revoked["cancel_history"],
                          revoked["paid_at"]), ("cancelled", 0, [], 0))
        self.assertGreater(revoked["cancelled_at"], 0)
        self.assertNotIn("revoked_at", revoked)
        self.assertEqual(self.control_payment(imp_uid)["revoked_at"], revoked["cancelled_at"])
        status, deposit = self.sim.call("POST", "/__sim/deposit", {"imp_uid": imp_uid})
        self.assertEqual(status, 409)
        self.assertIn("revoked", deposit["error"])
        self.assertEqual(self.api("GET", "/payments/" + imp_uid)[1]["response"]["status"],
                         "cancelled")
        status, again = self.api("DELETE", f"/vbanks/{imp_uid}")
        self.assertEqual((status, again["code"]), (400, 1))
        self.assertEqual(self.api("DELETE", "/vbanks/imps_none")[0], 404)
        self.assertEqual(self.api("DELETE", f"/vbanks/{imp_uid}?other=1")[0], 400)
        time.sleep(0.2)
        statuses = [json.loads(raw)["status"] for _, raw in self.receiver.received]
        self.assertEqual(statuses, ["ready"], "a revoke sends no notice")
        _, log = self.sim.call("GET", "/__sim/requests?endpoint=DELETE%20/vbanks/{imp_uid}")
        self.assertNotIn("pgsecret", json.dumps(log))
        self.assertEqual(log["requests"][0]["merchant_uid"], "v1")

    def test_revoke_is_refused_once_deposited_or_not_a_vbank(self):
        imp_uid = self.paid_vbank()
        status, answer = self.api("DELETE", f"/vbanks/{imp_uid}")
        self.assertEqual((status, answer["code"], answer["response"]), (400, 1, None))
        self.assertEqual(self.api("GET", "/payments/" + imp_uid)[1]["response"]["status"], "paid")
        self.assertEqual(self.control_payment(imp_uid)["revoked_at"], 0)
        _, card = self.sim.call("POST", "/__sim/payments", {"merchant_uid": "c1", "amount": 10,
                                                             "webhook": False})
        self.assertEqual(self.api("DELETE", "/vbanks/" + card["imp_uid"])[0], 400)

    # --- cash receipts ----------------------------------------------------------------------

    def test_cash_receipt_issued_read_cancelled_and_issued_again(self):
        imp_uid = self.paid_vbank(amount=10000)
        self.api("POST", "/payments/cancel", {"imp_uid": imp_uid, "amount": 3000,
                                              "refund_holder": "h", "refund_bank": "004",
                                              "refund_account": "1"})
        status, answer = self.api("POST", "/receipts/" + imp_uid,
                                  {"identifier": PHONE, "identifier_type": "phone",
                                   "type": "person", "buyer_name": "홍길동"})
        self.assertEqual((status, answer["code"]), (200, 0), answer)
        receipt = answer["response"]
        self.assertEqual(set(receipt), RECEIPT_FIELDS)
        self.assertEqual((receipt["imp_uid"], receipt["type"], receipt["amount"], receipt["vat"],
                          receipt["cancelled_at"]), (imp_uid, "person", 7000, 636, 0))
        self.assertGreater(receipt["applied_at"], 0)
        status, twice = self.api("POST", "/receipts/" + imp_uid, {"identifier": PHONE})
        self.assertEqual((status, twice["code"]), (400, 1))
        self.assertEqual(self.api("GET", "/receipts/" + imp_uid)[1]["response"], receipt)
        status, cancelled = self.api("DELETE", "/receipts/" + imp_uid)
        self.assertEqual((status, cancelled["response"]["apply_num"]),
                         (200, receipt["apply_num"]))
        self.assertGreater(cancelled["response"]["cancelled_at"], 0)
        self.assertEqual(self.api("DELETE", "/receipts/" + imp_uid)[:1], (400,))
        status, fresh = self.api("POST", "/receipts/" + imp_uid,
                                 {"identifier": "1234567890", "type": "company",
                                  "tax_free": 2000})
        self.assertEqual(status, 200)
        self.assertNotEqual(fresh["response"]["apply_num"], receipt["apply_num"])
        self.assertEqual((fresh["response"]["type"], fresh["response"]["vat"]), ("company", 455))
        self.assertEqual(self.api("GET", "/receipts/" + imp_uid)[1]["response"],
                         fresh["response"])
        _, listed = self.sim.call("GET", "/__sim/receipts?imp_uid=" + imp_uid)
        self.assertEqual([(r["identifier"], r["state"], r["tax_free"], r["amount"])
                          for r in listed["receipts"]],
                         [("*******5678", "cancelled", 0, 7000), ("******7890", "issued", 2000,
                                                                  7000)])
        self.assertEqual(listed["receipts"][0]["identifier_type"], "phone")
        _, log = self.sim.call("GET", "/__sim/requests")
        self.assertNotIn(PHONE, json.dumps(log))
        self.assertNotIn("1234567890", json.dumps(log))
        self.assertEqual(self.sim.call("GET", "/__sim/receipts?imp_uid=other")[1]["receipts"], [])

    def test_cash_receipt_refusals(self):
        self.assertEqual(self.api("POST", "/receipts/imps_none", {"identifier": PHONE})[0], 404)
        self.assertEqual(self.api("GET", "/receipts/imps_none")[0], 404)
        self.assertEqual(self.api("DELETE", "/receipts/imps_none")[0], 404)
        _, ready = self.vbank("r1")
        ready_uid = ready["response"]["imp_uid"]
        status, answer = self.api("POST", "/receipts/" + ready_uid, {"identifier": PHONE})
        self.assertEqual((status, answer["code"]), (400, 1), "not paid")
        self.assertEqual(self.api("GET", "/receipts/" + ready_uid)[0], 404, "none issued")
        status, answer = self.api("DELETE", "/receipts/" + ready_uid)
        self.assertEqual((status, answer["code"]), (400, 1), "none issued")
        _, card = self.sim.call("POST", "/__sim/payments", {"merchant_uid": "c1", "amount": 10,
                                                             "webhook": False})
        status, answer = self.api("POST", "/receipts/" + card["imp_uid"], {"identifier": PHONE})
        self.assertEqual((status, answer["code"]), (400, 1), "not a cash payment")
        paid = self.paid_vbank("r2")
        for body in ({}, {"identifier": PHONE, "type": "personal"},
                     {"identifier": PHONE, "identifier_type": "email"},
                     {"identifier": PHONE, "unknown": 1}):
            status, answer = self.api("POST", "/receipts/" + paid, body)
            self.assertEqual((status, answer["code"]), (400, -1), body)
        status, answer = self.api("POST", "/receipts/" + paid,
                                  {"identifier": PHONE, "tax_free": 10001})
        self.assertEqual((status, answer["code"]), (400, 1))

    # --- tax-free amounts -------------------------------------------------------------------

    def test_tax_free_recorded_on_issue_and_cancels(self):
        status, answer = self.vbank("t1", 10000, tax_free=10001)
        self.assertEqual((status, answer["code"]), (200, 1))
        imp_uid = self.paid_vbank("t1", 10000, tax_free=4000)
        self.assertNotIn("tax_free", self.api("GET", "/payments/" + imp_uid)[1]["response"])
        self.assertEqual(self.control_payment(imp_uid)["tax_free"], 4000)
        refund = {"refund_holder": "h", "refund_bank": "004", "refund_account": "1"}

        def cancel(amount, tax_free=None):
            body = dict(refund, imp_uid=imp_uid, amount=amount)
            if tax_free is not None:
                body["tax_free"] = tax_free
            return self.api("POST", "/payments/cancel", body)

        self.assertEqual(cancel(3000, 3500)[1]["code"], 1, "more tax-free than cancelled")
        self.assertEqual(cancel(3000, 1.5)[1]["code"], 1, "not whole won")
        self.assertEqual(cancel(5000)[1]["code"], 0, "taxable 5000 of 6000")
        status, answer = cancel(2000, 0)
        self.assertEqual((status, answer["code"]), (200, 1), "taxable 2000 of 1000 left")
        self.assertIn("tax_free", answer["message"])
        self.assertEqual(cancel(2000, 1500)[1]["code"], 0)
        self.assertEqual(cancel(3000)[1]["code"], 1, "a full cancel takes the tax-free rest")
        self.assertEqual(cancel(3000, 3000)[1]["code"], 1, "more than the 2500 tax-free left")
        status, answer = cancel(3000, 2500)
        self.assertEqual((status, answer["response"]["status"]), (200, "cancelled"))
        self.assertTrue(all("tax_free" not in e for e in answer["response"]["cancel_history"]))
        view = self.control_payment(imp_uid)
        self.assertEqual((view["tax_free"], view["tax_free_cancelled"]), (4000, 4000))
        self.assertEqual([(e["amount"], e["tax_free"]) for e in view["cancel_history"]],
                         [(5000, 0), (2000, 1500), (3000, 2500)])
        body = {"benepia_user": "u", "benepia_password": "pw", "merchant_uid": "t2",
                "amount": 1000, "name": "n", "channel_key": "ck", "tax_free": 0}
        status, answer = self.api("POST", "/benepia/payment", body)
        self.assertEqual((status, answer["code"]), (400, -1), "not in the Swagger file")
        _, card = self.sim.call("POST", "/__sim/payments", {"merchant_uid": "t3", "amount": 100,
                                                             "tax_free": 30, "webhook": False})
        self.assertEqual(self.control_payment(card["imp_uid"])["tax_free"], 30)
        self.assertEqual(self.sim.call("POST", "/__sim/payments",
                                       {"merchant_uid": "t4", "amount": 100,
                                        "tax_free": 101})[0], 400)

    # --- faults and the request log ---------------------------------------------------------

    def test_every_new_endpoint_takes_faults_and_is_logged(self):
        imp_uid = self.paid_vbank("f1")
        self.api("POST", "/payments/prepare", {"merchant_uid": "f1", "amount": 10000})
        calls = {"POST /payments/prepare": ("POST", "/payments/prepare",
                                            {"merchant_uid": "f2", "amount": 1}),
                 "PUT /payments/prepare": ("PUT", "/payments/prepare",
                                           {"merchant_uid": "f1", "amount": 1}),
                 "GET /payments/prepare/{merchant_uid}": ("GET", "/payments/prepare/f1", None),
                 "DELETE /vbanks/{imp_uid}": ("DELETE", "/vbanks/" + imp_uid, None),
                 "POST /receipts/{imp_uid}": ("POST", "/receipts/" + imp_uid,
                                              {"identifier": PHONE}),
                 "GET /receipts/{imp_uid}": ("GET", "/receipts/" + imp_uid, None),
                 "DELETE /receipts/{imp_uid}": ("DELETE", "/receipts/" + imp_uid, None)}
        self.assertEqual(sorted(calls), sorted(NEW_ENDPOINTS))
        self.sim.call("DELETE", "/__sim/requests")
        for name, (method, path, body) in calls.items():
            with self.subTest(endpoint=name):
                self.sim.call("POST", "/__sim/faults", {"endpoint": name, "kind": "http_error",
                                                        "status": 503})
                self.assertEqual(self.api(method, path, body)[0], 503)
                self.sim.call("POST", "/__sim/faults", {"endpoint": name, "kind": "code",
                                                        "code": 7, "message": "m"})
                self.assertEqual(self.api(method, path, body)[1]["code"], 7)
                _, log = self.sim.call("GET", "/__sim/requests?endpoint=" +
                                       name.replace(" ", "%20"))
                self.assertEqual([r["faults"] for r in log["requests"]],
                                 [["http_error"], ["code"]])
                self.assertEqual(log["requests"][0]["merchant_uid"], "f2" if body and body.get(
                    "merchant_uid") == "f2" else "f1")
        self.assertEqual(self.api("GET", "/payments/prepare/f2")[0], 404, "no work on faults")
        self.assertEqual(self.api("GET", "/receipts/" + imp_uid)[0], 404)

    def test_lost_answers_and_delays_on_new_endpoints(self):
        _, issued = self.vbank("d1")
        imp_uid = issued["response"]["imp_uid"]
        self.sim.call("POST", "/__sim/faults", {"endpoint": "DELETE /vbanks/{imp_uid}",
                                                "kind": "proxy_error"})
        status, headers, body = self.sim.raw("DELETE", "/vbanks/" + imp_uid,
                                             headers={"Authorization": self.token})
        self.assertEqual(status, 502)
        self.assertIn(b"<html>", body)
        self.assertEqual(self.api("GET", "/payments/" + imp_uid)[1]["response"]["status"],
                         "cancelled", "the revoke was made")
        self.sim.call("POST", "/__sim/faults", {"endpoint": "POST /payments/prepare",
                                                "kind": "drop"})
        request = urllib.request.Request(
            self.sim.base + "/payments/prepare", method="POST",
            data=json.dumps({"merchant_uid": "d2", "amount": 5}).encode(),
            headers={"Content-Type": "application/json", "Authorization": self.token})
        with self.assertRaises((urllib.error.URLError, ConnectionError, socket.error)):
            urllib.request.urlopen(request, timeout=10)
        self.assertEqual(self.api("GET", "/payments/prepare/d2")[1]["response"]["amount"], 5)
        for kind in ("latency", "slow_answer"):
            self.sim.call("POST", "/__sim/faults", {"endpoint": "GET /receipts/{imp_uid}",
                                                    "kind": kind, "latency_ms": 300})
            started = time.time()
            self.assertEqual(self.api("GET", "/receipts/" + imp_uid)[0], 404)
            self.assertGreaterEqual(time.time() - started, 0.3, kind)


if __name__ == "__main__":
    unittest.main()
