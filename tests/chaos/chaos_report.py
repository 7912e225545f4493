"""The end of a chaos run: the summary, the details of each mismatch (iamport's payments, every
iamport call of the order with the faults it met, the storefront's timeline, the gateway's log
lines) and the storefront's timelines, written to the work folder."""

import json
import os

import chaos_check


def report(chaos, last):
    sim = chaos.stack.sim
    requests = sim.control("GET", "/__sim/requests")["requests"]
    deliveries = sim.control("GET", "/__sim/webhooks")["deliveries"]
    by_endpoint, applied = {}, {}
    for entry in requests:
        by_endpoint[entry["endpoint"]] = by_endpoint.get(entry["endpoint"], 0) + 1
        for kind in entry.get("faults") or []:
            name = f"{kind} {entry['endpoint']}"
            applied[name] = applied.get(name, 0) + 1
    kinds = {}
    for plan in chaos.plans[:chaos.orders_started]:
        kinds[plan.kind] = kinds.get(plan.kind, 0) + 1
    statuses = {}
    for status, _ in last["orders"].values() if last else []:
        statuses[status] = statuses.get(status, 0) + 1
    problems = last["problems"] if last else [{"problem": "no snapshot of the gateway"}]
    print()
    print(f"chaos seed: {chaos.args.seed}")
    print(f"orders: {chaos.orders_started} started of {len(chaos.plans)}; duration "
          f"{chaos.elapsed():.0f} s (traffic {chaos.traffic_seconds:.0f} s, settling "
          f"{chaos.settle_seconds:.0f} s)")
    print("orders per kind: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print("final statuses: " + ", ".join(f"{k} {n}" for k, n in sorted(statuses.items())))
    status_counts = ", ".join(f"{k}: {n}" for k, n in sorted(chaos.stats.statuses.items()))
    print(f"storefront → gateway requests: {chaos.stats.requests()} ({status_counts}; "
          f"no answer: {chaos.stats.transport_errors})")
    print(f"gateway → iamport requests: {len(requests)} ("
          + ", ".join(f"{k} {n}" for k, n in sorted(by_endpoint.items())) + ")")
    errors = sum(1 for d in deliveries if d.get("error") or (d.get("http_status") or 0) >= 300)
    print(f"iamport → gateway notices: {len(deliveries)} ({errors} not accepted: gateway or "
          f"database down), of them {chaos.stats.notices_sent} repeated/late/forged on purpose")
    print(f"faults applied to calls: {sum(applied.values())} (standing rates × "
          f"{chaos.args.fault_scale:g}); outages: {len(chaos.outages)} "
          f"({'; '.join(chaos.outages) or 'none'}); token expiries: {chaos.token_expiries}")
    for name in sorted(applied):
        print(f"    {name}: {applied[name]}")
    print(f"gateway kills: {len(chaos.kills)} ({'; '.join(chaos.kills) or 'none'})")
    print(f"PostgreSQL restarts: {len(chaos.pg_restarts)} "
          f"({'; '.join(chaos.pg_restarts) or 'none'})")
    if last:
        print(f"open attempts at the end: {len(last['open_attempts'])}; inbox: "
              f"{json.dumps(last['inbox'])}")
        for row in last["open_attempts"][:20]:
            print(f"    open attempt: {' '.join(row)}")
        if last["open_attempts"]:
            problems.append({"problem": "attempts still open", "actual":
                             last["open_attempts"]})
        if last["inbox"].get("pending") or last["inbox"].get("failed"):
            problems.append({"problem": "webhook inbox not settled",
                             "actual": last["inbox"]})
    for note in chaos_check.warnings({p.uid: p for p in chaos.plans},
                                     last["sim_payments"] if last else {}):
        print(f"warning: {note}")
    for crash in chaos.crashes:
        problems.append({"problem": "gateway crash", "actual": crash})
    for error in chaos.harness_errors:
        print(f"harness: {error}")
    if problems:
        explain(chaos, problems, last, requests)
    verdict = "FAILED" if problems else ("INCOMPLETE" if chaos.harness_errors else "PASSED")
    print(f"result: {verdict}: {len(problems)} mismatches")
    if problems:
        return 1
    return 3 if chaos.harness_errors else 0

def dump(chaos):
    """Every order's storefront timeline, for a look after the run (--keep)."""
    path = os.path.join(chaos.stack.work_dir, "storefront.json")
    with open(path, "w") as out:
        json.dump({plan.uid: plan.events for plan in chaos.plans}, out, ensure_ascii=False,
                  indent=0)

def explain(chaos, problems, last, requests):
    plans = {plan.uid: plan for plan in chaos.plans}
    log_lines = {}
    uids = {p.get("merchant_uid") for p in problems if p.get("merchant_uid")}
    needles = {}
    for uid in uids:
        needles[uid] = uid
        for payment in (last or {}).get("sim_payments", {}).get(uid, []):
            needles[payment["imp_uid"]] = uid
    with open(chaos.stack.gateway.log_path, encoding="utf-8", errors="replace") as log:
        for line in log:
            for needle, uid in needles.items():
                if needle in line:
                    log_lines.setdefault(uid, []).append(line.rstrip())
                    break
    details = []
    print(f"\nMISMATCHES ({len(problems)}):")
    for problem in problems:
        print(f"- {json.dumps(problem, ensure_ascii=False)}")
        uid = problem.get("merchant_uid")
        if not uid:
            continue
        plan = plans.get(uid)
        sim_payments = (last or {}).get("sim_payments", {}).get(uid, [])
        for payment in sim_payments:
            print(f"    iamport {payment['imp_uid']}: {payment['status']} "
                  f"{payment['pay_method']} amount {payment['amount']} cancelled "
                  f"{payment['cancel_amount']} started {payment['started_at']} paid "
                  f"{payment['paid_at']}")
        calls = [r for r in requests if r.get("merchant_uid") == uid]
        for call in calls[-15:]:
            print(f"    iamport call {call['time']} {call['endpoint']} → {call['status']}"
                  f" faults {call.get('faults')}")
        if plan is not None:
            for at, text in plan.events[-25:]:
                print(f"    storefront {at}: {text}")
        details.append({"problem": problem, "sim_payments": sim_payments,
                        "iamport_calls": calls,
                        "storefront": plan.events if plan else [],
                        "gateway_log": log_lines.get(uid, [])})
    path = os.path.join(chaos.stack.work_dir, "mismatches.json")
    with open(path, "w") as out:
        json.dump(details, out, ensure_ascii=False, indent=1)
    print(f"details (with the gateway's log lines per order): {path}")
