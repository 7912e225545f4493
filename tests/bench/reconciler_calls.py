#!/usr/bin/env python3
"""How many iamport requests the gateway makes for one order over its whole life, per kind of
life, as the reconciler schedules it: a table of calls per order and by endpoint.

Starts a private PostgreSQL, the iamport simulator and the gateway (tests/chaos/chaos_env.py),
takes a few orders of each kind through their life, and counts the simulator's logged requests
whose merchant_uid (named in the call, or the payment's whose imp_uid it names) is the order's.
The access token (POST /users/getToken) is shared by every order and counted apart.

Time is compressed, not waited for: the gateway runs with RECONCILE_INTERVAL=1 and, after
every reconciler look at an order, this script moves that order's created_at, updated_at and
next_reconcile_at back (in its own database) by the time production would wait before the next
look, rounded up to the next pass of a reconciler running every --interval seconds (30, the
default RECONCILE_INTERVAL). The order then looks that much older and is due at the next real
pass. See tests/bench/README.md ("Reconciler calls per order") for the details and limits.

    tests/bench/reconciler-calls [--orders-per-kind 3] [--deposit-after 3600] [--interval 30]
    python3 tests/bench/reconciler_calls.py --gateway BINARY [...]
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "chaos"))

from chaos_env import Stack  # noqa: E402

KINDS = [
    ("vbank_paid", "vbank paid, its deposit notice delivered"),
    ("vbank_lost_notice", "vbank paid, its deposit notice lost"),
    ("vbank_expired", "vbank expired unpaid"),
    ("benepia", "Benepia approved"),
    ("checkout_completed", "checkout completed (notice + complete)"),
    ("checkout_lost", "checkout lost, found by the look-up"),
    ("pending", "pending, never paid (48 h of look-ups)"),
]
FIRST_LOOKUP = 25        # kFirstLookupAfter
MIN_INTERVAL = 60        # kLookupMinInterval: a pending order's schedule is never shorter


def log(text):
    print(text, flush=True)


class Order:
    def __init__(self, kind, index):
        self.kind = kind
        self.uid = f"rc-{kind}-{index}".replace("_", "-")
        self.virtual = 0.0       # seconds its timestamps were moved back: its age beyond real
        self.lookups = 0         # reconciler looks seen
        self.calls_seen = 0
        self.done = False
        self.imp_uid = None
        self.deposited = False
        self.last_activity = time.monotonic()
        self.note = ""


class Bench:
    def __init__(self, args, stack):
        self.args = args
        self.stack = stack
        self.key = stack.gateway.create_api_key("bench", ["read", "write"])
        self.orders = []

    # --- plumbing ---------------------------------------------------------------------------

    def gw(self, method, path, body=None):
        answer = self.stack.http.request(self.stack.gateway.port, method, path, body,
                                         {"Authorization": f"Bearer {self.key}"}, timeout=30)
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path} answered {answer.status}: {answer.body[:300]}")
        return answer.json()

    def sql(self, statement, read_only=True):
        return self.stack.cluster.psql(statement, read_only=read_only)

    def calls_of(self, order):
        return self.stack.sim.control(
            "GET", f"/__sim/requests?merchant_uid={order.uid}")["requests"]

    def order_row(self, order):
        rows = self.sql("SELECT status, extract(epoch FROM next_reconcile_at - now()) "
                        f"FROM orders WHERE merchant_uid = '{order.uid}'")
        return rows[0][0], float(rows[0][1])

    def age(self, order, seconds):
        """The order's life moves on by `seconds`: its timestamps go back that far."""
        self.sql("UPDATE orders SET created_at = created_at - make_interval(secs => "
                 f"{seconds}), updated_at = updated_at - make_interval(secs => {seconds}), "
                 f"next_reconcile_at = next_reconcile_at - make_interval(secs => {seconds}) "
                 f"WHERE merchant_uid = '{order.uid}'", read_only=False)
        order.virtual += seconds

    def next_pass(self, order, wait):
        """From the order's virtual now, the wait until the first reconciler pass (one every
        --interval s since the order was created) at or after `wait` seconds."""
        interval = self.args.interval
        now = order.virtual
        return math.ceil((now + max(wait, 0.001)) / interval) * interval - now

    # --- lives --------------------------------------------------------------------------------

    def start(self, order):
        self.gw("POST", "/v1/orders", {"merchant_uid": order.uid, "name": "bench",
                                       "amount": 50_000})
        kind = order.kind
        if kind in ("vbank_paid", "vbank_lost_notice", "vbank_expired"):
            due = int(time.time()) + (self.args.expire_after if kind == "vbank_expired"
                                      else 7 * 86400)
            answer = self.gw("POST", f"/v1/orders/{order.uid}/vbank",
                             {"vbank_code": "004", "vbank_due": due})
            order.imp_uid = answer["payments"][0]["imp_uid"]
        elif kind == "benepia":
            self.gw("POST", f"/v1/orders/{order.uid}/benepia-payment",
                    {"benepia_user": "bench", "benepia_password": "bench"})
        elif kind == "checkout_completed":
            payment = self.stack.sim.control("POST", "/__sim/payments", {
                "merchant_uid": order.uid, "amount": 50_000,
                "notice_url": [self.stack.notice_url]})
            self.gw("POST", f"/v1/orders/{order.uid}/complete", {"imp_uid": payment["imp_uid"]})
        elif kind == "checkout_lost":
            self.stack.sim.control("POST", "/__sim/payments", {
                "merchant_uid": order.uid, "amount": 50_000, "webhook": False})
        # A new order's first look-up comes FIRST_LOOKUP s after its creation, at a pass.
        self.age(order, self.next_pass(order, FIRST_LOOKUP))

    def step(self, order):
        """After a reconciler look at the order: the time production would wait before the
        next. True while the order is claimed and was aged for its next look."""
        status, due_in = self.order_row(order)
        if order.kind in ("vbank_paid", "vbank_lost_notice") and status == "awaiting_deposit" \
                and not order.deposited and order.virtual >= self.args.deposit_after:
            self.stack.sim.control("POST", "/__sim/deposit", {
                "imp_uid": order.imp_uid, "webhook": order.kind == "vbank_paid"})
            order.deposited = True
            order.note = f"deposited {order.virtual / 3600:.2f} h after issue"
        if due_in <= 0:
            return False   # due: a pass takes it within a second, unless none wants it
        if status == "awaiting_deposit":
            # Claimed with a lease of RECONCILE_INTERVAL (at least 5 s), looked at again then.
            self.age(order, self.next_pass(order, max(self.args.interval, 5)))
        elif status == "pending":
            if due_in < MIN_INTERVAL - 5:
                return True    # still the claim's lease: the pass's schedule_lookup comes next
            self.age(order, self.next_pass(order, due_in))
        else:
            self.age(order, self.next_pass(order, due_in))
        return True

    def run(self):
        for kind, _ in KINDS:
            for index in range(self.args.orders_per_kind):
                order = Order(kind, index + 1)
                self.start(order)
                self.orders.append(order)
        started = time.monotonic()
        while True:
            active = [o for o in self.orders if not o.done]
            if not active:
                break
            if time.monotonic() - started > self.args.budget_seconds:
                raise RuntimeError("budget exceeded with orders still alive: " +
                                   ", ".join(o.uid for o in active))
            for order in active:
                calls = len([c for c in self.calls_of(order)
                             if c["endpoint"] != "POST /users/getToken"])
                if calls != order.calls_seen:
                    order.calls_seen = calls
                    order.last_activity = time.monotonic()
                    order.lookups += 1
                    continue   # let the pass finish its transaction first
                quiet = time.monotonic() - order.last_activity
                if quiet < 0.4:
                    continue
                claimed = self.step(order)
                if not claimed and quiet > self.args.quiet_seconds:
                    # Due for seconds and no pass looked: no pass wants it any more.
                    status, _ = self.order_row(order)
                    order.done = True
                    order.note = (order.note + f"; ends {status} after "
                                  f"{order.virtual / 3600:.2f} h").lstrip("; ")
            time.sleep(0.2)
        return time.monotonic() - started

    def table(self):
        token_calls = len(self.stack.sim.control(
            "GET", "/__sim/requests?endpoint=POST%20/users/getToken")["requests"])
        lines = [f"{'life of an order':44} {'iamport calls':>13}  by endpoint (per order)",
                 "-" * 110]
        results = {}
        for kind, label in KINDS:
            orders = [o for o in self.orders if o.kind == kind]
            per_endpoint = {}
            totals = []
            for order in orders:
                calls = [c for c in self.calls_of(order) if c["endpoint"] != "POST /users/getToken"]
                totals.append(len(calls))
                for call in calls:
                    per_endpoint[call["endpoint"]] = per_endpoint.get(call["endpoint"], 0) + 1
            mean = sum(totals) / len(totals)
            spread = f"{min(totals)}–{max(totals)}" if min(totals) != max(totals) else ""
            endpoints = ", ".join(f"{name} {count / len(orders):.4g}"
                                  for name, count in sorted(per_endpoint.items()))
            lines.append(f"{label:44} {mean:>9.1f} {spread:>3}  {endpoints}")
            lines.append(f"{'':44} {'':13}  ({orders[0].note})")
            results[kind] = {"mean": mean, "per_order": totals, "by_endpoint": per_endpoint}
        lines.append(f"access tokens (POST /users/getToken), shared by all orders: {token_calls}")
        # Awaiting a deposit costs one look per pass, with no back-off: the rate per hour, as
        # measured on the accounts that expired, and what a longer due time would cost.
        expiring = [o for o in self.orders if o.kind == "vbank_expired"]
        looks = results["vbank_expired"]["by_endpoint"].get(
            "GET /payments/find/{merchant_uid}", 0) / len(expiring)
        hours = sum(o.virtual for o in expiring) / len(expiring) / 3600
        if hours > 0:
            per_hour = looks / hours
            fixed = results["vbank_expired"]["mean"] - looks
            results["awaiting_per_hour"] = per_hour
            lines.append(
                f"awaiting a deposit: {per_hour:.0f} GET /payments/find per hour (one per "
                f"{self.args.interval} s pass); an account that expires unpaid after a due of "
                f"24 h costs ~{fixed + 24 * per_hour:,.0f} calls, of 3 days ~"
                f"{fixed + 72 * per_hour:,.0f}, of 7 days ~{fixed + 168 * per_hour:,.0f}")
        return "\n".join(lines), results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--orders-per-kind", type=int, default=3)
    parser.add_argument("--interval", type=int, default=30,
                        help="the production RECONCILE_INTERVAL whose passes are modelled")
    parser.add_argument("--deposit-after", type=int, default=3600,
                        help="virtual seconds a virtual account waits for its deposit")
    parser.add_argument("--expire-after", type=int, default=45,
                        help="real seconds from issue to the due time of the expiring vbank "
                             "(each real pass is one --interval of its virtual life)")
    parser.add_argument("--quiet-seconds", type=float, default=4.0,
                        help="an order due this long (real seconds, several passes) without a "
                             "look is no longer reconciled: its life is over")
    parser.add_argument("--budget-seconds", type=float, default=900)
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--out", default=None, help="also write the table to this file (and "
                        "the figures as JSON beside it, .json)")
    args = parser.parse_args(argv)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="mg-reconciler-calls-")
    env = {"RECONCILE_INTERVAL": "1", "LOG_LEVEL": "warn"}
    with Stack(args.gateway, work_dir, env) as stack:
        bench = Bench(args, stack)
        log(f"{len(KINDS)} kinds × {args.orders_per_kind} orders; reconciler passes every "
            f"{args.interval} s modelled; deposits after {args.deposit_after / 3600:g} h")
        seconds = bench.run()
        text, results = bench.table()
        log(f"\nreal time {seconds:.0f} s\n")
        log(text)
        if args.out:
            with open(args.out, "w") as out:
                out.write(text + "\n")
            with open(os.path.splitext(args.out)[0] + ".json", "w") as out:
                json.dump(results, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
