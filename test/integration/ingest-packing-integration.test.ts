import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeliveryJob } from "../../src/queue/messages";
import {
	api,
	callWithSettings,
	createWebhook,
	receivedBy,
	receiverPath,
	record,
	recordingDatabase,
	recordingQueue,
	uniqueName,
	waitFor,
	withBatch,
} from "./helpers";

const eventInserts = (prepared: readonly string[]) =>
	prepared.filter((query) => query.includes("INSERT INTO events")).length;

async function storedData(id: string): Promise<string[]> {
	const { results } = await env.DB.prepare("SELECT data FROM events WHERE tenant_id = 'default' AND id = ?")
		.bind(id)
		.all<{ data: string }>();
	return results.map((row) => row.data);
}

describe("ingest's statements", () => {
	it("stores a batch of 100 events with one INSERT, each with its own fan-out", async () => {
		const type = `onestatement.${uniqueName("t").replaceAll("-", "_")}`;
		const other = `${type}_other`;
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("one")), events: [type] });
		const blue = await createWebhook({ url: receiverPath("ok", uniqueName("blue")), events: [type], labels: ["blue"] });
		const database = recordingDatabase(env.DB);
		const response = await callWithSettings({ DB: database.d1 }, "POST", "/v1/events/batch", {
			events: Array.from({ length: 100 }, (_, index) => ({
				type: index % 2 === 0 ? type : other,
				data: { index },
				...(index % 4 === 0 ? { labels: ["blue"] } : {}),
			})),
		});
		expect(response.status).toBe(202);
		expect(eventInserts(database.prepared)).toBe(1);
		const accepted = record(response.body).events as { id: string; type: string }[];
		const { results } = await env.DB.prepare(
			`SELECT id, endpoint_ids FROM events WHERE tenant_id = 'default' AND id IN (SELECT value FROM json_each(?))`,
		)
			.bind(JSON.stringify(accepted.map((event) => event.id)))
			.all<{ id: string; endpoint_ids: string }>();
		expect(results).toHaveLength(100);
		const fanOut = new Map(results.map((row) => [row.id, (JSON.parse(row.endpoint_ids) as string[]).sort()]));
		// Every event of the type reaches the unlabelled endpoint; only those labelled blue reach the blue one.
		for (const [index, event] of accepted.entries()) {
			const expected = event.type !== type ? [] : index % 4 === 0 ? [hook.id, blue.id] : [hook.id];
			expect(fanOut.get(event.id)).toEqual([...expected].sort());
		}
	});

	it("stores an id given twice in one batch once, from its first event, and answers the second as its replay", async () => {
		const type = `twice.${uniqueName("t").replaceAll("-", "_")}`;
		const id = `evt_${uniqueName("twice")}`;
		const response = await callWithSettings({}, "POST", "/v1/events/batch", {
			events: [
				{ id, type, data: { first: true } },
				{ id, type, data: { first: false } },
			],
		});
		expect(response.status).toBe(202);
		const accepted = record(response.body).events as { id: string }[];
		expect(accepted.map((event) => event.id)).toEqual([id, id]);
		expect(await storedData(id)).toEqual([JSON.stringify({ first: true })]);
	});

	it("gives each stored row to its own input when an id repeats with another key: a scheduled copy stays scheduled", async () => {
		const type = `rekeyed.${uniqueName("t").replaceAll("-", "_")}`;
		await createWebhook({ url: receiverPath("ok", uniqueName("rekeyed")), events: [type] });
		const key = uniqueName("key");
		const earlier = await callWithSettings(
			{},
			"POST",
			"/v1/events/batch",
			{ events: [{ type, data: {} }] },
			{
				"idempotency-key": key,
			},
		);
		expect(earlier.status).toBe(202);
		const id = `evt_${uniqueName("rekeyed")}`;
		const deliverAt = new Date(Date.now() + 3_600_000).toISOString();
		const recorded = recordingQueue(env.DELIVERY_QUEUE);
		// The first copy's key (<key>#0) was taken by the earlier batch, so only the second copy is stored.
		const response = await callWithSettings(
			{ DELIVERY_QUEUE: recorded.queue },
			"POST",
			"/v1/events/batch",
			{
				events: [
					{ id, type, data: { copy: 1 } },
					{ id, type, data: { copy: 2 }, deliver_at: deliverAt },
				],
			},
			{ "idempotency-key": key },
		);
		expect(response.status).toBe(202);
		const [first, second] = record(response.body).events as { id: string; deliver_at: string | null }[];
		// The first copy repeats an id this request stored: it is answered as that event, as any repeated id is.
		expect(first?.id).toBe(id);
		expect(second).toMatchObject({ id, deliver_at: deliverAt });
		expect(await storedData(id)).toEqual([JSON.stringify({ copy: 2 })]);
		// Its first attempt waits for its time in the queue; nothing goes out at once.
		expect(recorded.sent).toHaveLength(1);
		expect(recorded.delays[0]).toBeGreaterThan(3500);
	});

	it("splits large payloads over several INSERTs of one batch, storing each byte for byte", async () => {
		const type = `large.${uniqueName("t").replaceAll("-", "_")}`;
		const database = recordingDatabase(env.DB);
		const events = Array.from({ length: 7 }, (_, index) => ({
			type,
			data: { index, text: `ü€😀"\\${"x".repeat(200 * 1024)}` },
		}));
		const response = await callWithSettings({ DB: database.d1 }, "POST", "/v1/events/batch", { events });
		expect(response.status).toBe(202);
		expect(eventInserts(database.prepared)).toBeGreaterThan(1);
		const accepted = record(response.body).events as { id: string }[];
		for (const [index, event] of accepted.entries())
			expect(await storedData(event.id)).toEqual([JSON.stringify(events[index]?.data)]);
	});
});

describe("ingest's queue messages", () => {
	it("packs a batch's first attempts ten to a message across events, and delivers each event once", async () => {
		const type = `packed.${uniqueName("t").replaceAll("-", "_")}`;
		const name = uniqueName("packed");
		// A tenant of its own: an earlier test's first attempt still waiting for its departure would join these.
		const { headers, endpointId } = await tenantOfItsOwn(name, type);
		const recorded = recordingQueue(env.DELIVERY_QUEUE);

		const response = await callWithSettings(
			{ DELIVERY_QUEUE: recorded.queue },
			"POST",
			"/v1/events/batch",
			{ events: Array.from({ length: 25 }, (_, index) => ({ type, data: { index } })) },
			headers,
		);
		expect(response.status).toBe(202);
		const accepted = (record(response.body).events as { id: string }[]).map((event) => event.id);
		expect(accepted).toHaveLength(25);

		// Twenty-five events at fan-out 1: three messages, not twenty-five.
		expect(recorded.sent).toHaveLength(3);
		expect(recorded.sent.map((job) => job.targets.length)).toEqual([10, 10, 5]);
		const seqs = recorded.sent.flatMap((job) => job.targets.map((target) => target.eventSeq ?? job.eventSeq));
		expect(new Set(seqs).size).toBe(25);
		for (const job of recorded.sent) {
			expect(job.targets.every((target) => target.endpointId === endpointId && target.attempt === 1)).toBe(true);
		}

		const arrived = await waitFor(async () => {
			const requests = await receivedBy(name);
			return requests.length >= 25 ? requests : undefined;
		}, 15_000);
		const ids = arrived.map((request) => request.headers["webhook-id"]);
		expect(new Set(ids)).toEqual(new Set(accepted));
		expect(ids).toHaveLength(25);
	});
});

/**
 * A new tenant with one endpoint receiving `type` at receiver `name`.
 * Departures are per tenant: a test that counts queue messages needs one
 * that no other test's first attempts may be waiting in.
 */
async function tenantOfItsOwn(
	name: string,
	type: string,
	shard?: "DB",
): Promise<{ headers: Record<string, string>; endpointId: string }> {
	const tenant = String(record((await api("POST", "/v1/tenants", { body: { name, shard } })).body).id);
	const headers = { "x-tenant-id": tenant };
	const webhook = await api("POST", "/v1/webhooks", {
		body: { url: receiverPath("ok", name), events: [type] },
		headers,
	});
	expect(webhook.status).toBe(201);
	return { headers, endpointId: String(record(webhook.body).id) };
}

async function storedOfType(type: string): Promise<number> {
	const row = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE tenant_id = 'default' AND type = ?")
		.bind(type)
		.first<{ n: number }>();
	return row?.n ?? 0;
}

/** The database, failing every batch while `failing.on` is set, as D1 does when it is overloaded. */
function switchableDatabase(real: D1Database): { d1: D1Database; failing: { on: boolean } } {
	const failing = { on: false };
	const d1 = withBatch(real, async (statements, realBatch) => {
		if (failing.on) throw new Error("D1_ERROR: Database is overloaded. Requests queued for too long.");
		return realBatch(statements);
	});
	return { d1, failing };
}

/** The database, holding its first batch for `holdMs` before running it, as a stalled store would. */
function slowFirstBatch(
	real: D1Database,
	holdMs: number,
): { d1: D1Database; prepared: string[]; firstBatchStarted: Promise<void> } {
	const recording = recordingDatabase(real);
	let batches = 0;
	let started = () => {};
	const firstBatchStarted = new Promise<void>((resolve) => {
		started = resolve;
	});
	const d1 = withBatch(recording.d1, async (statements, realBatch) => {
		batches++;
		if (batches === 1) {
			started();
			await new Promise((resolve) => setTimeout(resolve, holdMs));
		}
		return realBatch(statements);
	});
	return { d1, prepared: recording.prepared, firstBatchStarted };
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
		// Their first attempts leave after the answers, in departures (src/queue/departures.ts).
		const deliveries = await waitFor(async () => {
			const targets = queue.sent.reduce((sum, job) => sum + job.targets.length, 0);
			return targets >= 20 ? targets : undefined;
		}, 5_000);
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
		// Sent once the first group is being stored, so that they are not in it (a busy tenant's group waits for company).
		await database.firstBatchStarted;
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

describe("groups of a busy tenant", () => {
	it("wait for company: events sent 1 ms apart, one to a request, share statements", async () => {
		const type = `busy.${uniqueName("t").replaceAll("-", "_")}`;
		const { headers } = await tenantOfItsOwn(uniqueName("busy"), type, "DB");
		const database = recordingDatabase(env.DB);
		const sends: Promise<number>[] = [];
		for (let index = 0; index < 30; index++) {
			sends.push(
				callWithSettings({ DB: database.d1 }, "POST", "/v1/events", { type, data: { index } }, headers).then(
					(response) => response.status,
				),
			);
			await new Promise((resolve) => setTimeout(resolve, 1));
		}
		expect(await Promise.all(sends)).toEqual(Array(30).fill(202));
		// Without the wait each store ends before the next request comes, and every event takes a statement
		// of its own (30 of 30 in each run here); with it, 20 to 24.
		expect(eventInserts(database.prepared)).toBeLessThan(30);
	});
});

const targetsIn = (jobs: readonly DeliveryJob[]) => jobs.reduce((sum, job) => sum + job.targets.length, 0);

describe("departures of first attempts", () => {
	async function departingTenant(receiver: string, type: string, coalesceMs: string) {
		const { headers } = await tenantOfItsOwn(receiver, type);
		const queue = recordingQueue(env.DELIVERY_QUEUE);
		const settings: Partial<Env> = { DELIVERY_QUEUE: queue.queue, FIRST_ATTEMPT_COALESCE_MS: coalesceMs };
		const send = async (index: number) => {
			const response = await callWithSettings(settings, "POST", "/v1/events", { type, data: { index } }, headers);
			expect(response.status).toBe(202);
			return { id: String(record(response.body).id), answeredAt: Date.now() };
		};
		return { queue, send };
	}

	it("packs the first attempts of events sent one after another, close together, into shared messages", async () => {
		const type = `departing.${uniqueName("t").replaceAll("-", "_")}`;
		const receiver = uniqueName("departing");
		const { queue, send } = await departingTenant(receiver, type, "1000");

		const lone = await send(0);
		await waitFor(async () => (queue.sent.length > 0 ? true : undefined), 5_000);
		// The tenant's first event in a while waits for no one.
		expect(queue.sentAt[0] ?? Number.POSITIVE_INFINITY).toBeLessThan(lone.answeredAt + 500);

		// One after another, each answered before the next is sent: no group commit joins them.
		const followers: string[] = [];
		for (let index = 1; index <= 12; index++) followers.push((await send(index)).id);
		await waitFor(async () => (targetsIn(queue.sent) >= 13 ? true : undefined), 5_000);
		const later = queue.sent.slice(1);
		expect(targetsIn(later)).toBe(12);
		// Sent one to a message, they would take 12.
		expect(later.length).toBeLessThanOrEqual(6);

		const received = await waitFor(async () => {
			const seen = await receivedBy(receiver);
			return seen.length >= 13 ? seen : undefined;
		}, 15_000);
		expect(received.map((request) => request.headers["webhook-id"]).sort()).toEqual([lone.id, ...followers].sort());
	});

	it("sends each first attempt at once when the tenant's events come further apart than FIRST_ATTEMPT_COALESCE_MS", async () => {
		const type = `departing.${uniqueName("apart").replaceAll("-", "_")}`;
		const receiver = uniqueName("apart");
		const { queue, send } = await departingTenant(receiver, type, "300");
		const answers: { answeredAt: number }[] = [];
		for (let index = 0; index < 4; index++) {
			answers.push(await send(index));
			await waitFor(async () => (queue.sent.length > index ? true : undefined), 5_000);
			await new Promise((resolve) => setTimeout(resolve, 400));
		}
		expect(queue.sent.map((job) => job.targets.length)).toEqual([1, 1, 1, 1]);
		// Held, each would have left at least 300 ms after its answer.
		queue.sentAt.forEach((at, index) => {
			expect(at).toBeLessThan((answers[index]?.answeredAt ?? 0) + 200);
		});
	});
});
