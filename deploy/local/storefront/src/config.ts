// The storefront's configuration, from the environment. The API key is read here and used only
// by the server (src/gateway.ts); nothing of it reaches the page.
import { readFileSync } from "node:fs";

export interface Config {
  /** host and port to serve the shop on */
  listenHost: string;
  listenPort: number;
  /** the gateway as this server reaches it */
  gatewayUrl: string;
  /** the gateway as the buyer's browser reaches it (its origin must be in CORS_ALLOWED_ORIGINS) */
  gatewayPublicUrl: string;
  apiKey: string;
  /** iamport's browser SDK (the simulator serves a stand-in at /js/iamport.payment.js) */
  sdkUrl: string;
  /** the merchant code for IMP.init */
  merchantCode: string;
  /** the simulator's control page, linked from the page in sandbox mode (a deposit by hand) */
  simConsoleUrl: string | null;
}

function secret(name: string): string | undefined {
  const value = process.env[name];
  if (value) return value;
  const file = process.env[`${name}_FILE`];
  if (file) return readFileSync(file, "utf8").trim();
  return undefined;
}

function url(name: string, value: string): string {
  try {
    const parsed = new URL(value);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("scheme");
    return value.replace(/\/+$/, "");
  } catch {
    throw new Error(`${name}: not an http(s) URL: ${value}`);
  }
}

export function loadConfig(): Config {
  const listen = process.env.STOREFRONT_LISTEN ?? "127.0.0.1:3000";
  const colon = listen.lastIndexOf(":");
  const listenPort = Number(listen.slice(colon + 1));
  if (colon < 1 || !Number.isInteger(listenPort) || listenPort < 0 || listenPort > 65535) {
    throw new Error(`STOREFRONT_LISTEN: expected host:port, got ${listen}`);
  }
  const apiKey = secret("GATEWAY_API_KEY");
  if (!apiKey) throw new Error("GATEWAY_API_KEY: required (an API key with scopes read and write)");
  const gatewayUrl = url("GATEWAY_URL", process.env.GATEWAY_URL ?? "http://127.0.0.1:8080");
  const simUrl = process.env.IAMPORT_SIM_URL ? url("IAMPORT_SIM_URL", process.env.IAMPORT_SIM_URL) : null;
  const sdkUrl = process.env.IAMPORT_SDK_URL
    ? url("IAMPORT_SDK_URL", process.env.IAMPORT_SDK_URL)
    : simUrl
      ? `${simUrl}/js/iamport.payment.js`
      : "https://cdn.iamport.kr/v1/iamport.js";
  return {
    listenHost: listen.slice(0, colon),
    listenPort,
    gatewayUrl,
    gatewayPublicUrl: process.env.GATEWAY_PUBLIC_URL
      ? url("GATEWAY_PUBLIC_URL", process.env.GATEWAY_PUBLIC_URL)
      : gatewayUrl,
    apiKey,
    sdkUrl,
    merchantCode: process.env.IAMPORT_MERCHANT_CODE ?? "imp00000000",
    simConsoleUrl: simUrl ? `${simUrl}/__sim/console` : null,
  };
}
