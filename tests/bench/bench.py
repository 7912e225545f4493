#!/usr/bin/env python3
"""The gateway against the limits of the machine it runs on (run it through tests/bench/run).

Starts a private PostgreSQL, the iamport simulator and the gateway (--gateway BINARY) on
127.0.0.1 and measures, in one run:
  - start-up time (exec to /readyz 200) and resident memory idle, under load and after;
  - GET /v1/orders/{merchant_uid} and POST /v1/orders at full rate with wrk (req/s, p50, p99), at
    each connection count of --connections;
  - the limits at each count: pgbench running the same SQL statements as each route with as many
    clients, and nginx answering a static 200 to the same wrk load;
  - p99 of each route at half its measured peak rate (wrk paced by tests/bench/wrk_common.lua),
    at the first count;
  - system calls (strace -c -f) and context switches (perf stat) of the gateway per request,
    each route at a fixed modest rate (--no-syscalls to skip);
  - webhook deposit notices applied per second when posted as fast as the gateway takes them,
    beside pgbench running the same transactions (tests/bench/pgbench_webhook.sql);
  - webhook stored -> applied latency (tests/bench/webhook_latency.py);
  - optionally a soak at half the peak, sampling memory every 10 s.
Prints one table and writes it to --out (and the figures as JSON next to it). Everything it
starts is stopped on the way out, on failure and on Ctrl-C too; every step has a time limit.
See tests/bench/README.md for what each figure means.
"""
import base64
import argparse
import concurrent.futures
import contextlib
import datetime
import glob
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import statements

# GATEWAY_SECRET_KEY of the gateways this run starts: one per run, so a restart opens what it sealed.
SECRET_KEY = base64.b64encode(os.urandom(32)).decode()

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "tests", "bench")
PG_BIN = os.environ.get("MG_PG_BIN", "/usr/lib/postgresql/15/bin")
DB_NAME = "mg_bench_load"
GET_BASE = 7_000_000_000  # merchant_uids of the orders GET reads: GET_BASE+1 .. GET_BASE+N
# merchant_uids (and imp_uids) of the orders pgbench_webhook.sql pays: WH_BASE+0 .. +N-1
WH_BASE = 8_000_000_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROUTES = ("GET order", "POST order")


class BenchError(Exception):
    pass


class Overrun(BenchError):
    """The run's own time limit: never caught by a phase that may fail on its own."""


def log(message):
    print(message, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_default(field, fallback):
    """A default of service/common/config.hpp (db_pool_size, io_threads), to follow it."""
    try:
        with open(os.path.join(ROOT, "service", "common", "config.hpp"), encoding="utf-8") as f:
            found = re.search(rf"\b{field}\s*=\s*(\d+)", f.read())
        return int(found.group(1)) if found else fallback
    except OSError:
        return fallback


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_ticks(pid, with_children=False):
    """utime+stime of a process (and of its reaped children), in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    # fields[0] is field 3 (state): utime is field 14, cutime field 16.
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def children_of(ppid):
    pids = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat, encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == ppid:
                pids.append(int(stat.split("/")[2]))
        except (OSError, IndexError, ValueError):
            continue
    return pids


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds in a thread while in a `with` block."""

    def __init__(self, pid, interval):
        self.pid, self.interval, self.samples = pid, interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        started = time.monotonic()
        while not self._stop.is_set():
            value = rss_kib(self.pid)
            if value is not None:
                self.samples.append((time.monotonic() - started, value))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def max_kib(self):
        return max((v for _, v in self.samples), default=None)


class Bench:
    def __init__(self, args):
        self.args = args
        self.procs = []  # (name, Popen), stopped in reverse order
        self.work = tempfile.mkdtemp(prefix="mg-bench-")
        # PostgreSQL runs as the postgres user when we are root: it must reach its directory.
        os.chmod(self.work, 0o755)
        self.pg_dir = os.path.join(self.work, "pg")
        self.pg_started = False
        self.results = {"routes": {r: {} for r in ROUTES}}
        self.wrk_runs = 0
        self.pgbench_runs = 0
        self.lock = threading.Lock()

    # -- processes ---------------------------------------------------------------------------

    def spawn(self, name, cmd, env=None):
        out = open(os.path.join(self.work, f"{name}.log"), "w")
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        self.procs.append((name, proc))
        return proc

    def stop(self, proc, grace=20, sig=signal.SIGTERM):
        """Ends `proc` with `sig`, killed if it has not ended after `grace` seconds. SIGINT makes
        a tracer (strace, perf) detach and write what it counted (interrupt)."""
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = [(n, p) for n, p in self.procs if p is not proc]

    def interrupt(self, proc, grace=30):
        self.stop(proc, grace, signal.SIGINT)

    def cleanup(self, keep_logs):
        for _, proc in reversed(self.procs):
            try:
                self.stop(proc)
            except Exception:  # keep stopping the others
                pass
        if self.pg_started:
            subprocess.run([os.path.join(ROOT, "tests/support/pg-cluster"), "destroy",
                            self.pg_dir], check=False, capture_output=True, timeout=60)
        if keep_logs:
            log(f"logs kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def wait_for_log(self, name, proc, pattern, seconds=60):
        path = os.path.join(self.work, f"{name}.log")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with open(path, encoding="utf-8", errors="replace") as f:
                found = re.search(pattern, f.read())
            if found:
                return found
            if proc.poll() is not None:
                raise BenchError(f"{name} exited ({proc.returncode}); see {path}")
            time.sleep(0.05)
        raise BenchError(f"timed out waiting for {pattern!r} in {path}")

    # -- PostgreSQL --------------------------------------------------------------------------

    def start_postgres(self):
        cluster = os.path.join(ROOT, "tests/support/pg-cluster")
        subprocess.run([cluster, "init", self.pg_dir], check=True, timeout=120)
        # As tests/support/with-postgres: durability off (the data dies with the run), so neither
        # the gateway nor pgbench waits for the disk. pg_stat_statements counts the statements
        # each route costs, to show that pgbench runs the same ones.
        with open(os.path.join(self.pg_dir, "data", "postgresql.conf"), "a") as conf:
            conf.write("max_connections = 200\nshared_buffers = 128MB\nfull_page_writes = off\n"
                       "wal_level = minimal\nmax_wal_senders = 0\ncheckpoint_timeout = 30min\n"
                       "max_wal_size = 1GB\nlog_min_messages = warning\n"
                       "shared_preload_libraries = 'pg_stat_statements'\n"
                       "pg_stat_statements.track_utility = on\n")
        for _ in range(5):
            port = free_port()
            try:
                subprocess.run([cluster, "start", self.pg_dir, str(port)], check=True,
                               timeout=90, capture_output=True)
                self.pg_started = True
                break
            except subprocess.CalledProcessError:
                subprocess.run([cluster, "stop", self.pg_dir], check=False,
                               capture_output=True, timeout=60)
        else:
            raise BenchError(f"PostgreSQL did not start; see {self.pg_dir}/postgres.log")
        self.admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self.db_url = f"postgresql://postgres@127.0.0.1:{port}/{DB_NAME}"
        self.psql(f"CREATE DATABASE {DB_NAME}", url=self.admin_url)
        self.psql("CREATE EXTENSION pg_stat_statements")

    def check_statements(self):
        """Whether each statement the pgbench scripts use is in the gateway binary verbatim (the
        compiler joins the literals of a statement into one string)."""
        names = set()
        for template in ("pgbench_get_order.sql", "pgbench_post_order.sql", "pgbench_webhook.sql"):
            with open(os.path.join(BENCH, template), encoding="utf-8") as f:
                names.update(statements.used_by(f.read()))
        with open(self.args.gateway, "rb") as f:
            binary = f.read()
        missing = sorted(n for n in names
                         if n not in self.statements or self.statements[n].encode() not in binary)
        text = (f"all {len(names)} statements of the pgbench scripts are in the binary verbatim"
                if not missing else
                f"NOT in the binary verbatim: {', '.join(missing)} — pgbench may not run what "
                "this gateway runs (see --statements-from)")
        return {"used": sorted(names), "missing": missing, "text": text}

    def postmaster_pid(self):
        with open(os.path.join(self.pg_dir, "data", "postmaster.pid"), encoding="ascii") as f:
            return int(f.readline())

    def psql(self, sql, url=None):
        out = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d",
                              url or self.db_url, "-c", sql],
                             check=True, capture_output=True, text=True, timeout=300)
        return out.stdout.strip()

    def statement_counts(self):
        """{query: calls} of this database since the last reset, without our own queries."""
        rows = self.psql(
            "SELECT calls, regexp_replace(left(query, 70), '\\s+', ' ', 'g') "
            "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            f"WHERE d.datname = '{DB_NAME}' AND query NOT LIKE '%pg_stat_statements%' "
            "AND query NOT LIKE '%mg-bench-poll%' "
            "ORDER BY calls DESC")
        counts = {}
        for row in rows.splitlines():
            calls, query = row.split("|", 1)
            counts[query] = counts.get(query, 0) + int(calls)
        return counts

    def reset_statements(self):
        self.psql("SELECT pg_stat_statements_reset()")

    # -- the gateway -------------------------------------------------------------------------

    def gateway_env(self):
        return dict(
            os.environ, DATABASE_URL=self.db_url, LISTEN=f"127.0.0.1:{self.gw_port}",
            PUBLIC_BASE_URL=f"http://127.0.0.1:{self.gw_port}",
            IAMPORT_BASE_URL=f"http://127.0.0.1:{self.sim_port}",
            IAMPORT_IMP_KEY="sandbox_imp_key", IAMPORT_IMP_SECRET="sandbox_imp_secret",
            GATEWAY_SECRET_KEY=SECRET_KEY,
            IAMPORT_PG="kcp", LOG_LEVEL=self.args.log_level, RECONCILE_INTERVAL="3600",
            DB_POOL_SIZE=str(self.args.pool), IO_THREADS=str(self.args.io_threads),
            # The per-key limits would cap the load at 1,000/s: this run measures the machine.
            RATE_LIMIT_PER_SECOND="10000000", RATE_LIMIT_BURST="10000000",
            WEBHOOK_RATE_LIMIT_PER_SECOND="100000", WEBHOOK_RATE_LIMIT_BURST="100000")

    def gateway_cli(self, *args):
        out = subprocess.run([self.args.gateway, *args], env=self.gateway_env(), check=True,
                             capture_output=True, text=True, timeout=120)
        return out.stdout

    def call(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.gw_port}{path}", data=data,
                                         method=method)
        request.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def start_gateway(self):
        env = self.gateway_env()
        started = time.monotonic()
        proc = self.spawn("gateway", [self.args.gateway, "serve"], env)
        deadline = started + 60
        while True:
            try:
                if self.call("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None:
                raise BenchError(f"the gateway exited ({proc.returncode}); see "
                                 f"{self.work}/gateway.log")
            if time.monotonic() > deadline:
                raise BenchError("the gateway was not ready within 60 s")
            time.sleep(0.005)
        self.results["startup_ms"] = (time.monotonic() - started) * 1000
        self.gateway = proc

    # -- load --------------------------------------------------------------------------------

    def wrk(self, url, script, seconds, rate=0, connections=None, sample_rss=True):
        with self.lock:
            self.wrk_runs += 1
            prefix = f"{self.run_tag}{self.wrk_runs}"
        threads = self.args.threads
        env = dict(os.environ, MG_BENCH_DIR=BENCH, MG_BENCH_THREADS=str(threads),
                   MG_BENCH_RATE=f"{rate:.3f}", MG_BENCH_API_KEY=self.api_key,
                   MG_BENCH_GET_BASE=str(GET_BASE), MG_BENCH_GET_ORDERS=str(self.args.orders),
                   MG_BENCH_PREFIX=prefix)
        cmd = ["wrk", f"-t{threads}", f"-c{connections or self.args.connections[0]}",
               f"-d{seconds}s", "--timeout", "10s", "-s", os.path.join(BENCH, script), url]
        before = self.cpu_snapshot()
        sampler = RssSampler(self.gateway.pid, 0.5) if sample_rss else None
        with sampler or contextlib.nullcontext():
            out = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                 timeout=seconds + 60)
        result = self.parse_result(out.stdout, out.stderr, " ".join(cmd))
        self.cpu_per_request(before, result)
        if sampler:
            result["rss_max_kib"] = sampler.max_kib
        return result

    @staticmethod
    def parse_result(stdout, stderr, what):
        line = next((l for l in stdout.splitlines() if l.startswith("MG_RESULT ")), None)
        if line is None:
            raise BenchError(f"no result from {what}:\n{stdout}\n{stderr}")
        result = {}
        for pair in line.split()[1:]:
            key, value = pair.split("=")
            result[key] = float(value) if "." in value else int(value)
        return result

    def cpu_snapshot(self):
        postmaster = self.postmaster_pid()
        postgres = cpu_ticks(postmaster, with_children=True) + sum(
            cpu_ticks(pid) for pid in children_of(postmaster))
        gateway = cpu_ticks(self.gateway.pid) if getattr(self, "gateway", None) else 0
        nginx = sum(cpu_ticks(p.pid, True) + sum(cpu_ticks(c) for c in children_of(p.pid))
                    for n, p in self.procs if n == "nginx")
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {"gateway": gateway, "postgres": postgres, "nginx": nginx,
                "client": (usage.ru_utime + usage.ru_stime) * CLK_TCK,
                "machine": machine_busy_ticks(), "wall": time.monotonic()}

    def cpu_per_request(self, before, result):
        """CPU µs per request of each process (into result), and the share of the machine that
        processes other than these used meanwhile: the noise of the measurement."""
        after = self.cpu_snapshot()
        ours = ("gateway", "postgres", "nginx", "client")
        spent = {k: after[k] - before[k] for k in ours}
        elapsed = after["wall"] - before["wall"]
        other = after["machine"] - before["machine"] - sum(spent.values())
        result["other_cpu_share"] = max(0.0, other / (elapsed * CLK_TCK * os.cpu_count()))
        requests = result["requests"]
        if requests:
            # Below a microsecond is a process idling beside the measurement (the gateway
            # during pgbench), not a cost of the request.
            per = {k: v / CLK_TCK * 1e6 / requests for k, v in spent.items()}
            result["cpu_us_per_request"] = {k: round(v, 1) for k, v in per.items() if v >= 1}

    def paced_connections(self):
        # A paced run sends on a schedule: spare connections keep one slow response from holding
        # back the sends behind it (which would hide the wait from the percentiles).
        return 4 * self.args.connections[0]

    def pgbench(self, name, template, defines, rate=None, clients=None, per_client=None,
                nulls=()):
        """pgbench over `template` with `clients` connections (default the first connection
        count), as fast as it can for --duration seconds, or at `rate` transactions per second, or
        `per_client` transactions on each connection. With a rate, pgbench measures each latency
        from the transaction's scheduled start. `nulls` are variables of the template written as
        NULL (pgbench's -D cannot give a NULL)."""
        self.pgbench_runs += 1
        clients = clients or self.args.connections[0]
        script = os.path.join(self.work, f"pgbench-{name}.sql")
        with open(os.path.join(BENCH, template), encoding="utf-8") as f:
            text = f.read()
        for variable in nulls:
            text = re.sub(rf":{variable}\b", "NULL", text)
        rendered = statements.render(text, self.statements)
        with open(script, "w", encoding="utf-8") as f:
            f.write(rendered)
        self.rendered_transactions = len(re.findall(r"^BEGIN;", rendered, re.M))
        prefix = os.path.join(self.work, f"pgbench-{name}-log")
        cmd = [os.path.join(PG_BIN, "pgbench"), "-n", "-M", "prepared",
               "-c", str(clients), "-j", str(min(2, clients)), "-f", script, "-l",
               f"--log-prefix={prefix}"]
        cmd += ["-t", str(per_client)] if per_client else ["-T", str(self.args.duration)]
        if rate:
            cmd += ["-R", f"{rate:.1f}"]
        # POST's merchant_uids are post_base + client * 10^9 + counter: a new base every run.
        defines = dict(defines, post_base=10**15 * self.pgbench_runs)
        for key, value in defines.items():
            cmd += ["-D", f"{key}={value}"]
        cmd.append(self.db_url)
        before = self.cpu_snapshot()
        out = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=(300 if per_client else self.args.duration) + 120)
        # pgbench's server processes end after it: wait for them, so that their CPU time has
        # moved to the postmaster's reaped children before it is read.
        deadline = time.monotonic() + 10
        while self.psql("SELECT count(*) FROM pg_stat_activity "
                        "WHERE application_name = 'pgbench'") != "0":
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
        if out.returncode != 0 or not tps:
            raise BenchError(f"pgbench failed:\n{out.stdout}\n{out.stderr}")
        failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
        latencies = []
        for path in glob.glob(prefix + ".*"):
            with open(path, encoding="ascii") as f:
                latencies.extend(int(line.split()[2]) for line in f if line.strip())
            os.remove(path)
        latencies.sort()
        result = {"rps": float(tps.group(1)), "requests": len(latencies),
                  "failed": int(failed.group(1)) if failed else 0,
                  "p50_ms": percentile(latencies, 50) / 1000,
                  "p99_ms": percentile(latencies, 99) / 1000}
        self.cpu_per_request(before, result)
        return result

    def start_nginx(self):
        port = free_port()
        conf = os.path.join(self.work, "nginx.conf")
        temp = os.path.join(self.work, "nginx-temp")
        os.makedirs(temp, exist_ok=True)
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f"""worker_processes {os.cpu_count()};
daemon off;
pid {self.work}/nginx.pid;
error_log {self.work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok"; }}
    }}
}}
""")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        proc = self.spawn("nginx", [nginx, "-e", f"{self.work}/nginx-error.log", "-p", self.work,
                                    "-c", conf])
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200:
                        return proc, port
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"nginx did not start; see {self.work}/nginx.log")
            time.sleep(0.05)

    # -- the run -----------------------------------------------------------------------------

    def run(self):
        args = self.args
        self.run_tag = "b" + format(int(time.time()) % 46656, "x")
        self.results["machine"] = machine()
        self.results["started"] = datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC")
        self.results["load_before"] = os.getloadavg()
        self.results["commit"] = commit()
        self.results["gateway"] = args.gateway
        if args.statements_from:
            self.statements = statements.load_revision(ROOT, args.statements_from)
        else:
            self.statements = statements.load(ROOT)
        self.results["statements_from"] = args.statements_from or "working tree"
        self.results["statements_check"] = self.check_statements()
        log(f"pgbench's SQL from db/*.cpp ({self.results['statements_from']}): "
            + self.results["statements_check"]["text"])

        log("starting PostgreSQL, the iamport simulator and the gateway…")
        self.start_postgres()
        sim = self.spawn("sim", [sys.executable,
                                 os.path.join(ROOT, "tests/iamport-sim/iamport_sim.py"),
                                 "--host", "127.0.0.1", "--port", "0"])
        self.sim_port = int(self.wait_for_log("sim", sim, r"LISTENING (\d+)").group(1))
        self.sim = sim
        self.gw_port = free_port()
        self.gateway_cli("migrate")
        self.api_key = self.gateway_cli("api-key", "create", "--name", "bench", "--scope",
                                        "read", "--scope", "write").strip().splitlines()[-1]
        key_id = self.psql("SELECT id FROM api_keys WHERE name = 'bench'")
        # The orders GET reads, as POST /v1/orders leaves them (an order and its first event).
        self.psql(
            "INSERT INTO orders (merchant_uid, name, amount, client_secret) "
            f"SELECT ({GET_BASE} + i)::text, 'bench order', 1000 + i, "
            "'cs_' || md5(i::text) FROM generate_series(1, " + str(args.orders) + ") i; "
            "INSERT INTO order_events (order_id, from_status, to_status, cause) "
            "SELECT id, NULL, 'pending', 'api' FROM orders; ANALYZE")

        self.start_gateway()
        time.sleep(2)
        self.results["rss_idle_kib"] = rss_kib(self.gateway.pid)
        log(f"  ready in {self.results['startup_ms']:.0f} ms, "
            f"{self.results['rss_idle_kib'] / 1024:.1f} MiB idle")

        auth = {"Authorization": f"Bearer {self.api_key}"}
        status, body = self.call("GET", f"/v1/orders/{GET_BASE + 1}", headers=auth)
        if status != 200:
            raise BenchError(f"GET of a bench order answered {status}: {body[:300]!r}")
        probe = f"{self.run_tag}-probe"
        status, body = self.call("POST", "/v1/orders",
                                 {"merchant_uid": probe, "name": "bench order", "amount": 1000},
                                 dict(auth, **{"Idempotency-Key": f"idem-{probe}"}))
        if status != 201:
            raise BenchError(f"POST /v1/orders answered {status}: {body[:300]!r}")
        post_defines = {
            "n": 0,
            "scope": f"key:{key_id}", "hash": "0" * 64, "lock_seconds": 60,
            "name": "bench order", "currency": "KRW", "secret": "cs_" + "x" * 32,
            "status": "pending", "cause": "api", "created": 201,
            "body": body.decode(), "content_type": "application/json"}
        get_defines = {"get_base": GET_BASE, "get_orders": args.orders}

        gw = f"http://127.0.0.1:{self.gw_port}"
        scripts = {"GET order": ("get_order.lua", "pgbench_get_order.sql", get_defines),
                   "POST order": ("post_order.lua", "pgbench_post_order.sql", post_defines)}
        log("warming up…")
        for route in ROUTES:
            self.wrk(gw, scripts[route][0], 3)

        if args.profile:
            self.profile(gw, scripts)
            if args.profile_only:
                if args.webhook_deliveries > 0:
                    self.webhook_throughput(gw, auth)
                self.stop(self.gateway)
                return self.results

        counts = args.connections
        for route in ROUTES:
            self.results["routes"][route]["connections"] = {str(c): {} for c in counts}

        def at(route, count):
            return self.results["routes"][route]["connections"][str(count)]

        loaded_rss = []
        for count in counts:
            for route in ROUTES:
                lua, _, _ = scripts[route]
                log(f"{route}: gateway at full rate, {count} connections ({args.duration} s)…")
                self.reset_statements()
                result = self.wrk(gw, lua, args.duration, connections=count)
                result["statements"] = self.statement_counts()
                loaded_rss.append(result["rss_max_kib"])
                at(route, count)["service"] = result
                log("  " + summary(result))

        for count in counts:
            for route in ROUTES:
                _, template, defines = scripts[route]
                log(f"{route}: pgbench with the same statements, -c {count} "
                    f"({args.duration} s)…")
                self.reset_statements()
                result = self.pgbench(route.split()[0].lower(), template, defines,
                                      clients=count)
                self.results["routes"][route]["pgbench_transactions"] = \
                    self.rendered_transactions
                result["statements"] = self.statement_counts()
                at(route, count)["pgbench"] = result
                log("  " + summary(result))

        nginx, nginx_port = self.start_nginx()
        try:
            for count in counts:
                for route in ROUTES:
                    log(f"{route}: nginx static 200, {count} connections ({args.duration} s)…")
                    result = self.wrk(f"http://127.0.0.1:{nginx_port}", scripts[route][0],
                                      args.duration, connections=count, sample_rss=False)
                    at(route, count)["nginx"] = result
                    log("  " + summary(result))
        finally:
            self.stop(nginx)
        # The first count's figures are also the route's own (as before there were several).
        for route in ROUTES:
            self.results["routes"][route].update(at(route, counts[0]))

        # Half the peak at the first count only (its paced runs use 4 × that many connections).
        for route in ROUTES:
            peak = self.results["routes"][route]["service"]["rps"]
            log(f"{route}: gateway at half its peak ({counts[0]} connections), {peak / 2:.0f}/s "
                f"({args.duration} s)…")
            result = self.wrk(gw, scripts[route][0], args.duration, rate=peak / 2,
                              connections=self.paced_connections())
            loaded_rss.append(result["rss_max_kib"])
            self.results["routes"][route]["half"] = result
            log("  " + summary(result))
            _, template, defines = scripts[route]
            log(f"{route}: pgbench at the same rate, -c {counts[0]} ({args.duration} s)…")
            result = self.pgbench(route.split()[0].lower(), template, defines, rate=peak / 2)
            self.results["routes"][route]["pgbench_half"] = result
            log("  " + summary(result))
        self.results["rss_load_kib"] = max(v for v in loaded_rss if v is not None)
        time.sleep(3)
        self.results["rss_after_kib"] = rss_kib(self.gateway.pid)

        if args.syscalls:
            self.syscalls(gw, scripts)
        if args.soak:
            self.soak(gw, scripts)
        if args.webhook_deliveries > 0:
            try:
                self.webhook_throughput(gw, auth)
            except Overrun:
                raise
            except (BenchError, OSError, ValueError, KeyError,
                    subprocess.CalledProcessError) as e:
                # The other figures stand; the table says this one is missing and the run fails.
                reason = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
                log(f"  webhook deliveries at saturation failed: {reason}")
                self.results["webhook_throughput"] = {"error": reason}

        self.stop(self.gateway)
        if args.webhook_count > 0:
            self.webhooks()
        if args.reconciler_calls:
            self.reconciler_calls()
        self.results["load_after"] = os.getloadavg()
        return self.results

    def soak(self, gw, scripts):
        args = self.args
        seconds = int(args.soak * 60)
        rates = {r: self.results["routes"][r]["service"]["rps"] / 4 for r in ROUTES}
        log(f"soak: GET at {rates['GET order']:.0f}/s and POST at {rates['POST order']:.0f}/s "
            f"together for {args.soak:g} min, memory sampled every 10 s…")
        outcome = {}

        def drive(route):
            try:
                outcome[route] = self.wrk(gw, scripts[route][0], seconds, rate=rates[route],
                                          connections=self.paced_connections(),
                                          sample_rss=False)
            except Exception as e:  # reported below, after the other driver ends
                outcome[route] = e

        with RssSampler(self.gateway.pid, 10) as sampler:
            drivers = [threading.Thread(target=drive, args=(r,)) for r in ROUTES]
            for d in drivers:
                d.start()
            for d in drivers:
                d.join()
        for route in ROUTES:
            if isinstance(outcome[route], Exception):
                raise outcome[route]
        samples = sampler.samples
        # Flat after the first 5 minutes (a quarter of a shorter soak): what the allocator and
        # the caches take while warming up is not growth. The minute after that settling time
        # is compared with the last minute.
        settle = min(300.0, seconds / 4)
        window = min(60.0, seconds / 4)
        first = [v for t, v in samples if settle <= t <= settle + window]
        last = [v for t, v in samples if t >= seconds - window]
        first_mean = sum(first) / len(first)
        last_mean = sum(last) / len(last)
        growth = (last_mean - first_mean) / first_mean
        self.results["soak"] = {
            "minutes": args.soak, "rates": rates, "window_s": window, "settle_s": settle,
            "first_kib": first_mean, "last_kib": last_mean, "growth": growth,
            "max_kib": max(v for _, v in samples),
            "flat": growth < 0.05, "samples": samples,
            "routes": {r: outcome[r] for r in ROUTES}}
        log(f"  RSS {first_mean / 1024:.1f} MiB ({settle:.0f}–{settle + window:.0f} s) → "
            f"{last_mean / 1024:.1f} MiB (last {window:.0f} s), {growth * 100:+.1f} %, max "
            f"{self.results['soak']['max_kib'] / 1024:.1f} MiB")

    # -- system calls and context switches ---------------------------------------------------

    def syscalls(self, gw, scripts):
        """System calls (strace -c -f) and context switches (perf stat, or /proc) of the gateway
        per request, each route paced at --syscall-rate for --syscall-seconds: once under strace,
        once under perf stat alone (a traced process switches to its tracer at every call, so its
        context switches would be strace's)."""
        args = self.args
        seconds, rate = args.syscall_seconds, args.syscall_rate
        events = perf_events()
        out = {"rate": rate, "seconds": seconds, "connections": self.paced_connections(),
               "context_switches_from": "perf stat" if events else "/proc/PID/task/*/status",
               "routes": {}}
        if events and "raw_syscalls:sys_enter" in events:
            log("idle gateway: perf stat for 2 s…")
            counts = self.perf_window(events, lambda: time.sleep(2))
            out["idle_per_second"] = {k: v / 2 for k, v in counts.items()}
        for route in ROUTES:
            lua = scripts[route][0]
            log(f"{route}: system calls per request, {rate:g}/s under strace -c -f ({seconds} s)…")
            table = {}
            result = self.strace_window(table, lambda: self.wrk(
                gw, lua, seconds, rate=rate, connections=self.paced_connections(),
                sample_rss=False))
            served = max(1, result["requests"])
            entry = {"strace_requests": result["requests"], "strace_rps": result["rps"],
                     "syscalls_per_request": table.get("total", 0) / served,
                     "by_call": {name: calls / served for name, calls in table.items()
                                 if name != "total"}}
            log(f"  {entry['syscalls_per_request']:.1f} per request over {result['requests']} "
                f"requests: " + ", ".join(f"{n} {v:.1f}" for n, v in top_calls(entry, 5)))
            log(f"{route}: context switches per request, {rate:g}/s without strace "
                f"({seconds} s)…")
            if events:
                holder = {}
                counts = self.perf_window(events, lambda: holder.setdefault("r", self.wrk(
                    gw, lua, seconds, rate=rate, connections=self.paced_connections(),
                    sample_rss=False)))
                result = holder["r"]
            else:
                before = thread_switches(self.gateway.pid)
                result = self.wrk(gw, lua, seconds, rate=rate,
                                  connections=self.paced_connections(), sample_rss=False)
                counts = {"context-switches": thread_switches(self.gateway.pid) - before}
            served = max(1, result["requests"])
            entry["perf_requests"] = result["requests"]
            entry["context_switches_per_request"] = counts.get("context-switches", 0) / served
            if "cpu-migrations" in counts:
                entry["cpu_migrations_per_request"] = counts["cpu-migrations"] / served
            if "raw_syscalls:sys_enter" in counts:
                entry["perf_syscalls_per_request"] = counts["raw_syscalls:sys_enter"] / served
            entry["p99_ms_without_strace"] = result["p99_ms"]
            log(f"  {entry['context_switches_per_request']:.2f} context switches per request "
                f"over {result['requests']} requests")
            out["routes"][route] = entry
        self.results["syscalls"] = out

    def strace_window(self, table, action):
        """Runs action() with strace -c -f attached to every thread of the gateway; fills
        `table` ({syscall: calls, "total": calls}) from strace's summary once detached."""
        summary_path = os.path.join(self.work, "strace-summary.txt")
        name = "strace"
        proc = self.spawn(name, ["strace", "-c", "-f", "-S", "calls", "-o", summary_path,
                                 "-p", str(self.gateway.pid)])
        try:
            # strace says "Process N attached with M threads" once every thread is traced.
            self.wait_for_log(name, proc, r"attached", seconds=20)
            result = action()
        finally:
            # SIGINT: strace detaches from every thread and writes its summary.
            self.interrupt(proc)
        with open(summary_path, encoding="utf-8", errors="replace") as f:
            table.update(parse_strace_summary(f.read()))
        if "total" not in table:
            raise BenchError(f"no summary from strace; see {self.work}/{name}.log")
        return result

    def perf_window(self, events, action):
        """{event: count} of the gateway's threads over action(), by perf stat -p."""
        path = os.path.join(self.work, "perf-stat.csv")
        name = "perf"
        proc = self.spawn(name, ["perf", "stat", "-x", ",", "-o", path, "-e", ",".join(events),
                                 "-p", str(self.gateway.pid)])
        try:
            time.sleep(0.3)  # perf prints nothing once attached; it attaches in milliseconds
            if proc.poll() is not None:
                raise BenchError(f"perf stat exited ({proc.returncode}); see "
                                 f"{self.work}/{name}.log")
            action()
        finally:
            self.interrupt(proc)
        with open(path, encoding="utf-8", errors="replace") as f:
            return parse_perf_csv(f.read())

    def profile(self, gw, scripts):
        """Where the gateway's CPU goes at full rate: perf record -p on each route at the first
        connection count for --duration seconds, then perf report's symbols over 0.5 %. The
        reports are written beside --out (NAME-profile.txt), the webhook deliveries' after
        them (webhook_throughput); the run's table shows the top."""
        args = self.args
        count = args.connections[0]
        self.results["profile"] = {}
        self.profile_reports = []
        for route in ROUTES:
            name = route.split()[0].lower()
            log(f"{route}: perf record at full rate, {count} connections ({args.duration} s)…")
            proc = self.start_perf_record(name)
            try:
                result = self.wrk(gw, scripts[route][0], args.duration, connections=count,
                                  sample_rss=False)
            finally:
                self.stop_perf_record(proc)
            self.add_profile(route, name, f"{count} connections, {result['rps']:.0f}/s while "
                             "recorded", rps_while_recorded=result["rps"])

    def start_perf_record(self, name):
        data = os.path.join(self.work, f"perf-{name}.data")
        proc = self.spawn("perf-record", ["perf", "record", "-F", "1999", "-o", data, "-p",
                                          str(self.gateway.pid)]
                          + (["--call-graph", "dwarf,16384"] if self.args.profile_calls else []))
        time.sleep(0.5)
        if proc.poll() is not None:
            raise BenchError(f"perf record exited ({proc.returncode}); see "
                             f"{self.work}/perf-record.log")
        return proc

    def stop_perf_record(self, proc):
        self.interrupt(proc, grace=120)  # perf writes its data file on SIGINT

    def add_profile(self, what, name, details, **extra):
        """perf report of perf-NAME.data into the results and the profile file."""
        data = os.path.join(self.work, f"perf-{name}.data")
        report = subprocess.run(
            ["perf", "report", "--stdio", "-i", data, "--percent-limit", "0.5"]
            + (["--no-children", "-G"] if self.args.profile_calls else ["--sort", "dso,symbol"]),
            capture_output=True, text=True, timeout=600).stdout
        lines = [l for l in report.splitlines() if l.strip() and not l.startswith("#")]
        top = [" ".join(l.replace(" - ", " ").split()) for l in lines
               if re.match(r"\s*\d+\.\d+%", l)][:15]
        self.results["profile"][what] = dict(extra, top=top)
        log(f"  {details}; top: " + "; ".join(top[:3]))
        self.profile_reports.append(f"## {what}, {details}\n\n{report}")
        path = os.path.splitext(os.path.abspath(self.args.out))[0] + "-profile.txt"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.profile_reports))
        log(f"  perf reports written to {path}")

    # -- webhook deliveries at saturation -----------------------------------------------------

    def webhook_throughput(self, gw, auth):
        """Deposit notices applied per second when N of them are posted as fast as the gateway
        takes them (the simulator answering its re-fetches at once), and pgbench running the
        same transactions per delivery (pgbench_webhook.sql)."""
        args = self.args
        n, senders = args.webhook_deliveries, args.webhook_senders
        tag = f"{self.run_tag}-wh"
        sim = f"http://127.0.0.1:{self.sim_port}"
        log(f"webhook deliveries at saturation: {n} orders with virtual accounts…")
        due = int(time.time()) + 86400

        def issue(i):
            uid = f"{tag}-{i}"
            status, body = self.call("POST", "/v1/orders", {"merchant_uid": uid,
                                     "name": "bench order", "amount": 1000 + i}, auth)
            if status != 201:
                raise BenchError(f"POST /v1/orders answered {status}: {body[:300]!r}")
            status, body = self.call("POST", f"/v1/orders/{uid}/vbank",
                                     {"vbank_code": "004", "vbank_due": due}, auth)
            if status not in (200, 201):
                raise BenchError(f"POST /v1/orders/{uid}/vbank answered {status}: "
                                 f"{body[:300]!r}")
            return uid, json.loads(body)["payments"][0]["imp_uid"]

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            issued = list(pool.map(issue, range(n)))
        # The `ready` notices of the issues, processed before the deposits are.
        self.wait_until(lambda: self.psql(
            "SELECT count(*) FROM webhook_inbox WHERE state = 'pending'") == "0",
            120, "the ready notices of the issued accounts were not processed")
        # pgbench's orders: copies of these (orders awaiting the deposit, their payment rows)
        # under merchant_uids WH_BASE + i, each payment's imp_uid the same number.
        clients = args.pool
        per_client = max(1, n // clients)
        self.copy_orders_for_pgbench(tag, clients * per_client)

        log("  depositing at the simulator (no notice from it)…")

        def deposit(pair):
            request = urllib.request.Request(
                f"{sim}/__sim/deposit", method="POST",
                data=json.dumps({"imp_uid": pair[1], "webhook": False}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(deposit, issued))

        log(f"  posting {n} deposit notices from {senders} connections, waiting until every "
            "order is paid…")
        self.reset_statements()
        before = self.cpu_snapshot()
        sim_before = cpu_ticks(self.sim.pid)
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        answers, failures = [], []
        barrier = threading.Barrier(senders + 1)

        def send(share):
            connection = http.client.HTTPConnection("127.0.0.1", self.gw_port, timeout=30)
            statuses = {}
            try:
                barrier.wait()
                for uid, imp_uid in share:
                    # The body iamport (and the simulator) posts.
                    connection.request("POST", "/webhooks/iamport", json.dumps(
                        {"imp_uid": imp_uid, "merchant_uid": uid, "status": "paid"}),
                        {"Content-Type": "application/json"})
                    response = connection.getresponse()
                    response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                answers.append(statuses)
            except Exception as e:  # reported after the others end
                failures.append(e)
            finally:
                connection.close()

        threads = [threading.Thread(target=send, args=(issued[i::senders],), daemon=True)
                   for i in range(senders)]
        recorder = self.start_perf_record("webhook") if args.profile else None
        for t in threads:
            t.start()
        barrier.wait()
        started = time.monotonic()
        for t in threads:
            t.join(timeout=300)
        posted = time.monotonic()
        if failures:
            raise BenchError(f"posting a notice failed: {failures[0]}")
        # Marked so that statement_counts() leaves this poll out.
        paid_sql = (f"SELECT /* mg-bench-poll */ count(*) FROM orders "
                    f"WHERE merchant_uid LIKE '{tag}-%' "
                    "AND status = 'paid'")
        self.wait_until(lambda: self.psql(paid_sql) == str(n), 120 + n / 10,
                        "not every deposit notice was applied", interval=0.02)
        applied_wall = time.monotonic()
        if recorder:
            self.stop_perf_record(recorder)
            self.add_profile("webhook deliveries", "webhook",
                             f"{n} deposit notices from {senders} connections")
        counts = self.statement_counts()
        cpu = {"gateway": 0, "postgres": 0}
        after = self.cpu_snapshot()
        for key in cpu:
            cpu[key] = (after[key] - before[key]) / CLK_TCK * 1e6 / n
        cpu["simulator"] = (cpu_ticks(self.sim.pid) - sim_before) / CLK_TCK * 1e6 / n
        self_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu["senders"] = ((self_after.ru_utime + self_after.ru_stime - self_before.ru_utime
                           - self_before.ru_stime) * 1e6 / n)
        polls = (after["client"] - before["client"]) / CLK_TCK * 1e6 / n  # psql, above
        other = ((after["machine"] - before["machine"]) / CLK_TCK * 1e6 / n - sum(cpu.values())
                 - polls)
        elapsed = after["wall"] - before["wall"]
        row = self.psql(f"""
            WITH d AS (
              SELECT w.received_at, e.created_at AS applied_at
              FROM webhook_inbox w
              JOIN orders o ON o.merchant_uid = w.merchant_uid
              JOIN order_events e ON e.order_id = o.id AND e.to_status = 'paid'
              WHERE w.merchant_uid LIKE '{tag}-%' AND w.claimed_status = 'paid')
            SELECT count(*), extract(epoch FROM max(applied_at) - min(received_at)),
                   extract(epoch FROM max(received_at) - min(received_at)),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM
                     applied_at - received_at)) * 1000,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM
                     applied_at - received_at)) * 1000
            FROM d""").split("|")
        outcomes = dict(line.split("|") for line in self.psql(
            f"SELECT coalesce(outcome, state), count(*) FROM webhook_inbox "
            f"WHERE merchant_uid LIKE '{tag}-%' AND claimed_status = 'paid' "
            "GROUP BY 1 ORDER BY 2 DESC").splitlines())
        span = float(row[1])
        statuses = {}
        for answer in answers:
            for status, k in answer.items():
                statuses[str(status)] = statuses.get(str(status), 0) + k
        result = {
            "deliveries": n, "senders": senders, "applied": int(row[0]),
            "outcomes": {k: int(v) for k, v in outcomes.items()}, "answers": statuses,
            "rps": n / span if span > 0 else 0.0, "span_s": span,
            "stored_rps": n / float(row[2]) if float(row[2]) > 0 else 0.0,
            "wall_s": applied_wall - started, "post_s": posted - started,
            "wall_rps": n / (applied_wall - started),
            "p50_ms": float(row[3]), "p99_ms": float(row[4]),
            "cpu_us_per_delivery": {k: round(v, 1) for k, v in cpu.items()},
            "other_cpu_share": max(0.0, other * n / 1e6 / (elapsed * os.cpu_count())),
            "statements": counts}
        log(f"  {result['rps']:.0f} applied/s (first stored → last applied {span:.2f} s; "
            f"stored at {result['stored_rps']:.0f}/s; outcomes {result['outcomes']})")

        log(f"webhook deliveries: pgbench with the same transactions, -c {clients} -t "
            f"{per_client}…")
        payment = json.loads(self.psql(
            "SELECT row_to_json(x) FROM (SELECT status, pay_method, pg_provider, pg_tid, "
            "channel, currency, amount, cancel_amount, "
            + ", ".join(f"coalesce(floor(extract(epoch FROM {c}))::bigint, 0) AS {c}"
                        for c in ("started_at", "paid_at", "failed_at", "cancelled_at"))
            + ", vbank_code, vbank_name, vbank_num, vbank_holder, "
            + ", ".join(f"coalesce(floor(extract(epoch FROM {c}))::bigint, 0) AS {c}"
                        for c in ("vbank_date", "vbank_issued_at"))
            + ", receipt_url, fail_reason, cancel_reason, raw::text AS raw, unsolicited, "
            f"tax_free FROM payments WHERE merchant_uid = '{tag}-0') x"))
        event = json.loads(self.psql(
            "SELECT row_to_json(x) FROM (SELECT type, data::text AS data FROM events "
            f"WHERE merchant_uid = '{tag}-0' AND type = 'order.paid') x"))
        body = self.psql(f"SELECT body FROM webhook_inbox WHERE merchant_uid = '{tag}-0' "
                         "AND claimed_status = 'paid'")
        defines = {"n": 0, "wh_base": WH_BASE, "per_client": per_client, "body": body,
                   "content_type": "application/json", "source_ip": "127.0.0.1",
                   "claimed": "paid", "lease": 30, "from_status": "awaiting_deposit",
                   "to_status": "paid", "cause": "webhook", "event_type": event["type"],
                   "event_data": event["data"], "outcome": "applied"}
        nulls = []
        for key, value in payment.items():
            if value is None:
                nulls.append(f"pay_{key}")
            else:
                defines[f"pay_{key}"] = str(value).lower() if isinstance(value, bool) else value
        self.reset_statements()
        pg = self.pgbench("webhook", "pgbench_webhook.sql", defines, clients=clients,
                          per_client=per_client, nulls=nulls)
        pg["statements"] = self.statement_counts()
        pg["clients"] = clients
        paid = self.psql(f"SELECT count(*) FROM orders WHERE merchant_uid ~ '^[0-9]+$' "
                         f"AND merchant_uid::bigint >= {WH_BASE} "
                         f"AND merchant_uid::bigint < {WH_BASE + clients * per_client} "
                         "AND status = 'paid'")
        if int(paid) != clients * per_client or pg["failed"]:
            raise BenchError(f"pgbench's webhook script paid {paid} of "
                             f"{clients * per_client} orders")
        log("  " + summary(pg))
        self.results["webhook_throughput"] = {
            "service": result, "pgbench": pg,
            "pgbench_transactions": self.rendered_transactions}

    def copy_orders_for_pgbench(self, tag, count):
        """Copies of the first `count` orders of `tag` (as they stand: awaiting the deposit) and
        of their payment rows, under merchant_uid and imp_uid WH_BASE + i, for pgbench."""
        def columns(table, leave_out):
            return self.psql(
                "SELECT string_agg(column_name, ', ' ORDER BY ordinal_position) "
                "FROM information_schema.columns WHERE table_schema = 'public' "
                f"AND table_name = '{table}' AND is_generated = 'NEVER' "
                f"AND identity_generation IS NULL AND column_name NOT IN ({leave_out})")
        order_columns = columns("orders", "'merchant_uid'")
        payment_columns = columns("payments", "'merchant_uid', 'imp_uid', 'order_id'")
        self.psql(
            f"INSERT INTO orders (merchant_uid, {order_columns}) "
            f"SELECT ({WH_BASE} + i)::text, {order_columns} FROM ("
            f"  SELECT *, (split_part(merchant_uid, '-', 3))::bigint AS i FROM orders "
            f"  WHERE merchant_uid LIKE '{tag}-%') o WHERE i < {count}")
        copied = ", ".join(f"p.{c.strip()}" for c in payment_columns.split(","))
        self.psql(
            f"INSERT INTO payments (merchant_uid, imp_uid, order_id, {payment_columns}) "
            f"SELECT n.merchant_uid, n.merchant_uid, n.id, {copied} FROM payments p "
            f"JOIN orders o ON o.id = p.order_id AND o.merchant_uid LIKE '{tag}-%' "
            f"JOIN orders n ON n.merchant_uid = ({WH_BASE} + "
            f"  split_part(o.merchant_uid, '-', 3)::bigint)::text; ANALYZE")

    def wait_until(self, ready, seconds, what, interval=0.2):
        deadline = time.monotonic() + seconds
        while not ready():
            if time.monotonic() > deadline:
                raise BenchError(f"{what} within {seconds:.0f} s")
            time.sleep(interval)

    def webhooks(self):
        args = self.args
        log(f"webhook stored → applied over {args.webhook_count} deposits at "
            f"{args.webhook_rate:g}/s…")
        env = dict(os.environ, MG_TEST_PG_URL=self.admin_url)
        out = subprocess.run(
            [sys.executable, os.path.join(BENCH, "webhook_latency.py"), "--gateway",
             args.gateway, "--count", str(args.webhook_count), "--rate", str(args.webhook_rate)],
            env=env, capture_output=True, text=True, timeout=900)
        found = re.search(r"median ([0-9.]+) ms\s+p90 ([0-9.]+) ms\s+p99 ([0-9.]+) ms",
                          out.stdout)
        if out.returncode != 0 or not found:
            # The other figures stand; the table says this one is missing and the run fails.
            reason = (out.stderr.strip() or out.stdout.strip()).splitlines()[-1:] or ["no output"]
            log(f"  webhook_latency.py failed: {reason[0]}")
            self.results["webhook"] = {"error": reason[0]}
            return
        self.results["webhook"] = {"count": args.webhook_count, "rate": args.webhook_rate,
                                   "p50_ms": float(found.group(1)),
                                   "p99_ms": float(found.group(3))}


    def reconciler_calls(self):
        """iamport calls per order over its life (reconciler_calls.py, its own processes)."""
        log("iamport calls per order over its life (time compressed; about 2 minutes)…")
        out = subprocess.run(
            [sys.executable, os.path.join(BENCH, "reconciler_calls.py"), "--gateway",
             self.args.gateway, "--orders-per-kind", "1"],
            capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            reason = (out.stderr.strip() or out.stdout.strip()).splitlines()[-1:] or ["no output"]
            log(f"  reconciler_calls.py failed: {reason[0]}")
            self.results["reconciler_calls"] = {"error": reason[0]}
            return
        table = out.stdout[out.stdout.index("life of an order"):].rstrip()
        self.results["reconciler_calls"] = {"table": table}


_PERF_EVENTS = []


def perf_events():
    """The perf stat events this machine counts, of context-switches, cpu-migrations and
    raw_syscalls:sys_enter (the last needs tracefs): a list, or None without a usable perf."""
    if _PERF_EVENTS:
        return _PERF_EVENTS[0]
    found = None
    if shutil.which("perf"):
        for events in (["context-switches", "cpu-migrations", "raw_syscalls:sys_enter"],
                       ["context-switches", "cpu-migrations"]):
            try:
                out = subprocess.run(["perf", "stat", "-x", ",", "-e", ",".join(events), "--",
                                      "true"], capture_output=True, text=True, timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                break
            if out.returncode == 0 and set(parse_perf_csv(out.stderr)) == set(events):
                found = events
                break
    _PERF_EVENTS.append(found)
    return found


def parse_perf_csv(text):
    """{event: count} from perf stat -x , output (counts perf could not take are left out)."""
    counts = {}
    for line in text.splitlines():
        fields = line.split(",")
        if line.startswith("#") or len(fields) < 3:
            continue
        try:
            counts[fields[2]] = int(float(fields[0]))
        except ValueError:
            continue  # <not counted>, <not supported>
    return counts


def parse_strace_summary(text):
    """{syscall: calls, "total": calls} from strace -c's table."""
    table = {}
    for line in text.splitlines():
        tokens = line.split()
        if len(tokens) < 5 or not re.fullmatch(r"[0-9.]+", tokens[0]):
            continue
        try:
            table[tokens[-1]] = int(tokens[3])
        except ValueError:
            continue
    return table


def top_calls(entry, count):
    return sorted(entry["by_call"].items(), key=lambda kv: -kv[1])[:count]


def thread_switches(pid):
    """voluntary + nonvoluntary context switches of every thread of a process so far."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            with open(path, encoding="ascii") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def machine_busy_ticks():
    """CPU time the whole machine spent on anything but idling, in clock ticks."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice: guest time is already
    # part of user time.
    return sum(fields[:8]) - fields[3] - fields[4]


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return float(sorted_values[index])


def summary(result):
    text = f"{result['rps']:.0f} req/s, p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms"
    if "non2xx" in result:
        text += f", non-2xx {result['non2xx']}"
        errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors",
                                         "timeouts"))
        if errors:
            text += f", socket errors {errors}"
    if result.get("failed"):
        text += f", failed {result['failed']}"
    if result.get("paced"):
        text += f", late {100 * result['late'] / result['paced']:.1f} %"
    return text


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            found = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            model = found.group(1).strip() if found else model
        with open("/proc/meminfo", encoding="ascii") as f:
            mem_kib = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    except OSError:
        mem_kib = 0
    return {"nproc": os.cpu_count(), "cpu": model, "memory_gib": mem_kib / 1024 / 1024,
            "kernel": f"{os.uname().sysname} {os.uname().release}"}


def commit():
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "service",
                                "db", "migrations"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + (" with local changes to service/db" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def statement_shape(counts, requests):
    """(statements, transactions) per request from pg_stat_statements' counts.

    Statements run less than once every 10 requests (the API key lookup behind its cache, the
    webhook inbox poll) are background, not the request's. BEGIN and COMMIT are left out of the
    statements; BEGIN counts the transactions. pg_stat_statements does not see pgbench's BEGIN
    and COMMIT under -M prepared, so pgbench's transactions are read from its script instead.
    """
    if not requests:
        return 0.0, 0.0
    statements = transactions = 0.0
    for query, calls in counts.items():
        share = calls / requests
        if share < 0.1:
            continue
        word = query.split()[0].upper() if query.split() else ""
        if word in ("BEGIN", "START"):
            transactions += share
        elif word not in ("COMMIT", "END", "ROLLBACK"):
            statements += share
    return statements, transactions


def cpu_text(part, client, key="cpu_us_per_request"):
    cpu = part.get(key, {})
    return (", ".join(f"{client if k == 'client' else k} {v:.0f}"
                      for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))
            + f"; other processes {100 * part.get('other_cpu_share', 0):.0f} % of the CPUs")


def syscall_lines(sc):
    lines = [f"system calls and context switches of the gateway per request, each route paced "
             f"at {sc['rate']:g}/s for {sc['seconds']} s ({sc['connections']} wrk connections): "
             "calls under strace -c -f, context switches in a second run without strace "
             f"({sc['context_switches_from']})"]
    head = ("", "requests", "syscalls", "top 5 syscalls per request", "ctx switches",
            "migrations", "syscalls (perf)")
    rows = [head]
    for route, e in sc["routes"].items():
        rows.append((route, str(e["strace_requests"]), f"{e['syscalls_per_request']:.1f}",
                     ", ".join(f"{n} {v:.1f}" for n, v in top_calls(e, 5)),
                     f"{e['context_switches_per_request']:.2f}",
                     f"{e['cpu_migrations_per_request']:.3f}"
                     if "cpu_migrations_per_request" in e else "-",
                     f"{e['perf_syscalls_per_request']:.1f}"
                     if "perf_syscalls_per_request" in e else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for row in rows:
        lines.append("  " + "  ".join(
            cell.ljust(widths[i]) if i in (0, 3) else cell.rjust(widths[i])
            for i, cell in enumerate(row)).rstrip())
    idle = sc.get("idle_per_second")
    if idle:
        lines.append(f"  idle gateway, per second (in the figures above too): "
                     f"{idle.get('raw_syscalls:sys_enter', 0):.0f} system calls, "
                     f"{idle.get('context-switches', 0):.0f} context switches")
    return lines


def statement_pairs(gateway, gateway_count, pgbench, pgbench_count, width=44):
    """[(start of a statement's text, calls per unit by the gateway, by pgbench)]: statements
    run at least once every 100 units by either, the gateway's most frequent first."""
    def per(counts, units):
        shares = {}
        for query, calls in counts.items():
            if query.split() and query.split()[0].upper() in ("BEGIN", "COMMIT"):
                continue
            key = query[:width]
            shares[key] = shares.get(key, 0.0) + calls / max(1, units)
        return shares
    g, p = per(gateway, gateway_count), per(pgbench, pgbench_count)
    keys = sorted((k for k in set(g) | set(p) if max(g.get(k, 0), p.get(k, 0)) >= 0.01),
                  key=lambda k: (-g.get(k, 0), -p.get(k, 0), k))
    return [(k, g.get(k, 0.0), p.get(k, 0.0)) for k in keys]


def webhook_throughput_lines(wt, args):
    if "error" in wt:
        return [f"webhook deliveries applied at saturation: FAILED ({wt['error']})"]
    s, pg = wt["service"], wt["pgbench"]
    ratio = s["rps"] / pg["rps"] if pg["rps"] else 0.0
    outcomes = ", ".join(f"{k} {v}" for k, v in s["outcomes"].items())
    answers = ", ".join(f"{k} {v}" for k, v in sorted(s["answers"].items()))
    lines = [
        f"webhook deliveries applied at saturation: {s['deliveries']} deposit notices posted "
        f"from {s['senders']} connections, the simulator answering the re-fetches at once",
        f"  gateway {s['rps']:.0f} applied/s (first stored → last applied {s['span_s']:.2f} s; "
        f"first send → all paid seen {s['wall_s']:.2f} s, {s['wall_rps']:.0f}/s), pgbench "
        f"{pg['rps']:.0f}/s with the same transactions (-c {pg['clients']}), gw/pgbench "
        f"{ratio:.2f}",
        f"  notices stored at {s['stored_rps']:.0f}/s (all posted in {s['post_s']:.2f} s; "
        f"answers {answers}); outcomes {outcomes}; stored → applied p50 {s['p50_ms']:.0f} ms, "
        f"p99 {s['p99_ms']:.0f} ms",
    ]
    gw_count, gw_txns = statement_shape(s["statements"], s["deliveries"])
    pg_count, _ = statement_shape(pg["statements"], pg["requests"])
    lines.append(f"  per delivery (pg_stat_statements): gateway {gw_count:.2f} statements in "
                 f"{gw_txns:.2f} transactions, pgbench {pg_count:.2f} in "
                 f"{wt['pgbench_transactions']}")
    lines.append("  statements per delivery, gateway / pgbench (pg_stat_statements, by the start "
                 "of their text):")
    lines += [f"    {text:<44} {g:5.2f} / {p:.2f}"
              for text, g, p in statement_pairs(s["statements"], s["deliveries"],
                                                pg["statements"], pg["requests"])]
    lines.append("  CPU µs per delivery, gateway run: "
                 + cpu_text(s, "senders", "cpu_us_per_delivery"))
    lines.append("  CPU µs per delivery, pgbench run: " + cpu_text(pg, "pgbench"))
    return lines


def render_table(results, args):
    m = results["machine"]
    counts = args.connections
    parts = []
    for r in results["routes"].values():
        parts += [r["half"], r["pgbench_half"]]
        for at in r["connections"].values():
            parts += list(at.values())
    wt = results.get("webhook_throughput", {})
    parts += [wt[k] for k in ("service", "pgbench") if k in wt]
    shares = [part["other_cpu_share"] for part in parts if "other_cpu_share" in part]
    busiest = max(shares, default=0.0)
    listed = ",".join(str(c) for c in counts)
    lines = [
        f"merchant-gateway benchmark, {results['started']}, tree at commit {results['commit']}",
        f"gateway: {results['gateway']}; pgbench's SQL from db/*.cpp of the "
        f"{results['statements_from']}: {results['statements_check']['text']}",
        f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']:.1f} GiB, {m['kernel']}; "
        f"load average before the run {results['load_before'][0]:.2f}",
        f"other processes took {100 * sum(shares) / max(1, len(shares)):.0f} % of the CPUs "
        f"during the measurements (up to {100 * busiest:.0f} %)"
        + (": the machine was busy, the figures are noisy" if busiest > 0.1 else ""),
        f"settings: wrk -t{args.threads} -c{{{listed}}} -d{args.duration}s; gateway "
        f"IO_THREADS={args.io_threads} DB_POOL_SIZE={args.pool} LOG_LEVEL={args.log_level}; "
        f"pgbench -c{{{listed}}} -j2 -T{args.duration} -M prepared; "
        f"nginx {m['nproc']} workers; nothing pinned (all share the {m['nproc']} CPUs)",
        "",
    ]
    head = ("", "conns", "gateway req/s", "p50 ms", "p99 ms", "non-2xx", "pgbench req/s",
            "nginx req/s", "gw/pgbench", "gw/nginx", "half-peak req/s", "p99 ms", "late",
            "pgbench p99 ms")
    rows = [head]
    for route in ROUTES:
        r = results["routes"][route]
        half = r["half"]
        for count in counts:
            at = r["connections"][str(count)]
            s, pg, ng = at["service"], at["pgbench"], at["nginx"]
            row = (route, str(count), f"{s['rps']:.0f}", f"{s['p50_ms']:.2f}",
                   f"{s['p99_ms']:.2f}", str(s["non2xx"]), f"{pg['rps']:.0f}",
                   f"{ng['rps']:.0f}", f"{s['rps'] / pg['rps']:.2f}",
                   f"{s['rps'] / ng['rps']:.3f}")
            if count == counts[0]:
                row += (f"{half['rps']:.0f}", f"{half['p99_ms']:.2f}",
                        f"{100 * half['late'] / max(1, half['paced']):.1f} %",
                        f"{r['pgbench_half']['p99_ms']:.2f}")
            else:
                row += ("-", "-", "-", "-")
            rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                               for i, cell in enumerate(row)).rstrip())
    if len(counts) > 1:
        lines.append(f"(half the peak is measured at {counts[0]} connections only: paced with "
                     f"{4 * counts[0]} wrk connections, pgbench -c {counts[0]} -R)")
    lines.append("")
    for route in ROUTES:
        r = results["routes"][route]
        half = r["half"]
        lines.append(f"{route}: at half peak ({counts[0]} connections) p50 "
                     f"{half['p50_ms']:.2f} ms, p90 {half['p90_ms']:.2f} ms, p99 "
                     f"{half['p99_ms']:.2f} ms, max {half['max_ms']:.2f} ms; other processes "
                     f"{100 * half.get('other_cpu_share', 0):.0f} % of the CPUs")
        pg_half = r["pgbench_half"]
        lines.append(f"  pgbench at that rate: p50 {pg_half['p50_ms']:.2f} ms, p99 "
                     f"{pg_half['p99_ms']:.2f} ms; other processes "
                     f"{100 * pg_half.get('other_cpu_share', 0):.0f} % of the CPUs")
        for count in counts:
            at = r["connections"][str(count)]
            s, pg = at["service"], at["pgbench"]
            lines.append(f"  {count} connections: pgbench p50 {pg['p50_ms']:.2f} ms, p99 "
                         f"{pg['p99_ms']:.2f} ms"
                         f"{', failed ' + str(pg['failed']) if pg['failed'] else ''}; "
                         f"nginx p99 {at['nginx']['p99_ms']:.2f} ms")
            gw_count, gw_txns = statement_shape(s["statements"], s["requests"])
            pg_count, _ = statement_shape(pg["statements"], pg["requests"])
            pg_txns = r["pgbench_transactions"]
            lines.append(f"    per request (pg_stat_statements): gateway {gw_count:.2f} "
                         f"statements in {gw_txns:.2f} transactions, pgbench {pg_count:.2f} "
                         f"in {pg_txns}")
            for name, part, client in (("gateway run", s, "wrk"),
                                       ("pgbench run", pg, "pgbench"),
                                       ("nginx run", at["nginx"], "wrk")):
                lines.append(f"    CPU µs per request, {name}: " + cpu_text(part, client))
    if "syscalls" in results:
        lines.append("")
        lines += syscall_lines(results["syscalls"])
    if wt:
        lines.append("")
        lines += webhook_throughput_lines(wt, args)
    lines.append("")
    if "webhook" in results and "error" in results["webhook"]:
        lines.append(f"webhook stored → applied: FAILED ({results['webhook']['error']})")
    elif "webhook" in results:
        w = results["webhook"]
        lines.append(f"webhook stored → applied: p50 {w['p50_ms']:.2f} ms, p99 {w['p99_ms']:.2f} "
                     f"ms ({w['count']} deposit notices at {w['rate']:g}/s)")
    if "reconciler_calls" in results:
        calls = results["reconciler_calls"]
        lines.append("iamport calls per order over its life: " + (
            f"FAILED ({calls['error']})" if "error" in calls else "\n" + calls["table"]))
    lines.append(f"gateway RSS: idle {results['rss_idle_kib'] / 1024:.1f} MiB, under load "
                 f"{results['rss_load_kib'] / 1024:.1f} MiB (max), after "
                 f"{results['rss_after_kib'] / 1024:.1f} MiB; start-up (exec → /readyz 200) "
                 f"{results['startup_ms']:.0f} ms")
    if "soak" in results:
        k = results["soak"]
        lines.append(f"soak {k['minutes']:g} min (GET {k['rates']['GET order']:.0f}/s + POST "
                     f"{k['rates']['POST order']:.0f}/s): RSS {k['first_kib'] / 1024:.1f} MiB "
                     f"over {k['settle_s']:.0f}–{k['settle_s'] + k['window_s']:.0f} s, "
                     f"{k['last_kib'] / 1024:.1f} MiB over the last {k['window_s']:.0f} s, "
                     f"{k['growth'] * 100:+.1f} %, max {k['max_kib'] / 1024:.1f} MiB; p99 GET "
                     f"{k['routes']['GET order']['p99_ms']:.2f} ms, POST "
                     f"{k['routes']['POST order']['p99_ms']:.2f} ms")
    lines.append("")
    lines.append("targets:")
    floors = {"GET order": 0.6, "POST order": 0.8}
    for route in ROUTES:
        for count in args.connections:
            at = results["routes"][route]["connections"][str(count)]
            ratio = at["service"]["rps"] / at["pgbench"]["rps"]
            lines.append(f"  {route} ≥ {floors[route]} × pgbench at {count} connections: "
                         f"{verdict(ratio >= floors[route])} ({ratio:.2f})")
    for count in args.connections:
        cpu = results["routes"]["GET order"]["connections"][str(count)]["service"].get(
            "cpu_us_per_request", {})
        if "gateway" in cpu and "postgres" in cpu:
            lines.append(f"  gateway CPU per GET ≤ PostgreSQL's at {count} connections: "
                         f"{verdict(cpu['gateway'] <= cpu['postgres'])} ({cpu['gateway']:.0f} "
                         f"against {cpu['postgres']:.0f} µs)")
    for route in ROUTES:
        half = results["routes"][route]["half"]
        late = half["late"] / max(1, half["paced"])
        note = f" ({half['p99_ms']:.2f} ms" + (
            f"; {late * 100:.0f} % of sends late, so understated)" if late > 0.01 else ")")
        lines.append(f"  {route} p99 < 5 ms at half peak: {verdict(half['p99_ms'] < 5)}{note}")
    wt = results.get("webhook_throughput")
    if wt and "error" not in wt and wt.get("pgbench", {}).get("rps"):
        ratio = wt["service"]["rps"] / wt["pgbench"]["rps"]
        lines.append(f"  webhook deliveries applied ≥ 0.5 × pgbench: {verdict(ratio >= 0.5)} "
                     f"({ratio:.2f})")
    loaded = max(results["rss_load_kib"], results.get("soak", {}).get("max_kib", 0))
    lines.append(f"  RSS under load < 32 MiB: {verdict(loaded < 32 * 1024)} "
                 f"({loaded / 1024:.1f} MiB)")
    if "soak" in results:
        k = results["soak"]
        lines.append(f"  memory flat over the soak after {k['settle_s'] / 60:g} min (< 5 % "
                     f"growth): {verdict(k['flat'])} ({k['growth'] * 100:+.1f} % over "
                     f"{k['minutes']:g} min)")
    else:
        lines.append("  memory flat over a soak: not measured (--soak MINUTES)")
    return "\n".join(lines) + "\n"


def verdict(ok):
    return "met" if ok else "MISSED"


def main():
    parser = argparse.ArgumentParser(
        prog="tests/bench/run",
        description="The gateway against this machine's limits (see tests/bench/README.md).")
    parser.add_argument("--gateway", required=True,
                        help="the merchant-gateway binary to measure (tests/bench/run builds "
                        "Release for it unless given one)")
    parser.add_argument("--duration", type=int, default=20, help="seconds per measurement")
    pool = service_default("db_pool_size", 8)
    parser.add_argument("--pool", type=int, default=pool,
                        help=f"the gateway's DB_POOL_SIZE (default {pool}, the service's "
                        "default)")
    parser.add_argument("--connections", default=None, metavar="N[,N...]",
                        help="wrk's and pgbench's -c, one full-rate measurement each "
                        f"(default: the pool size and 32, {pool},32); half the peak is "
                        "measured at the first")
    parser.add_argument("--threads", type=int, default=2, help="wrk's -t")
    parser.add_argument("--io-threads", type=int, default=service_default("io_threads", 2))
    parser.add_argument("--log-level", default="info",
                        help="the gateway's LOG_LEVEL (default info, as deployed)")
    parser.add_argument("--orders", type=int, default=10000, help="orders GET reads from")
    parser.add_argument("--statements-from", metavar="REV",
                        help="read pgbench's SQL from db/ at this git revision (the one the "
                        "--gateway binary was built from) instead of the working tree")
    parser.add_argument("--webhook-count", type=int, default=200,
                        help="deposit notices for the webhook latency (0 to skip)")
    parser.add_argument("--webhook-rate", type=float, default=50)
    parser.add_argument("--webhook-deliveries", type=int, default=2000,
                        help="deposit notices posted at once for the deliveries applied per "
                        "second, beside pgbench (0 to skip)")
    parser.add_argument("--webhook-senders", type=int, default=8,
                        help="connections posting those notices")
    parser.add_argument("--no-syscalls", dest="syscalls", action="store_false",
                        help="skip the system calls and context switches per request")
    parser.add_argument("--syscall-rate", type=float, default=200,
                        help="requests per second while counting them (default 200)")
    parser.add_argument("--syscall-seconds", type=int, default=None,
                        help="seconds of each count (default: --duration, at most 10)")
    parser.add_argument("--reconciler-calls", action="store_true",
                        help="also count iamport calls per order over its life "
                             "(reconciler_calls.py, about 2 more minutes)")
    parser.add_argument("--soak", type=float, default=0, metavar="MINUTES",
                        help="drive GET+POST at half the peak this long, sampling memory")
    parser.add_argument("--profile", action="store_true",
                        help="perf record the gateway at full rate on each route; the reports "
                        "go beside --out (NAME-profile.txt)")
    parser.add_argument("--profile-calls", action="store_true",
                        help="with --profile: record call graphs (DWARF unwinding)")
    parser.add_argument("--profile-only", action="store_true",
                        help="with --profile: stop after the profiles (no table)")
    parser.add_argument("--out", default=os.path.join(ROOT, "build/release/bench-result.txt"))
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the temporary directory with every log")
    args = parser.parse_args()
    if args.connections is None:
        args.connections = f"{args.pool},32"
    try:
        counts = [int(c) for c in str(args.connections).split(",") if c.strip()]
    except ValueError:
        parser.error("--connections is a comma list of numbers, e.g. 8,32")
    args.connections = list(dict.fromkeys(counts))  # in order, each once
    if (args.duration < 1 or args.pool < 1 or not args.connections
            or min(args.connections) < args.threads):
        parser.error("--duration and --pool must be positive, each --connections ≥ --threads")
    if args.syscall_seconds is None:
        args.syscall_seconds = min(10, args.duration)
    if args.syscall_seconds < 1 or args.syscall_rate <= 0 or args.webhook_senders < 1:
        parser.error("--syscall-seconds, --syscall-rate and --webhook-senders must be positive")
    if args.syscalls and not shutil.which("strace"):
        parser.error("strace is needed for the system calls per request (apt-get install "
                     "strace linux-perf), or pass --no-syscalls")
    if not os.access(args.gateway, os.X_OK):
        parser.error(f"--gateway {args.gateway}: not an executable file")
    args.gateway = os.path.abspath(args.gateway)
    if (args.profile_calls or args.profile_only) and not args.profile:
        parser.error("--profile-calls and --profile-only go with --profile")
    if args.profile and not shutil.which("perf"):
        parser.error("--profile needs perf (apt-get install linux-perf)")
    if args.soak and args.soak * 60 < 30:
        parser.error("--soak needs at least 0.5 minutes")

    # Ctrl-C is KeyboardInterrupt; TERM and HUP end the run the same way, through the cleanup.
    def terminate(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    # A bound on the whole run, whatever hangs: each measurement plus generous set-up time.
    limit = (900 + (6 * len(args.connections) + 6 + 2 * args.profile) * args.duration
             + 4 * args.syscall_seconds * args.syscalls + int(args.soak * 60)
             + 60 * args.webhook_count // 100 + args.webhook_deliveries // 5
             + 900 * args.reconciler_calls)

    def overrun(_signum, _frame):
        raise Overrun(f"the run exceeded its time limit of {limit} s")
    signal.signal(signal.SIGALRM, overrun)
    signal.alarm(limit)

    bench = Bench(args)
    failed = True
    try:
        results = bench.run()
        if not args.profile_only:
            table = render_table(results, args)
        failed = False
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
        # The logs of a failed run are what explains it.
        bench.cleanup(keep_logs=args.keep_logs or failed)
    if args.profile_only:
        return 0
    print()
    print(table, end="")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(table)
    with open(os.path.splitext(args.out)[0] + ".json", "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, default=str)
    print(f"\nwritten to {args.out}")
    return 1 if ("error" in results.get("webhook", {})
                 or "error" in results.get("webhook_throughput", {})
                 or "error" in results.get("reconciler_calls", {})) else 0


if __name__ == "__main__":
    sys.exit(main())
