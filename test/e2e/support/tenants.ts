/**
 * Tenants for the end-to-end suite: made and deleted with the admin key, then
 * used through a tenant API key (`ehk_…`), the way an operator's customer
 * would call Edgehook. Every call of a `TenantClient` carries that key and
 * never the admin key, so what it sees is the tenant's own data.
 */

import {
	type AcceptedEvent,
	type ApiResponse,
	bodyOf,
	call,
	type Delivery,
	type DeliverySummary,
	expectStatus,
	type RequestOptions,
	summarize,
	type Webhook,
	waitForDelivery,
} from "./api";

/** `settings` of a tenant, as `POST /v1/tenants` takes it and answers it. */
export interface TenantSettings {
	signature_header?: string;
	signature_prefix?: "sha256=" | "";
	user_agent?: string;
	retry_schedule?: number[];
	timeout_ms?: number;
}

/** `POST /v1/tenants` → 201, `GET /v1/tenants/:id` → 200. */
export interface Tenant {
	id: string;
	name: string;
	settings: TenantSettings;
	created_at: string;
	updated_at: string;
}

/** `POST /v1/tenants/:id/api-keys` → 201: the key in full, this once. */
export interface CreatedApiKey {
	id: string;
	name: string;
	prefix: string;
	created_at: string;
	last_used_at: string | null;
	key: string;
}

/** Creates a tenant with the admin key. */
export async function createTenant(name: string, settings?: TenantSettings): Promise<Tenant> {
	const json = settings === undefined ? { name } : { name, settings };
	return bodyOf<Tenant>(expectStatus(await call("POST", "/v1/tenants", { json }), 201));
}

/** `GET /v1/tenants/:id` with the admin key. */
export async function getTenant(id: string): Promise<Tenant> {
	return bodyOf<Tenant>(expectStatus(await call("GET", `/v1/tenants/${encodeURIComponent(id)}`), 200));
}

/** Creates an API key for the tenant with the admin key. */
export async function createTenantApiKey(tenantId: string, name = "e2e"): Promise<CreatedApiKey> {
	const response = await call("POST", `/v1/tenants/${encodeURIComponent(tenantId)}/api-keys`, { json: { name } });
	return bodyOf<CreatedApiKey>(expectStatus(response, 201));
}

/** `DELETE /v1/tenants/:id` with the admin key (202 when it was there). */
export async function deleteTenant(id: string): Promise<ApiResponse> {
	return call("DELETE", `/v1/tenants/${encodeURIComponent(id)}`);
}

/** The API as one tenant's key sees it. */
export class TenantClient {
	constructor(private readonly apiKey: string) {}

	/** `call()` with `Authorization: Bearer <tenant key>`; an `authorization` in `options` is ignored. */
	async call(method: string, path: string, options: Omit<RequestOptions, "authorization"> = {}): Promise<ApiResponse> {
		return call(method, path, { ...options, authorization: `Bearer ${this.apiKey}` });
	}

	async createWebhook(input: Record<string, unknown>): Promise<Webhook> {
		return bodyOf<Webhook>(expectStatus(await this.call("POST", "/v1/webhooks", { json: input }), 201));
	}

	/** Sends an event whose body is `rawBody` exactly, as application/json. */
	async sendRawEvent(rawBody: string): Promise<AcceptedEvent> {
		const response = await this.call("POST", "/v1/events", { rawBody, contentType: "application/json" });
		return bodyOf<AcceptedEvent>(expectStatus(response, 202));
	}

	async getDelivery(id: string): Promise<Delivery> {
		return bodyOf<Delivery>(expectStatus(await this.call("GET", `/v1/deliveries/${encodeURIComponent(id)}`), 200));
	}

	async listDeliveries(webhookId: string): Promise<DeliverySummary[]> {
		const response = expectStatus(
			await this.call("GET", `/v1/webhooks/${encodeURIComponent(webhookId)}/deliveries`),
			200,
		);
		const { deliveries } = bodyOf<{ deliveries: unknown }>(response);
		if (!Array.isArray(deliveries)) {
			throw new Error(`expected a deliveries array, got: ${summarize(response)}`);
		}
		return deliveries as DeliverySummary[];
	}

	/** Waits until the endpoint has a delivery of `eventId` that is no longer pending. */
	async waitForSettled(webhookId: string, eventId: string, timeoutMs = 20_000): Promise<DeliverySummary> {
		return this.waitForDelivery(webhookId, eventId, (d) => d.status !== "pending", "success or failed", timeoutMs);
	}

	/** Waits until the endpoint has a delivery of `eventId` that satisfies `accept`. */
	async waitForDelivery(
		webhookId: string,
		eventId: string,
		accept: (delivery: DeliverySummary) => boolean,
		description: string,
		timeoutMs = 20_000,
	): Promise<DeliverySummary> {
		return waitForDelivery(webhookId, eventId, accept, description, timeoutMs, (id) => this.listDeliveries(id));
	}
}
