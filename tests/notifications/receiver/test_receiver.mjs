// The notification test receiver (receiver.mjs) as the C++ end-to-end tests use it: started as a
// child process, configured over its control API, sent deliveries signed both with the
// standardwebhooks package's own Webhook.sign and with the Standard Webhooks formula computed here
// with node:crypto (so the package is cross-checked too).
//
//   node --test test_receiver.mjs
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { request } from "node:http";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Webhook } from "standardwebhooks";

const RECEIVER = join(dirname(fileURLToPath(import.meta.url)), "receiver.mjs");

const newSecret = () => `whsec_${randomBytes(24).toString("base64")}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Starts the receiver; resolves with { child, port, stdout(), stderr(), exited }. */
function startReceiver(args = ["--port", "0"]) {
  const child = spawn(process.execPath, [RECEIVER, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const exited = new Promise((done) => child.on("exit", (code, signal) => done({ code, signal })));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`the receiver did not start:\n${stderr}`)), 10_000);
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const match = /^LISTENING (\d+)\n/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        done({ child, port: Number(match[1]), stdout: () => stdout, stderr: () => stderr, exited });
      }
    });
    child.on("exit", (code) => fail(new Error(`the receiver exited (${code}) before listening:\n${stderr}`)));
  });
}

/** One HTTP request; resolves with { status, headers, body } or rejects with the socket's error. */
function http(port, method, path, { body = "", headers = {}, signal } = {}) {
  return new Promise((done, fail) => {
    const data = typeof body === "string" ? Buffer.from(body) : body;
    const req = request(
      { host: "127.0.0.1", port, method, path, signal, headers: { "content-length": data.length, ...headers } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => done({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on("error", fail);
      },
    );
    req.on("error", fail);
    req.end(data);
  });
}

/** The Standard Webhooks signature computed here, independently of the package. */
function cryptoSignature(secret, id, timestamp, body) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

/** The three headers of a delivery signed by the package with each of `secrets`. */
function signedHeaders(secrets, body, { id = `msg_${randomBytes(6).toString("hex")}`, timestamp = nowSeconds() } = {}) {
  const signatures = secrets.map((secret) => new Webhook(secret).sign(id, new Date(timestamp * 1000), body));
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signatures.join(" "),
    "content-type": "application/json",
  };
}

let receiver;
let endpointCount = 0;

const control = async (method, path, value) => {
  const res = await http(receiver.port, method, `/__control/endpoints${path}`, { body: value === undefined ? "" : JSON.stringify(value) });
  return { status: res.status, json: JSON.parse(res.body) };
};

/** A fresh endpoint name configured with `config`. */
async function configure(config) {
  const name = `shop-${++endpointCount}`;
  const res = await control("PUT", `/${name}`, config);
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return name;
}

async function deliveries(name, query = "") {
  const res = await control("GET", `/${name}/deliveries${query}`);
  assert.equal(res.status, 200);
  return res.json.deliveries;
}

const deliver = (name, body, headers, options = {}) => http(receiver.port, "POST", `/hooks/${name}`, { body, headers, ...options });

const payload = (n = 1) => JSON.stringify({ type: "order.paid", data: { order_id: `ord_${n}`, amount: 15000 } });

describe("notification receiver", () => {
  before(async () => {
    receiver = await startReceiver();
  });
  after(async () => {
    receiver.child.kill("SIGTERM");
    await receiver.exited;
  });

  test("a delivery signed by the package verifies and is recorded whole", async () => {
    const secret = newSecret();
    const name = await configure({ secrets: [secret], mode: "ok" });
    const body = payload();
    const headers = signedHeaders([secret], body);
    const before = Date.now();
    const res = await deliver(name, body, headers);
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { ok: true });

    const [d, ...rest] = await deliveries(name);
    assert.equal(rest.length, 0);
    assert.equal(d.verified, true, d.error);
    assert.equal(d.verified_with, 0);
    assert.equal(d.error, null);
    assert.equal(d.status, 200);
    assert.equal(d.outcome, "answered");
    assert.equal(d.accepted, true);
    assert.equal(d.mode, "ok");
    assert.equal(d.method, "POST");
    assert.equal(d.path, `/hooks/${name}`);
    assert.equal(d.body, body);
    assert.deepEqual(d.payload, JSON.parse(body));
    assert.equal(d.json_error, null);
    assert.deepEqual(d.headers, {
      "webhook-id": headers["webhook-id"],
      "webhook-timestamp": headers["webhook-timestamp"],
      "webhook-signature": headers["webhook-signature"],
    });
    assert.equal(d.content_type, "application/json");
    assert.ok(d.received_at >= before && d.received_at <= Date.now());
    assert.ok(d.answered_at >= d.received_at);
  });

  test("the package signs as the Standard Webhooks formula computed with node:crypto, which verifies too", async () => {
    const secret = newSecret();
    const name = await configure({ secrets: [secret] });
    const body = payload();
    const id = "msg_2r5Qx1";
    const timestamp = nowSeconds();
    const signature = cryptoSignature(secret, id, timestamp, body);
    assert.equal(signature, new Webhook(secret).sign(id, new Date(timestamp * 1000), body));
    await deliver(name, body, { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": signature });
    const [d] = await deliveries(name);
    assert.equal(d.verified, true, d.error);
    // A body with non-ASCII text is signed over its UTF-8 bytes.
    const korean = JSON.stringify({ type: "order.paid", data: { name: "주문 결제" } });
    await deliver(name, korean, { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": cryptoSignature(secret, id, timestamp, korean) });
    const [, k] = await deliveries(name);
    assert.equal(k.verified, true, k.error);
    assert.equal(k.payload.data.name, "주문 결제");
  });

  test("a wrong secret, a changed body, a stale timestamp or missing headers do not verify", async () => {
    const secret = newSecret();
    const name = await configure({ secrets: [secret] });
    const body = payload();
    await deliver(name, body, signedHeaders([newSecret()], body));
    await deliver(name, payload(2), signedHeaders([secret], body));
    await deliver(name, body, signedHeaders([secret], body, { timestamp: nowSeconds() - 10 * 60 }));
    await deliver(name, body, signedHeaders([secret], body, { timestamp: nowSeconds() + 10 * 60 }));
    await deliver(name, body, { "content-type": "application/json" });
    const list = await deliveries(name);
    assert.deepEqual(
      list.map((d) => [d.verified, d.verified_with, d.error, d.status, d.accepted]),
      [
        [false, null, "No matching signature found", 200, true],
        [false, null, "No matching signature found", 200, true],
        [false, null, "Message timestamp too old", 200, true],
        [false, null, "Message timestamp too new", 200, true],
        [false, null, "Missing required headers", 200, true],
      ],
    );
  });

  test("reject_unverified answers 401 to what does not verify and 200 to what does", async () => {
    const secret = newSecret();
    const name = await configure({ secrets: [secret], reject_unverified: true });
    const body = payload();
    assert.equal((await deliver(name, body, signedHeaders([newSecret()], body))).status, 401);
    assert.equal((await deliver(name, body, signedHeaders([secret], body))).status, 200);
    const list = await deliveries(name);
    assert.deepEqual(list.map((d) => [d.verified, d.status, d.accepted]), [[false, 401, false], [true, 200, true]]);
  });

  test("during a rotation either secret verifies, and so does a header with both signatures", async () => {
    const old = newSecret();
    const fresh = newSecret();
    const both = await configure({ secrets: [old, fresh] });
    const body = payload();
    await deliver(both, body, signedHeaders([old], body));
    await deliver(both, body, signedHeaders([fresh], body));
    await deliver(both, body, signedHeaders([newSecret()], body));
    assert.deepEqual((await deliveries(both)).map((d) => [d.verified, d.verified_with]), [[true, 0], [true, 1], [false, null]]);

    // The gateway's side of a rotation: two space-separated signatures; a shop that knows only
    // one of the secrets verifies.
    const headers = signedHeaders([old, fresh], body);
    assert.match(headers["webhook-signature"], /^v1,\S+ v1,\S+$/);
    const onlyFresh = await configure({ secrets: [fresh] });
    const onlyOld = await configure({ secrets: [old] });
    await deliver(onlyFresh, body, headers);
    await deliver(onlyOld, body, headers);
    assert.equal((await deliveries(onlyFresh))[0].verified, true);
    assert.equal((await deliveries(onlyOld))[0].verified, true);
  });

  test("fail answers its status (500 by default), recorded as an attempt not accepted", async () => {
    const secret = newSecret();
    const body = payload();
    const plain = await configure({ secrets: [secret], mode: "fail" });
    const custom = await configure({ secrets: [secret], mode: "fail", status: 503 });
    assert.equal((await deliver(plain, body, signedHeaders([secret], body))).status, 500);
    assert.equal((await deliver(custom, body, signedHeaders([secret], body))).status, 503);
    const [p] = await deliveries(plain);
    const [c] = await deliveries(custom);
    assert.deepEqual([p.mode, p.status, p.accepted, p.verified], ["fail", 500, false, true]);
    assert.deepEqual([c.status, c.accepted], [503, false]);
  });

  test("slow answers 200 after delay_ms; a client that gives up first is recorded as gone", async () => {
    const secret = newSecret();
    const body = payload();
    const name = await configure({ secrets: [secret], mode: "slow", delay_ms: 400 });
    const started = Date.now();
    const res = await deliver(name, body, signedHeaders([secret], body));
    assert.equal(res.status, 200);
    assert.ok(Date.now() - started >= 390, `answered after ${Date.now() - started} ms`);

    const [first] = await deliveries(name);
    assert.deepEqual([first.mode, first.status, first.outcome, first.accepted, first.verified], ["slow", 200, "answered", true, true]);
    assert.ok(first.answered_at - first.received_at >= 390);

    const longer = await configure({ secrets: [secret], mode: "slow", delay_ms: 30_000 });
    const signal = AbortSignal.timeout(200);
    await assert.rejects(deliver(longer, body, signedHeaders([secret], body), { signal }));
    let gone;
    for (let tries = 0; tries < 100 && gone?.outcome !== "client_closed"; tries++) {
      await new Promise((r) => setTimeout(r, 50));
      [gone] = await deliveries(longer);
    }
    assert.deepEqual([gone.status, gone.outcome, gone.answered_at, gone.accepted, gone.verified], [null, "client_closed", null, false, true]);
  });

  test("redirect answers 302 with the Location given", async () => {
    const secret = newSecret();
    const body = payload();
    const location = "http://127.0.0.1:9/hooks/elsewhere";
    const name = await configure({ secrets: [secret], mode: "redirect", location });
    const res = await deliver(name, body, signedHeaders([secret], body));
    assert.equal(res.status, 302);
    assert.equal(res.headers.location, location);
    const [d] = await deliveries(name);
    assert.deepEqual([d.mode, d.status, d.accepted, d.verified], ["redirect", 302, false, true]);
  });

  test("down destroys the connection without an answer, recorded with status null", async () => {
    const secret = newSecret();
    const body = payload();
    const name = await configure({ secrets: [secret], mode: "down" });
    await assert.rejects(deliver(name, body, signedHeaders([secret], body)), (e) => ["ECONNRESET", "EPIPE"].includes(e.code) || /socket hang up/.test(e.message));
    const [d] = await deliveries(name);
    assert.deepEqual([d.mode, d.status, d.outcome, d.accepted, d.verified], ["down", null, "destroyed", false, true]);
    // The receiver itself is unharmed.
    const ok = await configure({ secrets: [secret] });
    assert.equal((await deliver(ok, body, signedHeaders([secret], body))).status, 200);
  });

  test("an unknown endpoint answers 404 and is recorded under its name", async () => {
    const body = payload();
    const res = await deliver("nobody-configured-this", body, signedHeaders([newSecret()], body));
    assert.equal(res.status, 404);
    const [d] = await deliveries("nobody-configured-this");
    assert.deepEqual([d.mode, d.status, d.verified, d.error, d.accepted], [null, 404, false, "unknown endpoint", false]);
    assert.equal((await control("GET", "/nobody-configured-this")).status, 404);
  });

  test("a body that is not JSON is recorded with its parse error; the signature still counts", async () => {
    const secret = newSecret();
    const name = await configure({ secrets: [secret] });
    const body = '{"type": "order.paid", ';
    assert.equal((await deliver(name, body, signedHeaders([secret], body))).status, 200);
    const [d] = await deliveries(name);
    assert.equal(d.body, body);
    assert.equal(d.payload, null);
    assert.match(d.json_error, /JSON/);
    assert.equal(d.verified, true);
  });

  test("a body of 1 MiB verifies; a larger one is refused with 413 and recorded", async () => {
    const secret = newSecret();
    const name = await configure({ secrets: [secret] });
    const prefix = '{"type":"big","pad":"';
    const exact = `${prefix}${"x".repeat(1024 * 1024 - prefix.length - 2)}"}`;
    assert.equal(Buffer.byteLength(exact), 1024 * 1024);
    assert.equal((await deliver(name, exact, signedHeaders([secret], exact))).status, 200);
    const over = `${exact} `;
    try {
      assert.equal((await deliver(name, over, signedHeaders([secret], over))).status, 413);
    } catch (e) {
      // The receiver may close before the client has written it all.
      assert.ok(["ECONNRESET", "EPIPE"].includes(e.code), e.message);
    }
    const [big, tooBig] = await deliveries(name);
    assert.equal(big.verified, true, big.error);
    assert.equal(big.payload.type, "big");
    assert.deepEqual([tooBig.status, tooBig.verified, tooBig.body], [413, false, null]);
    assert.match(tooBig.error, /body over 1048576 bytes/);
  });

  test("many concurrent deliveries are all verified and listed in arrival order", async () => {
    const old = newSecret();
    const fresh = newSecret();
    const name = await configure({ secrets: [old, fresh] });
    const count = 200;
    const results = await Promise.all(
      Array.from({ length: count }, (_, i) => {
        const body = payload(i);
        return deliver(name, body, signedHeaders([i % 2 ? old : fresh], body, { id: `msg_${i}` }));
      }),
    );
    assert.ok(results.every((r) => r.status === 200));
    const list = await deliveries(name);
    assert.equal(list.length, count);
    assert.ok(list.every((d) => d.verified && d.verified_with === (Number(d.headers["webhook-id"].slice(4)) % 2 ? 0 : 1)));
    assert.deepEqual(new Set(list.map((d) => d.headers["webhook-id"])).size, count);
    for (let i = 1; i < list.length; i++) assert.ok(list[i - 1].received_at <= list[i].received_at);
  });

  test("deliveries can be waited for, cleared, and endpoints read, changed and removed", async () => {
    const secret = newSecret();
    const name = await configure({ secrets: [secret] });
    const body = payload();
    const waiting = deliveries(name, "?count=2&timeout_ms=5000");
    await deliver(name, body, signedHeaders([secret], body));
    await deliver(name, body, signedHeaders([secret], body));
    assert.equal((await waiting).length, 2);
    // A wait that times out answers what there is.
    assert.equal((await deliveries(name, "?count=5&timeout_ms=100")).length, 2);

    const read = await control("GET", `/${name}`);
    assert.deepEqual(read.json, { name, config: { secrets: [secret], mode: "ok", reject_unverified: false }, deliveries: 2 });

    assert.deepEqual((await control("DELETE", `/${name}/deliveries`)).json, { cleared: 2 });
    assert.deepEqual(await deliveries(name), []);

    // A new configuration keeps what was received.
    await deliver(name, body, signedHeaders([secret], body));
    await control("PUT", `/${name}`, { secrets: [secret], mode: "fail" });
    assert.equal((await deliver(name, body, signedHeaders([secret], body))).status, 500);
    assert.deepEqual((await deliveries(name)).map((d) => d.mode), ["ok", "fail"]);

    const all = await control("GET", "");
    assert.ok(all.json.endpoints.some((e) => e.name === name && e.deliveries === 2));

    await control("DELETE", `/${name}`);
    assert.equal((await control("GET", `/${name}`)).status, 404);
    assert.equal((await deliver(name, body, signedHeaders([secret], body))).status, 404);
  });

  test("a configuration that is wrong is refused with 400 and says why", async () => {
    const cases = [
      [{ secrets: ["whsec_!!!"] }, /secrets\[0\]: /],
      [{ secrets: ["whsec_"] }, /secrets\[0\]: Secret can't be empty/],
      [{ secrets: "whsec_abcd" }, /secrets must be an array/],
      [{ secrets: [], mode: "sideways" }, /mode must be one of/],
      [{ secrets: [], mode: "redirect" }, /needs a location/],
      [{ secrets: [], mode: "fail", status: 200 }, /status must be an integer from 400 to 599/],
      [{ secrets: [], mode: "slow", delay_ms: -1 }, /delay_ms/],
      [{ secret: "whsec_abcd" }, /unknown field "secret"/],
      [[1, 2], /JSON object/],
    ];
    for (const [config, message] of cases) {
      const res = await control("PUT", "/wrong", config);
      assert.equal(res.status, 400, JSON.stringify(config));
      assert.match(res.json.error, message);
    }
    const res = await http(receiver.port, "PUT", "/__control/endpoints/wrong", { body: "{not json" });
    assert.equal(res.status, 400);
  });
});

describe("receiver process", () => {
  for (const signal of ["SIGTERM", "SIGINT"]) {
    test(`prints only LISTENING <port> on stdout and exits 0 on ${signal}, also with a slow answer pending`, async () => {
      const r = await startReceiver(["--port", "0", "--host", "127.0.0.1"]);
      await http(r.port, "PUT", "/__control/endpoints/slow", { body: JSON.stringify({ secrets: [], mode: "slow", delay_ms: 60_000 }) });
      const pending = http(r.port, "POST", "/hooks/slow", { body: "{}" }).catch(() => "gone");
      await new Promise((done) => setTimeout(done, 100));
      r.child.kill(signal);
      assert.deepEqual(await r.exited, { code: 0, signal: null });
      assert.equal(await pending, "gone");
      assert.equal(r.stdout(), `LISTENING ${r.port}\n`);
    });
  }

  test("refuses a host that is not loopback", async () => {
    const child = spawn(process.execPath, [RECEIVER, "--port", "0", "--host", "0.0.0.0"], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (c) => (stdout += c));
    const code = await new Promise((done) => child.on("exit", done));
    assert.equal(code, 2);
    assert.equal(stdout, "");
  });
});
