#!/usr/bin/env python3
"""Time from an order's status change to the signed event about it reaching the shop's endpoint:
median, p95, p99 and max over --events order.paid events.

Starts a private PostgreSQL, the iamport simulator and the gateway (tests/chaos/chaos_env.py,
the gateway with NOTIFY_ALLOW_PRIVATE=true for an http loopback endpoint and NOTIFY_POLL_MS from
--poll-ms) and the notification test receiver (tests/notifications/receiver, which verifies every
delivery with the standardwebhooks package). Registers one endpoint for the receiver (all event
types), then --concurrency workers each create an order and pay it with Benepia, one order.paid
event per order. The latency of an event is the receiver's received_at (Date.now() when the
request arrived) minus the event's events.created_at read from the database with sub-second
precision: the same clock on the same machine. Every delivery must verify (exit 1 otherwise).
See tests/bench/README.md ("Event delivery latency").

    tests/bench/notify-latency [--events 1000] [--concurrency 4] [--poll-ms 200] [--rate R]
    python3 tests/bench/notify_latency.py --gateway BINARY [...]
"""

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "chaos"))

from chaos_env import Stack, _child_setup, stop_child  # noqa: E402

RECEIVER_DIR = os.path.join(ROOT, "tests", "notifications", "receiver")
ENDPOINT = "bench"


def log(text):
    print(text, flush=True)


def percentile(sorted_values, fraction):
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def summary(values):
    ordered = sorted(values)
    if not ordered:
        return {"count": 0}
    return {"count": len(ordered), "min": ordered[0], "median": percentile(ordered, 0.5),
            "p95": percentile(ordered, 0.95), "p99": percentile(ordered, 0.99),
            "max": ordered[-1], "mean": sum(ordered) / len(ordered)}


def ensure_receiver_packages():
    if os.path.isdir(os.path.join(RECEIVER_DIR, "node_modules", "standardwebhooks")):
        return
    log("installing the receiver's npm packages (npm ci)…")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=RECEIVER_DIR, check=True, timeout=300)


class Receiver:
    """node receiver.mjs on a free loopback port, in its own process group."""

    def __init__(self, log_path):
        self.log_path = log_path
        self.process = None
        self.port = None

    def start(self, timeout=30):
        with open(self.log_path, "ab") as err:
            self.process = subprocess.Popen(
                ["node", os.path.join(RECEIVER_DIR, "receiver.mjs"), "--port", "0",
                 "--host", "127.0.0.1"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                preexec_fn=_child_setup)
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline().decode() if ready else ""
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"the receiver did not start in {timeout} s: {line!r} "
                               f"(see {self.log_path})")
        self.port = int(line.split()[1])
        self.process.stdout.close()

    def stop(self):
        stop_child(self.process)


class Bench:
    def __init__(self, args, stack, receiver):
        self.args = args
        self.stack = stack
        self.receiver = receiver
        self.key = stack.gateway.create_api_key("bench", ["read", "write", "admin"])
        self.lock = threading.Lock()
        self.next_index = 0
        self.paid = 0
        self.errors = []

    def gw(self, method, path, body=None):
        answer = self.stack.http.request(self.stack.gateway.port, method, path, body,
                                         {"Authorization": f"Bearer {self.key}"}, timeout=30)
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path} answered {answer.status}: {answer.body[:300]}")
        return answer.json()

    def control(self, method, path, body=None, timeout=30):
        answer = self.stack.http.request(self.receiver.port, method, path, body, timeout=timeout)
        if answer.status != 200:
            raise RuntimeError(f"receiver {method} {path} answered {answer.status}: "
                               f"{answer.body[:300]}")
        return answer.json()

    def register(self):
        url = f"http://127.0.0.1:{self.receiver.port}/hooks/{ENDPOINT}"
        # No event_types: the endpoint wants every type.
        answer = self.stack.http.request(
            self.stack.gateway.port, "POST", "/v1/webhook-endpoints", {"url": url},
            {"Authorization": f"Bearer {self.key}"}, timeout=30)
        if answer.status != 201:
            raise RuntimeError(f"POST /v1/webhook-endpoints answered {answer.status}: "
                               f"{answer.body[:300]}")
        endpoint = answer.json()
        self.control("PUT", f"/__control/endpoints/{ENDPOINT}",
                     {"secrets": [endpoint["secret"]], "mode": "ok"})
        return endpoint["id"]

    def worker(self, started, deadline):
        try:
            while time.monotonic() < deadline:
                with self.lock:
                    if self.next_index >= self.args.events or self.errors:
                        return
                    index = self.next_index
                    self.next_index += 1
                if self.args.rate > 0:
                    # Paced: the index-th payment starts at its slot (late ones at once).
                    pause = started + index / self.args.rate - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                order = self.gw("POST", "/v1/orders", {"name": "bench", "amount": 1000})
                uid = order["merchant_uid"]
                paid = self.gw("POST", f"/v1/orders/{uid}/benepia-payment",
                               {"benepia_user": "member01", "benepia_password": "pw"})
                if paid.get("status") != "paid":
                    raise RuntimeError(f"order {uid} is {paid.get('status')} after Benepia")
                with self.lock:
                    self.paid += 1
        except Exception as error:  # noqa: BLE001 - reported by run()
            with self.lock:
                self.errors.append(f"{type(error).__name__}: {error}")

    def run(self):
        deadline = time.monotonic() + self.args.budget_seconds
        started = time.monotonic()
        threads = [threading.Thread(target=self.worker, args=(started, deadline), daemon=True)
                   for _ in range(self.args.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()) + 60)
        seconds = time.monotonic() - started
        if self.errors:
            raise RuntimeError("a worker failed: " + self.errors[0])
        if self.paid != self.args.events:
            raise RuntimeError(f"only {self.paid} of {self.args.events} orders paid within "
                               f"--budget-seconds {self.args.budget_seconds:g}")
        return seconds

    def collect(self):
        """The deliveries (waiting up to --drain-seconds for the last ones) and the events."""
        wait_ms = int(self.args.drain_seconds * 1000)
        deliveries = self.control(
            "GET", f"/__control/endpoints/{ENDPOINT}/deliveries?count={self.args.events}"
            f"&timeout_ms={wait_ms}", timeout=self.args.drain_seconds + 30)["deliveries"]
        rows = self.stack.cluster.psql(
            "SELECT id, type, extract(epoch FROM created_at) * 1000 FROM events ORDER BY seq")
        events = {row[0]: (row[1], float(row[2])) for row in rows}
        attempts = self.stack.cluster.psql(
            "SELECT d.event_id, a.latency_ms, coalesce(a.http_status, 0) FROM delivery_attempts a "
            "JOIN event_deliveries d ON d.id = a.delivery_id")
        return deliveries, events, attempts


def measure(deliveries, events, attempts):
    first = {}          # webhook-id -> its first delivery
    duplicates = 0
    unknown = 0
    for delivery in deliveries:
        event_id = delivery["headers"]["webhook-id"]
        if event_id not in events:
            unknown += 1
            continue
        if event_id in first:
            duplicates += 1
            continue
        first[event_id] = delivery
    latencies = [first[e]["received_at"] - events[e][1] for e in first]
    # Rates over the run: events written per second (first to last created_at) and deliveries
    # per second (first to last arrival). Deliveries spread over a longer time than the events
    # were: a backlog grew, and the latencies include its queueing.
    created = sorted(t for _, t in events.values())
    arrived = sorted(d["received_at"] for d in first.values())

    def span(instants):
        return instants[-1] - instants[0] if len(instants) > 1 else 0

    def rate(instants):
        return (len(instants) - 1) / span(instants) * 1000 if span(instants) > 0 else None

    # The most attempts the gateway had under way at once: each attempt taken as its measured
    # duration (delivery_attempts.latency_ms) ending when the receiver answered it.
    edges = []
    for event_id, latency_ms, _ in attempts:
        delivery = first.get(event_id)
        if delivery is not None and delivery.get("answered_at") is not None:
            edges += [(delivery["answered_at"] - int(latency_ms), 1),
                      (delivery["answered_at"], -1)]
    at_once = most = 0
    for _, step in sorted(edges):   # an end before a start at the same instant
        at_once += step
        most = max(most, at_once)
    types = {}
    for event_type, _ in events.values():
        types[event_type] = types.get(event_type, 0) + 1
    return {
        "events": len(events),
        "event_types": types,
        "deliveries": len(deliveries),
        "delivered_events": len(first),
        "missing": len(events) - len(first),
        "duplicates": duplicates,
        "unknown_webhook_id": unknown,
        "verified": sum(1 for d in deliveries if d["verified"]),
        "payload_matches": sum(1 for e, d in first.items()
                               if isinstance(d.get("payload"), dict)
                               and d["payload"].get("id") == e
                               and d["payload"].get("type") == events[e][0]),
        "events_span_ms": span(created),
        "deliveries_span_ms": span(arrived),
        "events_per_second": rate(created),
        "deliveries_per_second": rate(arrived),
        "most_attempts_at_once": most,
        "latency_ms": summary(latencies),
        "attempt_ms": summary([int(a[1]) for a in attempts]),
        "attempts": len(attempts),
        "attempts_not_2xx": sum(1 for a in attempts if not a[2].startswith("2")),
    }


def git(*args):
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def table(args, results):
    lat = results["latency_ms"]
    att = results["attempt_ms"]
    pacing = f"paced at {args.rate:g}/s" if args.rate > 0 else "unpaced"
    written, delivered = results["events_per_second"], results["deliveries_per_second"]
    lines = [
        "event delivery latency: status change (events.created_at) → receiver received_at",
        f"{results['events']} events {results['event_types']}, {args.concurrency} workers "
        f"{pacing}, NOTIFY_POLL_MS {args.poll_ms}",
        f"events written {written or 0:.1f}/s, delivered {delivered or 0:.1f}/s"
        + ("  — the dispatcher fell behind: the latencies include its backlog"
           if results["deliveries_span_ms"] > results["events_span_ms"] + 2 * args.poll_ms
           else ""),
        "",
        f"{'':22} {'min':>8} {'median':>8} {'p95':>8} {'p99':>8} {'max':>8} {'mean':>8}",
    ]

    def row(label, figures):
        if figures.get("count", 0) == 0:
            return f"{label:22} (none)"
        return (f"{label:22} " + " ".join(f"{figures[k]:>8.1f}" for k in
                                          ("min", "median", "p95", "p99", "max", "mean")))

    lines.append(row("change → delivery ms", lat))
    lines.append(row("HTTP attempt ms", att))
    lines += [
        "",
        f"deliveries {results['deliveries']}, verified {results['verified']}, events missing "
        f"{results['missing']}, duplicates {results['duplicates']}, attempts "
        f"{results['attempts']} ({results['attempts_not_2xx']} not 2xx), at most "
        f"{results['most_attempts_at_once']} under way at once",
        f"machine: {results['cpus']} CPUs; commit {results['commit']}"
        + (" (with uncommitted changes)" if results["dirty"] else ""),
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--poll-ms", type=int, default=200, help="the gateway's NOTIFY_POLL_MS")
    parser.add_argument("--rate", type=float, default=0,
                        help="payments per second, all workers together (0: as fast as the "
                             "workers go)")
    parser.add_argument("--log-level", default="info", help="the gateway's (as deployed)")
    parser.add_argument("--budget-seconds", type=float, default=600,
                        help="the most the orders may take to be made and paid")
    parser.add_argument("--drain-seconds", type=float, default=120,
                        help="the most to wait for the last deliveries after the last payment")
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--out", default=os.path.join(ROOT, "build/release/notify-latency.txt"),
                        help="the table; the figures go to the same name with .json")
    args = parser.parse_args(argv)
    if args.events < 1 or args.concurrency < 1 or args.rate < 0:
        parser.error("--events and --concurrency must be at least 1, --rate at least 0")

    ensure_receiver_packages()
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="mg-notify-latency-")
    env = {"NOTIFY_ALLOW_PRIVATE": "true", "NOTIFY_POLL_MS": str(args.poll_ms),
           "LOG_LEVEL": args.log_level}
    with Stack(args.gateway, work_dir, env) as stack:
        receiver = Receiver(os.path.join(work_dir, "receiver.log"))
        try:
            receiver.start()
            stack.reaper.watch(stack.sim.process, stack.gateway.process, receiver.process)
            bench = Bench(args, stack, receiver)
            endpoint = bench.register()
            log(f"endpoint {endpoint} → receiver :{receiver.port}; {args.events} orders paid "
                f"with Benepia by {args.concurrency} workers"
                + (f" at {args.rate:g}/s" if args.rate > 0 else "")
                + f", NOTIFY_POLL_MS {args.poll_ms}…")
            seconds = bench.run()
            deliveries, events, attempts = bench.collect()
        finally:
            receiver.stop()
            stack.watch()
        results = measure(deliveries, events, attempts)
        results.update({
            "poll_ms": args.poll_ms, "concurrency": args.concurrency,
            "rate": args.rate, "produce_seconds": seconds,
            "cpus": os.cpu_count(), "commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "gateway": args.gateway,
        })
        text = table(args, results)
        log("\n" + text)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text + "\n")
        with open(os.path.splitext(args.out)[0] + ".json", "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
        log(f"\nwritten: {args.out} and {os.path.splitext(args.out)[0]}.json")
        problems = []
        if results["events"] != args.events or results["event_types"] != {"order.paid":
                                                                             args.events}:
            problems.append(f"expected {args.events} order.paid events, found "
                            f"{results['event_types']}")
        if results["missing"]:
            problems.append(f"{results['missing']} events never reached the receiver "
                            f"within --drain-seconds {args.drain_seconds:g}")
        if results["verified"] != results["deliveries"]:
            problems.append(f"{results['deliveries'] - results['verified']} deliveries did not "
                            "verify")
        if results["payload_matches"] != results["delivered_events"]:
            problems.append("a delivery's payload is not the event its webhook-id names")
        if problems:
            stack.failed = True     # keeps the logs
            for problem in problems:
                log("FAILED: " + problem)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
