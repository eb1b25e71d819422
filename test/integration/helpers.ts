import {
	createExecutionContext,
	createMessageBatch,
	evictDurableObject,
	getQueueResult,
	runDurableObjectAlarm,
	runInDurableObject,
} from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { inject } from "vitest";
import { openDatabase } from "../../src/db/client";
import { CLEANED_MARK_CURSORS } from "../../src/db/event-reuse";
import { type EventRow, events } from "../../src/db/schema";
import type { AttemptRecord } from "../../src/delivery/attempt-record";
import worker from "../../src/index";
import { deliveryId } from "../../src/lib/ids";
import type { Outcome, PlannedAttempt } from "../../src/queue/attempt";
import type { DeliveryJob } from "../../src/queue/messages";
import type { CircuitState } from "../../src/scheduler/circuit";
import type { EndpointScheduler } from "../../src/scheduler/endpoint-scheduler";

export const ADMIN_KEY = "test-admin-key";
export const PRODUCTION_ADMIN_KEY = "test-production-admin-key-of-40-characters";

/** An address from a documentation range (RFC 3849), different on every call. */
export function randomAddress(): string {
	const groups = Array.from(crypto.getRandomValues(new Uint16Array(4)), (group) => group.toString(16));
	return `2001:db8::${groups.join(":")}`;
}

/** Calls the worker's own fetch handler, as a client on the network would. */
export async function api(
	method: string,
	path: string,
	options: { body?: unknown; rawBody?: string; headers?: Record<string, string>; auth?: string | null } = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
	// Each call comes from an address of its own unless the test names one, so the throttle on failed
	// authentication (per address) counts only what a test means it to.
	const headers: Record<string, string> = { "cf-connecting-ip": randomAddress(), ...options.headers };
	if (options.auth !== null) headers.authorization = `Bearer ${options.auth ?? ADMIN_KEY}`;
	let body: string | undefined = options.rawBody;
	if (options.body !== undefined) {
		body = JSON.stringify(options.body);
		headers["content-type"] ??= "application/json";
	}
	const response = await exports.default.fetch(`http://edgehook.test${path}`, { method, headers, body });
	const text = await response.text();
	let parsed: unknown = text;
	try {
		parsed = JSON.parse(text);
	} catch {
		// Not JSON (e.g. /docs): keep the text.
	}
	return { status: response.status, body: parsed, headers: response.headers };
}

/** The worker's own fetch handler with the admin key and some settings of the deployment changed. */
export async function callWithSettings(
	settings: Partial<Env>,
	method: string,
	path: string,
	body: unknown,
	headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
	// Production refuses to serve with a short admin key, so production settings come with a long one.
	const adminKey = settings.ADMIN_API_KEY ?? (settings.ENVIRONMENT === "production" ? PRODUCTION_ADMIN_KEY : ADMIN_KEY);
	const response = await worker.fetch(
		new Request(`http://edgehook.test${path}`, {
			method,
			headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json", ...headers },
			body: JSON.stringify(body),
		}),
		{ ...env, ADMIN_API_KEY: adminKey, ...settings },
		createExecutionContext(),
	);
	return { status: response.status, body: await response.json() };
}

/** The three databases of the test deployment by binding name (vitest.config.ts). */
export const SHARDS: Readonly<Record<string, D1Database>> = { DB: env.DB, SHARD_2: env.SHARD_2, SHARD_3: env.SHARD_3 };

/** The database a tenant's data is on, by its placement in the control database. */
export async function shardOf(tenantId: string): Promise<D1Database> {
	const row = await env.DB.prepare("SELECT shard FROM tenants WHERE id = ?").bind(tenantId).first<{ shard: string }>();
	const shard = SHARDS[row?.shard ?? ""];
	if (!shard) throw new Error(`tenant ${tenantId} has no placement on a test shard`);
	return shard;
}

/** Runs one statement on every database of the test deployment, as a change made behind the API's back. */
export async function onEveryShard(sql: string, ...bindings: unknown[]): Promise<void> {
	for (const shard of Object.values(SHARDS))
		await shard
			.prepare(sql)
			.bind(...bindings)
			.run();
}

/** A count summed over every database: rows a test expects gone must be gone from all of them. */
export async function countOnEveryShard(sql: string, ...bindings: unknown[]): Promise<number> {
	let total = 0;
	for (const shard of Object.values(SHARDS)) {
		total +=
			(
				await shard
					.prepare(sql)
					.bind(...bindings)
					.first<{ n: number }>()
			)?.n ?? 0;
	}
	return total;
}

/**
 * The sequence number an event is stored under, which the API never shows
 * (it counts every tenant's events) but stored delivery ids are made of.
 */
export async function storedSeq(eventId: string): Promise<number> {
	for (const shard of Object.values(SHARDS)) {
		const row = await shard.prepare("SELECT seq FROM events WHERE id = ?").bind(eventId).first<{ seq: number }>();
		if (row) return row.seq;
	}
	throw new Error(`event ${eventId} is not stored`);
}

/**
 * Signs in to the dashboard with a key, as its form does, and answers the
 * session cookie with the CSRF token the session's forms carry.
 */
export async function dashboardSignIn(apiKey: string): Promise<{ cookie: string; csrf: string }> {
	const origin = "http://edgehook.test";
	const response = await exports.default.fetch(`${origin}/dashboard/sign-in`, {
		method: "POST",
		headers: { origin, "content-type": "application/x-www-form-urlencoded" },
		body: new URLSearchParams({ api_key: apiKey }).toString(),
		redirect: "manual",
	});
	if (response.status !== 303) throw new Error(`sign-in answered ${response.status}`);
	const cookie = /edgehook_session=([^;]+)/.exec(response.headers.get("set-cookie") ?? "")?.[1];
	if (!cookie) throw new Error("no session cookie");
	const payload = cookie.split(".")[0] ?? "";
	const { csrf } = JSON.parse(atob(payload.replaceAll("-", "+").replaceAll("_", "/"))) as { csrf: string };
	return { cookie, csrf };
}

/** Narrows an API body to a record for property access in assertions. */
export function record(value: unknown): Record<string, unknown> {
	if (typeof value !== "object" || value === null || Array.isArray(value))
		throw new Error(`not an object: ${JSON.stringify(value)}`);
	return value as Record<string, unknown>;
}

/** A path on the loopback receiver (see test/receiver-setup.ts) unique to one test. */
export function receiverPath(mode: string, name: string): string {
	return `${inject("receiverUrl")}/hook/${mode}/${name}`;
}

export interface ReceivedRequest {
	headers: Record<string, string>;
	body: string;
	receivedAt: number;
	/** How many of its name's requests the receiver had open as it arrived, itself included. */
	inFlight: number;
}

export async function receivedBy(name: string): Promise<ReceivedRequest[]> {
	const response = await fetch(`${inject("receiverUrl")}/requests/${name}`);
	return (await response.json()) as ReceivedRequest[];
}

/** Polls until `check` returns a value that is not undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await check();
		if (value !== undefined) return value;
		if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
		await new Promise((resolve) => setTimeout(resolve, 25));
	}
}

export function uniqueName(label: string): string {
	return `${label}-${crypto.randomUUID().slice(0, 8)}`;
}

export async function createWebhook(body: Record<string, unknown>): Promise<Record<string, unknown>> {
	const created = await api("POST", "/v1/webhooks", { body });
	if (created.status !== 201) throw new Error(`webhook not created: ${created.status} ${JSON.stringify(created.body)}`);
	return record(created.body);
}

/** Stores an event without going through ingest, so nothing is queued for it: only a batch a test runs delivers it. */
export async function storeEventDirectly(
	tenantId: string,
	type: string,
	endpointIds: readonly unknown[],
): Promise<{ seq: number; id: string }> {
	const id = `evt_${uniqueName("direct")}`;
	const row = await (await shardOf(tenantId))
		.prepare(
			"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at) VALUES (?, ?, ?, '{}', ?, ?) RETURNING seq",
		)
		.bind(tenantId, id, type, JSON.stringify(endpointIds.map(String)), Date.now())
		.first<{ seq: number }>();
	if (!row) throw new Error("event not stored");
	return { seq: row.seq, id };
}

/** A main-queue batch of first attempts of `events` to one endpoint, one message per event, as ingest sends them one at a time. */
export function firstAttemptBatch(
	tenantId: string,
	events: readonly { seq: number }[],
	endpointId: string,
): MessageBatch<DeliveryJob> {
	return createMessageBatch<DeliveryJob>(
		"edgehook-deliveries",
		events.map((event, index) => ({
			id: `m${index}`,
			timestamp: new Date(),
			attempts: 1,
			body: { tenantId, eventSeq: event.seq, targets: [{ endpointId, attempt: 1 }], trigger: "initial" },
		})),
	);
}

/** Runs the worker's queue handler on one first-attempt job, as the queue would, and says what it acked. */
export async function runFirstAttempt(
	tenantId: string,
	event: { seq: number },
	endpointId: unknown,
	workerEnv: Env = env,
): Promise<string[]> {
	const job: DeliveryJob = {
		tenantId,
		eventSeq: event.seq,
		targets: [{ endpointId: String(endpointId), attempt: 1 }],
		trigger: "initial",
	};
	const batch = createMessageBatch<DeliveryJob>("edgehook-deliveries", [
		{ id: "m1", timestamp: new Date(), attempts: 1, body: job },
	]);
	const ctx = createExecutionContext();
	await worker.queue(batch, workerEnv);
	return (await getQueueResult(batch, ctx)).explicitAcks;
}

/** An operation of a committed API description, for the matrices generated from it. */
export interface DescribedOperation {
	method: string;
	path: string;
	bodyRequired: boolean;
}

export function describedOperations(description: { paths: object }): DescribedOperation[] {
	return Object.entries(description.paths as Record<string, unknown>).flatMap(([path, item]) =>
		Object.entries(item as Record<string, { requestBody?: { required?: boolean } }>).map(([method, operation]) => ({
			method: method.toUpperCase(),
			path,
			bodyRequired: operation.requestBody?.required === true,
		})),
	);
}

/** A new tenant, on `shard` when named, with a key of its own. */
export async function tenantWithKey(label: string, shard?: string): Promise<{ id: string; key: string }> {
	const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName(label), shard } })).body);
	if (shard !== undefined && tenant.shard !== shard) throw new Error(`the tenant went to ${String(tenant.shard)}`);
	const key = record((await api("POST", `/v1/tenants/${tenant.id}/api-keys`, { body: { name: "k" } })).body);
	return { id: String(tenant.id), key: String(key.key) };
}

/** Everything stored for a tenant on every database: `tables` by tenant_id, its tenant row and its uid claim. */
export async function tenantSnapshot(tenantId: string, tables: readonly string[]): Promise<string> {
	const everywhere = [];
	for (const [name, database] of Object.entries(SHARDS)) {
		const rows = await database.batch([
			...tables.map((table) =>
				database.prepare(`SELECT * FROM ${table} WHERE tenant_id = ? ORDER BY 1, 2`).bind(tenantId),
			),
			database.prepare("SELECT * FROM tenants WHERE id = ?").bind(tenantId),
			database.prepare("SELECT * FROM tenant_uids WHERE tenant_id = ?").bind(tenantId),
		]);
		everywhere.push([name, rows.map((result) => result.results)]);
	}
	return JSON.stringify(everywhere);
}

/**
 * Packed jobs read back one job per event, each with that event's targets in
 * order, the shape a job had before the sweeper and ingest packed deliveries
 * of several events into one message.
 */
export function jobsByEvent(jobs: readonly DeliveryJob[]): DeliveryJob[] {
	const byEvent = new Map<string, DeliveryJob>();
	for (const job of jobs) {
		for (const { eventSeq, ...target } of job.targets) {
			const seq = eventSeq ?? job.eventSeq;
			const key = JSON.stringify([job.tenantId, seq, job.trigger, job.admitted === true, job.swept === true]);
			const grouped = byEvent.get(key) ?? {
				tenantId: job.tenantId,
				eventSeq: seq,
				targets: [],
				trigger: job.trigger,
				...(job.admitted === undefined ? {} : { admitted: job.admitted }),
				...(job.swept === undefined ? {} : { swept: job.swept }),
			};
			grouped.targets.push(target);
			byEvent.set(key, grouped);
		}
	}
	return [...byEvent.values()];
}

/** Text as the browser shows it: the few entities the dashboard's escaping produces, decoded. */
export function decodedHtml(html: string): string {
	return html
		.replaceAll("&quot;", '"')
		.replaceAll("&#39;", "'")
		.replaceAll("&lt;", "<")
		.replaceAll("&gt;", ">")
		.replaceAll("&amp;", "&");
}

/** The problem a dashboard page shows next to the control named `name`, or null. */
export function fieldError(page: { text: string }, name: string): string | null {
	const match = new RegExp(`<div class="field-error" id="${name}-error">([^<]*)</div>`).exec(page.text);
	return match?.[1] === undefined ? null : decodedHtml(match[1]);
}

/**
 * Fires the alarm that a report arms for the retries it holds in memory
 * (UNSAVED_RETRIES_MAX_MS), once some are there: what is not due yet goes
 * to storage, as it would within a second.
 */
export async function storeReportedRetries(stub: DurableObjectStub<EndpointScheduler>): Promise<void> {
	await waitFor(async () => ((await stub.pending()).count > 0 ? true : undefined));
	if (!(await runDurableObjectAlarm(stub))) throw new Error("the report armed no alarm");
}

/** Rewrites the stored circuit, then evicts the object so it reads the circuit from storage again. */
export async function setCircuit(
	stub: DurableObjectStub<EndpointScheduler>,
	change: Partial<CircuitState>,
): Promise<void> {
	await runInDurableObject(stub, (instance: EndpointScheduler, state) => {
		const next = { ...instance.health(), ...change };
		state.storage.sql.exec(
			"INSERT INTO endpoint_state (name, value) VALUES ('circuit', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
			JSON.stringify(next),
		);
	});
	await evictDurableObject(stub);
}

/**
 * Forgets what retention cleaned (src/db/event-reuse.ts). A test that
 * deletes events or inserts them by hand, after a retention run, calls it:
 * the rowids it then gets may fall behind the mark, where rows count as
 * cleaned; ingest never gives such seqs.
 */
export async function forgetCleanedMark(database: D1Database): Promise<void> {
	await database
		.prepare("DELETE FROM sweep_cursors WHERE name IN (SELECT value FROM json_each(?1))")
		.bind(JSON.stringify(CLEANED_MARK_CURSORS))
		.run();
}

/** An event row of the default shard, by seq. */
export async function storedEvent(seq: number): Promise<EventRow> {
	const [row] = await openDatabase(env.DB).select().from(events).where(eq(events.seq, seq));
	if (!row) throw new Error(`no event ${seq}`);
	return row;
}

/** An endpoint for every type and `count` events stored for it directly, none delivered yet. */
export async function endpointWithEvents(
	label: string,
	count: number,
	type: string,
): Promise<{ endpointId: string; stored: EventRow[] }> {
	const hook = await createWebhook({ url: receiverPath("ok", uniqueName(label)), events: ["*"] });
	const endpointId = String(hook.id);
	const stored: EventRow[] = [];
	for (let index = 0; index < count; index++) {
		stored.push(await storedEvent((await storeEventDirectly("default", type, [endpointId])).seq));
	}
	return { endpointId, stored };
}

/** A first attempt of `event` to `endpointId` as the consumer plans it for a message on its first delivery. */
export function firstAttempt(event: EventRow, endpointId: string): PlannedAttempt {
	return {
		message: { id: "m", timestamp: new Date(), attempts: 1, body: null, ack() {}, retry() {} },
		tenantId: event.tenantId,
		event,
		endpointId,
		deliveryId: deliveryId(endpointId, event.seq),
		attempt: 1,
		trigger: "initial",
		previousStatus: undefined,
		admitted: false,
		swept: false,
	};
}

/** Attempt `attempt` of a delivery, as the consumer plans it for a retry its endpoint's scheduler released. */
export function scheduledRetry(event: EventRow, endpointId: string, attempt: number): PlannedAttempt {
	return { ...firstAttempt(event, endpointId), attempt, trigger: "scheduled", admitted: true };
}

/** What the consumer records for `planned` when the receiver answered `statusCode`. */
export function answered(planned: PlannedAttempt, statusCode: number): Outcome {
	const record: AttemptRecord = {
		id: `att_${uniqueName("p")}`,
		attempt: planned.attempt,
		trigger: planned.trigger,
		started_at: new Date().toISOString(),
		duration_ms: 4,
		status_code: statusCode,
		response_body: "ok",
		error: statusCode === 200 ? null : `answered ${statusCode}`,
	};
	const succeeded = statusCode === 200;
	return {
		planned,
		status: succeeded ? "success" : "failed",
		record,
		error: record.error,
		nextAttemptAtMs: null,
		keepSchedule: false,
		disableEndpoint: null,
		health: succeeded ? "success" : "failure",
		pauseUntil: null,
	};
}

/** The env `npm run bench` runs with: every D1 query and queue message counted (src/lib/metering.ts). */
export const benchEnv = { ...env, ENVIRONMENT: "development", BENCH_METERING: "on" };

/** Calls the worker's fetch handler with the admin key under benchEnv, so that the call is metered. */
export async function callMetered(
	method: string,
	path: string,
	body?: unknown,
): Promise<{ status: number; body: unknown }> {
	const response = await worker.fetch(
		new Request(`http://edgehook.test${path}`, {
			method,
			headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
			body: body === undefined ? undefined : JSON.stringify(body),
		}),
		benchEnv,
		createExecutionContext(),
	);
	return { status: response.status, body: await response.json() };
}

/** The real queue, keeping a copy of every message sent through it, with its delay and the time it was sent. */
export function recordingQueue(real: Queue): {
	queue: Queue;
	sent: DeliveryJob[];
	delays: (number | undefined)[];
	/** When each message was sent (ms). */
	sentAt: number[];
} {
	const sent: DeliveryJob[] = [];
	const delays: (number | undefined)[] = [];
	const sentAt: number[] = [];
	const queue: Queue = {
		metrics: () => real.metrics(),
		send: async (message, options) => {
			sent.push(message as DeliveryJob);
			delays.push(options?.delaySeconds);
			sentAt.push(Date.now());
			return real.send(message, options);
		},
		sendBatch: async (messages, options) => {
			for (const message of messages) {
				sent.push(message.body as DeliveryJob);
				delays.push(message.delaySeconds ?? options?.delaySeconds);
				sentAt.push(Date.now());
			}
			return real.sendBatch(messages, options);
		},
	};
	return { queue, sent, delays, sentAt };
}

/** The database, keeping the text of every statement prepared through it. */
export function recordingDatabase(real: D1Database): { d1: D1Database; prepared: string[] } {
	const prepared: string[] = [];
	const d1 = new Proxy(real, {
		get(target, property) {
			if (property === "prepare")
				return (query: string) => {
					prepared.push(query);
					return target.prepare(query);
				};
			const value: unknown = Reflect.get(target, property);
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
	return { d1, prepared };
}

/** The database with `batch` in place of its own: it gets the statements and the real batch to call. */
export function withBatch(
	real: D1Database,
	batch: (statements: D1PreparedStatement[], realBatch: D1Database["batch"]) => Promise<D1Result[]>,
): D1Database {
	return new Proxy(real, {
		get(target, property) {
			if (property === "batch")
				return (statements: D1PreparedStatement[]) => batch(statements, (inner) => target.batch(inner));
			const value: unknown = Reflect.get(target, property);
			return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
		},
	});
}
