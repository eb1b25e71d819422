import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
	callWithSettings,
	createWebhook,
	receivedBy,
	receiverPath,
	record,
	recordingDatabase,
	recordingQueue,
	uniqueName,
	waitFor,
} from "./helpers";

const eventInserts = (prepared: readonly string[]) =>
	prepared.filter((query) => query.includes("INSERT INTO events")).length;

async function storedOfType(type: string): Promise<number> {
	const row = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE tenant_id = 'default' AND type = ?")
		.bind(type)
		.first<{ n: number }>();
	return row?.n ?? 0;
}

/** The database, failing every batch while `failing.on` is set, as D1 does when it is overloaded. */
function switchableDatabase(real: D1Database): { d1: D1Database; failing: { on: boolean } } {
	const failing = { on: false };
	const d1 = new Proxy(real, {
		get(target, property) {
			if (property === "batch")
				return async (statements: D1PreparedStatement[]) => {
					if (failing.on) throw new Error("D1_ERROR: Database is overloaded. Requests queued for too long.");
					return target.batch(statements);
				};
			const value: unknown = Reflect.get(target, property);
			return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
		},
	});
	return { d1, failing };
}

/** The database, holding its first batch for `holdMs` before running it, as a stalled store would. */
function slowFirstBatch(real: D1Database, holdMs: number): { d1: D1Database; prepared: string[] } {
	const recording = recordingDatabase(real);
	let batches = 0;
	const d1 = new Proxy(recording.d1, {
		get(target, property) {
			if (property === "batch")
				return async (statements: D1PreparedStatement[]) => {
					batches++;
					if (batches === 1) await new Promise((resolve) => setTimeout(resolve, holdMs));
					return target.batch(statements);
				};
			const value: unknown = Reflect.get(target, property);
			return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
		},
	});
	return { d1, prepared: recording.prepared };
}

describe("group commit of single-event ingest", () => {
	it("stores the events of concurrent requests together, packs their first attempts, and delivers each once", async () => {
		const type = `grouped.${uniqueName("t").replaceAll("-", "_")}`;
		const receiver = uniqueName("grouped");
		await createWebhook({ url: receiverPath("ok", receiver), events: [type] });
		const database = recordingDatabase(env.DB);
		const queue = recordingQueue(env.DELIVERY_QUEUE);
		const responses = await Promise.all(
			Array.from({ length: 20 }, (_, index) =>
				callWithSettings({ DB: database.d1, DELIVERY_QUEUE: queue.queue }, "POST", "/v1/events", {
					type,
					data: { index },
				}),
			),
		);
		expect(responses.map((response) => response.status)).toEqual(Array(20).fill(202));
		const ids = responses.map((response) => String(record(response.body).id));
		expect(new Set(ids).size).toBe(20);
		expect(await storedOfType(type)).toBe(20);
		// One request stores at once; those that came while it did go together after it.
		const inserts = eventInserts(database.prepared);
		expect(inserts).toBeGreaterThanOrEqual(2);
		expect(inserts).toBeLessThanOrEqual(4);
		const deliveries = queue.sent.reduce((sum, job) => sum + job.targets.length, 0);
		expect(deliveries).toBe(20);
		expect(queue.sent.length).toBeLessThan(20);
		const received = await waitFor(async () => {
			const seen = await receivedBy(receiver);
			return seen.length >= 20 ? seen : undefined;
		}, 15_000);
		expect(received.map((request) => request.headers["webhook-id"]).sort()).toEqual([...ids].sort());
	});

	it("answers concurrent requests with one Idempotency-Key with one event, stored once", async () => {
		const type = `grouped.${uniqueName("key").replaceAll("-", "_")}`;
		const key = uniqueName("same-key");
		const responses = await Promise.all(
			Array.from({ length: 6 }, () =>
				callWithSettings({}, "POST", "/v1/events", { type, data: { same: true } }, { "idempotency-key": key }),
			),
		);
		expect(responses.map((response) => response.status)).toEqual(Array(6).fill(202));
		expect(new Set(responses.map((response) => record(response.body).id)).size).toBe(1);
		expect(await storedOfType(type)).toBe(1);
	});

	it("answers every request of a group D1 refused 503 unavailable and stores none, then goes on", async () => {
		const type = `grouped.${uniqueName("refused").replaceAll("-", "_")}`;
		const database = switchableDatabase(env.DB);
		database.failing.on = true;
		const refused = await Promise.all(
			Array.from({ length: 8 }, (_, index) =>
				callWithSettings({ DB: database.d1 }, "POST", "/v1/events", { type, data: { index } }),
			),
		);
		expect(refused.map((response) => response.status)).toEqual(Array(8).fill(503));
		expect(refused.every((response) => record(record(response.body).error).code === "unavailable")).toBe(true);
		expect(await storedOfType(type)).toBe(0);
		database.failing.on = false;
		const accepted = await Promise.all(
			Array.from({ length: 8 }, (_, index) =>
				callWithSettings({ DB: database.d1 }, "POST", "/v1/events", { type, data: { index } }),
			),
		);
		expect(accepted.map((response) => response.status)).toEqual(Array(8).fill(202));
		expect(await storedOfType(type)).toBe(8);
	});

	it("does not keep requests waiting on a group that stalls: after a second they store their events themselves", async () => {
		const type = `grouped.${uniqueName("stall").replaceAll("-", "_")}`;
		const database = slowFirstBatch(env.DB, 3000);
		const started = Date.now();
		const send = (index: number) =>
			callWithSettings({ DB: database.d1 }, "POST", "/v1/events", { type, data: { index } }).then((response) => ({
				status: response.status,
				after: Date.now() - started,
			}));
		const first = send(0);
		const others = await Promise.all(Array.from({ length: 5 }, (_, index) => send(index + 1)));
		expect(others.map((answer) => answer.status)).toEqual(Array(5).fill(202));
		const firstAnswer = await first;
		expect(firstAnswer.status).toBe(202);
		// They waited a second for the stalled store, not its three: every one was answered before it.
		expect(Math.max(...others.map((answer) => answer.after))).toBeLessThan(firstAnswer.after);
		expect(await storedOfType(type)).toBe(6);
		expect(eventInserts(database.prepared)).toBe(2);
	});
});
