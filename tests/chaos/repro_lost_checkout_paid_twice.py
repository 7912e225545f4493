#!/usr/bin/env python3
"""A pending order paid twice at iamport, neither result reaching the gateway: found by the chaos
test (tests/chaos/README.md, "Findings"), reproduced here alone.

The buyer pays in the browser, the window closes before `complete` and iamport's notice is lost;
the order still shows unpaid, so the buyer pays again, with the same fate. iamport now holds two
paid payments for the merchant_uid. The lost-checkout look-up (25 s after creation) must see both
and send the order to needs_review (DUPLICATE_PAYMENT_POLICY=review), not mark it paid with one
of them while the other charge goes unseen. Exits 0 when it does, 1 if not.

    python3 tests/chaos/repro_lost_checkout_paid_twice.py --gateway build/test/service/merchant-gateway
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from chaos_env import Stack  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", required=True)
    args = parser.parse_args(argv)
    with Stack(args.gateway, tempfile.mkdtemp(prefix="mg-repro-"), {"RECONCILE_INTERVAL": "1"},
               keep_logs_on_failure=False) as stack:
        key = stack.gateway.create_api_key("repro", ["read", "write"])
        uid = "repro-paid-twice"

        def gateway(method, path, body=None):
            answer = stack.http.request(stack.gateway.port, method, path, body,
                                        {"Authorization": f"Bearer {key}"})
            return answer.json()

        gateway("POST", "/v1/orders", {"merchant_uid": uid, "name": "repro", "amount": 10000})
        for _ in range(2):
            payment = stack.sim.control("POST", "/__sim/payments", {
                "merchant_uid": uid, "amount": 10000, "webhook": False})
            print(f"paid at iamport: {payment['imp_uid']} 10000 (no notice, no complete)")
            time.sleep(1)
        deadline = time.monotonic() + 60
        order = gateway("GET", f"/v1/orders/{uid}")
        while order["status"] == "pending" and time.monotonic() < deadline:
            time.sleep(1)
            order = gateway("GET", f"/v1/orders/{uid}")
        ok = order["status"] == "needs_review"
        seen = [(p["imp_uid"], p["status"]) for p in order["payments"]]
        calls = sorted({r["endpoint"] for r in stack.sim.control(
            "GET", f"/__sim/requests?merchant_uid={uid}")["requests"]})
        print(f"the look-up: {calls}; the order: {order['status']}, its payments {seen}: "
              f"{'ok' if ok else 'WRONG (two charges at iamport, want needs_review)'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
