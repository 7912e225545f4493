"""The orders of a chaos run: one flow per order, of one of KINDS (see chaos_storefront.py for
how a flow runs and how the storefront retries)."""

import itertools

from chaos_storefront import now

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
DUPLICATE_KINDS = {"checkout_double", "checkout_lost_twice"}  # pay twice on purpose


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
