#!/usr/bin/env node
// A shop's notification endpoint for tests: receives the gateway's signed notifications
// (Standard Webhooks) on POST /hooks/<name>, verifies each with the standardwebhooks package and
// records it; control calls under /__control configure each endpoint and read what it received.
//
//   node receiver.mjs --port 0 [--host 127.0.0.1]
//
// Prints `LISTENING <port>` as its only line on stdout once listening (anything else goes to
// stderr), serves until SIGTERM/SIGINT and exits 0. Listens on loopback only. README.md beside
// this file has the control API and the recorded fields.
import { createServer } from "node:http";
import { isIP } from "node:net";
import { parseArgs } from "node:util";
import { Webhook } from "standardwebhooks";

const MAX_BODY_BYTES = 1024 * 1024;
const MODES = new Set(["ok", "fail", "slow", "redirect", "down"]);
const CONFIG_KEYS = new Set(["secrets", "mode", "status", "delay_ms", "location", "reject_unverified"]);
const MAX_DELAY_MS = 10 * 60 * 1000;
const MAX_WAIT_MS = 5 * 60 * 1000;

/** name → { config: null | {...}, verifiers: Webhook[], deliveries: [], waiters: Set<fn> } */
const endpoints = new Map();

function endpoint(name) {
  let found = endpoints.get(name);
  if (!found) {
    found = { config: null, verifiers: [], deliveries: [], waiters: new Set() };
    endpoints.set(name, found);
  }
  return found;
}

function log(line) {
  process.stderr.write(`receiver: ${line}\n`);
}

function sendJson(res, status, value, headers = {}) {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** The body as a Buffer, or why there is none: { body } | { tooLarge: true } | { aborted: error }. */
function readBody(req) {
  return new Promise((done) => {
    const declared = Number(req.headers["content-length"]);
    if (declared > MAX_BODY_BYTES) {
      done({ tooLarge: true });
      req.resume();
      return;
    }
    const chunks = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk) => {
      if (over) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        over = true;
        chunks.length = 0;
        done({ tooLarge: true });
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => done({ body: Buffer.concat(chunks, size) }));
    req.on("error", (error) => done({ aborted: error.message }));
    // After "end" this changes nothing (a promise settles once).
    req.on("close", () => done({ aborted: "the client closed the connection before the body ended" }));
  });
}

function headerValue(req, name) {
  const value = req.headers[name];
  return value === undefined ? null : String(value);
}

/** Verifies with each configured secret in turn; the first that verifies wins. */
function verify(config, verifiers, body, req) {
  if (!config) return { verified: false, verified_with: null, error: "unknown endpoint" };
  if (verifiers.length === 0) return { verified: false, verified_with: null, error: "no secrets configured" };
  const errors = [];
  for (const [index, webhook] of verifiers.entries()) {
    try {
      // The package's own check: signature over "<id>.<timestamp>.<body>" with any of the
      // space-separated v1 signatures, and the timestamp within its 5-minute tolerance. The body
      // is given as the bytes received; jsonParse off, since the JSON is parsed (and recorded)
      // separately below.
      webhook.verify(body, req.headers, { jsonParse: false });
      return { verified: true, verified_with: index, error: null };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (!errors.includes(message)) errors.push(message);
    }
  }
  return { verified: false, verified_with: null, error: errors.join("; ") };
}

function record(state, delivery) {
  // Arrival order: by the time each request arrived (bodies may finish reading out of order).
  const list = state.deliveries;
  let at = list.length;
  while (at > 0 && list[at - 1].received_at > delivery.received_at) at--;
  list.splice(at, 0, delivery);
  for (const wake of state.waiters) wake();
}

async function onDelivery(req, res, name) {
  const receivedAt = Date.now();
  const state = endpoint(name);
  // As configured when the request arrived.
  const { config, verifiers } = state;
  const delivery = {
    received_at: receivedAt,
    method: req.method,
    path: req.url,
    mode: config ? config.mode : null,
    headers: {
      "webhook-id": headerValue(req, "webhook-id"),
      "webhook-timestamp": headerValue(req, "webhook-timestamp"),
      "webhook-signature": headerValue(req, "webhook-signature"),
    },
    content_type: headerValue(req, "content-type"),
    body: null,
    payload: null,
    json_error: null,
    verified: false,
    verified_with: null,
    error: null,
    status: null,
    outcome: "pending",
    answered_at: null,
    accepted: false,
  };

  const read = await readBody(req);
  let closed = false;
  res.on("close", () => {
    closed = true;
    if (delivery.outcome === "pending") {
      delivery.outcome = "client_closed";
      log(`${req.method} ${req.url}: the client closed the connection before the answer`);
    }
  });

  const answer = (status, value, headers = {}) => {
    if (closed) return;
    delivery.status = status;
    delivery.outcome = "answered";
    delivery.answered_at = Date.now();
    delivery.accepted = status >= 200 && status < 300;
    sendJson(res, status, value, headers);
    log(`${req.method} ${req.url} mode=${delivery.mode} verified=${delivery.verified} -> ${status}`);
  };

  if (read.tooLarge) {
    delivery.error = `body over ${MAX_BODY_BYTES} bytes`;
    record(state, delivery);
    answer(413, { ok: false, error: delivery.error }, { connection: "close" });
    return;
  }
  if (read.aborted) {
    delivery.error = read.aborted;
    delivery.outcome = "client_closed";
    record(state, delivery);
    log(`${req.method} ${req.url}: ${read.aborted}`);
    return;
  }

  delivery.body = read.body.toString("utf8");
  try {
    delivery.payload = JSON.parse(delivery.body);
  } catch (error) {
    delivery.json_error = error.message;
  }
  Object.assign(delivery, verify(config, verifiers, read.body, req));
  record(state, delivery);

  if (!config) {
    answer(404, { ok: false, error: `no endpoint named ${name}` });
    return;
  }
  const settled = () => {
    if (config.reject_unverified && !delivery.verified) {
      answer(401, { ok: false, error: delivery.error });
    } else {
      answer(200, { ok: true });
    }
  };
  switch (config.mode) {
    case "ok":
      settled();
      break;
    case "slow": {
      const timer = setTimeout(settled, config.delay_ms);
      res.on("close", () => clearTimeout(timer));
      break;
    }
    case "fail":
      answer(config.status, { ok: false, error: "this endpoint is set to fail" });
      break;
    case "redirect":
      answer(config.status, { ok: false, location: config.location }, { location: config.location });
      break;
    case "down":
      delivery.outcome = "destroyed";
      req.socket.destroy();
      log(`${req.method} ${req.url} mode=down verified=${delivery.verified} -> connection destroyed`);
      break;
  }
}

/** The configuration from a PUT body, or throws an Error whose message says what is wrong. */
function parseConfig(value) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("the body must be a JSON object");
  for (const key of Object.keys(value)) {
    if (!CONFIG_KEYS.has(key)) throw new Error(`unknown field ${JSON.stringify(key)}`);
  }
  const mode = value.mode ?? "ok";
  if (!MODES.has(mode)) throw new Error(`mode must be one of ${[...MODES].join(", ")}`);
  const secrets = value.secrets ?? [];
  if (!Array.isArray(secrets) || secrets.some((s) => typeof s !== "string")) throw new Error("secrets must be an array of strings");
  const verifiers = secrets.map((secret, index) => {
    try {
      return new Webhook(secret);
    } catch (error) {
      throw new Error(`secrets[${index}]: ${error.message}`);
    }
  });
  const integer = (key, fallback, min, max) => {
    const v = value[key] ?? fallback;
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${key} must be an integer from ${min} to ${max}`);
    return v;
  };
  const config = { secrets, mode, reject_unverified: value.reject_unverified ?? false };
  if (typeof config.reject_unverified !== "boolean") throw new Error("reject_unverified must be a boolean");
  if (mode === "fail") config.status = integer("status", 500, 400, 599);
  if (mode === "redirect") {
    config.status = integer("status", 302, 300, 399);
    if (typeof value.location !== "string" || value.location === "") throw new Error("mode redirect needs a location");
    config.location = value.location;
  }
  if (mode === "slow") config.delay_ms = integer("delay_ms", 10_000, 0, MAX_DELAY_MS);
  return { config, verifiers };
}

async function readJson(req) {
  const read = await readBody(req);
  if (read.tooLarge) throw new Error("body too large");
  if (read.aborted) throw new Error(read.aborted);
  const text = read.body.toString("utf8");
  return text === "" ? null : JSON.parse(text);
}

function summary(name, state) {
  return { name, config: state.config, deliveries: state.deliveries.length };
}

/** GET …/deliveries, waiting (?count=N&timeout_ms=T) until there are at least N of them. */
function sendDeliveries(req, res, state, query) {
  const count = Number(query.get("count") ?? 0);
  const timeout = Math.min(Number(query.get("timeout_ms") ?? 0), MAX_WAIT_MS);
  if (!Number.isFinite(count) || !Number.isFinite(timeout)) {
    sendJson(res, 400, { error: "count and timeout_ms must be numbers" });
    return;
  }
  const send = () => sendJson(res, 200, { deliveries: state.deliveries });
  if (state.deliveries.length >= count || timeout <= 0) {
    send();
    return;
  }
  const finish = () => {
    clearTimeout(timer);
    state.waiters.delete(wake);
    if (!res.destroyed) send();
  };
  const wake = () => {
    if (state.deliveries.length >= count) finish();
  };
  const timer = setTimeout(finish, timeout);
  state.waiters.add(wake);
  res.on("close", () => {
    clearTimeout(timer);
    state.waiters.delete(wake);
  });
}

async function onControl(req, res, rest, query) {
  // rest: the path after /__control/endpoints, split on "/".
  if (rest.length === 0) {
    if (req.method === "GET") {
      sendJson(res, 200, { endpoints: [...endpoints].map(([name, state]) => summary(name, state)) });
    } else if (req.method === "DELETE") {
      endpoints.clear();
      sendJson(res, 200, { ok: true });
    } else {
      sendJson(res, 405, { error: "GET or DELETE" });
    }
    return;
  }
  const name = rest[0];
  if (rest.length === 1) {
    if (req.method === "PUT") {
      let parsed;
      try {
        parsed = parseConfig(await readJson(req));
      } catch (error) {
        sendJson(res, 400, { error: error.message });
        return;
      }
      const state = endpoint(name);
      state.config = parsed.config;
      state.verifiers = parsed.verifiers;
      log(`endpoint ${name}: mode=${parsed.config.mode} secrets=${parsed.verifiers.length}`);
      sendJson(res, 200, summary(name, state));
    } else if (req.method === "GET") {
      const state = endpoints.get(name);
      if (state?.config) sendJson(res, 200, summary(name, state));
      else sendJson(res, 404, { error: `no endpoint named ${name}` });
    } else if (req.method === "DELETE") {
      endpoints.delete(name);
      sendJson(res, 200, { ok: true });
    } else {
      sendJson(res, 405, { error: "PUT, GET or DELETE" });
    }
    return;
  }
  if (rest.length === 2 && rest[1] === "deliveries") {
    if (req.method === "GET") {
      sendDeliveries(req, res, endpoint(name), query);
    } else if (req.method === "DELETE") {
      const state = endpoints.get(name);
      const cleared = state ? state.deliveries.length : 0;
      if (state) state.deliveries = [];
      sendJson(res, 200, { cleared });
    } else {
      sendJson(res, 405, { error: "GET or DELETE" });
    }
    return;
  }
  sendJson(res, 404, { error: "no such control path" });
}

function segments(pathname) {
  return pathname
    .split("/")
    .filter((s) => s !== "")
    .map((s) => decodeURIComponent(s));
}

async function handle(req, res) {
  let url;
  let parts;
  try {
    url = new URL(req.url, "http://receiver");
    parts = segments(url.pathname);
  } catch {
    sendJson(res, 400, { error: "bad request target" });
    return;
  }
  if (parts.length === 2 && parts[0] === "hooks") {
    await onDelivery(req, res, parts[1]);
  } else if (parts[0] === "__control" && parts[1] === "endpoints") {
    await onControl(req, res, parts.slice(2), url.searchParams);
  } else {
    sendJson(res, 404, { error: "not found" });
  }
}

function isLoopback(host) {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1";
  return false;
}

function main() {
  let options;
  try {
    ({ values: options } = parseArgs({
      options: { port: { type: "string", default: "0" }, host: { type: "string", default: "127.0.0.1" } },
    }));
  } catch (error) {
    process.stderr.write(`usage: node receiver.mjs --port 0 [--host 127.0.0.1]\n${error.message}\n`);
    process.exit(2);
  }
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`--port must be from 0 to 65535, not ${options.port}\n`);
    process.exit(2);
  }
  if (!isLoopback(options.host)) {
    process.stderr.write(`--host must be a loopback address, not ${options.host}\n`);
    process.exit(2);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      log(`${req.method} ${req.url}: ${error.stack ?? error}`);
      if (!res.headersSent && !res.destroyed) sendJson(res, 500, { error: String(error.message ?? error) });
    });
  });
  // A slow answer may take up to MAX_DELAY_MS; Node's own request timeout would cut it short.
  server.requestTimeout = 0;
  server.on("error", (error) => {
    process.stderr.write(`receiver: ${error.message}\n`);
    process.exit(1);
  });
  // If whoever reads stdout has gone, the one line written there does not matter.
  process.stdout.on("error", () => {});
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => {
      server.close();
      server.closeAllConnections();
      process.exit(0);
    });
  }
  server.listen(port, options.host, () => {
    process.stdout.write(`LISTENING ${server.address().port}\n`);
  });
}

main();
