#!/usr/bin/env python3
"""The chaos test: many orders of every kind at once against the real gateway, with iamport
(the simulator) misbehaving throughout, the gateway SIGKILLed and PostgreSQL restarted in the
middle; then every order is checked against iamport's records. See README.md beside this file.

    python3 tests/chaos/chaos.py --gateway build/test/service/merchant-gateway [--orders 300] [--seed S]

Prints "chaos seed: S" first; exits 0 when every order agrees with iamport, 1 on any mismatch,
2 on a usage error, 3 when the budget ran out or the harness itself failed.
"""

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import chaos_check  # noqa: E402
from chaos_env import Stack, TransportError  # noqa: E402
import chaos_report  # noqa: E402
from chaos_flows import DUPLICATE_KINDS, KINDS, Flows  # noqa: E402
from chaos_storefront import Plan, Scheduler, Stats, Storefront  # noqa: E402

# The gateway, tuned so that a run settles in minutes: iamport calls time out fast, the
# reconciler passes every second (unknown attempts settle after IAMPORT_CALL_TIMEOUT_MS + 30 s).
GATEWAY_ENV = {
    "IAMPORT_CONNECT_TIMEOUT_MS": "1000",
    "IAMPORT_TIMEOUT_MS": "1500",
    "IAMPORT_CALL_TIMEOUT_MS": "3000",
    "RECONCILE_INTERVAL": "1",
    "WEBHOOK_RATE_LIMIT_PER_SECOND": "5000",
    "WEBHOOK_RATE_LIMIT_BURST": "10000",
    "API_KEY_CACHE_SECONDS": "30",
    "DB_POOL_SIZE": "8",
}
IAMPORT_TIMEOUT_S = 1.5
SETTLE_SECONDS = 150   # after the last flow: the lost-checkout lookup comes 25 s after creation
STUCK_SECONDS = 30     # mismatches unchanged this long, with nothing open, will not heal
OLD_ENOUGH_SECONDS = 100  # the newest order has had its second look-up (25 s, then 60 s later)
SETTLE_RESERVE = 60    # of the budget kept for settling and the report

MONEY_ENDPOINTS = ["POST /vbanks", "PUT /vbanks/{imp_uid}", "POST /benepia/payment",
                   "POST /payments/cancel"]
READ_ENDPOINTS = ["GET /payments/{imp_uid}", "GET /payments/find/{merchant_uid}"]


def standing_faults(scale):
    """iamport's misbehaviour while traffic runs: each call of an endpoint meets each of these
    with its probability (scaled by --fault-scale)."""
    slow = int(IAMPORT_TIMEOUT_S * 1000)
    faults = []
    for endpoint in MONEY_ENDPOINTS:
        faults += [
            # The work is done, then a proxy's HTML 5xx instead of the answer.
            {"endpoint": endpoint, "kind": "proxy_error", "status": 502, "probability": 0.02},
            {"endpoint": endpoint, "kind": "proxy_error", "status": 504, "probability": 0.02},
            {"endpoint": endpoint, "kind": "drop", "probability": 0.03},
            # Cut before the work: unknown to the gateway, yet nothing happened.
            {"endpoint": endpoint, "kind": "reset", "probability": 0.01},
            # Longer than IAMPORT_TIMEOUT_MS: the call times out, the work is done afterwards.
            {"endpoint": endpoint, "kind": "latency", "latency_ms": slow + 300,
             "latency_ms_max": 6000, "probability": 0.03},
            # The work is done at once, the answer comes too late.
            {"endpoint": endpoint, "kind": "slow_answer", "latency_ms": slow + 300,
             "latency_ms_max": 4000, "probability": 0.02},
            {"endpoint": endpoint, "kind": "code", "code": 1, "probability": 0.015},
            {"endpoint": endpoint, "kind": "http_error", "status": 500, "probability": 0.015},
        ]
    for endpoint in READ_ENDPOINTS:
        faults += [
            {"endpoint": endpoint, "kind": "http_error", "status": 500, "probability": 0.015},
            {"endpoint": endpoint, "kind": "http_error", "status": 503, "probability": 0.015},
            # In time but stale: the record was read before the wait.
            {"endpoint": endpoint, "kind": "slow_answer", "latency_ms": 200,
             "latency_ms_max": slow - 300, "probability": 0.03},
            {"endpoint": endpoint, "kind": "latency", "latency_ms": slow + 100,
             "latency_ms_max": 2500, "probability": 0.01},
            {"endpoint": endpoint, "kind": "drop", "probability": 0.01},
            {"endpoint": endpoint, "kind": "code", "code": 1, "probability": 0.005},
        ]
    faults += [
        {"endpoint": "POST /users/getToken", "kind": "http_error", "status": 500,
         "probability": 0.05},
        {"endpoint": "POST /users/getToken", "kind": "latency", "latency_ms": 300,
         "latency_ms_max": 2000, "probability": 0.05},
    ]
    for fault in faults:
        fault["probability"] = min(1.0, fault["probability"] * scale)
        fault["count"] = 10**9
    return faults


def plan_orders(count, seed, kinds=None):
    """Every kind at least once (when there are enough orders), the rest by weight."""
    rng = random.Random(seed)
    kinds = list(kinds or KINDS)
    names, weights = list(kinds), [KINDS[kind] for kind in kinds]
    rng.shuffle(kinds)
    chosen = kinds[:count]
    chosen += rng.choices(names, weights, k=max(0, count - len(chosen)))
    rng.shuffle(chosen)
    plans = [Plan(i + 1, kind, random.Random(f"{seed}-{i}")) for i, kind in enumerate(chosen)]
    for plan in plans:
        plan.duplicate_on_purpose = plan.kind in DUPLICATE_KINDS
    return plans


class Chaos:
    def __init__(self, args, stack):
        self.args = args
        self.stack = stack
        self.rng = random.Random(f"{args.seed}-monkey")
        self.started = time.monotonic()
        self.deadline = self.started + args.budget_seconds
        self.stats = Stats()
        self.plans = plan_orders(args.orders, args.seed, args.kinds)
        self.outages = []
        self.token_expiries = 0
        self.kills = []
        self.pg_restarts = []
        self.crashes = []
        self.harness_errors = []
        self.last_order_started = time.monotonic()

    def elapsed(self):
        return time.monotonic() - self.started

    # --- the traffic phase ------------------------------------------------------------------

    def traffic(self):
        stack, args = self.stack, self.args
        key = stack.gateway.create_api_key("chaos", ["read", "write", "refund"])
        storefront = Storefront(stack.http, stack.gateway.port, stack.sim, key,
                                stack.notice_url, self.stats)
        scheduler = Scheduler(args.workers)
        flows = Flows(storefront, scheduler)
        kill_at = [(i + 0.35) / args.kills for i in range(args.kills)]
        restart_at = [(i + 0.7) / args.pg_restarts for i in range(args.pg_restarts)]
        for fault in standing_faults(args.fault_scale):
            if fault["probability"] > 0:
                stack.sim.control("POST", "/__sim/faults", fault)
        next_outage = time.monotonic() + self.rng.uniform(10, 25)
        next_expiry = time.monotonic() + self.rng.uniform(5, 12)
        next_index = 0
        finished = [0]
        lock = threading.Lock()

        def done():
            with lock:
                finished[0] += 1

        traffic_started = time.monotonic()
        self.elapsed_traffic = lambda: time.monotonic() - traffic_started
        traffic_deadline = self.deadline - SETTLE_RESERVE
        next_progress = time.monotonic() + 10
        try:
            while True:
                if time.monotonic() >= next_progress:
                    next_progress += 10
                    print(f"  [{self.elapsed():6.1f} s] orders started {next_index}, finished "
                          f"{finished[0]}, flows in progress {scheduler.pending()}, "
                          f"requests {self.stats.requests()}", flush=True)
                if time.monotonic() > traffic_deadline:
                    self.harness_errors.append(
                        f"budget: traffic still running after {self.elapsed():.0f} s "
                        f"({next_index} of {len(self.plans)} orders started, "
                        f"{finished[0]} finished)")
                    break
                while (next_index < len(self.plans) and scheduler.pending() < args.concurrency
                       and next_index < self.elapsed_traffic() * args.rate + 1):
                    plan = self.plans[next_index]
                    scheduler.spawn(flows.run(plan), on_done=done, label=plan.uid)
                    next_index += 1
                    self.last_order_started = time.monotonic()
                progress = finished[0] / len(self.plans)
                if time.monotonic() >= next_outage and args.fault_scale > 0:
                    self.outage()
                    next_outage = time.monotonic() + self.rng.uniform(20, 35)
                if time.monotonic() >= next_expiry:
                    stack.sim.control("POST", "/__sim/tokens/expire")
                    self.token_expiries += 1
                    next_expiry = time.monotonic() + self.rng.uniform(8, 16)
                if kill_at and progress >= kill_at[0]:
                    kill_at.pop(0)
                    self.kill_gateway()
                if restart_at and progress >= restart_at[0]:
                    restart_at.pop(0)
                    self.restart_postgres()
                self.watch_gateway()
                if next_index == len(self.plans) and scheduler.pending() == 0:
                    break
                time.sleep(0.05)
        finally:
            scheduler.stop()
        self.harness_errors += scheduler.errors
        self.orders_started = next_index
        self.traffic_seconds = self.elapsed()

    def outage(self):
        """iamport unreachable for a few seconds: every call meanwhile, whatever it is, is cut
        before any work is done (enough in a row to open the gateway's circuit breaker). A
        window of time, not a number of calls: with the breaker open few calls come, and an
        outage of N calls would last N breaker trials."""
        seconds = self.rng.uniform(1.5, 4.0)
        self.stack.sim.control("POST", "/__sim/faults",
                               {"endpoint": "*", "kind": "reset", "count": 10**9,
                                "duration_ms": int(seconds * 1000)})
        self.outages.append(f"{seconds:.1f} s at {self.elapsed():.0f} s")

    def kill_gateway(self):
        at = self.elapsed()
        self.stack.gateway.kill()
        down = self.rng.uniform(0.3, 2.0)
        time.sleep(down)
        self.stack.gateway.start()
        self.stack.watch()
        self.kills.append(f"SIGKILL at {at:.1f} s, down {self.elapsed() - at:.1f} s")
        print(f"  [{at:6.1f} s] gateway SIGKILLed, restarted after {self.elapsed() - at:.1f} s",
              flush=True)

    def restart_postgres(self):
        at = self.elapsed()
        self.stack.cluster.stop()
        time.sleep(self.rng.uniform(0.5, 3.0))
        self.stack.cluster.start()
        self.pg_restarts.append(f"stop at {at:.1f} s, up again after {self.elapsed() - at:.1f} s")
        print(f"  [{at:6.1f} s] PostgreSQL stopped, started again after "
              f"{self.elapsed() - at:.1f} s", flush=True)

    def watch_gateway(self):
        gateway = self.stack.gateway
        if not gateway.running():
            code = gateway.process.returncode
            self.crashes.append(f"the gateway exited by itself (status {code}) at "
                                f"{self.elapsed():.1f} s")
            print(f"  [{self.elapsed():6.1f} s] GATEWAY EXITED by itself ({code}); restarting",
                  flush=True)
            gateway.start()
            self.stack.watch()

    # --- settling and checking ----------------------------------------------------------------

    def snapshot(self):
        cluster = self.stack.cluster
        open_attempts = cluster.psql(
            "SELECT o.merchant_uid, a.kind, a.state, floor(extract(epoch FROM now() - "
            "a.created_at)) FROM payment_attempts a JOIN orders o ON o.id = a.order_id "
            "WHERE a.state IN ('in_flight', 'unknown') ORDER BY a.id")
        inbox = dict((state, int(n)) for state, n in cluster.psql(
            "SELECT state, count(*) FROM webhook_inbox GROUP BY state"))
        orders = {uid: (status, int(amount)) for uid, status, amount in cluster.psql(
            "SELECT merchant_uid, status, amount FROM orders")}
        payments = {}
        for uid, imp_uid, status, amount, cancelled in cluster.psql(
                "SELECT o.merchant_uid, p.imp_uid, p.status, p.amount, p.cancel_amount "
                "FROM payments p JOIN orders o ON o.id = p.order_id"):
            payments.setdefault(uid, {})[imp_uid] = (status, int(amount), int(cancelled))
        sim_payments = {}
        for payment in self.stack.sim.control("GET", "/__sim/payments")["payments"]:
            sim_payments.setdefault(payment["merchant_uid"], []).append(payment)
        notices_pending = self.stack.sim.control("GET", "/__sim/webhooks")["pending"]
        plans = {plan.uid: plan for plan in self.plans[:self.orders_started]}
        problems = chaos_check.check_orders(plans, sim_payments, orders, payments, time.time())
        return {"open_attempts": open_attempts, "inbox": inbox, "orders": orders,
                "sim_payments": sim_payments, "problems": problems,
                "notices_pending": notices_pending}

    def settle(self):
        """Waits (bounded) until nothing is open and every order agrees with iamport, twice in
        a row a few seconds apart. Mismatches that stay the same for STUCK_SECONDS while nothing
        is open, once the newest order is old enough for its second lost-checkout look-up,
        will not heal: the wait ends there. Returns the last snapshot."""
        self.stack.sim.control("DELETE", "/__sim/faults")
        until = min(time.monotonic() + SETTLE_SECONDS, self.deadline - 10)
        calm = 0
        last = None
        same, same_since = None, None
        while True:
            try:
                last = self.snapshot()
            except (RuntimeError, TransportError) as error:
                print(f"  settle: snapshot failed: {error}", flush=True)
            if last is not None:
                quiet = (not last["open_attempts"] and not last["inbox"].get("pending")
                         and not last["notices_pending"])
                calm = calm + 1 if quiet and not last["problems"] else 0
                if calm >= 2:
                    break
                key = json.dumps(last["problems"], sort_keys=True, default=str)
                if not quiet or not last["problems"]:
                    same, same_since = None, None
                elif key != same:
                    same, same_since = key, time.monotonic()
                elif (time.monotonic() - same_since >= STUCK_SECONDS
                      and time.monotonic() - self.last_order_started >= OLD_ENOUGH_SECONDS):
                    break
            if time.monotonic() >= until:
                break
            self.watch_gateway()
            time.sleep(2.5)
        self.settle_seconds = self.elapsed() - self.traffic_seconds
        return last


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", required=True, help="the merchant-gateway binary")
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--seed", type=int, default=None, help="default: random")
    parser.add_argument("--budget-seconds", type=float, default=540,
                        help="hard stop for the whole run (default 540)")
    parser.add_argument("--workers", type=int, default=12, help="storefront threads")
    parser.add_argument("--rate", type=float, default=3.0,
                        help="new orders per second (default 3: 300 orders over 100 s)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="orders in progress at once, at most")
    parser.add_argument("--fault-scale", type=float, default=1.0,
                        help="multiplies every standing fault rate (0: no faults, no outages)")
    parser.add_argument("--kills", type=int, default=None,
                        help="gateway SIGKILLs (default: one per 1,000 orders, at least one)")
    parser.add_argument("--pg-restarts", type=int, default=None,
                        help="PostgreSQL restarts (default: as many as kills)")
    parser.add_argument("--kinds", default=None,
                        help="comma list: only these kinds of order (default: all, "
                             f"{', '.join(KINDS)})")
    parser.add_argument("--without", default=None,
                        help="comma list: every kind but these")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work folder (logs, timelines) even after a pass")
    parser.add_argument("--work-dir", default=None,
                        help="default: a new folder under $TMPDIR, deleted after a pass")
    args = parser.parse_args(argv)
    if args.orders < 1 or args.workers < 1 or args.concurrency < 1 or args.rate <= 0:
        parser.error("--orders, --workers, --concurrency and --rate must be positive")
    kinds = list(KINDS)
    if args.kinds:
        kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if args.without:
        left_out = {k.strip() for k in args.without.split(",")}
        kinds = [k for k in kinds if k not in left_out]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        parser.error(f"unknown kinds {unknown}" if unknown else "no kind of order left")
    args.kinds = None if kinds == list(KINDS) else kinds
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2**31)
    if args.kills is None:
        args.kills = max(1, args.orders // 1000)
    if args.pg_restarts is None:
        args.pg_restarts = args.kills
    if not os.access(args.gateway, os.X_OK):
        parser.error(f"--gateway {args.gateway} is not an executable")
    return args


def main(argv=None):
    args = parse_args(argv)
    print(f"chaos seed: {args.seed}", flush=True)
    print(f"orders {args.orders}, budget {args.budget_seconds:.0f} s, gateway {args.gateway}"
          + (f", kinds {','.join(args.kinds)}" if args.kinds else ""), flush=True)

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupted)

    work_dir = args.work_dir or tempfile.mkdtemp(prefix="mg-chaos-")
    stack = Stack(args.gateway, work_dir, GATEWAY_ENV)
    hard_stop = threading.Timer(args.budget_seconds + 30, hard_stop_now, (stack,))
    hard_stop.daemon = True
    hard_stop.start()
    status = 3
    try:
        with stack:
            chaos = Chaos(args, stack)
            try:
                chaos.traffic()
                print(f"  [{chaos.elapsed():6.1f} s] traffic done; settling", flush=True)
                last = chaos.settle()
                status = chaos_report.report(chaos, last)
            except Exception:
                traceback.print_exc()
                status = 3
            chaos_report.dump(chaos)
            stack.failed = status != 0 or args.keep
    except KeyboardInterrupt as stop:
        print(f"interrupted ({stop}); cleaning up", flush=True)
        status = 3
    except Exception:  # the harness could not start or run: not a verdict on the gateway
        traceback.print_exc()
        status = 3
    finally:
        hard_stop.cancel()
    return status


def hard_stop_now(stack):
    """The budget is a hard stop: whatever is stuck, kill everything and exit."""
    print("budget exceeded: hard stop", flush=True)
    try:
        stack.failed = True
        if stack.gateway is not None:
            stack.gateway.kill()
        if stack.sim is not None:
            stack.sim.stop()
        if stack.cluster is not None:
            stack.cluster.destroy()
        if stack.reaper is not None:
            stack.reaper.stop()
    finally:
        os._exit(3)


if __name__ == "__main__":
    sys.exit(main())
