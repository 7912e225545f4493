"""The browser side: the SDK stand-in and the test payment window are served, and what the
window posts makes the payments iamport would make; the console lists them with Deposit
buttons. (A real browser drives them in tests/browser.)"""

import json
import time
import unittest
import urllib.parse

from sim_testing import SimTestCase

STOREFRONT = "http://127.0.0.1:3000"


class Checkout(SimTestCase, unittest.TestCase):
    def params(self, merchant_uid="o1", amount=32000, **extra):
        return {"pg": "html5_inicis.INIpayTest", "pay_method": "card",
                "merchant_uid": merchant_uid, "name": "원두 1kg", "amount": amount,
                "buyer_email": "buyer@example.com", "buyer_name": "홍길동",
                "buyer_tel": "010-1234-5678", "notice_url": self.receiver.url, **extra}

    def open(self, params):
        status, answer = self.sim.call("POST", "/checkout/open", {"params": params})
        self.assertEqual(status, 200)
        return answer

    def pay(self, action, params):
        status, answer = self.sim.call("POST", "/checkout/pay",
                                       {"action": action, "params": params})
        self.assertEqual(status, 200)
        return answer

    def fetched(self, imp_uid):
        return self.sim.call("GET", "/payments/" + imp_uid, token=self.token)[1]["response"]

    def notices(self, count):
        deadline = time.time() + 5
        while time.time() < deadline and len(self.receiver.received) < count:
            time.sleep(0.02)
        time.sleep(0.1)
        return [json.loads(raw)["status"] for _, raw in self.receiver.received]

    def test_sdk_is_served_as_javascript_at_both_names(self):
        bodies = []
        for path in ("/js/iamport.payment.js", "/js/iamport.payment-1.2.0.js"):
            status, headers, body = self.sim.raw("GET", path, headers={"Origin": STOREFRONT})
            self.assertEqual(status, 200)
            self.assertEqual(headers["Content-Type"], "application/javascript; charset=utf-8")
            self.assertEqual(headers["Access-Control-Allow-Origin"], "*")
            bodies.append(body)
        self.assertEqual(bodies[0], bodies[1])
        script = bodies[0].decode()
        for needle in ("window.IMP", "request_pay", "init:", "imp-sim-frame", "imp-sim-overlay",
                       "event.origin !== SIM",
                       f'"http://127.0.0.1:{self.sim.port}"'):
            self.assertIn(needle, script)
        self.assertNotIn("__SIM_ORIGIN__", script)

    def test_window_page_has_the_stable_button_ids(self):
        query = urllib.parse.urlencode({"session": "s", "parent_origin": STOREFRONT,
                                        "params": json.dumps(self.params())})
        status, headers, body = self.sim.raw("GET", "/checkout?" + query)
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.assertNotIn("X-Frame-Options", headers, "the window must be framable")
        page = body.decode()
        for element in ('id="checkout"', 'id="approve"', 'id="decline"', 'id="close"',
                        'id="issue-vbank"', 'id="vbank-num"', 'data-state="loading"',
                        "postMessage(message, target)"):
            self.assertIn(element, page)

    def test_approve_makes_a_paid_card_payment_with_its_notice(self):
        params = self.params(custom_data={"cart": [1, 2]}, tax_free=2000)
        opened = self.open(params)
        self.assertTrue(opened["ok"])
        self.assertEqual((opened["order"]["amount"], opened["order"]["pay_method"]),
                         (32000, "card"))
        answer = self.pay("approve", params)
        response = answer["response"]
        self.assertIsNone(answer["redirect"])
        self.assertEqual((response["success"], response["status"], response["paid_amount"],
                          response["pay_method"], response["merchant_uid"],
                          response["error_code"], response["error_msg"]),
                         (True, "paid", 32000, "card", "o1", None, None))
        for name in ("vbank_num", "vbank_name", "vbank_holder", "vbank_date"):
            self.assertIn(name, response)
        payment = self.fetched(response["imp_uid"])
        self.assertEqual((payment["status"], payment["amount"], payment["pg_provider"],
                          payment["channel"], payment["buyer_name"], payment["name"]),
                         ("paid", 32000, "html5_inicis", "pc", "홍길동", "원두 1kg"))
        self.assertEqual(json.loads(payment["custom_data"]), {"cart": [1, 2]})
        _, found = self.sim.call("GET", "/__sim/payments?merchant_uid=o1")
        self.assertEqual(found["payments"][0]["tax_free"], 2000)
        self.assertEqual(self.notices(1), ["paid"])
        again = self.open(self.params())
        self.assertEqual((again["ok"], again["result"]["response"]["error_code"]),
                         (False, "F1004"), "a paid merchant_uid opens no window")

    def test_decline_and_close_record_failed_payments_without_notices(self):
        declined = self.pay("decline", self.params("o2"))["response"]
        self.assertEqual((declined["success"], declined["status"], declined["error_code"],
                          declined["paid_amount"]), (False, "failed", "F1001", 0))
        self.assertEqual(self.fetched(declined["imp_uid"])["fail_reason"], declined["error_msg"])
        closed = self.pay("close", self.params("o2"))["response"]
        self.assertEqual((closed["success"], closed["status"], closed["error_code"],
                          closed["error_msg"]), (False, "failed", "F1002",
                                                 "사용자가 결제를 취소하셨습니다"))
        self.assertNotEqual(closed["imp_uid"], declined["imp_uid"])
        self.assertEqual(self.notices(0), [])
        approved = self.pay("approve", self.params("o2"))["response"]
        self.assertTrue(approved["success"], "a failed attempt leaves the order payable")

    def test_vbank_issue_then_deposit_from_the_console(self):
        params = self.params("o3", pay_method="vbank", vbank_due="203001011200")
        self.assertEqual(self.pay("approve", params)["response"]["error_code"], "F1000")
        response = self.pay("issue_vbank", params)["response"]
        self.assertEqual((response["success"], response["status"], response["paid_amount"]),
                         (True, "ready", 32000))
        self.assertTrue(response["vbank_num"] and response["vbank_name"]
                        and response["vbank_holder"])
        self.assertEqual(response["vbank_date"], 1893466800)  # 2030-01-01 12:00 KST
        self.assertEqual(self.notices(1), ["ready"])
        imp_uid = response["imp_uid"]
        status, headers, body = self.sim.raw("GET", "/__sim/console")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        page = body.decode()
        self.assertIn(f'id="deposit-{imp_uid}" data-imp-uid="{imp_uid}"', page)
        self.assertIn('id="console-message"', page)
        self.assertIn("/__sim/deposit", page)
        self.sim.call("POST", "/__sim/deposit", {"imp_uid": imp_uid})
        self.assertEqual(self.fetched(imp_uid)["status"], "paid")
        self.assertNotIn(f'id="deposit-{imp_uid}"', self.sim.raw("GET", "/__sim/console")[2]
                         .decode(), "no Deposit button once paid")
        self.assertEqual(self.notices(2), ["ready", "paid"])

    def test_a_registered_amount_stops_the_window(self):
        self.sim.call("POST", "/payments/prepare", {"merchant_uid": "o4", "amount": 32000},
                      self.token)
        opened = self.open(self.params("o4", amount=100))
        self.assertFalse(opened["ok"])
        response = opened["result"]["response"]
        self.assertEqual((response["success"], response["error_code"], response["status"]),
                         (False, "F1003", "failed"))
        self.assertIn("32000", response["error_msg"])
        self.assertEqual(self.fetched(response["imp_uid"])["status"], "failed")
        self.assertEqual(self.pay("approve", self.params("o4", amount=100))["response"]
                         ["error_code"], "F1003", "a window opened anyway is stopped too")
        self.assertTrue(self.open(self.params("o4"))["ok"])
        self.assertTrue(self.pay("approve", self.params("o4"))["response"]["success"])
        _, found = self.sim.call("GET", "/__sim/payments?merchant_uid=o4")
        self.assertEqual(sorted(p["status"] for p in found["payments"]),
                         ["failed", "failed", "paid"])
        self.assertEqual(self.notices(1), ["paid"])

    def test_m_redirect_url_gets_the_result_in_its_query(self):
        target = STOREFRONT + "/done?step=1"
        answer = self.pay("approve", self.params("o5", m_redirect_url=target))
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer["redirect"]).query))
        self.assertTrue(answer["redirect"].startswith(target + "&"))
        self.assertEqual(query, {"step": "1", "imp_uid": answer["response"]["imp_uid"],
                                 "merchant_uid": "o5", "imp_success": "true"})
        answer = self.pay("close", self.params("o6", m_redirect_url=STOREFRONT + "/done"))
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer["redirect"]).query))
        self.assertEqual((query["imp_success"], query["error_code"], query["error_msg"]),
                         ("false", "F1002", "사용자가 결제를 취소하셨습니다"))

    def test_bad_requests(self):
        for params in ({"merchant_uid": "o7"}, self.params(amount=-1),
                       self.params(amount=1.5), self.params(tax_free=40000),
                       self.params(pay_method="cash"), self.params(merchant_uid="x" * 41),
                       self.params(pay_method="vbank", vbank_due="tomorrow")):
            with self.subTest(params=params):
                answer = self.open(params)
                self.assertEqual((answer["ok"], answer["result"]["response"]["error_code"]),
                                 (False, "F1000"))
        self.assertEqual(self.pay("refund", self.params())["response"]["error_code"], "F1000")
        self.assertEqual(self.sim.call("POST", "/checkout/pay", {"action": "approve"})[0], 400)
        self.assertTrue(self.open(self.params("o8", amount="5000"))["ok"], "'5000' is taken")
        _, found = self.sim.call("GET", "/__sim/payments")
        self.assertEqual(found["payments"], [], "no payment from a bad request")


if __name__ == "__main__":
    unittest.main()
