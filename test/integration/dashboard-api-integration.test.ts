import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { actAs } from "../../src/auth/internal";
import { readPortalToken } from "../../src/dashboard/tokens";
import type { AttemptRecord } from "../../src/delivery/attempt-record";
import worker from "../../src/index";
import { deliveryId, ID_PREFIX, publicDeliveryId } from "../../src/lib/ids";
import type { WebhookStats } from "../../src/routes/webhooks/stats";
import { MAX_STATS_ROWS } from "../../src/routes/webhooks/stats";
import { api, createWebhook, receivedBy, receiverPath, record, uniqueName, waitFor } from "./helpers";

/*
 * The API additions the dashboard pages call: endpoint stats, delivery log
 * filters, test sends of any catalog type, event type examples and portal
 * links.
 */

const HOUR = 60 * 60 * 1000;

interface StoredDelivery {
	type?: string;
	status: "pending" | "success" | "failed" | "skipped";
	createdAt: number;
	/** [started at (ms), duration (ms)] of each attempt. */
	attempts: [number, number][];
}

/**
 * Writes events and their delivery rows as ingest and the consumer would, at
 * chosen times, without sending anything; answers the deliveries' public ids
 * in the order of `rows` (which is also the order of their events).
 */
async function storeDeliveries(endpointId: string, rows: readonly StoredDelivery[], tenantId = "default") {
	const eventIds = rows.map(() => `evt_${uniqueName("stored")}`);
	const stored = await env.DB.batch<{ seq: number }>(
		rows.map((row, index) =>
			env.DB.prepare(
				"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at) VALUES (?, ?, ?, '{}', ?, ?) RETURNING seq",
			).bind(tenantId, eventIds[index], row.type ?? "stats.stored", JSON.stringify([endpointId]), row.createdAt),
		),
	);
	await env.DB.batch(
		rows.map((row, index) => {
			const attempts: AttemptRecord[] = row.attempts.map(([startedAt, durationMs], attemptIndex) => ({
				id: `${ID_PREFIX.attempt}${uniqueName("a")}`,
				attempt: attemptIndex + 1,
				trigger: attemptIndex === 0 ? "initial" : "scheduled",
				started_at: new Date(startedAt).toISOString(),
				duration_ms: durationMs,
				status_code: row.status === "failed" ? 500 : 200,
				response_body: "x".repeat(2000),
				error: null,
			}));
			const seq = stored[index]?.results[0]?.seq;
			if (seq === undefined) throw new Error("the event was not stored");
			return env.DB.prepare(
				`INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, status_code, attempt_count,
					attempts, next_attempt_at, delivered_at, error, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL, NULL, NULL, ?, ?)`,
			).bind(
				deliveryId(endpointId, seq),
				tenantId,
				endpointId,
				eventIds[index],
				row.type ?? "stats.stored",
				row.status,
				attempts.length,
				JSON.stringify(attempts),
				row.createdAt,
				row.createdAt,
			);
		}),
	);
	return eventIds.map((eventId) => publicDeliveryId(endpointId, eventId));
}

type Stats = z.infer<typeof WebhookStats>;
type Bucket = Stats["buckets"][number];

async function statsOf(endpointId: unknown, query = ""): Promise<Stats> {
	const response = await api("GET", `/v1/webhooks/${String(endpointId)}/stats${query}`);
	expect(response.status, JSON.stringify(response.body)).toBe(200);
	return response.body as Stats;
}

function bucketAt(stats: Stats, start: number): Bucket | undefined {
	return stats.buckets.find((bucket) => bucket.start === new Date(start).toISOString());
}

describe("GET /v1/webhooks/{id}/stats", () => {
	it("counts real deliveries by outcome and takes latency from their attempts", async () => {
		const name = uniqueName("stats-flaky");
		// The first two requests fail, the rest succeed; with no retries a failure is final.
		const hook = await createWebhook({
			url: receiverPath("flaky/2", name),
			events: ["stats.real"],
			retry_schedule: [],
		});
		for (let i = 0; i < 5; i++) {
			expect((await api("POST", "/v1/events", { body: { type: "stats.real", data: { i } } })).status).toBe(202);
		}
		const settled = await waitFor(async () => {
			const list = record((await api("GET", `/v1/webhooks/${hook.id}/deliveries`)).body).deliveries as Record<
				string,
				unknown
			>[];
			return list.length === 5 && list.every((delivery) => delivery.status !== "pending") ? list : undefined;
		}, 10_000);
		expect(settled.filter((delivery) => delivery.status === "failed")).toHaveLength(2);
		const details = await Promise.all(
			settled.map(async (delivery) => record((await api("GET", `/v1/deliveries/${String(delivery.id)}`)).body)),
		);
		const attempts = details.flatMap((detail) => detail.attempts as AttemptRecord[]);
		expect(attempts).toHaveLength(5);

		const stats = await statsOf(hook.id);
		expect(stats.window).toBe("24h");
		expect(stats.totals).toEqual({ deliveries: 5, succeeded: 3, failed: 2, pending: 0, skipped: 0, success_rate: 0.6 });
		expect(stats.sampled).toBe(false);
		const newest = Math.max(...attempts.map((attempt) => Date.parse(attempt.started_at)));
		expect(stats.last_delivery_at).toBe(new Date(newest).toISOString());

		// Every delivery and attempt lands in the bucket of its own time (a test can straddle an hour).
		const from = Date.parse(stats.from);
		const expected = stats.buckets.map(() => ({ succeeded: 0, failed: 0, durations: [] as number[] }));
		for (const detail of details) {
			const slot = expected[Math.floor((Date.parse(String(detail.created_at)) - from) / HOUR)];
			if (detail.status === "success" && slot) slot.succeeded++;
			if (detail.status === "failed" && slot) slot.failed++;
		}
		for (const attempt of attempts) {
			expected[Math.floor((Date.parse(attempt.started_at) - from) / HOUR)]?.durations.push(attempt.duration_ms);
		}
		stats.buckets.forEach((bucket, index) => {
			const slot = expected[index];
			const sorted = [...(slot?.durations ?? [])].sort((a, b) => a - b);
			expect(bucket).toEqual({
				start: new Date(from + index * HOUR).toISOString(),
				succeeded: slot?.succeeded ?? 0,
				failed: slot?.failed ?? 0,
				p50_ms: sorted.length === 0 ? null : sorted[Math.ceil(sorted.length * 0.5) - 1],
				p95_ms: sorted.length === 0 ? null : sorted[Math.ceil(sorted.length * 0.95) - 1],
			});
		});
		expect(stats.buckets.reduce((total, bucket) => total + bucket.succeeded, 0)).toBe(3);
	});

	it("buckets by hour over 24h and by 6 hours over 7d, aligned, with nearest-rank percentiles", async () => {
		const hook = await createWebhook({ url: "https://example.com/stats", events: ["stats.stored"] });
		const now = Date.now();
		const hourStart = Math.floor(now / HOUR) * HOUR;
		const threeHoursAgo = hourStart - 3 * HOUR + 10 * 60 * 1000;
		const rows: StoredDelivery[] = [
			// Before the 24h window but inside 7d; its retry started 2 hours ago.
			{
				status: "failed",
				createdAt: now - 30 * HOUR,
				attempts: [
					[now - 30 * HOUR, 900],
					[hourStart - 2 * HOUR + 5, 700],
				],
			},
			{ status: "success", createdAt: threeHoursAgo, attempts: [[threeHoursAgo, 100]] },
			{
				status: "failed",
				createdAt: threeHoursAgo + 1000,
				attempts: [
					[threeHoursAgo + 1000, 300],
					[threeHoursAgo + 60_000, 500],
				],
			},
			{ status: "success", createdAt: threeHoursAgo + 2000, attempts: [[threeHoursAgo + 2000, 200]] },
			{ status: "pending", createdAt: hourStart - HOUR + 7, attempts: [[hourStart - HOUR + 7, 50]] },
			// Dropped by a transformation: counted apart, in neither the success rate nor the bars.
			{ status: "skipped", createdAt: threeHoursAgo + 3000, attempts: [] },
		];
		await storeDeliveries(String(hook.id), rows);

		const day = await statsOf(hook.id, "?window=24h");
		expect(day.buckets).toHaveLength(24);
		expect(Date.parse(day.from)).toBe(hourStart - 23 * HOUR);
		expect(Date.parse(day.to)).toBeGreaterThanOrEqual(now);
		day.buckets.forEach((bucket, index) => {
			expect(Date.parse(bucket.start)).toBe(hourStart - (23 - index) * HOUR);
		});
		expect(day.totals).toEqual({ deliveries: 5, succeeded: 2, failed: 1, pending: 1, skipped: 1, success_rate: 2 / 3 });
		expect(bucketAt(day, hourStart - 3 * HOUR)).toEqual({
			start: new Date(hourStart - 3 * HOUR).toISOString(),
			succeeded: 2,
			failed: 1,
			p50_ms: 200,
			p95_ms: 500,
		});
		// The old delivery's retry counts towards latency where it started, not towards the counts.
		expect(bucketAt(day, hourStart - 2 * HOUR)).toMatchObject({ succeeded: 0, failed: 0, p50_ms: 700, p95_ms: 700 });
		expect(bucketAt(day, hourStart - HOUR)).toMatchObject({ succeeded: 0, failed: 0, p50_ms: 50, p95_ms: 50 });
		expect(bucketAt(day, hourStart)).toMatchObject({ succeeded: 0, failed: 0, p50_ms: null, p95_ms: null });
		expect(day.last_delivery_at).toBe(new Date(hourStart - HOUR + 7).toISOString());
		expect(day.sampled).toBe(false);

		const sixHours = 6 * HOUR;
		const week = await statsOf(hook.id, "?window=7d");
		expect(week.window).toBe("7d");
		expect(week.buckets).toHaveLength(28);
		const newestBucket = Math.floor(now / sixHours) * sixHours;
		expect(Date.parse(week.from)).toBe(newestBucket - 27 * sixHours);
		expect(week.totals).toEqual({ deliveries: 6, succeeded: 2, failed: 2, pending: 1, skipped: 1, success_rate: 0.5 });
		const oldBucket = Math.floor((now - 30 * HOUR) / sixHours) * sixHours;
		expect(bucketAt(week, oldBucket)).toMatchObject({ succeeded: 0, failed: 1, p50_ms: 900, p95_ms: 900 });
		expect(week.buckets.reduce((total, bucket) => total + bucket.succeeded + bucket.failed, 0)).toBe(4);
	});

	it("answers an endpoint with no deliveries with zeros and nulls", async () => {
		const hook = await createWebhook({ url: "https://example.com/stats", events: ["stats.none"] });
		const stats = await statsOf(hook.id);
		expect(stats.totals).toEqual({
			deliveries: 0,
			succeeded: 0,
			failed: 0,
			pending: 0,
			skipped: 0,
			success_rate: null,
		});
		expect(stats.last_delivery_at).toBeNull();
		expect(stats.sampled).toBe(false);
		expect(stats.buckets.every((bucket) => bucket.succeeded === 0 && bucket.p50_ms === null)).toBe(true);
	});

	it(`reads at most ${MAX_STATS_ROWS} deliveries, the newest, and says so`, async () => {
		const hook = await createWebhook({ url: "https://example.com/stats", events: ["stats.many"] });
		const key = String(hook.id).slice(ID_PREFIX.endpoint.length);
		const now = Date.now();
		// Ids of fixed-width digits sort like the numbers, as real delivery ids do.
		await env.DB.prepare(
			`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, attempt_count, attempts, created_at, updated_at)
			SELECT 'del_' || ? || printf('%010d', i), 'default', ?, 'evt_many_' || i, 'stats.many',
				CASE WHEN i % 2 = 0 THEN 'success' ELSE 'failed' END, 1,
				json_array(json_object('id', 'att_' || i, 'attempt', 1, 'trigger', 'initial',
					'started_at', strftime('%Y-%m-%dT%H:%M:%fZ', (? - (? - i)) / 1000.0, 'unixepoch'), 'duration_ms', i % 100,
					'status_code', 200, 'response_body', NULL, 'error', NULL)),
				? - (? - i), ? - (? - i)
			FROM n`,
		)
			.bind(MAX_STATS_ROWS + 1, key, hook.id, now, MAX_STATS_ROWS + 1, now, MAX_STATS_ROWS + 1, now, MAX_STATS_ROWS + 1)
			.run();
		const stats = await statsOf(hook.id);
		expect(stats.sampled).toBe(true);
		expect(stats.totals.deliveries).toBe(MAX_STATS_ROWS);
		// The newest 20,000 are i = 2..20001: 10,000 even (success) and 10,000 odd (failed).
		expect(stats.totals).toMatchObject({ succeeded: MAX_STATS_ROWS / 2, failed: MAX_STATS_ROWS / 2 });
		expect(stats.last_delivery_at).toBe(new Date(now).toISOString());

		// A list of endpoints asks for fewer: the newest 1,000 are i = 19,002..20,001, half of each.
		const fewer = await statsOf(hook.id, "?max_deliveries=1000");
		expect(fewer.sampled).toBe(true);
		expect(fewer.totals).toMatchObject({ deliveries: 1000, succeeded: 500, failed: 500 });
		expect(fewer.last_delivery_at).toBe(new Date(now).toISOString());
		for (const bad of ["99", "20001", "many"]) {
			const refused = await api("GET", `/v1/webhooks/${hook.id}/stats?max_deliveries=${bad}`);
			expect(refused.status, bad).toBe(422);
			expect(JSON.stringify(record(refused.body).error), bad).toContain("max_deliveries");
		}
	});

	it("refuses a bad window and answers 404 for an unknown endpoint", async () => {
		const hook = await createWebhook({ url: "https://example.com/stats", events: ["stats.bad"] });
		const bad = await api("GET", `/v1/webhooks/${hook.id}/stats?window=30d`);
		expect(bad.status).toBe(422);
		expect(record(record(bad.body).error).details).toEqual([
			{ field: "window", message: 'must be one of "24h", "7d"' },
		]);
		expect((await api("GET", "/v1/webhooks/hook_doesnotexist0000/stats")).status).toBe(404);
	});
});

describe("GET /v1/webhooks/{id}/deliveries filters", () => {
	it("filters by event type, created time and status together, paging through the matches", async () => {
		const hook = await createWebhook({ url: "https://example.com/filters", events: ["*"] });
		// `since` and `until` are found among the database's events, whose created_at follows seq as ingest stores
		// them: the events the tests above stored now must not come before these, stored at times long past.
		await env.DB.batch([env.DB.prepare("DELETE FROM deliveries"), env.DB.prepare("DELETE FROM events")]);
		const base = Date.parse("2026-03-01T00:00:00Z");
		const rows: StoredDelivery[] = Array.from({ length: 12 }, (_, index) => ({
			type: index % 2 === 0 ? "order.paid" : "order.refunded",
			status: index % 3 === 0 ? "failed" : "success",
			createdAt: base + index * HOUR,
			attempts: [[base + index * HOUR, 10]],
		}));
		const publicIds = await storeDeliveries(String(hook.id), rows);
		const ids = (filter: (row: StoredDelivery) => boolean) =>
			publicIds.filter((_id, index) => filter(rows[index] as StoredDelivery)).reverse();
		const list = async (query: string) => {
			const response = await api("GET", `/v1/webhooks/${hook.id}/deliveries?${query}`);
			expect(response.status, JSON.stringify(response.body)).toBe(200);
			return record(response.body);
		};
		const listIds = (body: Record<string, unknown>) => (body.deliveries as { id: string }[]).map((row) => row.id);

		expect(listIds(await list("event_type=order.paid"))).toEqual(ids((row) => row.type === "order.paid"));
		const since = new Date(base + 3 * HOUR).toISOString();
		const until = new Date(base + 9 * HOUR).toISOString();
		expect(listIds(await list(`since=${since}&until=${until}`))).toEqual(
			ids((row) => row.createdAt >= base + 3 * HOUR && row.createdAt < base + 9 * HOUR),
		);
		// An offset is a time zone like any other.
		expect(listIds(await list(`since=${encodeURIComponent("2026-03-01T05:00:00+05:00")}`))).toEqual(
			ids((row) => row.createdAt >= base),
		);

		const combined = (row: StoredDelivery) =>
			row.type === "order.paid" && row.status === "success" && row.createdAt >= base + 2 * HOUR;
		const expected = ids(combined);
		expect(expected).toHaveLength(4);
		const seen: string[] = [];
		let cursor: unknown = null;
		for (let page = 0; page < 5; page++) {
			const query = `event_type=order.paid&status=success&since=${new Date(base + 2 * HOUR).toISOString()}&limit=3${
				cursor ? `&cursor=${String(cursor)}` : ""
			}`;
			const body = await list(query);
			seen.push(...listIds(body));
			cursor = body.next_cursor;
			if (cursor === null) break;
		}
		expect(seen).toEqual(expected);
		expect(listIds(await list("event_type=order.none"))).toEqual([]);
	});

	it.each([
		["since=yesterday", "since", "must be an ISO 8601 date-time with a time zone, such as 2026-05-01T12:00:00Z"],
		[
			"until=2026-03-01T00:00:00",
			"until",
			"must be an ISO 8601 date-time with a time zone, such as 2026-05-01T12:00:00Z",
		],
		["since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", "since", "must be before until"],
		["event_type=bad%20type!", "event_type", "must be dot-separated words of letters, digits, _ - or :"],
	])("refuses %s with a 422 naming the field", async (query, field, message) => {
		const hook = await createWebhook({ url: "https://example.com/filters", events: ["*"] });
		const response = await api("GET", `/v1/webhooks/${hook.id}/deliveries?${query}`);
		expect(response.status).toBe(422);
		const error = record(record(response.body).error);
		expect(error.code).toBe("validation_failed");
		expect(error.details).toEqual([{ field, message }]);
	});
});

describe("POST /v1/webhooks/{id}/test", () => {
	async function eventCount(): Promise<number> {
		return (await env.DB.prepare("SELECT count(*) AS n FROM events").first<{ n: number }>())?.n ?? -1;
	}

	async function testSend(hookId: unknown, receiver: string, body?: unknown) {
		const before = (await receivedBy(receiver)).length;
		const response = await api("POST", `/v1/webhooks/${String(hookId)}/test`, body === undefined ? {} : { body });
		expect(response.status, JSON.stringify(response.body)).toBe(202);
		const received = await waitFor(async () => {
			const requests = await receivedBy(receiver);
			return requests.length > before ? requests[before] : undefined;
		});
		return { accepted: record(response.body), envelope: record(JSON.parse(received?.body ?? "null")) };
	}

	it("sends a catalog type with its example, a given payload, or {}, to this endpoint alone", async () => {
		const type = `${uniqueName("test-send")}.created`;
		const bare = `${uniqueName("test-send")}.bare`;
		const example = { id: "user_123", plan: "pro", tags: ["a", "b"] };
		expect((await api("POST", "/v1/event-types", { body: { name: type, example } })).status).toBe(201);
		expect((await api("POST", "/v1/event-types", { body: { name: bare } })).status).toBe(201);
		const receiver = uniqueName("test-send");
		const bystander = uniqueName("test-bystander");
		// Subscribed to neither type: a test send ignores subscriptions.
		const hook = await createWebhook({ url: receiverPath("ok", receiver), events: ["nothing.matches"] });
		await createWebhook({ url: receiverPath("ok", bystander), events: ["*"] });

		const withExample = await testSend(hook.id, receiver, { event_type: type });
		expect(withExample.envelope).toMatchObject({ type, data: example, id: withExample.accepted.event_id });
		const event = record((await api("GET", `/v1/events/${String(withExample.accepted.event_id)}`)).body);
		expect((event.deliveries as { id: string }[]).map((delivery) => delivery.id)).toEqual([
			withExample.accepted.delivery_id,
		]);

		const withPayload = await testSend(hook.id, receiver, { event_type: type, payload: { custom: 1 } });
		expect(withPayload.envelope).toMatchObject({ type, data: { custom: 1 } });
		const empty = await testSend(hook.id, receiver, { event_type: bare });
		expect(empty.envelope).toMatchObject({ type: bare, data: {} });
		const testWithPayload = await testSend(hook.id, receiver, { event_type: "webhook.test", payload: { ping: true } });
		expect(testWithPayload.envelope).toMatchObject({ type: "webhook.test", data: { ping: true } });
		expect(await receivedBy(bystander)).toEqual([]);
	});

	it("without a body sends webhook.test as before", async () => {
		const receiver = uniqueName("test-plain");
		const hook = await createWebhook({ url: receiverPath("ok", receiver), events: ["x.y"] });
		for (const body of [undefined, {}]) {
			const sent = await testSend(hook.id, receiver, body);
			expect(sent.accepted.delivery_id).toMatch(/^del_/);
			expect(sent.envelope).toMatchObject({
				type: "webhook.test",
				data: { webhook_id: hook.id, message: "This is a test event sent by Edgehook." },
			});
		}
	});

	it.each([
		[
			{ event_type: "not.in.catalog" },
			"is neither in the event type catalog nor the type of a recent event: add not.in.catalog with POST /v1/event-types",
		],
		[{ event_type: "endpoint.failing" }, expect.stringContaining("reserved")],
		[{ event_type: "bad type" }, "must be dot-separated words of letters, digits, _ - or :"],
		[{ payload: "text" }, "must be an object"],
		[{ event_type: "webhook.test", extra: 1 }, 'unknown field "extra"'],
	])("refuses %j with a 422 and stores nothing", async (body, message) => {
		const hook = await createWebhook({ url: "https://example.com/test-send", events: ["x.y"] });
		const before = await eventCount();
		const response = await api("POST", `/v1/webhooks/${hook.id}/test`, { body });
		expect(response.status).toBe(422);
		const details = record(record(response.body).error).details as { message: string }[];
		expect(details).toEqual([{ field: expect.any(String), message }]);
		expect(await eventCount()).toBe(before);
	});

	it("answers 404 for another tenant's endpoint whatever the body", async () => {
		const response = await api("POST", "/v1/webhooks/hook_doesnotexist0000/test", { body: { event_type: "bad type" } });
		expect(response.status).toBe(404);
	});
});

describe("event type examples", () => {
	it("stores, lists and patches an example; null clears it", async () => {
		const name = `${uniqueName("example")}.created`;
		const plain = `${uniqueName("example")}.plain`;
		const created = await api("POST", "/v1/event-types", {
			body: { name, description: "Created", example: { id: "u_1", nested: { ok: true } } },
		});
		expect(created.status).toBe(201);
		expect(record(created.body)).toMatchObject({ name, example: { id: "u_1", nested: { ok: true } }, built_in: false });
		expect((await api("POST", "/v1/event-types", { body: { name: plain } })).status).toBe(201);

		const list = async () =>
			new Map(
				(record((await api("GET", "/v1/event-types?limit=250")).body).event_types as Record<string, unknown>[]).map(
					(type) => [type.name, type],
				),
			);
		let catalog = await list();
		expect(catalog.get(name)?.example).toEqual({ id: "u_1", nested: { ok: true } });
		expect(catalog.get(plain)?.example).toBeNull();

		const patched = await api("PATCH", `/v1/event-types/${name}`, {
			body: { description: "Changed", schema: { type: "object" }, example: { id: "u_2" } },
		});
		expect(patched.status).toBe(200);
		expect(record(patched.body)).toMatchObject({
			name,
			description: "Changed",
			schema: { type: "object" },
			example: { id: "u_2" },
		});
		const untouched = await api("PATCH", `/v1/event-types/${name}`, { body: {} });
		expect(record(untouched.body)).toMatchObject({ description: "Changed", example: { id: "u_2" } });
		const cleared = await api("PATCH", `/v1/event-types/${name}`, { body: { example: null, schema: null } });
		expect(record(cleared.body)).toMatchObject({ description: "Changed", schema: null, example: null });
		catalog = await list();
		expect(catalog.get(name)).toMatchObject({ description: "Changed", schema: null, example: null });

		expect((await api("PATCH", "/v1/event-types/no.such.type", { body: { description: "x" } })).status).toBe(404);
		expect((await api("PATCH", "/v1/event-types/endpoint.failing", { body: { description: "x" } })).status).toBe(409);
		const bad = await api("PATCH", `/v1/event-types/${name}`, { body: { example: "text" } });
		expect(bad.status).toBe(422);
		expect(record(record(bad.body).error).details).toEqual([{ field: "example", message: "must be an object" }]);
		const badCreate = await api("POST", "/v1/event-types", { body: { name: `${name}.x`, example: [1] } });
		expect(badCreate.status).toBe(422);
	});

	it("gives the built-in types an example shaped like the events Edgehook sends", async () => {
		const catalog = record((await api("GET", "/v1/event-types")).body).event_types as Record<string, unknown>[];
		const examples = new Map(catalog.filter((type) => type.built_in).map((type) => [type.name, record(type.example)]));
		const facts = ["endpoint_id", "url", "failures_in_a_row", "failing_since", "last_status_code", "last_error"];
		expect(Object.keys(examples.get("endpoint.failing") ?? {})).toEqual([
			...facts,
			"circuit",
			"failure_threshold",
			"next_probe_at",
		]);
		expect(examples.get("endpoint.failing")?.circuit).toBe("open");
		expect(Object.keys(examples.get("endpoint.recovered") ?? {})).toEqual([
			...facts,
			"circuit",
			"open_since",
			"open_for_seconds",
		]);
		expect(Object.keys(examples.get("endpoint.disabled") ?? {})).toEqual([...facts, "reason"]);
		expect(Object.keys(examples.get("delivery.exhausted") ?? {})).toEqual([
			"delivery_id",
			"event_id",
			"event_type",
			"endpoint_id",
			"url",
			"attempts",
			"last_status_code",
			"last_error",
		]);
	});
});

describe("the API for a read-only portal", () => {
	/** A call as the dashboard makes it in-process for a portal session on `default`. */
	async function asPortal(
		readOnly: boolean,
		method: string,
		path: string,
		body?: unknown,
	): Promise<{ status: number; body: unknown }> {
		const request = new Request<unknown, IncomingRequestCfProperties>(`http://edgehook.test${path}`, {
			method,
			headers: body === undefined ? {} : { "content-type": "application/json" },
			body: body === undefined ? null : JSON.stringify(body),
		});
		actAs(request, { principal: { kind: "tenant", tenantId: "default", keyId: "portal:default" }, readOnly });
		const ctx = createExecutionContext();
		const response = await worker.fetch(request, env, ctx);
		await waitOnExecutionContext(ctx);
		return { status: response.status, body: await response.json() };
	}

	it("masks endpoint URLs and custom header values itself, so no page can show them", async () => {
		const token = crypto.randomUUID();
		const headerValue = `Bearer ${crypto.randomUUID()}`;
		const url = `https://hooks.slack.com/services/T0ABC/B0DEF/${token}`;
		const hook = await createWebhook({ channel: "slack", url, events: ["a"], headers: { authorization: headerValue } });

		const one = record((await asPortal(true, "GET", `/v1/webhooks/${String(hook.id)}`)).body);
		expect(one).toMatchObject({ url: `https://hooks.slack.com/…${token.slice(-4)}`, headers: { authorization: "…" } });
		expect(String(one.secret)).toMatch(/^\*{4}…/);
		const listed = await asPortal(true, "GET", "/v1/webhooks?limit=250");
		expect(JSON.stringify(listed.body)).not.toContain(token);
		expect(JSON.stringify(listed.body)).not.toContain(headerValue);

		// A portal that may act (and so edit the endpoint) sees it whole.
		expect(record((await asPortal(false, "GET", `/v1/webhooks/${String(hook.id)}`)).body)).toMatchObject({
			url,
			headers: { authorization: headerValue },
		});
	});

	it("refuses every change and every read that hands out a credential, with or without a query", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("ro")), events: ["a"] });
		const id = String(hook.id);
		for (const [method, path, body] of [
			["GET", `/v1/webhooks/${id}/secret`],
			["GET", `/v1/webhooks/${id}/secret?reveal=1`],
			["GET", `/v1/deliveries/${publicDeliveryId(id, "evt_any")}/request`],
			["POST", "/v1/events", { type: "a", data: {} }],
			["PATCH", `/v1/webhooks/${id}`, { description: "changed" }],
			["DELETE", `/v1/webhooks/${id}`],
		] as const) {
			const answer = await asPortal(true, method, path, body);
			expect(answer.status, `${method} ${path}`).toBe(403);
			expect(record(record(answer.body).error).message).toBe("this portal link is read-only");
		}
		expect(record((await api("GET", `/v1/webhooks/${id}`)).body).description).toBe("");
	});
});

describe("portal links", () => {
	async function tenantWithKey(): Promise<{ id: string; key: string; keyId: string }> {
		const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("portal") } })).body);
		const key = record((await api("POST", `/v1/tenants/${tenant.id}/api-keys`, { body: { name: "k" } })).body);
		return { id: String(tenant.id), key: String(key.key), keyId: String(key.id) };
	}

	async function grantOf(url: unknown) {
		const match = /^http:\/\/edgehook\.test\/portal\/([^/]+)$/.exec(String(url));
		expect(match, String(url)).not.toBeNull();
		return readPortalToken(env, match?.[1] ?? "");
	}

	it("signs a link for the tenant the admin names, with the ttl and read-only flag asked for", async () => {
		const tenant = await tenantWithKey();
		const before = Date.now();
		const response = await api("POST", `/v1/tenants/${tenant.id}/portal-links`, {
			body: { ttl_seconds: 600, read_only: true },
		});
		expect(response.status).toBe(201);
		const link = record(response.body);
		expect(link).toMatchObject({ read_only: true, tenant_id: tenant.id });
		const expiresAt = Date.parse(String(link.expires_at));
		expect(expiresAt).toBeGreaterThanOrEqual(before + 600_000);
		expect(expiresAt).toBeLessThanOrEqual(Date.now() + 600_000);
		expect(await grantOf(link.url)).toEqual({ tenantId: tenant.id, keyId: null, readOnly: true, expiresAt });

		const defaults = record((await api("POST", `/v1/tenants/${tenant.id}/portal-links`)).body);
		expect(defaults.read_only).toBe(false);
		expect(Date.parse(String(defaults.expires_at)) - Date.now()).toBeGreaterThan(3590_000);
		expect(Date.parse(String(defaults.expires_at)) - Date.now()).toBeLessThanOrEqual(3600_000);
		expect(await grantOf(defaults.url)).toMatchObject({ tenantId: tenant.id, readOnly: false });
	});

	it("signs a link for the request's own tenant on /v1/portal-links", async () => {
		const tenant = await tenantWithKey();
		const own = await api("POST", "/v1/portal-links", { auth: tenant.key, body: { read_only: false } });
		expect(own.status).toBe(201);
		// A link made with a tenant key names the key, so revoking the key voids the link.
		expect(await grantOf(record(own.body).url)).toMatchObject({
			tenantId: tenant.id,
			keyId: tenant.keyId,
			readOnly: false,
		});

		const named = await api("POST", "/v1/portal-links", { headers: { "x-tenant-id": tenant.id } });
		expect(record(named.body).tenant_id).toBe(tenant.id);
		const byDefault = await api("POST", "/v1/portal-links");
		expect(byDefault.status).toBe(201);
		expect(await grantOf(record(byDefault.body).url)).toMatchObject({ tenantId: "default" });
		expect((await api("POST", "/v1/tenants/default/portal-links")).status).toBe(201);
	});

	it("builds the url on PUBLIC_BASE_URL when it is set", async () => {
		const ctx = createExecutionContext();
		const response = await worker.fetch(
			new Request("http://internal.test/v1/portal-links", {
				method: "POST",
				headers: { authorization: "Bearer test-admin-key" },
			}),
			{ ...env, PUBLIC_BASE_URL: "https://hooks.example.com/edgehook/" },
			ctx,
		);
		await waitOnExecutionContext(ctx);
		expect(response.status).toBe(201);
		const link = record(await response.json());
		expect(String(link.url)).toMatch(/^https:\/\/hooks\.example\.com\/edgehook\/portal\/[\w-]+\.[\w-]+$/);
	});

	it("refuses tenant keys on the admin route, unknown and deleted tenants, and ttls out of range", async () => {
		const tenant = await tenantWithKey();
		expect((await api("POST", `/v1/tenants/${tenant.id}/portal-links`, { auth: tenant.key })).status).toBe(403);
		expect((await api("POST", "/v1/tenants/ten_nosuchtenant0000/portal-links")).status).toBe(404);
		for (const ttl of [59, 604_801, 1.5]) {
			const response = await api("POST", "/v1/portal-links", { auth: tenant.key, body: { ttl_seconds: ttl } });
			expect(response.status).toBe(422);
			expect((record(record(response.body).error).details as { field: string }[])[0]?.field).toBe("ttl_seconds");
		}
		expect((await api("DELETE", `/v1/tenants/${tenant.id}`)).status).toBe(202);
		expect((await api("POST", `/v1/tenants/${tenant.id}/portal-links`)).status).toBe(404);
		expect((await api("POST", "/v1/portal-links", { headers: { "x-tenant-id": tenant.id } })).status).toBe(404);
	});
});
