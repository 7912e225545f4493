// The demo shop's server: serves the page, and creates orders at the gateway with the API key
// it alone holds. The page gets back the order's merchant_uid and client_secret and pays it
// from the browser, talking to the gateway (CORS) and to iamport's SDK with nothing else.
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { loadConfig, type Config } from "./config.js";
import { PRODUCTS, findProduct } from "./catalogue.js";
import { GatewayError, createOrder, gatewayClient } from "./gateway.js";

const PUBLIC_DIR = new URL("../public/", import.meta.url);
const PAGE_SCRIPT = new URL("./page/app.js", import.meta.url);
const MAX_BODY = 16 * 1024;

const config: Config = (() => {
  try {
    return loadConfig();
  } catch (e) {
    console.error(`storefront: ${(e as Error).message}`);
    process.exit(2);
  }
})();
const gateway = gatewayClient(config.gatewayUrl, config.apiKey);

/** What the page is told: where the gateway and the SDK are; never the API key. */
function pageConfig() {
  return {
    gateway_url: config.gatewayPublicUrl,
    sdk_url: config.sdkUrl,
    merchant_code: config.merchantCode,
    sim_console_url: config.simConsoleUrl,
    products: PRODUCTS,
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) {
  res.writeHead(status, {
    "Content-Type": type,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    ...headers,
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown) {
  send(res, status, "application/json; charset=utf-8", JSON.stringify(value));
}

function sendError(res: ServerResponse, status: number, code: string, message: string) {
  sendJson(res, status, { error: { code, message } });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY) throw new GatewayError(413, "too_large", "the request body is too large");
    chunks.push(buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
  } catch {
    throw new GatewayError(400, "malformed_json", "the request body is not JSON");
  }
}

async function page(res: ServerResponse) {
  const html = await readFile(new URL("index.html", PUBLIC_DIR), "utf8");
  const sdk = new URL(config.sdkUrl);
  const gw = new URL(config.gatewayPublicUrl);
  // The page loads scripts from here and from iamport's SDK only, and talks to this server, the
  // gateway and the SDK's origin only.
  const csp = [
    "default-src 'self'",
    `script-src 'self' ${sdk.origin}`,
    `connect-src 'self' ${gw.origin} ${sdk.origin}`,
    `frame-src ${sdk.origin}`,
    `img-src 'self' data: ${sdk.origin}`,
    `style-src 'self' 'unsafe-inline' ${sdk.origin}`,
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
  const body = html
    .replace("{{SDK_URL}}", escapeHtml(config.sdkUrl))
    .replace("{{CONFIG}}", JSON.stringify(pageConfig()).replace(/</g, "\\u003c"));
  send(res, 200, "text/html; charset=utf-8", body, { "Content-Security-Policy": csp });
}

async function createOrderForPage(req: IncomingMessage, res: ServerResponse) {
  const body = await readJson(req);
  const productId = typeof body === "object" && body !== null ? (body as Record<string, unknown>).product_id : undefined;
  const product = findProduct(productId);
  if (!product) return sendError(res, 422, "unknown_product", "no such product");
  // One order per click: the page sends a key per click, so a retried request creates nothing new.
  const header = req.headers["idempotency-key"];
  const key = typeof header === "string" && /^[A-Za-z0-9-]{8,64}$/.test(header) ? header : randomUUID();
  const order = await createOrder(gateway, { name: product.name, amount: product.price }, key);
  if (order.client_secret === undefined) throw new GatewayError(502, "gateway_error", "the gateway sent no client secret");
  sendJson(res, 201, {
    merchant_uid: order.merchant_uid,
    client_secret: order.client_secret,
    name: order.name,
    amount: order.amount,
    currency: order.currency,
    status: order.status,
  });
}

async function handle(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? "/", "http://storefront");
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case "GET /":
      return page(res);
    case "GET /app.js":
      return send(res, 200, "text/javascript; charset=utf-8", await readFile(PAGE_SCRIPT));
    case "GET /style.css":
      return send(res, 200, "text/css; charset=utf-8", await readFile(new URL("style.css", PUBLIC_DIR)));
    case "GET /favicon.ico":
      return send(res, 204, "image/x-icon", "");
    case "GET /healthz":
      return sendJson(res, 200, { status: "ok" });
    case "POST /api/orders":
      return createOrderForPage(req, res);
  }
  sendError(res, 404, "not_found", "no such page");
}

const server = createServer((req, res) => {
  handle(req, res).catch((e: unknown) => {
    if (e instanceof GatewayError) {
      const status = e.status >= 400 && e.status < 500 ? e.status : 502;
      return sendError(res, status, e.code, e.message);
    }
    console.error(`storefront: ${req.method} ${req.url}: ${(e as Error).stack ?? String(e)}`);
    if (!res.headersSent) sendError(res, 500, "internal", "something went wrong");
    else res.destroy();
  });
});
server.requestTimeout = 30_000;
server.listen(config.listenPort, config.listenHost, () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.listenPort;
  // The first line is for scripts (port 0 picks a free one), as the simulator's is.
  console.log(`LISTENING ${port}`);
  console.log(`storefront on http://${config.listenHost}:${port} (gateway ${config.gatewayUrl})`);
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
