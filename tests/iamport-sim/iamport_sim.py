#!/usr/bin/env python3
"""A stand-in for api.iamport.kr (PortOne V1 REST API) for tests and sandbox mode.

    python3 iamport_sim.py --host 127.0.0.1 --port 0 [--imp-key K --imp-secret S]
                           [--webhook-format json|form] [--tls-cert F --tls-key F]

Prints `LISTENING <port>` as its first line, serves until SIGTERM/SIGINT, exits 0.
See README.md for the endpoints, the control endpoints under /__sim/ and what is not imitated.
"""

import argparse
import itertools
import json
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import sim_checkout
import sim_console
import sim_control
import sim_rules
from sim_faults import Faults
from sim_routes import ROUTES, endpoint_name, mask, mask_query
from sim_state import State
from sim_webhooks import WebhookSender

MAX_BODY_BYTES = 1024 * 1024


class Simulator:
    def __init__(self, imp_key, imp_secret, webhook_format):
        self.state = State(imp_key, imp_secret)
        self.webhooks = WebhookSender(webhook_format)
        self.faults = Faults()
        self.log_lock = threading.Lock()
        self.requests = []

    def record(self, entry):
        with self.log_lock:
            self.requests.append(entry)

    def merchant_uid_of(self, match, fields):
        """The order a call is about, for the request log: named in the path or body, or the
        merchant_uid of the payment its imp_uid names (None for getToken or an unknown one)."""
        args = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items() if v}
        fields = fields if isinstance(fields, dict) else {}
        if args.get("merchant_uid"):
            return args["merchant_uid"]
        imp_uid = args.get("imp_uid") or fields.get("imp_uid")
        if isinstance(imp_uid, str) and imp_uid:
            with self.state.lock:
                payment = self.state.payments.get(imp_uid)
            if payment is not None:
                return payment["merchant_uid"]
        merchant_uid = fields.get("merchant_uid")
        return merchant_uid if isinstance(merchant_uid, str) else None

    def notify(self, payment, status, extra=None):
        urls = self.state.notice_urls.get(payment["imp_uid"], [])
        self.webhooks.enqueue(urls, payment["imp_uid"], payment["merchant_uid"], status, extra)

    def reset(self):
        with self.state.lock:
            self.state.reset()
        self.faults.clear()
        with self.log_lock:
            self.requests = []
        self.webhooks.clear()


class DropConnection(Exception):
    """The work is done but the answer is never sent."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: with Nagle's algorithm the body would wait for
    # the client's delayed ACK (40 ms on Linux) on every keep-alive answer.
    disable_nagle_algorithm = True
    server_version = "iamport-sim"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds

    sim: Simulator = None  # set by main()
    connection_counter = itertools.count(1)

    def setup(self):
        super().setup()
        # One handler per connection: lets tests see whether keep-alive connections are reused.
        self.connection_id = next(Handler.connection_counter)

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass  # the request log under /__sim/requests replaces the stderr access log

    # --- plumbing ---------------------------------------------------------------------------

    def _send_json(self, status, payload):
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_html(self, status):
        data = (f"<html><head><title>{status} Bad Gateway</title></head><body>"
                f"<center><h1>{status} Bad Gateway</h1></center><hr><center>nginx</center>"
                "</body></html>").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _envelope(self, status, code, message, response):
        self._send_json(status, {"code": code, "message": message, "response": response})

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def _parse_fields(self, raw, rules):
        """(fields, error). JSON object or form data; form values coerced by the rule table."""
        if not raw.strip():
            return {}, None
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            pairs = urllib.parse.parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
            fields = {}
            for name, values in pairs.items():
                name = name[:-2] if name.endswith("[]") else name
                rule = rules.get(name)
                fields[name] = sim_rules.coerce_form_value(rule.type if rule else "string", values)
            return fields, None
        try:
            fields = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return None, "요청 본문이 올바른 JSON 이 아닙니다."
        if not isinstance(fields, dict):
            return None, "요청 본문은 JSON 객체여야 합니다."
        return fields, None

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        try:
            raw = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send_json(413, {"code": -1, "message": "too large", "response": None})
            return
        if url.path.startswith("/__sim/"):
            self._control(method, url, raw)
            return
        if sim_checkout.serves(method, url.path):
            sim_checkout.serve(self, method, url, raw)
            return
        try:
            self._api(method, url, raw)
        except DropConnection:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # --- the iamport API --------------------------------------------------------------------

    def _api(self, method, url, raw):
        sim = self.sim
        entry = {"method": method, "path": url.path, "query": mask_query(url.query),
                 "connection": self.connection_id,
                 "time": sim.state.now(), "body": None, "endpoint": None, "status": None}
        for route_method, pattern, endpoint in ROUTES:
            match = pattern.match(url.path)
            if match and route_method == method:
                break
        else:
            entry["status"] = 404
            sim.record(entry)
            self._envelope(404, -1, "요청하신 API 를 찾을 수 없습니다.", None)
            return
        name = endpoint_name(endpoint)
        entry["endpoint"] = name
        rules = sim_rules.effective_rules(endpoint)
        fields, parse_error = self._parse_fields(raw, rules)
        entry["body"] = mask(fields) if fields is not None else "[unparseable]"
        entry["merchant_uid"] = sim.merchant_uid_of(match, fields)
        faults = sim.faults.take(name)
        entry["faults"] = [f["kind"] for f in faults]
        # Logged before any injected latency, so a test sees the call while it is still slow.
        sim.record(entry)
        if any(f["kind"] == "reset" for f in faults):
            # Cut before the work: the caller cannot tell this from `drop`, yet nothing happened.
            entry["status"] = None
            raise DropConnection()
        for fault in faults:
            if fault["kind"] == "latency":
                time.sleep(fault["latency_ms"] / 1000.0)
        status, code, message, response = self._handle(endpoint, match, url, fields,
                                                        parse_error, faults)
        entry["status"] = status
        if any(f["kind"] == "drop" for f in faults):
            raise DropConnection()
        for fault in faults:
            if fault["kind"] == "slow_answer":
                # The answer was read out of the state already: it arrives stale.
                time.sleep(fault["latency_ms"] / 1000.0)
        proxy = next((f for f in faults if f["kind"] == "proxy_error"), None)
        if proxy is not None:
            # The work is done; an edge proxy in front loses the answer and says so in HTML.
            entry["status"] = proxy["status"]
            self._send_html(proxy["status"])
            return
        self._envelope(status, code, message, response)

    def _handle(self, endpoint, match, url, fields, parse_error, faults):
        sim = self.sim
        for fault in faults:
            if fault["kind"] == "http_error":
                return fault["status"], -1, fault["message"], None
        if parse_error:
            return 400, -1, parse_error, None
        query = {k: sim_rules.coerce_form_value(
                     sim_rules.effective_rules(endpoint).get(k, sim_rules.query("string")).type, v)
                 for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        with sim.state.lock:
            if endpoint != ("POST", "/users/getToken"):
                if not sim.state.token_valid(self.headers.get("Authorization")):
                    return 401, -1, "Unauthorized", None
            invalid = sim_rules.validate(endpoint, fields, query)
            if invalid:
                return 400, -1, invalid, None
            for fault in faults:
                if fault["kind"] == "code":
                    return 200, fault["code"], fault["message"], None
            return self._route(endpoint, match, fields, query)

    def _route(self, endpoint, match, fields, query):
        state = self.sim.state
        path_args = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items() if v}
        if endpoint == ("POST", "/users/getToken"):
            return state.get_token(fields["imp_key"], fields["imp_secret"])
        if endpoint == ("GET", "/payments/{imp_uid}"):
            return state.get_payment(path_args["imp_uid"])
        if endpoint[1].startswith("/payments/findAll/"):
            return state.find_all_payments(path_args["merchant_uid"],
                                           path_args.get("payment_status"), query.get("sorting"),
                                           query.get("page"), query.get("limit"))
        if endpoint[1].startswith("/payments/find/"):
            return state.find_payment(path_args["merchant_uid"],
                                      path_args.get("payment_status"), query.get("sorting"))
        if endpoint == ("POST", "/vbanks"):
            result = state.issue_vbank(fields)
            if result[1] == 0:
                self.sim.notify(result[3], "ready")
            return result
        if endpoint == ("PUT", "/vbanks/{imp_uid}"):
            return state.update_vbank(path_args["imp_uid"], fields)
        if endpoint == ("POST", "/benepia/payment"):
            result = state.benepia_payment(fields)
            if result[1] == 0:
                self.sim.notify(result[3], "paid")
            return result
        if endpoint == ("POST", "/payments/cancel"):
            result = state.cancel_payment(fields)
            if result[1] == 0 and fields.get("enable_webhook"):
                last = result[3]["cancel_history"][-1]
                self.sim.notify(result[3], "cancelled",
                                {"cancellation_id": last["cancellation_id"]})
            return result
        return self._route_lifecycle(endpoint, path_args, fields)

    def _route_lifecycle(self, endpoint, path_args, fields):
        """Pre-registered amounts, revoked virtual accounts and cash receipts (sim_lifecycle)."""
        state = self.sim.state
        if endpoint == ("POST", "/payments/prepare"):
            return state.prepare(fields)
        if endpoint == ("PUT", "/payments/prepare"):
            return state.update_prepared(fields)
        if endpoint == ("GET", "/payments/prepare/{merchant_uid}"):
            return state.get_prepared(path_args["merchant_uid"])
        if endpoint == ("DELETE", "/vbanks/{imp_uid}"):
            # No notice: iamport notifies API-made changes only when asked (enable_webhook),
            # and this call has no such parameter.
            return state.revoke_vbank(path_args["imp_uid"])
        if endpoint == ("POST", "/receipts/{imp_uid}"):
            return state.issue_receipt(path_args["imp_uid"], fields)
        if endpoint == ("GET", "/receipts/{imp_uid}"):
            return state.get_receipt(path_args["imp_uid"])
        if endpoint == ("DELETE", "/receipts/{imp_uid}"):
            return state.cancel_receipt(path_args["imp_uid"])
        return 404, -1, "요청하신 API 를 찾을 수 없습니다.", None

    # --- control endpoints ------------------------------------------------------------------

    def _control(self, method, url, raw):
        if (method, url.path) == ("GET", "/__sim/console"):
            sim_console.serve_console(self)
            return
        try:
            spec = json.loads(raw) if raw.strip() else {}
        except ValueError:
            self._send_json(400, {"error": "body must be JSON"})
            return
        if not isinstance(spec, dict):
            self._send_json(400, {"error": "body must be a JSON object"})
            return
        params = dict(urllib.parse.parse_qsl(url.query))
        try:
            status, payload = sim_control.route(self.sim, (method, url.path), spec, params)
        except (KeyError, ValueError, TypeError) as error:
            status, payload = 400, {"error": f"bad control request: {error}"}
        self._send_json(status, payload)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256

    tls_context = None

    def finish_request(self, request, client_address):
        # The TLS handshake happens here, on the connection's own thread, so a client that
        # refuses our certificate cannot stall the accept loop.
        if self.tls_context is not None:
            try:
                request.settimeout(10)
                request = self.tls_context.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--imp-key", default="sandbox_imp_key")
    parser.add_argument("--imp-secret", default="sandbox_imp_secret")
    parser.add_argument("--webhook-format", choices=("json", "form"), default="json")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    args = parser.parse_args(argv)

    Handler.sim = Simulator(args.imp_key, args.imp_secret, args.webhook_format)
    server = Server((args.host, args.port), Handler)
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.tls_context = context

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                               daemon=True)
    serving.start()
    print(f"LISTENING {server.server_address[1]}", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
