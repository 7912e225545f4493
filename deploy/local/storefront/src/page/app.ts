// The shop's page. It holds one order at a time: its merchant_uid and client secret, from the
// shop's server. With that secret only, it asks the gateway for the checkout parameters (which
// registers the amount at iamport), opens iamport's payment window through the SDK, hands the
// result to the gateway (`complete`), and shows the order as the gateway says it is; a
// virtual-account order is polled until its deposit lands.
import type { components, paths } from "../api.js";
import type { RequestPayParams, RequestPayResponse } from "./iamport.js";

type Order = components["schemas"]["Order"];
type Payment = components["schemas"]["Payment"];
type OrderStatus = components["schemas"]["OrderStatus"];
type ApiError = components["schemas"]["Error"];
type CompleteBody = paths["/v1/orders/{merchant_uid}/complete"]["post"]["requestBody"]["content"]["application/json"];
type PayMethod = "card" | "vbank";

interface PageConfig {
  gateway_url: string;
  sdk_url: string;
  merchant_code: string;
  sim_console_url: string | null;
  products: { id: string; name: string; price: number }[];
}

/** What the shop's server answers for a new order. */
interface ShopOrder {
  merchant_uid: string;
  client_secret: string;
  name: string;
  amount: number;
  currency: string;
  status: OrderStatus;
}

/** The parameters for IMP.request_pay, less pay_method, as the gateway hands them out. */
type CheckoutParams = components["schemas"]["CheckoutParameters"];

const POLL_MS = 1500;
const MOBILE = "(max-width: 640px)";
const STORAGE_KEY = "storefront.order";
const config = JSON.parse(byId("config").textContent ?? "{}") as PageConfig;

let current: ShopOrder | null = null;
let pollTimer: number | undefined;
let busy = false;
/** The status of `current` as last shown. */
let shownStatus: OrderStatus | null = null;

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} missing from the page`);
  return element as T;
}

const won = new Intl.NumberFormat("ko-KR");
function money(amount: number): string {
  return `${won.format(amount)}원`;
}

class RequestFailed extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A call to the gateway as the buyer's browser makes it: the order's client secret, no API key. */
async function gateway<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; data: T }> {
  if (!current) throw new Error("no order");
  const headers: Record<string, string> = { "X-Client-Secret": current.client_secret };
  const init: RequestInit = { method, headers, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`${config.gateway_url}${path}`, init);
  const payload: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (payload as ApiError | null)?.error;
    throw new RequestFailed(response.status, error?.code ?? "http_error", error?.message ?? `HTTP ${response.status}`);
  }
  return { status: response.status, data: payload as T };
}

function orderPath(suffix = ""): string {
  if (!current) throw new Error("no order");
  return `/v1/orders/${encodeURIComponent(current.merchant_uid)}${suffix}`;
}

async function readOrder(): Promise<Order> {
  return (await gateway<Order>("GET", orderPath())).data;
}

/** The checkout parameters the gateway hands out; it registers the order's amount at iamport,
 * so a window opened with another amount is refused there. */
async function checkoutParams(): Promise<CheckoutParams> {
  return (await gateway<CheckoutParams>("POST", orderPath("/checkout"), {})).data;
}

// ---- rendering ----

const STATUS_TEXT: Record<OrderStatus, string> = {
  pending: "결제 대기 (pending)",
  awaiting_deposit: "입금 대기 (awaiting deposit)",
  paid: "결제 완료 (paid)",
  partially_cancelled: "부분 취소 (partially cancelled)",
  cancelled: "취소됨 (cancelled)",
  expired: "기한 만료 (expired)",
  needs_review: "확인 필요 (needs review)",
};

function say(text: string, kind: "info" | "error" | "ok" = "info") {
  const message = byId("message");
  message.textContent = text;
  message.dataset.kind = kind;
}

function showVbank(payment: Payment | undefined) {
  const box = byId("vbank");
  if (!payment || payment.vbank_num === null) {
    box.hidden = true;
    return;
  }
  byId("vbank-name").textContent = payment.vbank_name ?? payment.vbank_code ?? "";
  byId("vbank-num").textContent = payment.vbank_num;
  byId("vbank-holder").textContent = payment.vbank_holder ?? "";
  byId("vbank-due").textContent = payment.vbank_date ? new Date(payment.vbank_date * 1000).toLocaleString("ko-KR") : "";
  byId("vbank-imp-uid").textContent = payment.imp_uid;
  const consoleLink = byId<HTMLAnchorElement>("sim-console");
  consoleLink.hidden = config.sim_console_url === null || payment.status !== "ready";
  if (config.sim_console_url) consoleLink.href = config.sim_console_url;
  box.hidden = false;
}

function render(order: Pick<Order, "merchant_uid" | "name" | "amount" | "status"> & { payments?: Payment[] }) {
  byId("order").hidden = false;
  byId("order-uid").textContent = order.merchant_uid;
  byId("order-name").textContent = order.name;
  byId("order-amount").textContent = money(order.amount);
  const status = byId("status");
  status.textContent = STATUS_TEXT[order.status] ?? order.status;
  status.dataset.status = order.status;
  const vbank = order.payments?.find((p) => p.vbank_num !== null && (p.status === "ready" || p.status === "paid"));
  showVbank(order.status === "awaiting_deposit" || order.status === "paid" ? vbank : undefined);
  shownStatus = order.status;
  document.body.dataset.orderStatus = order.status;
  updateControls();
}

/** The pay buttons work on no order yet (a new one is made) or on a pending one, and never while
 * a payment is under way. */
function updateControls() {
  const payable = current === null || shownStatus === "pending";
  byId<HTMLButtonElement>("pay-card").disabled = busy || !payable;
  byId<HTMLButtonElement>("pay-vbank").disabled = busy || !payable;
  byId<HTMLSelectElement>("product").disabled = current !== null;
  byId("new-order").hidden = current === null || busy;
}

/** `body[data-busy]` is "false" once the page has settled after an action (tests wait for it). */
function setBusy(value: boolean) {
  busy = value;
  document.body.dataset.busy = String(value);
  updateControls();
}

// ---- the flow ----

function remember() {
  if (current) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(current));
  else sessionStorage.removeItem(STORAGE_KEY);
}

async function newOrder(): Promise<ShopOrder> {
  const product = byId<HTMLSelectElement>("product").value;
  const response = await fetch("/api/orders", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
    body: JSON.stringify({ product_id: product }),
  });
  const payload: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (payload as ApiError | null)?.error;
    throw new RequestFailed(response.status, error?.code ?? "http_error", error?.message ?? `HTTP ${response.status}`);
  }
  return payload as ShopOrder;
}

function requestPay(params: RequestPayParams): Promise<RequestPayResponse> {
  const imp = window.IMP;
  if (!imp) throw new Error("iamport's SDK did not load");
  imp.init(config.merchant_code);
  return new Promise((resolve) => imp.request_pay(params, resolve));
}

async function pay(method: PayMethod) {
  if (busy) return;
  setBusy(true);
  try {
    if (!current) {
      say("주문을 만드는 중…");
      current = await newOrder();
      remember();
      render(current);
    }
    say("결제창을 여는 중…");
    const params: RequestPayParams = { ...(await checkoutParams()), pay_method: method };
    // On a phone the payment window replaces the page and comes back to m_redirect_url (as
    // iamport's mobile checkout does); on a wider screen the SDK calls back in place.
    if (window.matchMedia(MOBILE).matches) {
      params.m_redirect_url = `${location.origin}/?merchant_uid=${encodeURIComponent(current.merchant_uid)}`;
    }
    const result = await requestPay(params);
    await settle(result);
  } catch (e) {
    say(`결제를 시작하지 못했습니다: ${(e as Error).message}`, "error");
  } finally {
    if (current) await refresh();
    setBusy(false);
  }
}

/** After the payment window: the gateway verifies the payment with iamport (`complete`). */
async function settle(result: RequestPayResponse) {
  if (!result.success || !result.imp_uid) {
    const reason = result.error_msg ?? "결제가 완료되지 않았습니다";
    say(`결제 실패: ${reason}. 다시 결제할 수 있습니다.`, "error");
    document.body.dataset.lastResult = "failed";
    return;
  }
  say("결제를 확인하는 중…");
  const body: CompleteBody = { imp_uid: result.imp_uid };
  try {
    const { status, data } = await gateway<Order>("POST", orderPath("/complete"), body);
    render(data);
    document.body.dataset.lastResult = "completed";
    if (status === 202) say("결제 결과를 확인하고 있습니다…");
    else describe(data);
    follow(data);
  } catch (e) {
    const failure = e as RequestFailed;
    document.body.dataset.lastResult = "refused";
    say(`결제가 승인되지 않았습니다: ${failure.message}`, "error");
  }
}

function describe(order: Order) {
  switch (order.status) {
    case "paid":
      say("결제가 완료되었습니다. 감사합니다!", "ok");
      break;
    case "awaiting_deposit":
      say("아래 가상계좌로 입금해 주세요. 입금이 확인되면 자동으로 바뀝니다.");
      break;
    case "needs_review":
      say("결제 내용이 주문과 달라 확인이 필요합니다.", "error");
      break;
    case "pending":
      say("결제가 완료되지 않았습니다. 다시 결제할 수 있습니다.", "error");
      break;
    default:
      say(STATUS_TEXT[order.status]);
  }
}

/** A virtual account waits for its deposit; an outcome the gateway does not know yet is asked
 * again: the page polls the order until it settles. */
function follow(order: Order) {
  window.clearTimeout(pollTimer);
  const waiting = order.status === "awaiting_deposit" || (order.status === "pending" && document.body.dataset.lastResult === "completed");
  if (!waiting) return;
  pollTimer = window.setTimeout(async () => {
    try {
      const fresh = await readOrder();
      render(fresh);
      if (fresh.status !== order.status) describe(fresh);
      follow(fresh);
    } catch {
      follow(order);
    }
  }, POLL_MS);
}

async function refresh() {
  try {
    const order = await readOrder();
    render(order);
    follow(order);
  } catch (e) {
    say(`주문을 읽지 못했습니다: ${(e as Error).message}`, "error");
  }
}

function reset() {
  window.clearTimeout(pollTimer);
  current = null;
  remember();
  byId("order").hidden = true;
  byId("vbank").hidden = true;
  shownStatus = null;
  updateControls();
  delete document.body.dataset.orderStatus;
  delete document.body.dataset.lastResult;
  say("");
}

async function start() {
  const select = byId<HTMLSelectElement>("product");
  for (const product of config.products) {
    const option = document.createElement("option");
    option.value = product.id;
    option.textContent = `${product.name} — ${money(product.price)}`;
    select.append(option);
  }
  byId("pay-card").addEventListener("click", () => void pay("card"));
  byId("pay-vbank").addEventListener("click", () => void pay("vbank"));
  byId("new-order").addEventListener("click", reset);

  // Back from a payment window that redirected (m_redirect_url, as on mobile).
  const query = new URLSearchParams(location.search);
  const saved = sessionStorage.getItem(STORAGE_KEY);
  if (saved) current = JSON.parse(saved) as ShopOrder;
  if (current && query.get("merchant_uid") === current.merchant_uid) {
    history.replaceState(null, "", "/");
    const impUid = query.get("imp_uid");
    const success = query.get("imp_success") ?? query.get("success");
    await settle({
      success: success === "true",
      imp_uid: impUid,
      merchant_uid: current.merchant_uid,
      error_msg: query.get("error_msg"),
    });
    await refresh();
  } else if (current) {
    await refresh();
  }
  setBusy(false);
  document.body.dataset.ready = "true";
}

void start();
