#!/usr/bin/env python3
"""A virtual account whose amount change (PATCH …/vbank) got no answer, then iamport's record of
it arrives: found by the chaos test (tests/chaos/README.md, "Findings"), reproduced here alone.

iamport took the change (the simulator drops the connection after doing the work), so its record
holds exactly the amount the merchant asked for. Two ways the record then reaches the gateway
before the attempt is settled:
  notice   — iamport repeats the account's notice (any notice of that payment would do);
  deposit  — the buyer pays the new amount, the notice is lost, the reconciler fetches the record.
Either way the order should follow its own change (awaiting_deposit, then paid, at the new
amount); it must not be sent to needs_review. Exits 0 when both cases come out right, 1 if not.

    python3 tests/chaos/repro_vbank_patch_unknown.py --gateway build/test/service/merchant-gateway
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
    env = {"RECONCILE_INTERVAL": "1", "IAMPORT_TIMEOUT_MS": "1500",
           "IAMPORT_CALL_TIMEOUT_MS": "3000"}
    failures = 0
    with Stack(args.gateway, tempfile.mkdtemp(prefix="mg-repro-"), env,
               keep_logs_on_failure=False) as stack:
        key = stack.gateway.create_api_key("repro", ["read", "write"])

        def gateway(method, path, body=None):
            answer = stack.http.request(stack.gateway.port, method, path, body,
                                        {"Authorization": f"Bearer {key}"})
            return answer.status, answer.json()

        for case, want in (("notice", "awaiting_deposit"), ("deposit", "paid")):
            uid = f"repro-{case}"
            gateway("POST", "/v1/orders", {"merchant_uid": uid, "name": "repro", "amount": 10000})
            _, order = gateway("POST", f"/v1/orders/{uid}/vbank",
                               {"vbank_code": "004", "vbank_due": int(time.time()) + 86400})
            imp_uid = order["payments"][0]["imp_uid"]
            time.sleep(0.5)  # the account's own notice is processed
            stack.sim.control("POST", "/__sim/faults",
                              {"endpoint": "PUT /vbanks/{imp_uid}", "kind": "drop"})
            status, order = gateway("PATCH", f"/v1/orders/{uid}/vbank", {"amount": 12000})
            print(f"{case}: PATCH amount 10000 → 12000 answered {status} "
                  f"({order['status']}, amount {order['amount']})")
            if case == "notice":
                stack.sim.control("POST", "/__sim/webhooks/send", {"imp_uid": imp_uid})
            else:
                stack.sim.control("POST", "/__sim/deposit", {"imp_uid": imp_uid,
                                                             "webhook": False})
            time.sleep(4)  # the notice is processed, the reconciler settles the attempt
            _, order = gateway("GET", f"/v1/orders/{uid}")
            payments = [(p["status"], p["amount"]) for p in order["payments"]]
            ok = order["status"] == want and order["amount"] == 12000
            failures += not ok
            print(f"{case}: order {order['status']}, amount {order['amount']}, iamport "
                  f"{payments}: {'ok' if ok else f'WRONG (want {want} at 12000)'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
