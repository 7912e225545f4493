"""GET /__sim/console: an HTML page for people and browser tests, listing the simulator's
payments (newest first), pre-registered amounts and cash receipts. Every `ready` virtual account
has a Deposit button (`#deposit-<imp_uid>`, `data-imp-uid`) that calls POST /__sim/deposit."""

import datetime
import html

from sim_checkout import KST, send

SCRIPT = """
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-imp-uid]");
  if (!button) return;
  button.disabled = true;
  fetch("/__sim/deposit", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({imp_uid: button.getAttribute("data-imp-uid")})
  }).then(function (reply) {
    return reply.json().then(function (body) {
      var message = document.getElementById("console-message");
      message.textContent = reply.ok ? "입금되었습니다: " + body.imp_uid : body.error;
      message.setAttribute("data-ok", reply.ok ? "true" : "false");
      if (!reply.ok) { button.disabled = false; return; }
      // The row shows the payment as it now is; the page is not reloaded, so the message stays.
      var row = document.getElementById("payment-" + body.imp_uid);
      row.setAttribute("data-status", body.status);
      row.querySelector("td.status").textContent = body.status;
      button.parentNode.removeChild(button);
    });
  });
});
"""

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 20px; color: #222; }
table { border-collapse: collapse; margin-bottom: 24px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; }
th { background: #f4f4f4; } td.n { text-align: right; }
tr[data-status="paid"] td.status { color: #2e7d32; }
tr[data-status="failed"] td.status, tr[data-status="cancelled"] td.status { color: #c62828; }
#console-message[data-ok="false"] { color: #c62828; }
"""


def when(timestamp):
    if not timestamp:
        return ""
    return datetime.datetime.fromtimestamp(timestamp, KST).strftime("%Y-%m-%d %H:%M:%S")


def table(headers, rows):
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def cell(value, css=""):
    text = "" if value is None else str(value)
    return f'<td class="{css}">{html.escape(text)}</td>' if css else f"<td>{html.escape(text)}</td>"


def payment_row(view):
    imp_uid = html.escape(view["imp_uid"], quote=True)
    action = ""
    if view["pay_method"] == "vbank" and view["status"] == "ready":
        action = (f'<button type="button" id="deposit-{imp_uid}" data-imp-uid="{imp_uid}">'
                  f"Deposit</button>")
    vbank = ""
    if view["pay_method"] == "vbank":
        vbank = f"{view['vbank_name']} {view['vbank_num']} (~{when(view['vbank_date'])})"
    return (f'<tr id="payment-{imp_uid}" data-status="{html.escape(view["status"])}">'
            + cell(when(view["started_at"])) + cell(view["imp_uid"]) + cell(view["merchant_uid"])
            + cell(view["pay_method"]) + cell(view["amount"], "n")
            + cell(view["cancel_amount"], "n") + cell(view["tax_free"], "n")
            + cell(view["status"], "status") + cell(vbank) + cell(view["fail_reason"])
            + f"<td>{action}</td></tr>")


def render(state):
    with state.lock:
        payments = sorted(state.payments.values(), key=lambda p: p["_sequence"], reverse=True)
        views = [state.control_view(p) for p in payments]
        prepared = [dict(p) for p in state.prepared.values()]
        receipts = state.receipts_view()
        now = state.now()
    parts = [
        '<!doctype html><html lang="ko"><head><meta charset="utf-8">',
        "<title>iamport simulator console</title>", f"<style>{STYLE}</style></head><body>",
        f"<h1>iamport simulator</h1><p>시각 {html.escape(when(now))} (KST)"
        ' · <a href="/__sim/console">새로고침</a></p>',
        '<p id="console-message" role="status"></p>',
        f"<h2>결제 ({len(views)})</h2>",
        table(["started", "imp_uid", "merchant_uid", "pay_method", "amount", "cancelled",
               "tax_free", "status", "virtual account", "fail_reason", ""],
              [payment_row(v) for v in views]),
        f"<h2>사전등록 금액 ({len(prepared)})</h2>",
        table(["merchant_uid", "amount", "currency"],
              ["<tr>" + cell(p["merchant_uid"]) + cell(p["amount"], "n") + cell(p["currency"])
               + "</tr>" for p in prepared]),
        f"<h2>현금영수증 ({len(receipts)})</h2>",
        table(["imp_uid", "type", "identifier", "amount", "vat", "tax_free", "state",
               "applied", "cancelled"],
              ["<tr>" + cell(r["imp_uid"]) + cell(r["type"]) + cell(r["identifier"])
               + cell(r["amount"], "n") + cell(r["vat"], "n") + cell(r["tax_free"], "n")
               + cell(r["state"]) + cell(when(r["applied_at"])) + cell(when(r["cancelled_at"]))
               + "</tr>" for r in receipts]),
        f"<script>{SCRIPT}</script></body></html>",
    ]
    return "".join(parts).encode()


def serve_console(handler):
    send(handler, 200, "text/html; charset=utf-8", render(handler.sim.state),
         [("X-Frame-Options", "DENY")])
