"""Control endpoints: faults, clock, token expiry, checkout payments, webhooks (JSON and form)."""

import json
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from sim_testing import Sim, WebhookReceiver


def wait_for(predicate, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


class Control(unittest.TestCase):
    def setUp(self):
        self.receiver = WebhookReceiver()

    def tearDown(self):
        self.receiver.close()

    def test_webhooks_json_on_issue_deposit_and_cancel(self):
        sim = Sim()
        try:
            token = sim.token()
            body = {"merchant_uid": "w1", "amount": 500, "vbank_code": "004",
                    "vbank_due": int(time.time()) + 3600, "channel_key": "ck",
                    "notice_url": [self.receiver.url]}
            _, answer = sim.call("POST", "/vbanks", body, token)
            imp_uid = answer["response"]["imp_uid"]
            sim.call("POST", "/__sim/deposit", {"imp_uid": imp_uid})
            sim.call("POST", "/payments/cancel",
                     {"imp_uid": imp_uid, "enable_webhook": True, "refund_holder": "h",
                      "refund_bank": "004", "refund_account": "1"}, token)
            self.assertTrue(wait_for(lambda: len(self.receiver.received) == 3))
            bodies = [json.loads(raw) for _, raw in self.receiver.received]
            self.assertEqual([b["status"] for b in bodies], ["ready", "paid", "cancelled"])
            self.assertTrue(all(b["imp_uid"] == imp_uid for b in bodies))
            self.assertIn("cancellation_id", bodies[2])
            # The simulator logs a delivery once the receiver has answered it, which may be just
            # after the receiver has the body.
            self.assertTrue(wait_for(
                lambda: len(sim.call("GET", "/__sim/webhooks")[1]["deliveries"]) == 3))
            _, log = sim.call("GET", "/__sim/webhooks")
            self.assertEqual(len(log["deliveries"]), 3)
            self.assertEqual(log["deliveries"][0]["http_status"], 200)
        finally:
            self.assertEqual(sim.stop(), 0)

    def test_webhooks_form_for_checkout_payment(self):
        sim = Sim("--webhook-format", "form")
        try:
            sim.call("POST", "/__sim/payments", {"merchant_uid": "f1", "amount": 123,
                                                  "notice_url": [self.receiver.url]})
            self.assertTrue(wait_for(lambda: len(self.receiver.received) == 1))
            content_type, raw = self.receiver.received[0]
            self.assertEqual(content_type, "application/x-www-form-urlencoded")
            fields = dict(urllib.parse.parse_qsl(raw.decode()))
            self.assertEqual(fields["status"], "paid")
            self.assertEqual(fields["merchant_uid"], "f1")
        finally:
            sim.stop()

    def test_faults_clock_and_token_expiry(self):
        sim = Sim()
        try:
            token = sim.token()
            sim.call("POST", "/__sim/faults", {"endpoint": "GET /payments/{imp_uid}",
                                               "kind": "http_error", "status": 503, "count": 2})
            self.assertEqual(sim.call("GET", "/payments/x", token=token)[0], 503)
            self.assertEqual(sim.call("GET", "/payments/x", token=token)[0], 503)
            self.assertEqual(sim.call("GET", "/payments/x", token=token)[0], 404)
            sim.call("POST", "/__sim/faults", {"endpoint": "*", "kind": "code", "code": 7,
                                               "message": "m"})
            status, answer = sim.call("GET", "/payments/x", token=token)
            self.assertEqual((status, answer["code"], answer["message"]), (200, 7, "m"))
            sim.call("POST", "/__sim/tokens/expire", {})
            self.assertEqual(sim.call("GET", "/payments/x", token=token)[0], 401)
            self.assertNotEqual(sim.token(), token)
            _, clock = sim.call("POST", "/__sim/clock", {"offset_seconds": -3600})
            self.assertLess(abs(clock["now"] - (time.time() - 3600)), 5)
            started = time.time()
            sim.call("POST", "/__sim/faults", {"endpoint": "POST /users/getToken",
                                               "kind": "latency", "latency_ms": 300})
            sim.token()
            self.assertGreaterEqual(time.time() - started, 0.3)
        finally:
            sim.stop()

    def test_proxy_error_answers_html_after_doing_the_work(self):
        sim = Sim()
        try:
            token = sim.token()
            sim.call("POST", "/__sim/faults", {"endpoint": "POST /benepia/payment",
                                               "kind": "proxy_error"})
            body = json.dumps({"benepia_user": "u", "benepia_password": "p", "merchant_uid": "px1",
                               "amount": 700, "name": "n", "channel_key": "ck"}).encode()
            request = urllib.request.Request(
                sim.base + "/benepia/payment", data=body, method="POST",
                headers={"Content-Type": "application/json", "Authorization": token})
            with self.assertRaises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=10)
            self.assertEqual(caught.exception.code, 502)
            self.assertIn(b"<html>", caught.exception.read())
            status, found = sim.call("GET", "/payments/find/px1", token=token)
            self.assertEqual((status, found["response"]["status"]), (200, "paid"))
        finally:
            sim.stop()

    def test_reset_cuts_the_connection_before_the_work(self):
        sim = Sim()
        try:
            token = sim.token()
            sim.call("POST", "/__sim/faults", {"endpoint": "POST /benepia/payment",
                                               "kind": "reset"})
            body = json.dumps({"benepia_user": "u", "benepia_password": "p", "merchant_uid": "rs1",
                               "amount": 700, "name": "n", "channel_key": "ck"}).encode()
            request = urllib.request.Request(
                sim.base + "/benepia/payment", data=body, method="POST",
                headers={"Content-Type": "application/json", "Authorization": token})
            with self.assertRaises((urllib.error.URLError, ConnectionError)):
                urllib.request.urlopen(request, timeout=10)
            self.assertEqual(sim.call("GET", "/payments/find/rs1", token=token)[0], 404)
            _, log = sim.call("GET", "/__sim/requests?endpoint=POST%20/benepia/payment")
            self.assertEqual(log["requests"][0]["faults"], ["reset"])
        finally:
            sim.stop()

    def test_deposit_without_webhook_and_webhooks_sent_again(self):
        sim = Sim()
        try:
            token = sim.token()
            body = {"merchant_uid": "dw1", "amount": 500, "vbank_code": "004",
                    "vbank_due": int(time.time()) + 3600, "channel_key": "ck",
                    "notice_url": [self.receiver.url]}
            _, answer = sim.call("POST", "/vbanks", body, token)
            imp_uid = answer["response"]["imp_uid"]
            self.assertTrue(wait_for(lambda: len(self.receiver.received) == 1))
            status, paid = sim.call("POST", "/__sim/deposit", {"imp_uid": imp_uid,
                                                               "webhook": False})
            self.assertEqual((status, paid["status"]), (200, "paid"))
            time.sleep(0.3)
            self.assertEqual(len(self.receiver.received), 1, "the deposit's notice is lost")
            # iamport may repeat a notice, or send an old one late.
            status, sent = sim.call("POST", "/__sim/webhooks/send", {"imp_uid": imp_uid})
            self.assertEqual((status, sent["status"]), (200, "paid"))
            sim.call("POST", "/__sim/webhooks/send", {"imp_uid": imp_uid, "status": "ready",
                                                      "delay_ms": 200})
            self.assertTrue(wait_for(lambda: len(self.receiver.received) == 3))
            statuses = [json.loads(raw)["status"] for _, raw in self.receiver.received]
            self.assertEqual(statuses, ["ready", "paid", "ready"])
            self.assertEqual(sim.call("POST", "/__sim/webhooks/send", {"imp_uid": "nope"})[0], 404)
            self.assertEqual(sim.call("POST", "/__sim/webhooks/send",
                                      {"imp_uid": imp_uid, "status": "odd"})[0], 400)
        finally:
            sim.stop()

    def test_faults_with_a_probability_and_a_latency_range(self):
        sim = Sim()
        try:
            token = sim.token()
            sim.call("POST", "/__sim/faults", {"endpoint": "GET /payments/{imp_uid}",
                                               "kind": "http_error", "status": 503,
                                               "probability": 0.3, "count": 1000})
            statuses = [sim.call("GET", "/payments/x", token=token)[0] for _ in range(200)]
            self.assertTrue(20 <= statuses.count(503) <= 100, statuses.count(503))
            self.assertEqual(set(statuses), {404, 503})
            _, faults = sim.call("GET", "/__sim/faults")
            self.assertEqual(faults["faults"][0]["count"], 1000 - statuses.count(503))
            self.assertEqual(sim.call("POST", "/__sim/faults", {"kind": "drop",
                                                               "probability": 0})[0], 400)
            sim.call("DELETE", "/__sim/faults")
            sim.call("POST", "/__sim/faults", {"endpoint": "GET /payments/{imp_uid}",
                                               "kind": "latency", "latency_ms": 100,
                                               "latency_ms_max": 300, "count": 3})
            for _ in range(3):
                started = time.time()
                sim.call("GET", "/payments/x", token=token)
                self.assertTrue(0.1 <= time.time() - started < 0.6)
        finally:
            sim.stop()

    def test_a_fault_for_a_while(self):
        sim = Sim()
        try:
            token = sim.token()
            sim.call("POST", "/__sim/faults", {"endpoint": "*", "kind": "http_error",
                                               "status": 503, "count": 1000,
                                               "duration_ms": 400})
            self.assertEqual(sim.call("GET", "/payments/x", token=token)[0], 503)
            self.assertEqual(len(sim.call("GET", "/__sim/faults")[1]["faults"]), 1)
            time.sleep(0.5)
            self.assertEqual(sim.call("GET", "/payments/x", token=token)[0], 404)
            self.assertEqual(sim.call("GET", "/__sim/faults")[1]["faults"], [])
        finally:
            sim.stop()

    def test_requests_and_payments_filtered_by_merchant_uid(self):
        sim = Sim()
        try:
            token = sim.token()
            for merchant_uid in ("fm1", "fm2"):
                sim.call("POST", "/__sim/payments", {"merchant_uid": merchant_uid, "amount": 10,
                                                      "webhook": False})
            _, found = sim.call("GET", "/__sim/payments?merchant_uid=fm2")
            self.assertEqual([p["merchant_uid"] for p in found["payments"]], ["fm2"])
            imp_uid = found["payments"][0]["imp_uid"]
            sim.call("GET", "/payments/" + imp_uid, token=token)
            sim.call("GET", "/payments/find/fm2", token=token)
            sim.call("GET", "/payments/find/fm1", token=token)
            sim.call("POST", "/payments/cancel", {"imp_uid": imp_uid}, token)
            _, log = sim.call("GET", "/__sim/requests?merchant_uid=fm2")
            self.assertEqual([r["endpoint"] for r in log["requests"]],
                             ["GET /payments/{imp_uid}", "GET /payments/find/{merchant_uid}",
                              "POST /payments/cancel"])
            self.assertTrue(all(r["faults"] == [] for r in log["requests"]))
        finally:
            sim.stop()


if __name__ == "__main__":
    unittest.main()
