// Scenario plumbing for the browser tests: a browser context per test, screenshots of each step
// (kept, with the page's console and the processes' logs, only when the test fails), and the
// simulator's payment window (an iframe in the page) driven like a buyer would.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { SOURCE_DIR } from "./stack.mjs";

export const ARTIFACTS = process.env.MG_BROWSER_ARTIFACTS ?? join(SOURCE_DIR, "build", "browser-artifacts");

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60);
}

/** A test with its own browser context and page. `body(s)` gets {stack, page, step, shop, ...}. */
export function scenario(getStack, name, body, { timeout = 90_000 } = {}) {
  test(name, { timeout }, async () => {
    const stack = getStack();
    const dir = join(ARTIFACTS, slug(name));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const context = await stack.browser.createBrowserContext();
    const pages = [];
    const consoleLines = [];
    const requests = [];
    const steps = [];
    const watch = (page, label) => {
      pages.push(page);
      page.setDefaultTimeout(15_000);
      page.on("console", (m) => consoleLines.push(`[${label}] ${m.type()}: ${m.text()}`));
      page.on("pageerror", (e) => consoleLines.push(`[${label}] pageerror: ${e.message}`));
      page.on("request", (r) => requests.push({ url: r.url(), method: r.method(), headers: r.headers(), page: label }));
      page.on("requestfailed", (r) => consoleLines.push(`[${label}] request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
    };
    const page = await context.newPage();
    watch(page, "shop");
    await page.setViewport({ width: 1000, height: 900 });
    let n = 0;
    // A page in a background tab paints nothing, so each is brought to the front for its
    // screenshot (the shop's page last); a screenshot that still hangs is given up after 5 s.
    const shots = async (label) => {
      n += 1;
      const open = pages.filter((p) => !p.isClosed());
      for (const [i, p] of [...open.entries()].reverse()) {
        const suffix = open.length > 1 ? `-page${i + 1}` : "";
        const path = join(dir, `${String(n).padStart(2, "0")}-${slug(label)}${suffix}.png`);
        let timer;
        await Promise.race([
          (async () => {
            if (open.length > 1) await p.bringToFront();
            await p.screenshot({ path, fullPage: true });
          })(),
          new Promise((r) => (timer = setTimeout(r, 5000))),
        ]).catch(() => {});
        clearTimeout(timer);
      }
    };
    const s = {
      stack,
      page,
      context,
      requests,
      /** A named step: run it, then screenshot every page. */
      async step(label, fn) {
        const started = Date.now();
        try {
          return await fn();
        } finally {
          const took = Date.now() - started;
          await shots(label);
          steps.push(`${label}: ${took} ms (screenshots ${Date.now() - started - took} ms)`);
          if (process.env.MG_BROWSER_VERBOSE) console.error(`  ${name} / ${steps.at(-1)}`);
        }
      },
      async newPage(label) {
        const p = await context.newPage();
        watch(p, label);
        await p.setViewport({ width: 1000, height: 900 });
        return p;
      },
    };
    try {
      await body(s);
      rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      await shots("failure");
      writeFileSync(join(dir, "console.log"), consoleLines.join("\n") + "\n");
      writeFileSync(join(dir, "steps.log"), steps.join("\n") + "\n");
      writeFileSync(join(dir, "requests.log"), requests.map((r) => `[${r.page}] ${r.method} ${r.url}`).join("\n") + "\n");
      for (const name of ["gateway", "simulator", "storefront"]) writeFileSync(join(dir, `${name}.log`), stack.tail(name, 20_000));
      const html = await page.content().catch(() => "");
      writeFileSync(join(dir, "page.html"), html);
      console.error(`browser test failed: screenshots and logs in ${dir}`);
      throw e;
    } finally {
      await context.close().catch(() => {});
    }
  });
}

// ---- the shop's page ----

export async function openShop(s, { product = "beans" } = {}) {
  await s.page.goto(s.stack.storefrontUrl, { waitUntil: "load" });
  await s.page.waitForSelector("body[data-ready='true']");
  await s.page.select("#product", product);
}

/** The order the page holds: its merchant_uid, as shown. */
export async function shownOrderUid(page) {
  await page.waitForSelector("#order:not([hidden]) #order-uid");
  return until_text(page, "#order-uid");
}

async function until_text(page, selector) {
  const handle = await page.waitForFunction((sel) => document.querySelector(sel)?.textContent?.trim() || null, {}, selector);
  return handle.jsonValue();
}

export async function shownStatus(page) {
  return page.$eval("#status", (e) => e.dataset.status ?? null).catch(() => null);
}

/** Waits until the page shows the order in `status` and has settled (no payment under way). */
export async function waitShownStatus(page, status, timeout = 15_000) {
  await page.waitForSelector(`body[data-busy='false'] #status[data-status='${status}']`, { timeout });
}

export async function message(page) {
  return page.$eval("#message", (e) => ({ text: e.textContent ?? "", kind: e.dataset.kind ?? "" }));
}

// ---- the simulator's payment window ----

export async function paymentWindow(page) {
  const frameElement = await page.waitForSelector("iframe#imp-sim-frame");
  const frame = await frameElement.contentFrame();
  if (!frame) throw new Error("the payment window has no frame");
  await frame.waitForSelector("#checkout:not([data-state='loading'])");
  return frame;
}

/** Clicks one of the window's buttons once it is enabled. */
export async function windowClick(page, id) {
  const frame = await paymentWindow(page);
  const button = await frame.waitForSelector(`#${id}:not([disabled])`, { visible: true });
  await button.click();
  return frame;
}

export async function windowState(frame, states) {
  const handle = await frame.waitForFunction(
    (wanted) => {
      const state = document.getElementById("checkout")?.dataset.state;
      return wanted.includes(state) ? state : null;
    },
    {},
    states,
  );
  return handle.jsonValue();
}

export async function windowGone(page) {
  await page.waitForFunction(() => !document.getElementById("imp-sim-overlay"));
}
