"""The processes a chaos run (or a bench) drives, each on a free loopback port: a private
PostgreSQL cluster (tests/support/pg-cluster), the iamport simulator and the gateway; a small
keep-alive HTTP client; and a reaper that cleans all of them up if this process dies.

Python 3.11 standard library only.
"""

import base64
import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
PG_CLUSTER = os.path.join(SOURCE_DIR, "tests", "support", "pg-cluster")
SIMULATOR = os.path.join(SOURCE_DIR, "tests", "iamport-sim", "iamport_sim.py")
PG_BIN = os.environ.get("MG_PG_BIN", "/usr/lib/postgresql/15/bin")
IMP_KEY, IMP_SECRET = "sandbox_imp_key", "sandbox_imp_secret"
# GATEWAY_SECRET_KEY of the gateway: one per run, the same across its restarts.
GATEWAY_SECRET_KEY = base64.b64encode(os.urandom(32)).decode()
DATABASE = "merchant_gateway"

_PR_SET_PDEATHSIG = 1
try:
    _LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: a forked child must not load it
except OSError:
    _LIBC = None


def _child_setup():
    """In a child before exec: its own process group (so it and anything it starts are killed
    together), and SIGKILL when the thread that started it dies (start children from the
    main thread)."""
    os.setsid()
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def kill_group(process, sig=signal.SIGKILL):
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def stop_child(process, grace=5):
    """SIGTERM to the child's process group, SIGKILL after `grace` seconds; waits for it."""
    if process is None or process.poll() is not None:
        return
    kill_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        kill_group(process)
        process.wait()


class TransportError(Exception):
    """No HTTP answer. `refused` means the request surely never reached the server."""

    def __init__(self, message, refused):
        super().__init__(message)
        self.refused = refused


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def error_code(self):
        payload = self.json()
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            return payload["error"].get("code")
        return None


class HttpClient:
    """HTTP/1.1 with one keep-alive connection per thread and port. A connection idle for
    longer than `idle_reuse` seconds is replaced before use: servers close idle keep-alive
    connections, and a request written into one that is closing gets no answer."""

    def __init__(self, timeout=30.0, idle_reuse=4.0):
        self.timeout = timeout
        self.idle_reuse = idle_reuse
        self.local = threading.local()

    def _connection(self, port, timeout):
        pool = getattr(self.local, "pool", None)
        if pool is None:
            pool = self.local.pool = {}
        entry = pool.get(port)
        now = time.monotonic()
        if entry is not None and (now - entry[1] > self.idle_reuse or entry[2] != timeout):
            entry[0].close()
            entry = None
        if entry is None:
            entry = [http.client.HTTPConnection("127.0.0.1", port, timeout=timeout), now, timeout]
            pool[port] = entry
        return entry

    def _drop(self, port):
        entry = self.local.pool.pop(port, None)
        if entry is not None:
            entry[0].close()

    def request(self, port, method, path, body=None, headers=None, timeout=None):
        timeout = timeout or self.timeout
        entry = self._connection(port, timeout)
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        try:
            entry[0].request(method, path, body=data, headers=headers)
            answer = entry[0].getresponse()
            payload = answer.read()
        except ConnectionRefusedError as error:
            self._drop(port)
            raise TransportError(f"{method} {path}: {error}", True) from None
        except (OSError, http.client.HTTPException) as error:
            self._drop(port)
            raise TransportError(f"{method} {path}: {type(error).__name__} {error}", False) \
                from None
        entry[1] = time.monotonic()
        if answer.will_close:
            self._drop(port)
        return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()},
                        payload.decode("utf-8", "replace"))


class PgCluster:
    def __init__(self, directory, port):
        self.directory = directory
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"

    def _run(self, *args):
        subprocess.run([PG_CLUSTER, *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def create(self):
        self._run("init", self.directory)
        self.start()
        self.psql(f"CREATE DATABASE {DATABASE}", database="postgres", read_only=False)

    def start(self):
        self._run("start", self.directory, str(self.port))

    def stop(self):
        self._run("stop", self.directory)

    def destroy(self):
        subprocess.run([PG_CLUSTER, "destroy", self.directory], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def psql(self, sql, database=DATABASE, read_only=True, timeout=30):
        """Rows of tab-separated fields."""
        env = dict(os.environ, PGCONNECT_TIMEOUT="5")
        if read_only:
            env["PGOPTIONS"] = "-c default_transaction_read_only=on"
        done = subprocess.run(
            [os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-F", "\t", "-v",
             "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", database, "-c", sql],
            env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return [line.split("\t") for line in done.stdout.splitlines() if line]


class Simulator:
    def __init__(self, log_path, http):
        self.log_path = log_path
        self.http = http
        self.process = None
        self.port = None

    def start(self):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, SIMULATOR, "--host", "127.0.0.1", "--port", "0", "--imp-key",
             IMP_KEY, "--imp-secret", IMP_SECRET],
            stdout=subprocess.PIPE, stderr=log, preexec_fn=_child_setup,
            env=dict(os.environ, PYTHONUNBUFFERED="1"))
        log.close()
        line = self.process.stdout.readline().decode()
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"the simulator did not start: {line!r}")
        self.port = int(line.split()[1])
        # The simulator prints nothing more on stdout; close our end so it never blocks on it.
        self.process.stdout.close()

    def control(self, method, path, body=None, timeout=60):
        answer = self.http.request(self.port, method, path, body if body is not None else
                                   ({} if method == "POST" else None), timeout=timeout)
        if answer.status != 200:
            raise RuntimeError(f"simulator {method} {path} answered {answer.status}: "
                               f"{answer.body[:300]}")
        return answer.json()

    def stop(self):
        stop_child(self.process)


class Gateway:
    """The gateway binary, (re)started on a fixed port so the notice_url it gives iamport
    stays valid across a restart."""

    def __init__(self, binary, env, log_path):
        self.binary = binary
        self.env = env
        self.log_path = log_path
        self.process = None
        self.port = int(env["LISTEN"].rsplit(":", 1)[1])
        self.starts = 0

    def command(self, *args, timeout=60):
        env = dict(os.environ, **self.env)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        return subprocess.run([self.binary, *args], env=env, capture_output=True, text=True,
                              timeout=timeout)

    def create_api_key(self, name, scopes):
        args = ["api-key", "create", "--name", name]
        for scope in scopes:
            args += ["--scope", scope]
        done = self.command(*args)
        if done.returncode != 0:
            raise RuntimeError(f"api-key create failed: {done.stdout}{done.stderr}")
        return done.stdout.strip().splitlines()[-1]

    def start(self, timeout=60):
        env = dict(os.environ, **self.env)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log_path, "ab") as log:
                log.write(f'{{"chaos":"gateway start {self.starts + 1}"}}\n'.encode())
                offset = log.tell()
                self.process = subprocess.Popen([self.binary, "serve"], env=env, stdout=log,
                                                stderr=subprocess.STDOUT,
                                                preexec_fn=_child_setup)
            self.starts += 1
            while time.monotonic() < deadline:
                with open(self.log_path, "rb") as log:
                    log.seek(offset)
                    text = log.read().decode("utf-8", "replace")
                if '"listening"' in text or self._healthy():
                    return
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
            if self.process.poll() is None:
                kill_group(self.process)
                self.process.wait()
                raise RuntimeError("the gateway did not start in time")
            if "Address already in use" not in text or time.monotonic() >= deadline:
                raise RuntimeError(f"the gateway exited at start:\n{text[-2000:]}")
            time.sleep(0.5)  # the old listener's port is not free yet

    def _healthy(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return probe.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def running(self):
        return self.process is not None and self.process.poll() is None

    def kill(self):
        kill_group(self.process, signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    def stop(self):
        if self.running():
            kill_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


class Reaper:
    """A detached shell that outlives us: once this process is gone (even by SIGKILL, as a
    test runner's timeout does) it kills the process groups listed in `pids` and destroys the
    cluster. On a normal exit we stop it ourselves."""

    def __init__(self, work_dir, cluster_dir):
        self.pid_file = os.path.join(work_dir, "pids")
        open(self.pid_file, "w").close()
        script = (
            'while kill -0 "$1" 2>/dev/null; do sleep 1; done; '
            'for g in $(cat "$2" 2>/dev/null); do kill -KILL -- "-$g" 2>/dev/null; done; '
            '"$3" destroy "$4" >/dev/null 2>&1; exit 0')
        self.process = subprocess.Popen(
            ["bash", "-c", script, "reaper", str(os.getpid()), self.pid_file, PG_CLUSTER,
             cluster_dir],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def watch(self, *processes):
        with open(self.pid_file, "w") as out:
            for process in processes:
                if process is not None and process.poll() is None:
                    out.write(f"{process.pid}\n")

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Stack:
    """PostgreSQL, the simulator and the gateway, with `gateway_env` added to the gateway's
    environment. Use as a context manager: everything is stopped and deleted on exit."""

    def __init__(self, binary, work_dir, gateway_env=None, keep_logs_on_failure=True):
        self.binary = binary
        self.work_dir = work_dir
        self.extra_env = gateway_env or {}
        self.keep_logs_on_failure = keep_logs_on_failure
        self.http = HttpClient()
        self.cluster = None
        self.sim = None
        self.gateway = None
        self.reaper = None
        self.failed = False

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.failed = True
            self.close()
            raise
        return self

    def __exit__(self, kind, value, traceback):
        if kind is not None:
            self.failed = True
        self.close()
        return False

    def _start(self):
        os.makedirs(self.work_dir, exist_ok=True)
        # The cluster runs as the postgres user, which must reach its folder through ours.
        os.chmod(self.work_dir, 0o711)
        cluster_dir = os.path.join(self.work_dir, "pg")
        self.reaper = Reaper(self.work_dir, cluster_dir)
        self.cluster = PgCluster(cluster_dir, free_port())
        self.cluster.create()
        self.sim = Simulator(os.path.join(self.work_dir, "simulator.log"), self.http)
        self.sim.start()
        port = free_port()
        env = {
            "DATABASE_URL": self.cluster.url,
            "LISTEN": f"127.0.0.1:{port}",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "IAMPORT_BASE_URL": f"http://127.0.0.1:{self.sim.port}",
            "IAMPORT_IMP_KEY": IMP_KEY,
            "IAMPORT_IMP_SECRET": IMP_SECRET,
            "GATEWAY_SECRET_KEY": GATEWAY_SECRET_KEY,
            "IAMPORT_PG": "kcp",
            "LOG_LEVEL": "info",
            "LOG_FORMAT": "json",
        }
        env.update(self.extra_env)
        self.gateway = Gateway(self.binary, env, os.path.join(self.work_dir, "gateway.log"))
        done = self.gateway.command("migrate")
        if done.returncode != 0:
            raise RuntimeError(f"migrate failed: {done.stdout}{done.stderr}")
        self.gateway.start()
        self.watch()

    def watch(self):
        self.reaper.watch(self.sim.process if self.sim else None,
                          self.gateway.process if self.gateway else None)

    @property
    def notice_url(self):
        return self.gateway.env["PUBLIC_BASE_URL"] + "/webhooks/iamport"

    def close(self):
        if self.gateway is not None:
            self.gateway.stop()
        if self.sim is not None:
            self.sim.stop()
        if self.cluster is not None:
            self.cluster.destroy()
        if self.reaper is not None:
            self.reaper.stop()
        if self.failed and self.keep_logs_on_failure:
            print(f"logs kept in {self.work_dir}", flush=True)
        else:
            shutil.rmtree(self.work_dir, ignore_errors=True)
