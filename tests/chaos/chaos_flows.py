"""The storefront and the buyers of a chaos run: one flow per order, of one of KINDS.

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

# kind -> weight in a run's mix
KINDS = {
    "vbank_paid": 10,           # issued, deposited, deposit notice delivered
    "vbank_lost_notice": 8,     # deposited, the notice lost: the reconciler must find it
    "vbank_patch_paid": 6,      # amount changed (PATCH), then deposited
    "vbank_patch_race": 5,      # the deposit lands while the PATCH is on its way
    "vbank_expire": 4,          # a short due time, never deposited
    "benepia_ok": 10,
    "benepia_declined": 6,      # wrong password or no balance: iamport refuses
    "checkout_complete": 10,    # paid in the browser, then `complete`
    "checkout_tampered": 4,     # paid with another amount: must end needs_review
    "checkout_lost": 8,         # paid, no complete, no notice: the lost-checkout lookup
    "checkout_failed_retry": 4,  # a failed checkout, then a paid one
    "checkout_double": 3,       # paid twice (two tabs): needs_review, a duplicate on purpose
    "checkout_lost_twice": 2,   # paid twice, both results lost: the look-up must see both
    "cancel_partial": 7,
    "cancel_full": 6,
    "cancel_partial_then_full": 5,
    "pending_never_paid": 4,
}
LOST_KINDS = {"vbank_lost_notice", "checkout_lost", "checkout_lost_twice"}
DUPLICATE_KINDS = {"checkout_double", "checkout_lost_twice"}


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
        self.duplicate_on_purpose = kind in DUPLICATE_KINDS
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


# --- helpers on orders as the gateway answers them ----------------------------------------------

def ready_vbank(order):
    for payment in reversed((order or {}).get("payments") or []):
        if payment.get("status") == "ready" and payment.get("pay_method") == "vbank":
            return payment
    return None


def money_payment(order):
    for payment in reversed((order or {}).get("payments") or []):
        if payment.get("status") in ("paid", "cancelled") and payment.get("paid_at"):
            return payment
    return None


def status_of(order):
    return (order or {}).get("status")


def issued(order):
    return status_of(order) not in (None, "pending") or ready_vbank(order) is not None


def settled_payment(order):
    return status_of(order) not in (None, "pending", "awaiting_deposit")


class Flows:
    def __init__(self, storefront, scheduler):
        self.sf = storefront
        self.scheduler = scheduler

    def run(self, plan):
        ok = yield from self.sf.create(plan)
        if not ok:
            return
        flow = getattr(self, plan.kind)
        yield from flow(plan)

    def spawn(self, generator, delay, plan, label):
        self.scheduler.spawn(generator, delay, label=f"{plan.uid} {label}")

    def echoes(self, plan, imp_uid, statuses):
        """Repeated, late and out-of-order notices of a payment (iamport repeats notices even
        after a 200, and nothing orders them)."""
        if plan.kind in LOST_KINDS or plan.rng.random() > 0.4:
            return
        for _ in range(plan.rng.randint(1, 3)):
            status = plan.rng.choice(statuses)
            delay_ms = plan.rng.randint(0, 3000)
            self.sf.notice_again(plan, imp_uid, status, delay_ms)

    # --- virtual accounts ---------------------------------------------------------------------

    def vbank_body(self, plan, due_in=86_400):
        def body():
            # Each new try is a new request with its own due time (a retry of one keeps its body).
            return {"vbank_code": plan.rng.choice(["004", "088", "020", "081"]),
                    "vbank_due": int(now()) + due_in, "vbank_holder": "홍길동"}
        return body

    def issue(self, plan, due_in=86_400):
        body = self.vbank_body(plan, due_in)
        order = yield from self.sf.pay(plan, "vbank", body, issued)
        vbank = ready_vbank(order)
        if vbank is None:
            plan.note(f"no account to deposit into (order {status_of(order)})")
        return vbank

    def vbank_paid(self, plan, notice=True):
        vbank = yield from self.issue(plan)
        if vbank is None:
            return
        yield plan.rng.uniform(0.0, 2.0)
        self.sf.deposit(plan, vbank["imp_uid"], notice)
        self.echoes(plan, vbank["imp_uid"], [None, "ready", "paid"])
        if notice:
            yield from self.sf.poll(plan, settled_payment, 4)

    def vbank_lost_notice(self, plan):
        yield from self.vbank_paid(plan, notice=False)

    def vbank_patch(self, plan, race):
        vbank = yield from self.issue(plan)
        if vbank is None:
            return
        delta = plan.rng.randrange(100, plan.amount // 2, 10)
        plan.patch_to = plan.amount + delta if plan.rng.random() < 0.5 else plan.amount - delta
        if race:
            # The buyer deposits what the bank shows while the change is on its way.
            imp_uid = vbank["imp_uid"]

            def deposit_now():
                self.sf.deposit(plan, imp_uid, True)
                yield 0
            self.spawn(deposit_now(), plan.rng.uniform(0.0, 0.08), plan, "deposit")
        answer = yield from self.sf.call(plan, "PATCH", f"/v1/orders/{plan.uid}/vbank",
                                         {"amount": plan.patch_to}, key=f"{plan.uid}.patch")
        if answer is not None and answer.status == 202:
            yield from self.sf.poll(plan, lambda o: o.get("amount") == plan.patch_to
                                    or status_of(o) != "awaiting_deposit", 10)
        if not race:
            yield plan.rng.uniform(0.0, 1.0)
            self.sf.deposit(plan, vbank["imp_uid"], True)
        self.echoes(plan, vbank["imp_uid"], [None, "ready", "paid"])
        yield from self.sf.poll(plan, settled_payment, 4)

    def vbank_patch_paid(self, plan):
        yield from self.vbank_patch(plan, race=False)

    def vbank_patch_race(self, plan):
        yield from self.vbank_patch(plan, race=True)

    def vbank_expire(self, plan):
        vbank = yield from self.issue(plan, due_in=plan.rng.randint(25, 40))
        if vbank is not None:
            self.echoes(plan, vbank["imp_uid"], [None, "ready"])

    # --- Benepia ------------------------------------------------------------------------------

    def benepia(self, plan, user="chaos-user", password="chaos-password", stop_on_decline=False):
        def body():
            return {"benepia_user": user, "benepia_password": password}
        order = yield from self.sf.pay(plan, "benepia-payment", body, settled_payment,
                                       stop_on_decline=stop_on_decline)
        return order

    def benepia_ok(self, plan):
        order = yield from self.benepia(plan)
        payment = money_payment(order)
        if payment is not None:
            self.echoes(plan, payment["imp_uid"], [None, "paid"])

    def benepia_declined(self, plan):
        if plan.rng.random() < 0.5:
            yield from self.benepia(plan, password="wrong", stop_on_decline=True)
        else:
            yield from self.benepia(plan, user="no_points", stop_on_decline=True)

    # --- browser checkouts ----------------------------------------------------------------------

    def complete(self, plan, imp_uid):
        answer = yield from self.sf.call(plan, "POST", f"/v1/orders/{plan.uid}/complete",
                                         {"imp_uid": imp_uid}, key=f"{plan.uid}.complete.{imp_uid}",
                                         browser=plan.rng.random() < 0.6)
        return answer.json() if answer is not None and answer.status == 200 else None

    def checkout_complete(self, plan):
        payment = self.sf.browser_payment(plan, plan.amount, notice=plan.rng.random() < 0.6)
        yield plan.rng.uniform(0.0, 1.5)
        yield from self.complete(plan, payment["imp_uid"])
        self.echoes(plan, payment["imp_uid"], [None, "paid", "ready"])
        return payment

    def checkout_tampered(self, plan):
        cut = plan.rng.randrange(10, plan.amount - 10, 10)
        payment = self.sf.browser_payment(plan, plan.amount - cut, notice=plan.rng.random() < 0.5)
        yield plan.rng.uniform(0.0, 1.0)
        yield from self.complete(plan, payment["imp_uid"])
        self.echoes(plan, payment["imp_uid"], [None, "paid"])

    def checkout_lost(self, plan):
        self.sf.browser_payment(plan, plan.amount, notice=False)
        yield 0

    def checkout_lost_twice(self, plan):
        # The buyer paid, the window closed before `complete` and the notice was lost; seeing
        # the order still unpaid, the buyer paid again, with the same fate.
        self.sf.browser_payment(plan, plan.amount, notice=False)
        yield plan.rng.uniform(0.5, 3.0)
        self.sf.browser_payment(plan, plan.amount, notice=False)

    def checkout_failed_retry(self, plan):
        failed = self.sf.browser_payment(plan, plan.amount, status="failed")
        yield from self.complete(plan, failed["imp_uid"])
        yield plan.rng.uniform(0.2, 2.0)
        yield from self.checkout_complete(plan)

    def checkout_double(self, plan):
        first = yield from self.checkout_complete(plan)
        yield plan.rng.uniform(0.0, 1.0)
        second = self.sf.browser_payment(plan, plan.amount, notice=True)
        yield from self.sf.poll(plan, lambda o: status_of(o) == "needs_review", 5)
        self.echoes(plan, second["imp_uid"], [None, "paid"])
        self.echoes(plan, first["imp_uid"], [None])

    def pending_never_paid(self, plan):
        if plan.rng.random() < 0.5:
            self.sf.browser_payment(plan, plan.amount, status="failed", notice=False)
        yield from self.sf.read(plan)

    # --- refunds --------------------------------------------------------------------------------

    def paid_somehow(self, plan):
        """A paid order to refund: Benepia, a checkout, or a deposited virtual account."""
        choice = plan.rng.random()
        if choice < 0.5:
            order = yield from self.benepia(plan)
        elif choice < 0.8:
            yield from self.checkout_complete(plan)
            order = yield from self.sf.poll(plan, settled_payment, 10)
        else:
            yield from self.vbank_paid(plan)
            order = yield from self.sf.poll(plan, settled_payment, 15)
        return order

    def refund(self, plan, targets):
        """Cancels until iamport's cancelled amount reaches each target in turn."""
        order = yield from self.paid_somehow(plan)
        payment = money_payment(order)
        if payment is None:
            plan.note("nothing paid to refund")
            plan.refund_target = None
            return
        imp_uid = payment["imp_uid"]
        for target in targets:
            if plan.rng.random() < 0.5:
                # iamport's notice of the cancel, racing the cancel itself.
                self.sf.notice_again(plan, imp_uid, "cancelled", plan.rng.randint(0, 300))
            deadline = now() + 120
            for attempt in itertools.count(1):
                payment = money_payment(order) or payment
                cancelled = payment.get("cancel_amount", 0)
                if cancelled >= target or now() >= deadline:
                    break
                body = {"reason": "chaos refund"}
                if target < plan.amount:
                    body["amount"] = target - cancelled
                if payment.get("pay_method") == "vbank":
                    body.update({"refund_holder": "홍길동", "refund_bank": "004",
                                 "refund_account": "12345678901234"})
                answer = yield from self.sf.call(plan, "POST", f"/v1/orders/{plan.uid}/cancel",
                                                 body, key=f"{plan.uid}.cancel.{target}.{attempt}")
                if answer is not None and answer.status == 200:
                    order = answer.json()
                    continue
                reached = (lambda o: (money_payment(o) or {}).get("cancel_amount", 0) >= target)
                order = (yield from self.sf.poll(plan, reached, 4 + 4 * plan.rng.random())) \
                    or order
        self.echoes(plan, imp_uid, [None, "paid", "cancelled"])

    def cancel_partial(self, plan):
        part = plan.rng.randrange(10, plan.amount // 2, 10)
        plan.refund_target = part
        yield from self.refund(plan, [part])

    def cancel_full(self, plan):
        plan.refund_target = plan.amount
        yield from self.refund(plan, [plan.amount])

    def cancel_partial_then_full(self, plan):
        part = plan.rng.randrange(10, plan.amount // 2, 10)
        plan.refund_target = plan.amount
        yield from self.refund(plan, [part, plan.amount])
