// The gateway as the shop's server calls it: a client generated from openapi.yaml
// (openapi-typescript types, openapi-fetch calls), authenticated with the API key.
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./api.js";

export type Order = components["schemas"]["Order"];
export type CreateOrderRequest = components["schemas"]["CreateOrderRequest"];
export type ApiError = components["schemas"]["Error"];

export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function gatewayClient(baseUrl: string, apiKey: string): Client<paths> {
  return createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${apiKey}` },
  });
}

function failure(status: number, error: ApiError | undefined): GatewayError {
  return new GatewayError(status, error?.error.code ?? "gateway_error", error?.error.message ?? `the gateway answered ${status}`);
}

/** Creates an order; `idempotencyKey` makes a repeated click (or a retry) create it once. */
export async function createOrder(client: Client<paths>, order: CreateOrderRequest, idempotencyKey?: string): Promise<Order> {
  const { data, error, response } = await client.POST("/v1/orders", {
    params: idempotencyKey === undefined ? {} : { header: { "Idempotency-Key": idempotencyKey } },
    body: order,
    signal: AbortSignal.timeout(15_000),
  });
  if (data === undefined) throw failure(response.status, error);
  return data;
}

export async function getOrder(client: Client<paths>, merchantUid: string): Promise<Order> {
  const { data, error, response } = await client.GET("/v1/orders/{merchant_uid}", {
    params: { path: { merchant_uid: merchantUid } },
    signal: AbortSignal.timeout(15_000),
  });
  if (data === undefined) throw failure(response.status, error);
  return data;
}
