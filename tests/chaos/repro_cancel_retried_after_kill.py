#!/usr/bin/env python3
"""A partial refund retried with its own Idempotency-Key after the gateway died mid-call: found by
the chaos test (tests/chaos/README.md, "Findings"), reproduced here alone.

The storefront asks for one partial refund, once, under one key. iamport does it, but the
gateway dies (SIGKILL; in the chaos run it was PostgreSQL going away) before it records the
answer. The storefront sends the same request again with the same key, as it should: 409
`idempotency_in_progress` while the dead request's claim lasts, then the request runs again. It
must not refund a second time. Exits 0 when iamport refunded once, 1 if twice.

    python3 tests/chaos/repro_cancel_retried_after_kill.py --gateway build/test/service/merchant-gateway
"""

import argparse
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from chaos_env import Stack, TransportError  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", required=True)
    args = parser.parse_args(argv)
    env = {"RECONCILE_INTERVAL": "1", "IAMPORT_TIMEOUT_MS": "3000",
           "IAMPORT_CALL_TIMEOUT_MS": "6000"}
    with Stack(args.gateway, tempfile.mkdtemp(prefix="mg-repro-"), env,
               keep_logs_on_failure=False) as stack:
        key = stack.gateway.create_api_key("repro", ["read", "write", "refund"])
        uid = "repro-refund"

        def gateway(method, path, body=None, idempotency_key=None):
            headers = {"Authorization": f"Bearer {key}"}
            if idempotency_key:
                headers["Idempotency-Key"] = idempotency_key
            return stack.http.request(stack.gateway.port, method, path, body, headers)

        gateway("POST", "/v1/orders", {"merchant_uid": uid, "name": "repro", "amount": 10000})
        paid = gateway("POST", f"/v1/orders/{uid}/benepia-payment",
                       {"benepia_user": "u", "benepia_password": "p"}).json()
        imp_uid = paid["payments"][0]["imp_uid"]
        print(f"order {paid['status']} ({imp_uid}, 10000)")

        # iamport takes a second before it refunds: the gateway is killed while it waits.
        stack.sim.control("POST", "/__sim/faults", {"endpoint": "POST /payments/cancel",
                                                    "kind": "latency", "latency_ms": 1500})
        refund = {"amount": 3000, "reason": "one partial refund"}
        first = {}

        def ask():
            try:
                first["answer"] = gateway("POST", f"/v1/orders/{uid}/cancel", refund, "refund-1")
            except TransportError as error:
                first["error"] = str(error)
        asking = threading.Thread(target=ask)
        asking.start()
        time.sleep(0.5)
        stack.gateway.kill()
        asking.join()
        print(f"refund of 3000, key refund-1: no answer ({first.get('error', first)})")
        time.sleep(2)  # iamport has refunded meanwhile
        stack.gateway.start()
        stack.watch()

        started = time.monotonic()
        while True:
            try:
                answer = gateway("POST", f"/v1/orders/{uid}/cancel", refund, "refund-1")
            except TransportError:  # the connection kept from before the kill
                continue
            if answer.status != 409 or answer.error_code() != "idempotency_in_progress":
                break
            if time.monotonic() - started > 120:
                break
            time.sleep(2)
        print(f"the same request again with key refund-1 after {time.monotonic() - started:.0f} "
              f"s of 409 idempotency_in_progress: {answer.status}")
        payment = stack.sim.control("GET", f"/__sim/payments?merchant_uid={uid}")["payments"][0]
        refunds = [entry["amount"] for entry in payment["cancel_history"]]
        ok = payment["cancel_amount"] == 3000
        print(f"iamport refunded {payment['cancel_amount']} in {len(refunds)} refund(s) {refunds}:"
              f" {'ok' if ok else 'WRONG (one refund of 3000 was asked for)'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
