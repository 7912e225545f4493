"""The simulated iamport API behaves like the real one (see NOTES.md)."""

import time
import unittest

from sim_testing import KEY, SECRET, Sim


class Api(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Sim()

    @classmethod
    def tearDownClass(cls):
        assert cls.sim.stop() == 0

    def setUp(self):
        self.sim.call("POST", "/__sim/reset", {})
        self.token = self.sim.token()

    def vbank(self, merchant_uid="m1", amount=10000, **extra):
        body = {"merchant_uid": merchant_uid, "amount": amount, "vbank_code": "088",
                "vbank_due": int(time.time()) + 86400, "channel_key": "ck", **extra}
        return self.sim.call("POST", "/vbanks", body, self.token)

    def test_token_lifetime_reuse_and_last_minute_extension(self):
        status, first = self.sim.call("POST", "/users/getToken",
                                      {"imp_key": KEY, "imp_secret": SECRET})
        self.assertEqual(status, 200)
        token = first["response"]
        self.assertTrue(30 * 60 - 5 <= token["expired_at"] - token["now"] <= 30 * 60)
        self.assertEqual(token["access_token"], self.token, "same token before expiry")
        self.sim.call("POST", "/__sim/clock", {"offset_seconds": 30 * 60 - 30})
        _, later = self.sim.call("POST", "/users/getToken", {"imp_key": KEY, "imp_secret": SECRET})
        self.assertEqual(later["response"]["access_token"], self.token)
        self.assertEqual(later["response"]["expired_at"], token["expired_at"] + 5 * 60)

    def test_find_all_lists_every_payment_of_a_merchant_uid_newest_first(self):
        first = self.sim.call("POST", "/__sim/payments", {"merchant_uid": "fa1", "amount": 10,
                                                           "status": "failed", "webhook": False})[1]
        second = self.sim.call("POST", "/__sim/payments", {"merchant_uid": "fa1", "amount": 10,
                                                            "webhook": False})[1]
        status, answer = self.sim.call("GET", "/payments/findAll/fa1", token=self.token)
        self.assertEqual(status, 200)
        page = answer["response"]
        self.assertEqual((page["total"], page["previous"], page["next"]), (2, 0, 0))
        self.assertEqual([p["imp_uid"] for p in page["list"]],
                         [second["imp_uid"], first["imp_uid"]])
        _, paid = self.sim.call("GET", "/payments/findAll/fa1/paid", token=self.token)
        self.assertEqual([p["imp_uid"] for p in paid["response"]["list"]], [second["imp_uid"]])
        _, paged = self.sim.call("GET", "/payments/findAll/fa1?limit=1&page=2", token=self.token)
        self.assertEqual((paged["response"]["previous"], paged["response"]["next"],
                          [p["imp_uid"] for p in paged["response"]["list"]]),
                         (1, 0, [first["imp_uid"]]))
        self.assertEqual(self.sim.call("GET", "/payments/findAll/none", token=self.token)[0], 404)
        self.assertEqual(self.sim.call("GET", "/payments/findAll/fa1?limit=0",
                                       token=self.token)[0], 400)

    def test_401_without_or_with_bad_token_and_bad_secret(self):
        self.assertEqual(self.sim.call("GET", "/payments/imps_1")[0], 401)
        self.assertEqual(self.sim.call("GET", "/payments/imps_1", token="nope")[0], 401)
        self.assertEqual(self.sim.call("POST", "/users/getToken",
                                       {"imp_key": KEY, "imp_secret": "bad"})[0], 401)
        self.assertEqual(self.sim.call("GET", "/payments/imps_1", token="Bearer " + self.token)[0],
                         404)

    def test_form_encoded_get_token(self):
        status, answer = self.sim.call("POST", "/users/getToken",
                                       form=f"imp_key={KEY}&imp_secret={SECRET}")
        self.assertEqual(status, 200)
        self.assertEqual(answer["code"], 0)

    def test_vbank_issue_update_and_find(self):
        status, answer = self.vbank(vbank_holder="홍길동")
        self.assertEqual((status, answer["code"]), (200, 0))
        payment = answer["response"]
        self.assertEqual(payment["status"], "ready")
        self.assertEqual(payment["vbank_name"], "신한은행")
        self.assertGreater(payment["vbank_issued_at"], 0)
        imp_uid = payment["imp_uid"]
        status, answer = self.sim.call("PUT", f"/vbanks/{imp_uid}", {"amount": 8000}, self.token)
        self.assertEqual(answer["response"]["amount"], 8000)
        status, answer = self.sim.call("GET", "/payments/find/m1/ready", token=self.token)
        self.assertEqual(answer["response"]["imp_uid"], imp_uid)
        self.assertEqual(self.sim.call("GET", "/payments/find/m1/paid", token=self.token)[0], 404)

    def test_put_vbank_400_when_not_ready(self):
        _, answer = self.vbank()
        imp_uid = answer["response"]["imp_uid"]
        self.sim.call("POST", "/__sim/deposit", {"imp_uid": imp_uid})
        status, _ = self.sim.call("PUT", f"/vbanks/{imp_uid}", {"amount": 1}, self.token)
        self.assertEqual(status, 400)

    def test_paid_merchant_uid_cannot_be_reused(self):
        _, answer = self.vbank()
        self.sim.call("POST", "/__sim/deposit", {"imp_uid": answer["response"]["imp_uid"]})
        status, again = self.vbank()
        self.assertEqual(status, 200)
        self.assertNotEqual(again["code"], 0)

    def test_benepia_approves_and_declines(self):
        body = {"benepia_user": "u", "benepia_password": "pw", "merchant_uid": "b1",
                "amount": 3000, "name": "포인트", "channel_key": "ck"}
        _, answer = self.sim.call("POST", "/benepia/payment", body, self.token)
        self.assertEqual(answer["response"]["status"], "paid")
        self.assertEqual(answer["response"]["pay_method"], "point")
        self.assertEqual(answer["response"]["pg_provider"], "kcp")
        status, answer = self.sim.call("POST", "/benepia/payment",
                                       dict(body, merchant_uid="b2", benepia_password="wrong"),
                                       self.token)
        self.assertEqual((status, answer["code"], answer["response"]), (500, -1, None))

    def test_cancel_checksum_partial_and_full(self):
        _, answer = self.vbank(amount=10000)
        imp_uid = answer["response"]["imp_uid"]
        self.sim.call("POST", "/__sim/deposit", {"imp_uid": imp_uid})
        refund = {"refund_holder": "홍길동", "refund_bank": "088", "refund_account": "1"}
        _, bad = self.sim.call("POST", "/payments/cancel",
                               {"imp_uid": imp_uid, "amount": 1000, "checksum": 9999, **refund},
                               self.token)
        self.assertNotEqual(bad["code"], 0)
        _, no_refund = self.sim.call("POST", "/payments/cancel",
                                     {"imp_uid": imp_uid, "amount": 1000}, self.token)
        self.assertNotEqual(no_refund["code"], 0)
        _, part = self.sim.call("POST", "/payments/cancel",
                                {"imp_uid": imp_uid, "amount": 4000, "checksum": 10000, **refund},
                                self.token)
        self.assertEqual(part["response"]["status"], "paid")
        self.assertEqual(part["response"]["cancel_amount"], 4000)
        self.assertEqual(len(part["response"]["cancel_history"]), 1)
        _, full = self.sim.call("POST", "/payments/cancel",
                                {"merchant_uid": "m1", "checksum": 6000, **refund}, self.token)
        self.assertEqual(full["response"]["status"], "cancelled")
        self.assertEqual(full["response"]["cancel_amount"], 10000)

    def test_unknown_fields_and_bad_types_are_400(self):
        status, answer = self.vbank(extra_field=1)
        self.assertEqual(status, 400)
        self.assertIn("extra_field", answer["message"])
        status, _ = self.vbank(amount="10000")
        self.assertEqual(status, 400)

    def test_request_log_masks_secrets(self):
        body = {"benepia_user": "u", "benepia_password": "topsecret", "merchant_uid": "b9",
                "amount": 1, "name": "n", "channel_key": "ck"}
        self.sim.call("POST", "/benepia/payment", body, self.token)
        _, log = self.sim.call("GET", "/__sim/requests")
        text = str(log)
        self.assertNotIn("topsecret", text)
        self.assertNotIn(SECRET, text)


if __name__ == "__main__":
    unittest.main()
