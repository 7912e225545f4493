#!/usr/bin/env python3
"""Time from an iamport deposit notice reaching the gateway to the order being paid.

Starts the iamport simulator and the gateway (Release binary) on this machine against the
database in MG_TEST_PG_URL (run it through tests/support/with-postgres), creates COUNT orders
with virtual accounts, deposits into each at the simulator — which posts its webhook to the
gateway as iamport would — and reads both instants from the database: webhook_inbox.received_at
(stored) and the order_events row of the paid transition (applied). Prints median, p90, p99, max.

    tests/bench/webhook-latency [--count 1000] [--rate 100]
"""
import base64
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

# GATEWAY_SECRET_KEY of the gateways this run starts: one per run, so a restart opens what it sealed.
SECRET_KEY = base64.b64encode(os.urandom(32)).decode()

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, method="GET", body=None, headers=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def wait_for(path, needle, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                if needle in f.read():
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {needle!r} in {path}")


def wait_ready(url, proc, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the gateway exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {url}")


def psql(url, sql):
    out = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-d", url, "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100, help="deposits per second")
    args = parser.parse_args()

    admin = os.environ["MG_TEST_PG_URL"]
    psql(admin, "DROP DATABASE IF EXISTS mg_bench")
    psql(admin, "CREATE DATABASE mg_bench")
    db_url = admin.rsplit("/", 1)[0] + "/mg_bench"
    logs = tempfile.mkdtemp(prefix="mg-bench-")
    sim_port, gw_port = free_port(), free_port()
    procs = []
    succeeded = False
    try:
        sim_log = open(os.path.join(logs, "sim.log"), "w")
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests/iamport-sim/iamport_sim.py"),
             "--host", "127.0.0.1", "--port", str(sim_port)],
            stdout=sim_log, stderr=subprocess.STDOUT))
        wait_for(sim_log.name, "LISTENING")
        env = dict(os.environ, DATABASE_URL=db_url, LISTEN=f"127.0.0.1:{gw_port}",
                   PUBLIC_BASE_URL=f"http://127.0.0.1:{gw_port}",
                   IAMPORT_BASE_URL=f"http://127.0.0.1:{sim_port}",
                   IAMPORT_IMP_KEY="sandbox_imp_key", IAMPORT_IMP_SECRET="sandbox_imp_secret",
            GATEWAY_SECRET_KEY=SECRET_KEY,
                   IAMPORT_PG="kcp", LOG_LEVEL="warn", RECONCILE_INTERVAL="3600",
                   RATE_LIMIT_PER_SECOND="100000", RATE_LIMIT_BURST="100000",
                   WEBHOOK_RATE_LIMIT_PER_SECOND="100000", WEBHOOK_RATE_LIMIT_BURST="100000")
        gw_log = open(os.path.join(logs, "gateway.log"), "w")
        procs.append(subprocess.Popen([args.gateway, "serve"], env=env, stdout=gw_log,
                                      stderr=subprocess.STDOUT))
        # At LOG_LEVEL=warn the gateway logs nothing on start: readiness is its /readyz.
        wait_ready(f"http://127.0.0.1:{gw_port}/readyz", procs[-1])
        key = subprocess.run([args.gateway, "api-key", "create", "--name", "bench"], env=env,
                             check=True, capture_output=True, text=True).stdout.split()[-1]
        gw = f"http://127.0.0.1:{gw_port}"
        auth = {"Authorization": f"Bearer {key}"}

        print(f"creating {args.count} orders with virtual accounts…", flush=True)
        imp_uids = []
        due = int(time.time()) + 86400
        for i in range(args.count):
            uid = f"bench-{i}"
            call(f"{gw}/v1/orders", "POST", {"merchant_uid": uid, "name": "bench",
                                              "amount": 1000 + i}, auth)
            order = call(f"{gw}/v1/orders/{uid}/vbank", "POST",
                         {"vbank_code": "004", "vbank_due": due}, auth)
            imp_uids.append(order["payments"][0]["imp_uid"])
        # Let the `ready` notices of the issues settle before measuring deposits.
        deadline = time.time() + 120
        while psql(db_url, "SELECT count(*) FROM webhook_inbox WHERE state = 'pending'") != "0":
            if time.time() > deadline:
                raise SystemExit("ready notices did not settle")
            time.sleep(0.2)

        print(f"depositing at {args.rate:g}/s; the simulator posts each webhook…", flush=True)
        started = time.time()
        for i, imp_uid in enumerate(imp_uids):
            target = started + i / args.rate
            pause = target - time.time()
            if pause > 0:
                time.sleep(pause)
            call(f"http://127.0.0.1:{sim_port}/__sim/deposit", "POST", {"imp_uid": imp_uid})
        deadline = time.time() + 300
        while True:
            paid = int(psql(db_url, "SELECT count(*) FROM orders WHERE status = 'paid'"))
            if paid == args.count:
                break
            if time.time() > deadline:
                raise SystemExit(f"only {paid} of {args.count} orders paid")
            time.sleep(0.2)

        stats = psql(db_url, """
            WITH d AS (
              SELECT extract(epoch FROM e.created_at - w.received_at) * 1000 AS ms
              FROM webhook_inbox w
              JOIN orders o ON o.merchant_uid = w.merchant_uid
              JOIN order_events e ON e.order_id = o.id AND e.to_status = 'paid'
              WHERE w.claimed_status = 'paid' AND w.outcome = 'applied')
            SELECT count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
                   round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 2),
                   round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2),
                   round(max(ms)::numeric, 2)
            FROM d""").split("|")
        print(f"webhook stored → order paid, over {stats[0]} deposit notices "
              f"({args.rate:g}/s offered):")
        print(f"  median {stats[1]} ms   p90 {stats[2]} ms   p99 {stats[3]} ms   max {stats[4]} ms")
        print(f"machine: {os.cpu_count()} CPUs, {os.uname().sysname} {os.uname().release}")
        succeeded = True
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        # The logs are kept only when they can explain a failure.
        if succeeded:
            shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    main()
