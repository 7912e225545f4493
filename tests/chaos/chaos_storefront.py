"""The storefront and its buyers as a chaos run drives them: each order's plan and timeline, the
scheduler that runs every order's flow, and the storefront's calls to the gateway and the
simulator.

A flow is a generator: it makes its HTTP calls in a worker thread and yields the seconds it
wants to wait, so a flow that waits (for a settlement, a retry) holds no worker. `yield from` a
helper returns that helper's result.

The storefront behaves as a real one: a call that got no answer, a 5xx, a 429 or
`idempotency_in_progress` is sent again with the same Idempotency-Key; a 202 (outcome unknown)
is followed by polling GET or POST …/sync; a buyer who still sees an unpaid order tries again
later with a new key (the gateway answers 409 while an earlier call is open). What each order
ends as is never asserted here: the check compares the gateway with iamport's records.
"""

import heapq
import itertools
import threading
import time
import traceback

from chaos_env import TransportError

def now():
    return time.time()


class Plan:
    """What the storefront set out to do for one order; the check reads amount, patch_to,
    refund_target and duplicate_on_purpose."""

    def __init__(self, index, kind, rng):
        self.index = index
        self.kind = kind
        self.rng = rng
        self.uid = f"o{index:05d}-{kind}"[:40]
        self.amount = rng.randrange(1_000, 500_000, 10)
        self.patch_to = None
        self.refund_target = None
        self.duplicate_on_purpose = False  # set by the run's plan for the kinds that pay twice
        self.secret = None
        self.created = False
        self.requests = 0
        self.events = []  # (time, text): the storefront's side of the timeline
        self.done = False

    def note(self, text):
        self.events.append((round(now(), 3), text))


class Scheduler:
    """Runs generator flows on `workers` threads; a yielded number is a wait in seconds."""

    def __init__(self, workers):
        self.heap = []
        self.sequence = itertools.count()
        self.cond = threading.Condition()
        self.active = 0
        self.stopped = False
        self.errors = []
        self.threads = [threading.Thread(target=self._work, daemon=True, name=f"flow-{i}")
                        for i in range(workers)]
        for thread in self.threads:
            thread.start()

    def spawn(self, flow, delay=0.0, on_done=None, label=""):
        with self.cond:
            self.active += 1
            heapq.heappush(self.heap, (time.monotonic() + delay, next(self.sequence), flow,
                                       on_done, label))
            self.cond.notify()

    def _work(self):
        while True:
            with self.cond:
                while True:
                    if self.stopped:
                        return
                    if self.heap and self.heap[0][0] <= time.monotonic():
                        _, _, flow, on_done, label = heapq.heappop(self.heap)
                        break
                    timeout = self.heap[0][0] - time.monotonic() if self.heap else None
                    self.cond.wait(timeout)
            finished = False
            try:
                delay = next(flow)
            except StopIteration:
                finished = True
            except Exception:  # a bug of the test itself: reported, the run fails
                self.errors.append(f"{label}: {traceback.format_exc()}")
                finished = True
            if finished:
                if on_done is not None:
                    on_done()
                with self.cond:
                    self.active -= 1
                    self.cond.notify_all()
                continue
            with self.cond:
                heapq.heappush(self.heap, (time.monotonic() + max(0.0, float(delay or 0)),
                                           next(self.sequence), flow, on_done, label))
                self.cond.notify()

    def pending(self):
        with self.cond:
            return self.active

    def stop(self):
        with self.cond:
            self.stopped = True
            self.cond.notify_all()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.statuses = {}
        self.transport_errors = 0
        self.sim_calls = 0
        self.notices_sent = 0

    def count(self, status):
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def transport(self):
        with self.lock:
            self.transport_errors += 1

    def sim(self, notices=0):
        with self.lock:
            self.sim_calls += 1
            self.notices_sent += notices

    def requests(self):
        with self.lock:
            return sum(self.statuses.values()) + self.transport_errors


class Storefront:
    # The longest one call is retried with its own key: past the gateway's 60 s claim of a
    # request that died with its process, so a retry after a kill gets its answer.
    CALL_PATIENCE = 75.0

    def __init__(self, http, gateway_port, sim, api_key, notice_url, stats):
        self.http = http
        self.port = gateway_port
        self.sim = sim
        self.api_key = api_key
        self.notice_url = notice_url
        self.stats = stats

    # --- the gateway ------------------------------------------------------------------------

    def call(self, plan, method, path, body=None, key=None, browser=False, patience=None,
             busy_patience=None):
        """The gateway's answer, retried as described above; None if it never came. A key
        still claimed (`idempotency_in_progress`, as after a kill) is retried for
        `busy_patience` seconds: half the buyers wait for the claim to lapse, half go back and
        look at the order (a caller that passes a short one tries again with a new key)."""
        patience = self.CALL_PATIENCE if patience is None else patience
        if busy_patience is None:
            busy_patience = patience if plan.rng.random() < 0.5 else 6.0
        started = now()
        tries = 0
        while True:
            tries += 1
            plan.requests += 1
            headers = {"X-Request-Id": f"{plan.uid}.{plan.requests}"}
            if browser and plan.secret:
                headers["X-Client-Secret"] = plan.secret
            else:
                headers["Authorization"] = f"Bearer {self.api_key}"
            if key:
                headers["Idempotency-Key"] = key
            try:
                answer = self.http.request(self.port, method, path, body, headers, timeout=30)
            except TransportError as error:
                self.stats.transport()
                plan.note(f"{method} {path} [{headers['X-Request-Id']}] no answer: {error}")
                if now() - started > patience:
                    return None
                yield min(0.2 * tries, 2.0)
                continue
            self.stats.count(answer.status)
            code = answer.error_code()
            plan.note(f"{method} {path} [{headers['X-Request-Id']}] {answer.status}"
                      + (f" {code}" if code else ""))
            retry = (answer.status >= 500 or answer.status == 429
                     or (answer.status == 409 and code == "idempotency_in_progress"))
            if not retry:
                return answer
            if now() - started > (busy_patience if code == "idempotency_in_progress"
                                  else patience):
                return answer
            wait = min(0.25 * tries, 3.0)
            if answer.headers.get("retry-after", "").isdigit():
                wait = min(float(answer.headers["retry-after"]), 3.0)
            yield wait + plan.rng.random() * 0.3

    def read(self, plan, sync=False):
        """The order as the gateway has it, or None."""
        if sync:
            answer = yield from self.call(plan, "POST", f"/v1/orders/{plan.uid}/sync", {},
                                          patience=20)
        else:
            answer = yield from self.call(plan, "GET", f"/v1/orders/{plan.uid}",
                                          browser=plan.rng.random() < 0.3, patience=20)
        if answer is not None and answer.status in (200, 202):
            return answer.json()
        return None

    def poll(self, plan, done, seconds):
        """Reads the order until `done(order)` or `seconds` pass; the last order read."""
        deadline = now() + seconds
        order = None
        reads = 0
        while True:
            reads += 1
            order = (yield from self.read(plan, sync=reads % 3 == 0)) or order
            if order is not None and done(order):
                return order
            if now() >= deadline:
                return order
            yield 0.5 + plan.rng.random()

    def create(self, plan):
        body = {"merchant_uid": plan.uid, "name": f"chaos {plan.kind}"[:40],
                "amount": plan.amount, "buyer_name": "홍길동"}
        answer = yield from self.call(plan, "POST", "/v1/orders", body, key=f"{plan.uid}.create",
                                      busy_patience=self.CALL_PATIENCE)
        if answer is not None and answer.status == 201:
            plan.secret = answer.json()["client_secret"]
            plan.created = True
            return True
        if answer is not None and answer.status == 409:
            # Created by an earlier try whose answer was lost and whose key was released.
            order = yield from self.read(plan)
            if order is not None:
                plan.secret = order.get("client_secret")
                plan.created = True
                return True
        plan.note(f"order not created: {answer.status if answer else 'no answer'}")
        return False

    def pay(self, plan, route, body_for, done, stop_on_decline=False, seconds=120):
        """A payment call (Benepia, vbank issue) until `done(order)`: retried with a new key
        after a decline (a buyer trying again) or while the order stays unpaid after an unknown
        outcome; the gateway answers 409 while an earlier call is still open."""
        deadline = now() + seconds
        order = None
        for attempt in itertools.count(1):
            if now() >= deadline:
                return order
            answer = yield from self.call(plan, "POST", f"/v1/orders/{plan.uid}/{route}",
                                          body_for(), key=f"{plan.uid}.{route}.{attempt}",
                                          browser=plan.rng.random() < 0.5)
            if answer is None:
                order = yield from self.poll(plan, done, 5)
            elif answer.status == 200 and done(answer.json()):
                return answer.json()
            elif answer.status == 402:
                if stop_on_decline or attempt >= 6:
                    return answer.json()
                yield 0.3 + plan.rng.random()
                continue
            elif answer.status in (200, 202, 409, 503, 504, 502, 500):
                order = yield from self.poll(plan, done, 6 + 4 * plan.rng.random())
            else:
                plan.note(f"unexpected answer to {route}: {answer.status} {answer.body[:200]}")
                return None
            if order is not None and done(order):
                return order

    # --- the simulator (iamport and its buyers) ---------------------------------------------

    def sim_call(self, plan, method, path, body=None):
        self.stats.sim()
        answer = self.http.request(self.sim.port, method, path, body, timeout=60)
        plan.note(f"sim {method} {path} {answer.status}")
        return answer

    def browser_payment(self, plan, amount, status="paid", notice=True):
        answer = self.sim_call(plan, "POST", "/__sim/payments", {
            "merchant_uid": plan.uid, "amount": amount, "status": status, "pay_method": "card",
            "notice_url": [self.notice_url], "webhook": notice})
        if answer.status != 200:
            raise RuntimeError(f"simulator refused a checkout: {answer.body}")
        payment = answer.json()
        plan.note(f"checkout {payment['imp_uid']} {status} {amount} notice={notice}")
        return payment

    def deposit(self, plan, imp_uid, notice=True):
        answer = self.sim_call(plan, "POST", "/__sim/deposit",
                               {"imp_uid": imp_uid, "webhook": notice})
        plan.note(f"deposit {imp_uid} notice={notice}: {answer.status}")
        return answer.status == 200

    def notice_again(self, plan, imp_uid, status=None, delay_ms=0):
        body = {"imp_uid": imp_uid, "delay_ms": delay_ms}
        if status:
            body["status"] = status
        self.stats.sim(notices=1)
        answer = self.http.request(self.sim.port, "POST", "/__sim/webhooks/send", body,
                                   timeout=60)
        plan.note(f"notice {imp_uid} {status or 'current'} +{delay_ms}ms: {answer.status}")
