"""Helpers for the simulator's self-tests: the simulator as a child process, a small HTTP
client, and a webhook receiver."""

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
KEY, SECRET = "sandbox_imp_key", "sandbox_imp_secret"


class Sim:
    def __init__(self, *args):
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "iamport_sim.py"), "--port", "0", *args],
            stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.port = int(line.split()[1])
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.process.terminate()
        code = self.process.wait(timeout=10)
        self.process.stdout.close()
        return code

    def call(self, method, path, body=None, token=None, form=None):
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if form is not None:
            data = form.encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if token:
            headers["Authorization"] = token
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def raw(self, method, path, body=None, headers=None):
        """(status, headers, bytes) of any answer: pages, scripts, an edge proxy's HTML."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers=dict(headers or {}, **(
                                             {"Content-Type": "application/json"} if data
                                             else {})))
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def token(self):
        status, answer = self.call("POST", "/users/getToken",
                                   {"imp_key": KEY, "imp_secret": SECRET})
        assert status == 200, answer
        return answer["response"]["access_token"]


class WebhookReceiver:
    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                received.append((self.headers.get("Content-Type"), self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/iamport"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SimTestCase:
    """A simulator and a webhook receiver shared by a test class, reset before each test.
    Mixed into unittest.TestCase classes: `class Lifecycle(SimTestCase, unittest.TestCase)`."""

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim()
        cls.receiver = WebhookReceiver()

    @classmethod
    def tearDownClass(cls):
        cls.receiver.close()
        assert cls.sim.stop() == 0

    def setUp(self):
        self.sim.call("POST", "/__sim/reset", {})
        self.receiver.received.clear()
        self.token = self.sim.token()
