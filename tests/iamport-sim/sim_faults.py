"""Injected misbehaviour for the simulated API: the next N calls of an endpoint (or of every
endpoint, "*") are slowed, refused, cut or answered by an edge proxy. See README.md, faults."""

import random
import threading
import time


class Faults:
    """Misbehaviour for the next N calls of an endpoint (or of every endpoint, "*")."""

    KINDS = ("latency", "http_error", "code", "drop", "proxy_error", "slow_answer", "reset")

    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []
        self.random = random.Random()

    def add(self, spec):
        if spec.get("kind") not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}")
        probability = float(spec.get("probability", 1.0))
        if not 0.0 < probability <= 1.0:
            raise ValueError("probability must be in (0, 1]")
        latency_ms = int(spec.get("latency_ms", 0))
        duration_ms = spec.get("duration_ms")
        entry = {"endpoint": spec.get("endpoint", "*"), "kind": spec["kind"],
                 "expires_at": (time.monotonic() + int(duration_ms) / 1000.0
                                if duration_ms is not None else None),
                 "count": int(spec.get("count", 1)), "latency_ms": latency_ms,
                 "latency_ms_max": max(latency_ms, int(spec.get("latency_ms_max", latency_ms))),
                 "probability": probability,
                 "status": int(spec.get("status", 502 if spec["kind"] == "proxy_error" else 500)),
                 "code": int(spec.get("code", 1)),
                 "message": spec.get("message", "시뮬레이터가 주입한 오류입니다.")}
        with self.lock:
            self.entries.append(entry)
        return {k: v for k, v in entry.items() if k != "expires_at"}

    def take(self, name):
        """The faults that apply to this call, each one's count decremented. A fault with a
        probability applies to each matching call with that chance; one with a latency range
        sleeps a random time in it."""
        taken = []
        with self.lock:
            self._expire()
            for entry in self.entries:
                if entry["count"] > 0 and entry["endpoint"] in ("*", name) and (
                        entry["probability"] >= 1.0
                        or self.random.random() < entry["probability"]):
                    entry["count"] -= 1
                    fault = {k: v for k, v in entry.items() if k != "expires_at"}
                    fault["latency_ms"] = self.random.randint(entry["latency_ms"],
                                                              entry["latency_ms_max"])
                    taken.append(fault)
            self.entries = [e for e in self.entries if e["count"] > 0]
        return taken

    def _expire(self):
        now = time.monotonic()
        self.entries = [e for e in self.entries
                        if e["expires_at"] is None or e["expires_at"] > now]

    def clear(self):
        with self.lock:
            self.entries = []

    def list(self):
        with self.lock:
            self._expire()
            return [{k: v for k, v in e.items() if k != "expires_at"} for e in self.entries]
