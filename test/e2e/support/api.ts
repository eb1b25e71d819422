import { randomBytes } from "node:crypto";
import { target } from "./context";
import { done, notYet, type Poll, waitFor } from "./wait";

/** An endpoint as `POST /v1/webhooks` answers it (only the fields the tests use). */
export interface Webhook {
	id: string;
	url: string;
	events: string[];
	secret: string;
}

/** `POST /v1/events` → 202. */
export interface AcceptedEvent {
	id: string;
	type: string;
	created: number;
	created_at: string;
}

export type DeliveryStatus = "pending" | "success" | "failed";

/** A row of `GET /v1/webhooks/:id/deliveries`. */
export interface DeliverySummary {
	id: string;
	event_id: string;
	event_type: string;
	status: DeliveryStatus;
	status_code: number | null;
	attempts: number;
	delivered_at: string | null;
	next_attempt_at: string | null;
	error: string | null;
	created_at: string;
}

export interface Attempt {
	id: string;
	attempt: number;
	started_at: string;
	duration_ms: number | null;
	status_code: number | null;
	response_body: string | null;
	error: string | null;
}

/** `GET /v1/deliveries/:id`. */
export interface Delivery extends Omit<DeliverySummary, "attempts"> {
	attempts: Attempt[];
}

/** `GET /v1/events/:id`. */
export interface EventWithDeliveries extends AcceptedEvent {
	data: unknown;
	deliveries: Array<{ id: string; status?: string }>;
}

export interface ApiResponse {
	method: string;
	path: string;
	status: number;
	contentType: string;
	text: string;
	/** The body parsed as JSON, or `undefined` when it is not JSON. */
	json: unknown;
}

export interface RequestOptions {
	/** Serialized with `JSON.stringify` and sent as application/json. */
	json?: unknown;
	/** Sent as is; give `contentType` with it. */
	rawBody?: string;
	contentType?: string;
	headers?: Record<string, string>;
	/** Authorization header value; default `Bearer <admin key>`, `null` for none. */
	authorization?: string | null;
}

/** A secret the way Edgehook makes them, so standardwebhooks and svix accept it. */
export function newSecret(): string {
	return `whsec_${randomBytes(32).toString("base64")}`;
}

/** A short random suffix for names that must not clash between runs or tests. */
export function uniqueSuffix(): string {
	return randomBytes(6).toString("hex");
}

/** Calls the management API of the worker under test. */
export async function call(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
	const { baseUrl, adminKey } = target();
	const headers: Record<string, string> = { ...options.headers };
	const authorization = options.authorization === undefined ? `Bearer ${adminKey}` : options.authorization;
	if (authorization !== null) {
		headers.authorization = authorization;
	}
	let body: string | Blob | undefined;
	if (options.json !== undefined) {
		body = JSON.stringify(options.json);
		headers["content-type"] = options.contentType ?? "application/json";
	} else if (options.rawBody !== undefined) {
		// As an untyped Blob, because fetch would label a string body text/plain on its own.
		body = new Blob([options.rawBody]);
		if (options.contentType !== undefined) {
			headers["content-type"] = options.contentType;
		}
	}
	const response = await fetch(`${baseUrl}${path}`, {
		method,
		headers,
		body,
		signal: AbortSignal.timeout(15_000),
	});
	const text = await response.text();
	let json: unknown;
	try {
		json = JSON.parse(text);
	} catch {
		json = undefined;
	}
	return {
		method,
		path,
		status: response.status,
		contentType: response.headers.get("content-type") ?? "",
		text,
		json,
	};
}

/** One line that says what was asked and what came back, for failure messages. */
export function summarize(response: ApiResponse): string {
	const body = response.text.length > 600 ? `${response.text.slice(0, 600)}…` : response.text;
	return `${response.method} ${response.path} → ${response.status} ${body}`;
}

/** Throws (with the exchange in the message) unless the status is one of `expected`. */
export function expectStatus(response: ApiResponse, ...expected: number[]): ApiResponse {
	if (!expected.includes(response.status)) {
		throw new Error(`expected HTTP ${expected.join(" or ")}, got: ${summarize(response)}`);
	}
	return response;
}

/** The body as an object of the given shape, after checking it is a JSON object. */
export function bodyOf<T>(response: ApiResponse): T {
	if (typeof response.json !== "object" || response.json === null || Array.isArray(response.json)) {
		throw new Error(`expected a JSON object, got: ${summarize(response)}`);
	}
	return response.json as T;
}

export async function createWebhook(input: Record<string, unknown>): Promise<Webhook> {
	return bodyOf<Webhook>(expectStatus(await call("POST", "/v1/webhooks", { json: input }), 201));
}

export async function deleteWebhook(id: string): Promise<ApiResponse> {
	return call("DELETE", `/v1/webhooks/${encodeURIComponent(id)}`);
}

export async function sendEvent(input: unknown, headers: Record<string, string> = {}): Promise<AcceptedEvent> {
	return bodyOf<AcceptedEvent>(expectStatus(await call("POST", "/v1/events", { json: input, headers }), 202));
}

export async function getEvent(id: string): Promise<EventWithDeliveries> {
	return bodyOf<EventWithDeliveries>(expectStatus(await call("GET", `/v1/events/${encodeURIComponent(id)}`), 200));
}

export async function getDelivery(id: string): Promise<Delivery> {
	return bodyOf<Delivery>(expectStatus(await call("GET", `/v1/deliveries/${encodeURIComponent(id)}`), 200));
}

export async function listDeliveries(webhookId: string, status?: DeliveryStatus): Promise<DeliverySummary[]> {
	const query = status === undefined ? "" : `?status=${status}`;
	const response = expectStatus(
		await call("GET", `/v1/webhooks/${encodeURIComponent(webhookId)}/deliveries${query}`),
		200,
	);
	const { deliveries } = bodyOf<{ deliveries: unknown }>(response);
	if (!Array.isArray(deliveries)) {
		throw new Error(`expected a deliveries array, got: ${summarize(response)}`);
	}
	return deliveries as DeliverySummary[];
}

/**
 * Every id in a cursor-paginated list (`GET /v1/events`, `GET /v1/webhooks`),
 * following `next_cursor` to the end.
 */
export async function listAllIds(path: string, key: string): Promise<string[]> {
	const ids: string[] = [];
	let cursor: string | null = null;
	for (let page = 0; page < 1000; page++) {
		const query: string = cursor === null ? "?limit=100" : `?limit=100&cursor=${encodeURIComponent(cursor)}`;
		const response = expectStatus(await call("GET", `${path}${query}`), 200);
		const body = bodyOf<Record<string, unknown>>(response);
		const items = body[key];
		if (!Array.isArray(items)) {
			throw new Error(`expected a "${key}" array, got: ${summarize(response)}`);
		}
		for (const item of items as Array<{ id?: unknown }>) {
			if (typeof item.id === "string") {
				ids.push(item.id);
			}
		}
		const next = body.next_cursor;
		if (typeof next !== "string" || next === "" || items.length === 0) {
			return ids;
		}
		cursor = next;
	}
	throw new Error(`${path} did not stop paginating after 1000 pages`);
}

/**
 * Waits until the endpoint has one delivery for `eventId` that satisfies
 * `accept`. `list` reads the endpoint's log; by default with the admin key.
 */
export async function waitForDelivery(
	webhookId: string,
	eventId: string,
	accept: (delivery: DeliverySummary) => boolean,
	description: string,
	timeoutMs = 20_000,
	list: (webhookId: string) => Promise<DeliverySummary[]> = listDeliveries,
): Promise<DeliverySummary> {
	return waitFor(
		`delivery of ${eventId} to ${webhookId} to be ${description}`,
		async (): Promise<Poll<DeliverySummary>> => {
			const deliveries = (await list(webhookId)).filter((d) => d.event_id === eventId);
			const match = deliveries.find(accept);
			return match === undefined ? notYet(deliveries) : done(match);
		},
		{ timeoutMs, intervalMs: 250 },
	);
}

/** Waits until `GET /v1/deliveries/:id` satisfies `accept`. */
export async function waitForDeliveryDetail(
	deliveryId: string,
	accept: (delivery: Delivery) => boolean,
	description: string,
	timeoutMs = 20_000,
): Promise<Delivery> {
	return waitFor(
		`delivery ${deliveryId} to be ${description}`,
		async (): Promise<Poll<Delivery>> => {
			const delivery = await getDelivery(deliveryId);
			return accept(delivery) ? done(delivery) : notYet(delivery);
		},
		{ timeoutMs, intervalMs: 250 },
	);
}

/** Attempts in attempt order. */
export function sortedAttempts(delivery: Delivery): Attempt[] {
	return [...delivery.attempts].sort((a, b) => a.attempt - b.attempt);
}

/**
 * Webhooks made by a test, deleted afterwards so that their retries stop and
 * they receive nothing meant for later tests. Deletion is best effort: a
 * broken DELETE must not hide the result of the test itself.
 */
export class WebhookTracker {
	private readonly ids: string[] = [];

	async create(input: Record<string, unknown>): Promise<Webhook> {
		const webhook = await createWebhook(input);
		this.ids.push(webhook.id);
		return webhook;
	}

	async deleteAll(): Promise<void> {
		const ids = this.ids.splice(0);
		await Promise.all(ids.map((id) => deleteWebhook(id).catch(() => undefined)));
	}
}
