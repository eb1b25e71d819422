import {
	createExecutionContext,
	createMessageBatch,
	createScheduledController,
	evictDurableObject,
	getQueueResult,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { EventRow } from "../../src/db/schema";
import worker from "../../src/index";
import { deliveryId, deliveryIdRange } from "../../src/lib/ids";
import { type DeliveryJob, enqueueJobs } from "../../src/queue/messages";
import { recordOutcomes } from "../../src/queue/record";
import { continueSweepSlices, type SweepSliceJob, sweep, sweepAfterSeconds } from "../../src/reliability/sweeper";
import { schedulerFor } from "../../src/scheduler/client";
import {
	answered,
	api,
	createWebhook,
	firstAttempt,
	firstAttemptBatch,
	jobsByEvent,
	receivedBy,
	receiverPath,
	record,
	storedEvent,
	storeEventDirectly,
	uniqueName,
	waitFor,
} from "./helpers";

/*
 * These tests share one database (storage is isolated per file), and so one
 * sweep cursor: each test leaves every event it stores behind the cursor, so
 * the next test's old events are not held up behind a newer one.
 */

const MINUTE_MS = 60_000;
/** Older than SWEEP_AFTER_SECONDS (180 in wrangler.toml). */
const OVERDUE_MS = 10 * MINUTE_MS;

/** Stores an event as ingest would, but sends nothing: as if the worker died before the queue send. */
async function storeEvent(endpointIds: string[], createdAt: number, tenantId = "default"): Promise<{ seq: number }> {
	const row = await env.DB.prepare(
		"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at) VALUES (?, ?, 'thing.happened', '{}', ?, ?) RETURNING seq",
	)
		.bind(tenantId, `evt_${uniqueName("swept")}`, JSON.stringify(endpointIds), createdAt)
		.first<{ seq: number }>();
	if (!row) throw new Error("event not stored");
	return row;
}

async function storePendingDelivery(
	endpointId: string,
	seq: number,
	fields: { attemptCount: number; nextAttemptAt: number | null; updatedAt: number },
	tenantId = "default",
): Promise<string> {
	const id = deliveryId(endpointId, seq);
	await env.DB.prepare(
		`INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, attempt_count, attempts,
			next_attempt_at, created_at, updated_at)
		 SELECT ?, ?, ?, id, type, 'pending', ?, '[]', ?, created_at, ? FROM events WHERE seq = ?`,
	)
		.bind(id, tenantId, endpointId, fields.attemptCount, fields.nextAttemptAt, fields.updatedAt, seq)
		.run();
	return id;
}

async function deliveryRow(id: string) {
	return env.DB.prepare("SELECT status, attempt_count, attempts, next_attempt_at FROM delivery_log WHERE id = ?")
		.bind(id)
		.first<{ status: string; attempt_count: number; attempts: string; next_attempt_at: number | null }>();
}

async function cursor(): Promise<Record<string, number>> {
	// The cursors alone, not the record of when the sweeper last completed a run.
	const rows = await env.DB.prepare("SELECT name, value FROM sweep_cursors WHERE name LIKE 'events%'").all<{
		name: string;
		value: number;
	}>();
	return Object.fromEntries(rows.results.map((row) => [row.name, row.value]));
}

/** Stores `count` overdue events at once, all with the same endpoints, as if their jobs were lost. */
async function storeBacklog(count: number, endpointIds: string, createdAt: number): Promise<void> {
	await env.DB.prepare(
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		 INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at)
		 SELECT 'default', 'evt_backlog_' || hex(randomblob(8)) || '_' || i, 'thing.happened', '{}', ?, ? FROM n`,
	)
		.bind(count, endpointIds, createdAt)
		.run();
}

/** Runs sweep slices as the consumer does, jobs going to `queue`; answers whether each message was acked. */
async function runSlices(queue: Queue<unknown>, slices: readonly unknown[]): Promise<boolean[]> {
	const acked: boolean[] = [];
	for (const body of slices) {
		let ack = false;
		const message: Message<unknown> = {
			id: "slice",
			timestamp: new Date(),
			attempts: 1,
			body,
			ack: () => {
				ack = true;
			},
			retry: () => undefined,
		};
		await continueSweepSlices(withQueue(queue as Queue<DeliveryJob>), [message]);
		acked.push(ack);
	}
	return acked;
}

/** A queue that keeps what it is sent, so a test can look at the jobs before (or instead of) delivering them. */
function capturingQueue(refuse = false): { queue: Queue<DeliveryJob>; jobs: (DeliveryJob | SweepSliceJob)[] } {
	const jobs: (DeliveryJob | SweepSliceJob)[] = [];
	const metadata = { metrics: { backlogCount: 0, backlogBytes: 0 } };
	const queue: Queue<DeliveryJob> = {
		metrics: async () => metadata.metrics,
		send: async (body) => {
			if (refuse) throw new Error("queue refused the send");
			jobs.push(body);
			return { metadata };
		},
		sendBatch: async (messages) => {
			if (refuse) throw new Error("queue refused the send");
			for (const message of messages) jobs.push(message.body);
			return { metadata };
		},
	};
	return { queue, jobs };
}

function withQueue(queue: Queue<DeliveryJob>): Env {
	return { ...env, DELIVERY_QUEUE: queue };
}

/** The delivery jobs of `jobs`, one per event (see jobsByEvent). */
function eventJobs(jobs: readonly (DeliveryJob | SweepSliceJob)[]): DeliveryJob[] {
	return jobsByEvent(jobs.filter((job): job is DeliveryJob => "eventSeq" in job));
}

function jobsFor(jobs: readonly (DeliveryJob | SweepSliceJob)[], seq: number): DeliveryJob[] {
	return eventJobs(jobs).filter((job) => job.eventSeq === seq);
}

async function waitForStatus(id: string, status: string) {
	return waitFor(async () => {
		const row = await deliveryRow(id);
		return row?.status === status ? row : undefined;
	});
}

/** Queues the delivery jobs a sweep gave a capturing queue, for the consumer to deliver. */
async function deliverCaptured(jobs: readonly (DeliveryJob | SweepSliceJob)[]): Promise<void> {
	await enqueueJobs(
		env.DELIVERY_QUEUE as Queue<DeliveryJob>,
		jobs.filter((job): job is DeliveryJob => "eventSeq" in job),
	);
}

/** The job a sweep queues for a delivery whose first retry (attempt 2) it found stuck. */
function sweptSecondAttempt(eventSeq: number, endpointId: string): DeliveryJob {
	return { tenantId: "default", eventSeq, targets: [{ endpointId, attempt: 2 }], trigger: "scheduled", swept: true };
}

/** How many stuck retries a sweep at `atMs` queues (to a queue that keeps them). */
async function stuckRetriesRequeuedAt(atMs: number): Promise<number> {
	return (await sweep(withQueue(capturingQueue().queue), atMs)).stuckRetriesRequeued;
}

afterEach(() => {
	vi.restoreAllMocks();
});

describe("sweepAfterSeconds", () => {
	it.each([
		[undefined, 180],
		["", 180],
		["  ", 180],
		["soon", 180],
		["120", 120],
		[" 90 ", 90],
		["5", 30],
		["-1", 30],
		["86400", 300],
		["Infinity", 180],
	])("reads %j as %i", (value, seconds) => {
		expect(sweepAfterSeconds({ SWEEP_AFTER_SECONDS: value })).toBe(seconds);
	});
});

describe("sweeper: lost first attempts", () => {
	it("queues the first attempt of an event that was stored but never queued, once", async () => {
		const name = uniqueName("lost");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["*"] });
		const event = await storeEvent([String(hook.id)], Date.now() - OVERDUE_MS);

		const first = await sweep(env, Date.now());
		expect(first.eventsScanned).toBeGreaterThanOrEqual(1);
		expect(first.firstAttemptsRequeued).toBeGreaterThanOrEqual(1);
		const [request] = await waitFor(async () => {
			const requests = await receivedBy(name);
			return requests.length > 0 ? requests : undefined;
		});
		expect(request?.body).toContain('"type":"thing.happened"');
		const row = await waitForStatus(deliveryId(String(hook.id), event.seq), "success");
		expect(row.attempt_count).toBe(1);
		expect(JSON.parse(row.attempts)).toMatchObject([{ attempt: 1, trigger: "initial" }]);

		const second = await sweep(env, Date.now());
		expect(second).toEqual({
			eventsScanned: 0,
			sweepSlicesQueued: 0,
			firstAttemptsRequeued: 0,
			stuckRetriesRequeued: 0,
			scheduledReleased: 0,
			scheduledRequeued: 0,
		});
		expect(await receivedBy(name)).toHaveLength(1);
	});

	it("queues only the endpoints that have no delivery row yet", async () => {
		const [a, b, c] = await Promise.all(
			["a", "b", "c"].map((label) =>
				createWebhook({ url: receiverPath("ok", uniqueName(`partial-${label}`)), events: ["*"] }),
			),
		);
		if (!a || !b || !c) throw new Error("webhooks not created");
		const event = await storeEvent([String(a.id), String(b.id), String(c.id)], Date.now() - OVERDUE_MS);
		// b already has its delivery row: its first attempt was recorded.
		await env.DB.prepare(
			`INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, attempt_count, attempts, created_at, updated_at)
			 SELECT ?, 'default', ?, id, type, 'success', 1, '[]', created_at, created_at FROM events WHERE seq = ?`,
		)
			.bind(deliveryId(String(b.id), event.seq), b.id, event.seq)
			.run();
		const { queue, jobs } = capturingQueue();
		const counts = await sweep(withQueue(queue), Date.now());
		expect(counts.firstAttemptsRequeued).toBe(2);
		expect(jobsFor(jobs, event.seq)).toEqual([
			{
				tenantId: "default",
				eventSeq: event.seq,
				targets: [
					{ endpointId: a.id, attempt: 1 },
					{ endpointId: c.id, attempt: 1 },
				],
				trigger: "initial",
				swept: true,
			},
		]);
	});

	it("leaves an event newer than the cutoff alone, and picks it up once it is older", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("fresh")), events: ["*"] });
		const now = Date.now();
		const event = await storeEvent([String(hook.id)], now);
		const before = await cursor();

		const { queue, jobs } = capturingQueue();
		const early = await sweep(withQueue(queue), now + 60_000);
		expect(early).toEqual({
			eventsScanned: 0,
			sweepSlicesQueued: 0,
			firstAttemptsRequeued: 0,
			stuckRetriesRequeued: 0,
			scheduledReleased: 0,
			scheduledRequeued: 0,
		});
		expect(jobs).toEqual([]);
		expect(await cursor()).toEqual(before);

		const later = await sweep(withQueue(queue), now + 181_000);
		expect(later.eventsScanned).toBe(1);
		expect(jobsFor(jobs, event.seq)).toEqual([
			{
				tenantId: "default",
				eventSeq: event.seq,
				targets: [{ endpointId: hook.id, attempt: 1 }],
				trigger: "initial",
				swept: true,
			},
		]);
		expect((await cursor()).events).toBe(event.seq);
	});

	it("skips the events of a deleted tenant, and moves past them", async () => {
		const created = await api("POST", "/v1/tenants", { body: { name: uniqueName("gone") } });
		const tenantId = String(record(created.body).id);
		const hook = record(
			(
				await api("POST", "/v1/webhooks", {
					headers: { "x-tenant-id": tenantId },
					body: { url: receiverPath("ok", uniqueName("gone")), events: ["*"] },
				})
			).body,
		);
		const event = await storeEvent([String(hook.id)], Date.now() - OVERDUE_MS, tenantId);
		const stuck = await storePendingDelivery(
			String(hook.id),
			(await storeEvent([String(hook.id)], Date.now() - OVERDUE_MS, tenantId)).seq,
			{ attemptCount: 1, nextAttemptAt: Date.now() - OVERDUE_MS, updatedAt: Date.now() - OVERDUE_MS },
			tenantId,
		);
		// Deleted without starting the purge, so the rows stay for the sweeper to find.
		await env.DB.prepare("UPDATE tenants SET deleted_at = ?, updated_at = ? WHERE id = ?")
			.bind(Date.now(), Date.now(), tenantId)
			.run();

		const { queue, jobs } = capturingQueue();
		const now = Date.now();
		const counts = await sweep(withQueue(queue), now);
		expect(counts.eventsScanned).toBeGreaterThanOrEqual(2);
		expect(jobs.filter((job) => "tenantId" in job && job.tenantId === tenantId)).toEqual([]);
		expect((await cursor()).events).toBeGreaterThan(event.seq);
		// Pushed like any other, so a deleted tenant's rows cannot fill every run's bound until its purge removes them.
		expect((await deliveryRow(stuck))?.next_attempt_at).toBe(now + 180_000);
	});

	it("keeps its cursor where it was when the queue refuses the jobs, and moves it once they are accepted", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("refused")), events: ["*"] });
		const createdAt = Date.now() - OVERDUE_MS;
		const event = await storeEvent([String(hook.id)], createdAt);
		const before = await cursor();
		vi.spyOn(console, "error").mockImplementation(() => undefined);

		const refusing = capturingQueue(true);
		const refused = await sweep(withQueue(refusing.queue), Date.now());
		expect(refused.firstAttemptsRequeued).toBe(0);
		expect(await cursor()).toEqual(before);

		const accepting = capturingQueue();
		await sweep(withQueue(accepting.queue), Date.now());
		expect(jobsFor(accepting.jobs, event.seq)).toHaveLength(1);
		const after = await cursor();
		expect(after.events).toBe(event.seq);
		expect(after.events_created_at).toBe(createdAt);

		// A later run starts from the stored cursor: the event is not looked at again.
		const again = capturingQueue();
		expect((await sweep(withQueue(again.queue), Date.now())).eventsScanned).toBe(0);
		expect(again.jobs).toEqual([]);
	});

	it("walks a bounded number of events itself and hands the rest of an overdue backlog to the consumers as slices", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("backlog")), events: ["*"] });
		const createdAt = Date.now() - OVERDUE_MS;
		// A backlog of 5100 events without subscribers, then one with a subscriber whose jobs were lost.
		await storeBacklog(5100, "[]", createdAt);
		const last = await storeEvent([String(hook.id)], createdAt);

		const first = capturingQueue();
		expect(await sweep(withQueue(first.queue), Date.now())).toEqual({
			eventsScanned: 5000,
			sweepSlicesQueued: 1,
			firstAttemptsRequeued: 0,
			stuckRetriesRequeued: 0,
			scheduledReleased: 0,
			scheduledRequeued: 0,
		});
		// The cursor is past the whole backlog at once: what is left is the slice's.
		expect((await cursor()).events).toBe(last.seq);
		expect(first.jobs).toEqual([
			{ kind: "sweep_slice", shard: "DB", afterSeq: last.seq - 101, untilSeq: last.seq, cutoffMs: expect.any(Number) },
		]);

		const second = capturingQueue();
		const acked = await runSlices(second.queue, first.jobs);
		expect(acked).toEqual([true]);
		expect(jobsFor(second.jobs, last.seq)).toEqual([
			{
				tenantId: "default",
				eventSeq: last.seq,
				targets: [{ endpointId: hook.id, attempt: 1 }],
				trigger: "initial",
				swept: true,
			},
		]);
		expect((await sweep(withQueue(capturingQueue().queue), Date.now())).eventsScanned).toBe(0);
	});

	it("recovers a lost backlog of 12,000 events in one run and its slices, however large it is", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("lost-backlog")), events: ["*"] });
		const createdAt = Date.now() - OVERDUE_MS;
		const before = (await cursor()).events ?? 0;
		await storeBacklog(12_000, JSON.stringify([String(hook.id)]), createdAt);
		// Events still inside SWEEP_AFTER_SECONDS: in flight, not lost, so no slice may cover them.
		const fresh = [await storeEvent([String(hook.id)], Date.now()), await storeEvent([String(hook.id)], Date.now())];

		const run = capturingQueue();
		const counts = await sweep(withQueue(run.queue), Date.now());
		expect(counts.eventsScanned).toBe(5000);
		expect(counts.firstAttemptsRequeued).toBe(5000);
		// 7,000 events left over, in slices of 500 seqs.
		expect(counts.sweepSlicesQueued).toBe(14);
		const slices = run.jobs.filter((job) => "kind" in job);
		expect(slices).toHaveLength(14);

		const sliced = capturingQueue();
		expect(await runSlices(sliced.queue, slices)).toEqual(slices.map(() => true));
		const seqs = new Set(eventJobs([...run.jobs, ...sliced.jobs]).map((job) => job.eventSeq));
		// Every lost event got its first attempt queued, once.
		expect(seqs.size).toBe(12_000);
		expect(Math.min(...seqs)).toBe(before + 1);
		expect(eventJobs([...run.jobs, ...sliced.jobs])).toHaveLength(12_000);
		// Packed ten deliveries to a message: 1,200 messages for the 12,000 first attempts at fan-out 1.
		expect([...run.jobs, ...sliced.jobs].filter((job) => "eventSeq" in job)).toHaveLength(1_200);
		for (const event of fresh) expect(seqs.has(event.seq)).toBe(false);
		expect((await cursor()).events).toBe((fresh[0]?.seq ?? 0) - 1);
		// Once overdue, the next run finds them behind the cursor like any other.
		const later = capturingQueue();
		await sweep(withQueue(later.queue), Date.now() + OVERDUE_MS);
		expect(jobsFor(later.jobs, fresh[1]?.seq ?? 0)).toHaveLength(1);
	});

	it("goes on as a new slice when a slice has more deliveries to look up than one message may", async () => {
		const hooks = await Promise.all(
			Array.from({ length: 10 }, () => createWebhook({ url: "https://example.com/wide", events: ["*"] })),
		);
		const createdAt = Date.now() - OVERDUE_MS;
		const before = (await cursor()).events ?? 0;
		await storeBacklog(300, JSON.stringify(hooks.map((hook) => String(hook.id))), createdAt);
		const slice = { kind: "sweep_slice", shard: "DB", afterSeq: before, untilSeq: before + 300, cutoffMs: Date.now() };

		const first = capturingQueue();
		expect(await runSlices(first.queue, [slice])).toEqual([true]);
		// 2000 pairs at most per message: 200 events of 10 endpoints, then the rest as a new slice.
		const continued = first.jobs.filter((job) => "kind" in job);
		expect(continued).toEqual([{ ...slice, afterSeq: before + 200 }]);
		const second = capturingQueue();
		await runSlices(second.queue, continued);
		const targets = [...first.jobs, ...second.jobs].flatMap((job) => ("targets" in job ? job.targets : []));
		expect(targets).toHaveLength(3000);
		// The slice covers its range only, not the events after it.
		await sweep(withQueue(capturingQueue().queue), Date.now());
	});

	it("sends a slice that exhausted its retries back to the main queue, ten times, then logs it", async () => {
		const slice = { kind: "sweep_slice", shard: "DB", afterSeq: 1, untilSeq: 2, cutoffMs: Date.now() };
		const deadLetter = async (body: unknown) => {
			const main = capturingQueue();
			const batch = createMessageBatch("edgehook-deliveries-dlq", [
				{ id: "dead", timestamp: new Date(), attempts: 6, body },
			]);
			const ctx = createExecutionContext();
			await worker.queue(batch, withQueue(main.queue));
			return { acks: (await getQueueResult(batch, ctx)).explicitAcks, sent: main.jobs };
		};
		expect(await deadLetter(slice)).toEqual({ acks: ["dead"], sent: [{ ...slice, requeued: 1 }] });
		expect(await deadLetter({ ...slice, requeued: 9 })).toEqual({ acks: ["dead"], sent: [{ ...slice, requeued: 10 }] });
		const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
		expect(await deadLetter({ ...slice, requeued: 10 })).toEqual({ acks: ["dead"], sent: [] });
		expect(String(error.mock.calls[0]?.[0])).toContain("sweep slice given up");
	});

	it("drops a slice whose database is no longer bound, and passes over events of its range that are not overdue", async () => {
		const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
		const orphan = capturingQueue();
		expect(
			await runSlices(orphan.queue, [
				{ kind: "sweep_slice", shard: "SHARD_9", afterSeq: 0, untilSeq: 10, cutoffMs: Date.now() },
			]),
		).toEqual([true]);
		expect(orphan.jobs).toEqual([]);
		expect(String(error.mock.calls[0]?.[0])).toContain("SHARD_9");

		// As after a purge let seqs be given out again: a new event inside a range handed out earlier.
		const hook = await createWebhook({ url: "https://example.com/reused-range", events: ["*"] });
		const before = (await cursor()).events ?? 0;
		const overdue = await storeEvent([String(hook.id)], Date.now() - OVERDUE_MS);
		const fresh = await storeEvent([String(hook.id)], Date.now());
		const after = await storeEvent([String(hook.id)], Date.now() - OVERDUE_MS);
		const swept = capturingQueue();
		await runSlices(swept.queue, [
			{ kind: "sweep_slice", shard: "DB", afterSeq: before, untilSeq: after.seq, cutoffMs: Date.now() - 60_000 },
		]);
		expect(jobsFor(swept.jobs, overdue.seq)).toHaveLength(1);
		expect(jobsFor(swept.jobs, fresh.seq)).toEqual([]);
		// Passed over, not a stop: the overdue event after it is swept too.
		expect(jobsFor(swept.jobs, after.seq)).toHaveLength(1);
		await sweep(withQueue(capturingQueue().queue), Date.now() + OVERDUE_MS);
	});
	it("notices event seqs reused after the newest events were deleted, and sweeps the new events", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("reused")), events: ["*"] });
		const old = await storeEvent([String(hook.id)], Date.now() - OVERDUE_MS);
		const first = capturingQueue();
		await sweep(withQueue(first.queue), Date.now());
		expect((await cursor()).events).toBe(old.seq);

		// As after a purge of the tenant that sent the newest events: SQLite hands their seqs out again.
		await env.DB.prepare("DELETE FROM events WHERE seq = ?").bind(old.seq).run();
		// Stored later than the event the cursor passed, yet already overdue.
		const reused = await storeEvent([String(hook.id)], Date.now() - 4 * MINUTE_MS);
		expect(reused.seq).toBe(old.seq);
		const log = vi.spyOn(console, "log").mockImplementation(() => undefined);

		const second = capturingQueue();
		await sweep(withQueue(second.queue), Date.now());
		expect(log).toHaveBeenCalledWith(
			`sweep: event seqs up to ${old.seq} were given out again; resuming after ${old.seq - 1}`,
		);
		expect(jobsFor(second.jobs, reused.seq)).toEqual([
			{
				tenantId: "default",
				eventSeq: reused.seq,
				targets: [{ endpointId: hook.id, attempt: 1 }],
				trigger: "initial",
				swept: true,
			},
		]);
	});
});

describe("sweeper: stuck retries", () => {
	it("queues attempt 2 of a retry left pending past its time, pushes its time forward first, and it succeeds", async () => {
		const name = uniqueName("stuck");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["*"] });
		const event = await storeEvent([String(hook.id)], Date.now() - 30 * MINUTE_MS);
		const id = await storePendingDelivery(String(hook.id), event.seq, {
			attemptCount: 1,
			nextAttemptAt: Date.now() - OVERDUE_MS,
			updatedAt: Date.now() - 20 * MINUTE_MS,
		});

		const { queue, jobs } = capturingQueue();
		const now = Date.now();
		const counts = await sweep(withQueue(queue), now);
		expect(counts.stuckRetriesRequeued).toBe(1);
		// The event itself has its delivery row, so it gets no second first attempt.
		expect(jobsFor(jobs, event.seq)).toEqual([sweptSecondAttempt(event.seq, String(hook.id))]);
		expect(await deliveryRow(id)).toMatchObject({ status: "pending", next_attempt_at: now + 180_000 });
		// Pushed forward: the next minute's run leaves it alone while its job waits in the queue.
		expect(await stuckRetriesRequeuedAt(now + MINUTE_MS)).toBe(0);

		await deliverCaptured(jobs);
		const row = await waitForStatus(id, "success");
		expect(row.attempt_count).toBe(2);
		expect(JSON.parse(row.attempts)).toMatchObject([{ attempt: 2, trigger: "scheduled", status_code: 200 }]);
		expect(await receivedBy(name)).toHaveLength(1);
	});

	it("queues a first attempt for a pending delivery with no time and no attempt, once it has waited past the cutoff", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("undated")), events: ["*"] });
		const event = await storeEvent([String(hook.id)], Date.now() - 30 * MINUTE_MS);
		const id = await storePendingDelivery(String(hook.id), event.seq, {
			attemptCount: 0,
			nextAttemptAt: null,
			updatedAt: Date.now(),
		});

		const recent = capturingQueue();
		await sweep(withQueue(recent.queue), Date.now());
		expect(jobsFor(recent.jobs, event.seq)).toEqual([]);

		const later = capturingQueue();
		const now = Date.now() + OVERDUE_MS;
		await sweep(withQueue(later.queue), now);
		expect(jobsFor(later.jobs, event.seq)).toEqual([
			{
				tenantId: "default",
				eventSeq: event.seq,
				targets: [{ endpointId: hook.id, attempt: 1 }],
				trigger: "initial",
				swept: true,
			},
		]);
		expect((await deliveryRow(id))?.next_attempt_at).toBe(now + 180_000);
	});

	it("queues once a packed delivery whose retry was lost, pushing its retry and its pack's due time on", async () => {
		const name = uniqueName("packed-stuck");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["*"] });
		const endpointId = String(hook.id);
		const lost = await storedEvent((await storeEvent([endpointId], Date.now() - 30 * MINUTE_MS)).seq);
		const waiting = await storedEvent((await storeEvent([endpointId], Date.now() - 30 * MINUTE_MS)).seq);
		// Both first attempts failed and were packed together; only the first one's retry is overdue.
		const failed = (event: EventRow, dueAt: number) => ({
			...answered(firstAttempt(event, endpointId), 500),
			status: "pending" as const,
			nextAttemptAtMs: dueAt,
		});
		const later = Date.now() + 60 * MINUTE_MS;
		await env.DB.batch(recordOutcomes(env.DB, [failed(lost, Date.now() - OVERDUE_MS), failed(waiting, later)]));
		const id = deliveryId(endpointId, lost.seq);
		const packDue = () =>
			env.DB.prepare("SELECT pending_due AS due FROM delivery_packs WHERE id > ? AND id < ?")
				.bind(id, `${deliveryIdRange(endpointId).to}`)
				.first<{ due: number }>();

		const { queue, jobs } = capturingQueue();
		const now = Date.now();
		expect((await sweep(withQueue(queue), now)).stuckRetriesRequeued).toBe(1);
		expect(jobsFor(jobs, lost.seq)).toEqual([sweptSecondAttempt(lost.seq, endpointId)]);
		expect(jobsFor(jobs, waiting.seq)).toEqual([]);
		expect(await deliveryRow(id)).toMatchObject({ status: "pending", next_attempt_at: now + 180_000 });
		expect((await packDue())?.due).toBe(now + 180_000);
		expect(await stuckRetriesRequeuedAt(now + MINUTE_MS)).toBe(0);

		// Sent again by the sweeper, its outcome goes to a row that goes on from the packed attempt.
		await deliverCaptured(jobs);
		const row = await waitForStatus(id, "success");
		expect((JSON.parse(row.attempts) as { status_code: number }[]).map((attempt) => attempt.status_code)).toEqual([
			500, 200,
		]);
		expect(await receivedBy(name)).toHaveLength(1);
		// Its pack is due at the other one's retry only.
		// Once the sweeper reads the pack again, the row's copy counts for nothing.
		expect(await stuckRetriesRequeuedAt(now + 6 * MINUTE_MS + 1)).toBe(0);
		expect((await packDue())?.due).toBe(later);
	});

	it("groups the stuck retries of one event into one job", async () => {
		const hooks = await Promise.all(
			[1, 2, 3].map(() => createWebhook({ url: receiverPath("ok", uniqueName("grouped")), events: ["*"] })),
		);
		const ids = hooks.map((hook) => String(hook.id));
		const event = await storeEvent(ids, Date.now() - 30 * MINUTE_MS);
		for (const [index, endpointId] of ids.entries()) {
			await storePendingDelivery(endpointId, event.seq, {
				attemptCount: index + 1,
				nextAttemptAt: Date.now() - OVERDUE_MS,
				updatedAt: Date.now() - OVERDUE_MS,
			});
		}
		const { queue, jobs } = capturingQueue();
		await sweep(withQueue(queue), Date.now());
		const [job, ...others] = jobsFor(jobs, event.seq);
		expect(others).toEqual([]);
		expect(job?.trigger).toBe("scheduled");
		expect(job?.targets).toEqual(
			expect.arrayContaining(ids.map((endpointId, index) => ({ endpointId, attempt: index + 2 }))),
		);
		expect(job?.targets).toHaveLength(3);
	});

	it("sends a retry its scheduler lost with its memory (a crash within a second of the report), from the delivery log", async () => {
		const name = uniqueName("unsaved-lost");
		const hook = await createWebhook({ url: receiverPath("flaky/1", name), events: ["*"], retry_schedule: [3600] });
		const endpointId = String(hook.id);
		const event = await storeEventDirectly("default", "unsaved.lost", [endpointId]);
		await worker.queue(firstAttemptBatch("default", [event], endpointId), env);
		const scheduler = schedulerFor(env, "default", endpointId);
		expect((await scheduler.pending()).count).toBe(1);
		await evictDurableObject(scheduler);
		expect((await scheduler.pending()).count).toBe(0);

		const id = deliveryId(endpointId, event.seq);
		const dueAt = (await deliveryRow(id))?.next_attempt_at ?? 0;
		expect(dueAt).toBeGreaterThan(Date.now());
		const { queue, jobs } = capturingQueue();
		// Run last in this file: a sweep an hour ahead also takes the other tests' leftovers.
		await sweep(withQueue(queue), dueAt + OVERDUE_MS);
		expect(jobsFor(jobs, event.seq)).toEqual([sweptSecondAttempt(event.seq, endpointId)]);
		await deliverCaptured(jobs);
		const row = await waitForStatus(id, "success");
		expect((JSON.parse(row.attempts) as { status_code: number }[]).map((attempt) => attempt.status_code)).toEqual([
			500, 200,
		]);
		expect(await receivedBy(name)).toHaveLength(2);
	});
});

describe("the every-minute cron", () => {
	it("runs the sweep and logs what it requeued", async () => {
		const name = uniqueName("cron");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["*"] });
		const event = await storeEvent([String(hook.id)], Date.now() - OVERDUE_MS);
		const log = vi.spyOn(console, "log").mockImplementation(() => undefined);

		await worker.scheduled(createScheduledController({ cron: "* * * * *", scheduledTime: Date.now() }), env);
		expect(log.mock.calls.map(([line]) => String(line)).find((line) => line.startsWith("sweep:"))).toMatch(
			/^sweep: requeued [1-9]\d* lost first attempts \(\d+ events scanned\), \d+ stuck retries and \d+ scheduled events whose delayed job was lost; 0 slices of older events handed to the consumers$/,
		);
		await waitForStatus(deliveryId(String(hook.id), event.seq), "success");
		expect(await receivedBy(name)).toHaveLength(1);
	});
});
