// The demo storefront paid in headless Chromium: the shop's server creates the order (API key),
// the page pays it with the client secret only, through the simulator's SDK and payment window,
// and the gateway's view of the order is checked after each step.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Stack, until } from "./stack.mjs";
import { message, openShop, paymentWindow, scenario, shownOrderUid, waitShownStatus, windowClick, windowGone, windowState } from "./harness.mjs";

const PRICES = { beans: 32000, dripper: 18000, mug: 9000 };
let stack;
before(async () => {
  stack = await new Stack().start();
}, { timeout: 120_000 });
after(async () => {
  await stack?.close();
}, { timeout: 60_000 });
const current = () => stack;

async function payments(merchantUid) {
  return stack.simControl("GET", `/__sim/payments?merchant_uid=${encodeURIComponent(merchantUid)}`);
}

/** The list in a control answer: `[...]` or `{payments: [...]}`, `{prepared: [...]}`. */
function list(answer) {
  if (Array.isArray(answer)) return answer;
  return Object.values(answer ?? {}).find(Array.isArray) ?? [];
}

scenario(current, "card payment approved: the order is paid, and the page never held the API key", async (s) => {
  await s.step("shop opened", () => openShop(s, { product: "beans" }));
  await s.step("card chosen: the payment window opens", async () => {
    await s.page.click("#pay-card");
    const frame = await paymentWindow(s.page);
    assert.match(await frame.$eval("#order-amount", (e) => e.textContent), /32,000/);
  });
  const uid = await shownOrderUid(s.page);
  await s.step("approved in the window", () => windowClick(s.page, "approve"));
  await s.step("the page shows the order paid", async () => {
    await waitShownStatus(s.page, "paid");
    await windowGone(s.page);
  });
  const order = await stack.order(uid);
  assert.equal(order.status, "paid");
  assert.equal(order.amount, PRICES.beans);
  assert.equal(order.payments.length, 1);
  assert.equal(order.payments[0].status, "paid");
  assert.equal(order.payments[0].amount, PRICES.beans);
  assert.equal((await message(s.page)).kind, "ok");
  // The page took the checkout parameters from the gateway, which registered the amount at iamport.
  assert.ok(s.requests.some((r) => r.method === "POST" && r.url === `${stack.gatewayUrl}/v1/orders/${uid}/checkout`), "the page did not ask the gateway for the checkout");
  const prepared = list(await stack.simControl("GET", "/__sim/prepared")).find((p) => p.merchant_uid === uid);
  assert.equal(prepared?.amount, PRICES.beans);

  // The API key stays on the shop's server: not in the page, not in any request the browser made;
  // the browser reached the gateway with the order's client secret only.
  assert.ok(!(await s.page.content()).includes(stack.apiKey), "the API key is in the page");
  const storage = await s.page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }));
  assert.ok(!storage.includes(stack.apiKey), "the API key is in the page's storage");
  const toGateway = s.requests.filter((r) => r.url.startsWith(stack.gatewayUrl) && r.method !== "OPTIONS");
  assert.ok(toGateway.some((r) => r.url.endsWith("/complete")), "the page did not call complete");
  for (const r of s.requests) {
    assert.ok(!JSON.stringify(r).includes(stack.apiKey), `the API key went out with ${r.method} ${r.url}`);
    assert.equal(r.headers.authorization, undefined, `${r.method} ${r.url} carried an Authorization header`);
  }
  for (const r of toGateway) assert.ok(r.headers["x-client-secret"], `${r.method} ${r.url} without X-Client-Secret`);

  // The price is the shop's: an amount sent to its server is not taken.
  const forged = await fetch(`${stack.storefrontUrl}/api/orders`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ product_id: "beans", amount: 100, name: "x" }),
  });
  assert.equal(forged.status, 201);
  assert.equal((await forged.json()).amount, PRICES.beans);
});

scenario(current, "card declined: the order stays pending and can be paid again", async (s) => {
  await s.step("shop opened", () => openShop(s, { product: "dripper" }));
  await s.step("card chosen", () => s.page.click("#pay-card"));
  const uid = await shownOrderUid(s.page);
  await s.step("declined in the window", () => windowClick(s.page, "decline"));
  await s.step("the page says it failed and the order is pending", async () => {
    await windowGone(s.page);
    await s.page.waitForSelector("body[data-last-result='failed']");
    await waitShownStatus(s.page, "pending");
  });
  assert.equal((await message(s.page)).kind, "error");
  assert.equal((await stack.order(uid)).status, "pending");
  assert.equal(await s.page.$eval("#pay-card", (b) => b.disabled), false, "the order cannot be paid again");

  await s.step("paid again: approved", async () => {
    await s.page.click("#pay-card");
    await windowClick(s.page, "approve");
    await waitShownStatus(s.page, "paid");
  });
  const order = await stack.order(uid);
  assert.equal(order.status, "paid");
  assert.equal(order.amount, PRICES.dripper);
  assert.equal(order.payments.filter((p) => p.status === "paid").length, 1);
});

scenario(
  current,
  "window closed mid-payment: pending; a charge iamport made anyway is found by the reconciler",
  async (s) => {
    await s.step("shop opened", () => openShop(s, { product: "mug" }));
    await s.step("card chosen", () => s.page.click("#pay-card"));
    const uid = await shownOrderUid(s.page);
    await s.step("the window closed", () => windowClick(s.page, "close"));
    await s.step("the page says it did not complete; the order is pending", async () => {
      await windowGone(s.page);
      await s.page.waitForSelector("body[data-last-result='failed']");
      await waitShownStatus(s.page, "pending");
    });
    assert.equal((await stack.order(uid)).status, "pending");

    // iamport charged the card all the same (the window went away after the PG approved), and
    // its notice was lost: no callback, no webhook. The reconciler's look-up of pending orders
    // finds the charge (25 s after the order was created, RECONCILE_INTERVAL=1 here).
    await stack.simControl("POST", "/__sim/payments", { merchant_uid: uid, amount: PRICES.mug, status: "paid", pay_method: "card", webhook: false });
    const found = await until("the reconciler to find the charge", async () => {
      const order = await stack.order(uid);
      return order.status === "paid" ? order : null;
    }, 60_000, 500);
    assert.equal(found.payments.filter((p) => p.status === "paid").length, 1);
    await s.step("the page, reloaded, shows it paid", async () => {
      await s.page.reload({ waitUntil: "load" });
      await waitShownStatus(s.page, "paid");
    });
  },
  { timeout: 120_000 },
);

scenario(current, "amount changed in the page: iamport's window refuses it, and the order is paid at its own amount after", async (s) => {
  await s.step("shop opened", () => openShop(s, { product: "beans" }));
  // The buyer edits the page: whatever the gateway's checkout says, 100 won goes to the window.
  await s.page.evaluate(() => {
    const imp = window.IMP;
    const original = imp.request_pay;
    window.__originalRequestPay = original;
    imp.request_pay = (params, callback) => original.call(imp, { ...params, amount: 100 }, callback);
  });
  await s.step("card chosen", () => s.page.click("#pay-card"));
  const uid = await shownOrderUid(s.page);
  // The gateway registered the order's own amount at iamport before the window opened.
  const prepared = list(await stack.simControl("GET", "/__sim/prepared")).find((p) => p.merchant_uid === uid);
  assert.equal(prepared?.amount, PRICES.beans, "the order's amount was not registered at iamport");
  const frame = await paymentWindow(s.page);
  await s.step("the window refuses the changed amount", async () => {
    assert.equal(await windowState(frame, ["ready", "refused"]), "refused");
  });
  await s.step("the window closed; the page says it failed", async () => {
    await windowClick(s.page, "close");
    await windowGone(s.page);
    await s.page.waitForSelector("body[data-last-result='failed']");
    await waitShownStatus(s.page, "pending");
  });
  assert.equal((await message(s.page)).kind, "error");
  let order = await stack.order(uid);
  assert.equal(order.status, "pending");
  assert.equal(order.amount, PRICES.beans, "the order's amount changed");
  assert.deepEqual(list(await payments(uid)).filter((p) => p.status === "paid"), [], "iamport charged the changed amount");

  await s.step("the page restored: paid at the order's amount", async () => {
    await s.page.evaluate(() => {
      window.IMP.request_pay = window.__originalRequestPay;
    });
    await s.page.click("#pay-card");
    await windowClick(s.page, "approve");
    await waitShownStatus(s.page, "paid");
  });
  order = await stack.order(uid);
  assert.equal(order.status, "paid");
  assert.deepEqual(order.payments.filter((p) => p.status === "paid").map((p) => p.amount), [PRICES.beans]);
});

scenario(current, "virtual account: shown on the page, paid by a deposit in the simulator's control page", async (s) => {
  await s.step("shop opened", () => openShop(s, { product: "dripper" }));
  await s.step("virtual account chosen", () => s.page.click("#pay-vbank"));
  const uid = await shownOrderUid(s.page);
  await s.step("account issued in the window", async () => {
    const frame = await windowClick(s.page, "issue-vbank");
    await windowState(frame, ["done"]);
  });
  await s.step("the page shows the account, awaiting the deposit", async () => {
    await waitShownStatus(s.page, "awaiting_deposit");
    await s.page.waitForSelector("#vbank:not([hidden])");
  });
  const account = await s.page.$eval("#vbank", (box) => ({
    num: box.querySelector("#vbank-num").textContent,
    name: box.querySelector("#vbank-name").textContent,
    impUid: box.querySelector("#vbank-imp-uid").textContent,
  }));
  const order = await stack.order(uid);
  assert.equal(order.status, "awaiting_deposit");
  const payment = order.payments.find((p) => p.status === "ready");
  assert.ok(payment, "no ready payment");
  assert.equal(account.num, payment.vbank_num);
  assert.equal(account.impUid, payment.imp_uid);
  assert.ok(account.num && account.name, "the account is not shown");

  await s.step("window closed by the buyer", () => windowClick(s.page, "close"));
  const console = await s.newPage("sim-console");
  await s.step("deposit made in the simulator's control page", async () => {
    await console.goto(`${stack.simUrl}/__sim/console`, { waitUntil: "load" });
    const button = await console.waitForSelector(`#deposit-${payment.imp_uid}:not([disabled])`);
    await button.click();
    await console.waitForSelector("#console-message[data-ok='true']");
  });
  await s.step("the page turns paid by itself", async () => {
    await s.page.bringToFront();
    await waitShownStatus(s.page, "paid", 20_000);
  });
  assert.equal((await stack.order(uid)).status, "paid");
});

scenario(current, "on a phone: the window sends the page to m_redirect_url, which completes the payment", async (s) => {
  await s.page.setViewport({ width: 390, height: 800, isMobile: true });
  await s.step("shop opened", () => openShop(s, { product: "mug" }));
  await s.step("card chosen", () => s.page.click("#pay-card"));
  const uid = await shownOrderUid(s.page);
  await s.step("approved: back on the shop's page, paid", async () => {
    const back = s.page.waitForNavigation({ waitUntil: "load" });
    await windowClick(s.page, "approve");
    await back;
    await waitShownStatus(s.page, "paid");
  });
  assert.ok(s.requests.some((r) => r.page === "shop" && r.url.includes(`merchant_uid=${uid}`) && r.url.includes("imp_uid=")), "the page was not redirected");
  assert.equal(new URL(s.page.url()).search, "", "the redirect's query stays in the address bar");
  assert.equal((await stack.order(uid)).status, "paid");
});
