// The processes a browser test drives, each on a free loopback port: a PostgreSQL database, the
// iamport simulator, the gateway binary, the demo storefront (deploy/local/storefront, built) and
// headless Chromium (Debian's, through puppeteer-core). A reaper outlives this process and kills
// them all if it dies without cleaning up (a test runner's timeout).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

export const SOURCE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SIMULATOR = join(SOURCE_DIR, "tests", "iamport-sim", "iamport_sim.py");
const PG_CLUSTER = join(SOURCE_DIR, "tests", "support", "pg-cluster");
const STOREFRONT = join(SOURCE_DIR, "deploy", "local", "storefront");
const PG_BIN = process.env.MG_PG_BIN ?? "/usr/lib/postgresql/15/bin";
export const CHROMIUM = process.env.MG_CHROMIUM ?? "/usr/bin/chromium";
const IMP_KEY = "sandbox_imp_key";
const IMP_SECRET = "sandbox_imp_secret";

export function gatewayBinary() {
  const binary = process.env.MG_GATEWAY_BINARY ?? join(SOURCE_DIR, "build", "test", "service", "merchant-gateway");
  if (!existsSync(binary)) throw new Error(`the gateway binary is missing: ${binary} (set MG_GATEWAY_BINARY)`);
  return binary;
}

export function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until `probe` returns something truthy (and returns it), or throws after `ms`. */
export async function until(what, probe, ms = 15_000, every = 200) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(every);
  }
}

function run(command, args, options = {}) {
  const done = spawnSync(command, args, { encoding: "utf8", timeout: 60_000, ...options });
  if (done.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${done.status ?? done.signal}): ${done.stdout}${done.stderr}`);
  }
  return done.stdout;
}

/** A child in its own process group, its output to `log`; resolves once `ready(text)` holds. */
function startProcess(name, command, args, { env, log, ready, timeout = 30_000 }) {
  const out = createWriteStream(log, { flags: "a" });
  const child = spawn(command, args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      kill(child);
      fail(new Error(`${name} did not start within ${timeout} ms:\n${text.slice(-2000)}`));
    }, timeout);
    const onData = (chunk) => {
      out.write(chunk);
      if (text.length < 100_000) text += chunk.toString();
      const value = ready(text);
      if (value) {
        clearTimeout(timer);
        done({ child, value });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk) => out.write(chunk));
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      out.end();
      fail(new Error(`${name} exited at start (${code ?? signal}):\n${text.slice(-2000)}`));
    });
  });
}

function kill(child, signal = "SIGKILL") {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* gone */
  }
}

async function stop(child, ms = 10_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  kill(child, "SIGTERM");
  const timer = setTimeout(() => kill(child), ms);
  await exited;
  clearTimeout(timer);
}

async function waitHealthy(url, ms) {
  await until(`${url}/healthz`, async () => (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok, ms, 100);
}

export class Stack {
  constructor() {
    this.workDir = mkdtempSync(join(tmpdir(), "mg-browser-"));
    chmodSync(this.workDir, 0o711); // a cluster of ours runs as postgres and must reach its folder
    this.children = [];
    this.database = null;
    this.cluster = null;
    this.reaper = null;
  }

  log(name) {
    return join(this.workDir, `${name}.log`);
  }

  async start() {
    try {
      await this.#start();
    } catch (e) {
      await this.close();
      throw e;
    }
    return this;
  }

  async #start() {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (tests/run does) or set MG_CHROMIUM`);
    this.#startReaper();
    const binary = gatewayBinary();
    const databaseUrl = await this.#database();

    const sim = await startProcess("the iamport simulator", "python3", [SIMULATOR, "--host", "127.0.0.1", "--port", "0", "--imp-key", IMP_KEY, "--imp-secret", IMP_SECRET], {
      env: { ...process.env, PYTHONUNBUFFERED: "1" },
      log: this.log("simulator"),
      ready: (text) => /^LISTENING (\d+)/m.exec(text)?.[1],
    });
    this.sim = sim.child;
    this.children.push(sim.child);
    this.simUrl = `http://127.0.0.1:${sim.value}`;

    const gatewayPort = await freePort();
    const storefrontPort = await freePort();
    this.gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    this.storefrontUrl = `http://127.0.0.1:${storefrontPort}`;
    this.gatewayEnv = {
      ...process.env,
      ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? "detect_leaks=0",
      DATABASE_URL: databaseUrl,
      LISTEN: `127.0.0.1:${gatewayPort}`,
      PUBLIC_BASE_URL: this.gatewayUrl,
      IAMPORT_BASE_URL: this.simUrl,
      IAMPORT_IMP_KEY: IMP_KEY,
      IAMPORT_IMP_SECRET: IMP_SECRET,
      IAMPORT_PG: "html5_inicis",
      GATEWAY_SECRET_KEY: randomBytes(32).toString("base64"),
      CORS_ALLOWED_ORIGINS: this.storefrontUrl,
      RECONCILE_INTERVAL: "1",
      LOG_FORMAT: "text",
      LOG_LEVEL: "info",
    };
    run(binary, ["migrate"], { env: this.gatewayEnv });
    const created = run(binary, ["api-key", "create", "--name", "storefront", "--scope", "read", "--scope", "write"], { env: this.gatewayEnv });
    this.apiKey = created.trim().split("\n").at(-1);
    const gateway = spawn(binary, ["serve"], { env: this.gatewayEnv, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const gatewayLog = createWriteStream(this.log("gateway"));
    gateway.stdout.pipe(gatewayLog);
    gateway.stderr.pipe(gatewayLog);
    this.gateway = gateway;
    this.children.push(gateway);
    this.#watch();
    await waitHealthy(this.gatewayUrl, 30_000);

    const server = join(STOREFRONT, "dist", "server.js");
    if (!existsSync(server)) throw new Error(`the storefront is not built: ${server} (npm run build in ${STOREFRONT})`);
    const storefront = await startProcess("the storefront", process.execPath, [server], {
      env: {
        ...process.env,
        STOREFRONT_LISTEN: `127.0.0.1:${storefrontPort}`,
        GATEWAY_URL: this.gatewayUrl,
        GATEWAY_API_KEY: this.apiKey,
        IAMPORT_SIM_URL: this.simUrl,
      },
      log: this.log("storefront"),
      ready: (text) => /^LISTENING (\d+)/m.test(text),
    });
    this.storefront = storefront.child;
    this.children.push(storefront.child);
    this.#watch();

    this.browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir: join(this.workDir, "chromium-profile"),
      timeout: 30_000,
      protocolTimeout: 30_000,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        // Nothing but loopback: any other host name resolves to nothing.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
      ],
    });
    const browserProcess = this.browser.process();
    if (browserProcess) {
      this.children.push(browserProcess);
      this.#watch();
    }
  }

  async #database() {
    const name = `browser_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
    const base = process.env.MG_TEST_PG_URL;
    if (base) {
      // The throwaway cluster of tests/support/with-postgres: a database of our own in it.
      this.adminUrl = base;
      run(join(PG_BIN, "psql"), ["-X", "-q", "-v", "ON_ERROR_STOP=1", base, "-c", `CREATE DATABASE ${name}`]);
      this.database = name;
      const url = new URL(base);
      url.pathname = `/${name}`;
      return url.toString();
    }
    // Run on its own: a private cluster.
    const port = await freePort();
    this.cluster = join(this.workDir, "pg");
    run(PG_CLUSTER, ["init", this.cluster]);
    run(PG_CLUSTER, ["start", this.cluster, String(port)]);
    run(join(PG_BIN, "psql"), ["-X", "-q", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-c", "CREATE DATABASE merchant_gateway"]);
    this.#watch();
    return `postgresql://postgres@127.0.0.1:${port}/merchant_gateway`;
  }

  #startReaper() {
    this.pidFile = join(this.workDir, "pids");
    writeFileSync(this.pidFile, "");
    const script =
      'while kill -0 "$1" 2>/dev/null; do sleep 1; done; ' +
      'for g in $(cat "$2" 2>/dev/null); do kill -KILL -- "-$g" 2>/dev/null; done; ' +
      'c=$(cat "$2.cluster" 2>/dev/null); [ -n "$c" ] && "$3" destroy "$c" >/dev/null 2>&1; ' +
      'rm -rf "$4"; exit 0';
    this.reaper = spawn("bash", ["-c", script, "reaper", String(process.pid), this.pidFile, PG_CLUSTER, this.workDir], { detached: true, stdio: "ignore" });
    this.reaper.unref();
  }

  #watch() {
    const pids = this.children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => c.pid);
    writeFileSync(this.pidFile, pids.join("\n") + "\n");
    if (this.cluster) writeFileSync(`${this.pidFile}.cluster`, this.cluster);
  }

  /** The gateway with the API key, as the shop's server calls it. */
  async api(method, path, body) {
    const response = await fetch(`${this.gatewayUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.apiKey}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  async order(merchantUid) {
    const { status, body } = await this.api("GET", `/v1/orders/${encodeURIComponent(merchantUid)}`);
    if (status !== 200) throw new Error(`GET order ${merchantUid}: ${status} ${JSON.stringify(body)}`);
    return body;
  }

  /** A control call of the simulator. */
  async simControl(method, path, body) {
    const response = await fetch(`${this.simUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`simulator ${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  tail(name, bytes = 4000) {
    try {
      const text = readFileSync(this.log(name), "utf8");
      return text.slice(-bytes);
    } catch {
      return "";
    }
  }

  async close() {
    try {
      await this.browser?.close();
    } catch {
      /* the reaper or the kill below ends it */
    }
    for (const child of [...this.children].reverse()) await stop(child);
    if (this.database && this.adminUrl) {
      spawnSync(join(PG_BIN, "psql"), ["-X", "-q", this.adminUrl, "-c", `DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`], { timeout: 30_000 });
    }
    if (this.cluster) spawnSync(PG_CLUSTER, ["destroy", this.cluster], { timeout: 60_000 });
    try {
      this.reaper?.kill("SIGKILL");
    } catch {
      /* gone */
    }
    rmSync(this.workDir, { recursive: true, force: true });
  }
}
