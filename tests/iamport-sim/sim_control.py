"""The control endpoints under /__sim/ (no token, JSON): what tests use to play the buyer, the
bank and the network around the simulated iamport. See README.md, "Control endpoints".

`route(sim, (method, path), spec, params)` answers (http_status, payload); a KeyError, ValueError
or TypeError raised here becomes a 400 in the HTTP layer.
"""

import threading

import sim_state


def route(sim, route_key, spec, params):
    state = sim.state
    if route_key == ("POST", "/__sim/reset"):
        sim.reset()
        return 200, {"ok": True}
    if route_key == ("GET", "/__sim/clock"):
        return 200, {"now": state.now(), "offset_seconds": state.clock_offset}
    if route_key == ("POST", "/__sim/clock"):
        with state.lock:
            state.clock_offset = int(spec["offset_seconds"])
            return 200, {"now": state.now(), "offset_seconds": state.clock_offset}
    if route_key == ("POST", "/__sim/tokens/expire"):
        with state.lock:
            state.expire_tokens()
        return 200, {"ok": True}
    if route_key == ("POST", "/__sim/deposit"):
        with state.lock:
            status, payload = state.deposit(spec["imp_uid"], spec.get("amount"))
            if status == 200 and spec.get("webhook", True):
                sim.notify(payload, "paid")
        return status, payload
    if route_key == ("POST", "/__sim/payments"):
        return create_payment(sim, spec)
    if route_key == ("GET", "/__sim/payments"):
        with state.lock:
            return 200, {"payments": [state.control_view(p) for p in state.payments.values()
                                      if "merchant_uid" not in params
                                      or p["merchant_uid"] == params["merchant_uid"]]}
    if route_key == ("GET", "/__sim/receipts"):
        with state.lock:
            return 200, {"receipts": state.receipts_view(params.get("imp_uid"))}
    if route_key == ("GET", "/__sim/prepared"):
        with state.lock:
            return 200, {"prepared": [dict(p) for p in state.prepared.values()]}
    if route_key == ("POST", "/__sim/faults"):
        return 200, sim.faults.add(spec)
    if route_key == ("GET", "/__sim/faults"):
        return 200, {"faults": sim.faults.list()}
    if route_key == ("DELETE", "/__sim/faults"):
        sim.faults.clear()
        return 200, {"ok": True}
    if route_key == ("GET", "/__sim/requests"):
        with sim.log_lock:
            found = [r for r in sim.requests
                     if ("endpoint" not in params or r["endpoint"] == params["endpoint"])
                     and ("merchant_uid" not in params
                          or r.get("merchant_uid") == params["merchant_uid"])]
        return 200, {"requests": found}
    if route_key == ("DELETE", "/__sim/requests"):
        with sim.log_lock:
            sim.requests = []
        return 200, {"ok": True}
    if route_key == ("POST", "/__sim/webhooks/send"):
        return send_webhook(sim, spec)
    if route_key == ("GET", "/__sim/webhooks"):
        return 200, {"deliveries": sim.webhooks.log(), "pending": sim.webhooks.pending()}
    if route_key == ("DELETE", "/__sim/webhooks"):
        sim.webhooks.clear()
        return 200, {"ok": True}
    return 404, {"error": "unknown control endpoint"}


def create_payment(sim, spec):
    """A payment as if made in the browser checkout. A merchant_uid whose amount was registered
    (POST /payments/prepare) with another amount is stopped as iamport stops the window: a
    `failed` payment saying why, answered 409, unless `ignore_prepare` is true."""
    if not isinstance(spec["amount"], int) or isinstance(spec["amount"], bool):
        raise ValueError("amount must be an integer")
    state = sim.state
    with state.lock:
        payment, refusal = state.create_checkout_payment(spec)
        if refusal is not None:
            return 409, {"error": refusal, "payment": state.public(payment)}
        if spec.get("webhook", True) and payment["status"] in ("paid", "ready", "cancelled"):
            sim.notify(payment, payment["status"])
        return 200, state.public(payment)


def send_webhook(sim, spec):
    state = sim.state
    with state.lock:
        payment = state.payments.get(spec["imp_uid"])
        if payment is None:
            return 404, {"error": "no such payment"}
        status = spec.get("status", payment["status"])
        if status not in sim_state.PAYMENT_STATUSES:
            raise ValueError(f"status must be one of {sim_state.PAYMENT_STATUSES}")
        extra = {}
        if status == "cancelled" and payment["cancel_history"]:
            extra["cancellation_id"] = payment["cancel_history"][-1]["cancellation_id"]
        snapshot = dict(payment)
    delay = int(spec.get("delay_ms", 0)) / 1000.0
    if delay > 0:
        timer = threading.Timer(delay, sim.notify, (snapshot, status, extra))
        timer.daemon = True
        timer.start()
    else:
        sim.notify(snapshot, status, extra)
    return 200, {"imp_uid": snapshot["imp_uid"], "status": status,
                 "delay_ms": int(delay * 1000)}
