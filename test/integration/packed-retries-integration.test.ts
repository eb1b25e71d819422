import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import { failCancelledDeliveries } from "../../src/db/deliveries";
import type { EventRow } from "../../src/db/schema";
import { deliveryId, publicDeliveryId } from "../../src/lib/ids";
import type { Outcome, PlannedAttempt } from "../../src/queue/attempt";
import type { DeliveryJob } from "../../src/queue/messages";
import { recordOutcomes } from "../../src/queue/record";
import { recoverSlice, startRecover } from "../../src/tasks/recover";
import { answered, api, endpointWithEvents, firstAttempt, record, scheduledRetry } from "./helpers";

/*
 * Failed attempts and their retries recorded many to a row (src/queue/record.ts,
 * src/db/delivery-log.ts): a retry carries its delivery's packed copy into
 * the write's new pack and takes it out of the old one, so a delivery is in
 * one pack at a time, with every attempt, and no row is written for it.
 */

const HOUR_MS = 3_600_000;

/** A failed attempt whose retry is due at `dueAt`. */
function failedUntil(planned: PlannedAttempt, dueAt: number): Outcome {
	return { ...answered(planned, 500), status: "pending", nextAttemptAtMs: dueAt };
}

/** Stores outcomes as the consumer does, one D1 batch; returns the rows it wrote. */
async function write(outcomes: readonly Outcome[]): Promise<number> {
	const results = await env.DB.batch(recordOutcomes(env.DB, outcomes));
	return results.reduce((sum, result) => sum + result.meta.rows_written, 0);
}

interface PackSeen {
	id: string;
	members: string[];
	pendingDue: number | null;
}

/** The endpoint's packs, lowest first, each with the ids of its deliveries. */
async function packsOf(endpointId: string): Promise<PackSeen[]> {
	const prefix = deliveryId(endpointId, 0).slice(0, -10);
	const { results } = await env.DB.prepare(
		"SELECT id, deliveries, pending_due FROM delivery_packs WHERE id >= ? AND id < ? ORDER BY id",
	)
		.bind(prefix, `${prefix}~`)
		.all<{ id: string; deliveries: string; pending_due: number | null }>();
	return results.map((pack) => ({
		id: pack.id,
		members: (JSON.parse(pack.deliveries) as unknown[][]).map((member) => String(member[0])),
		pendingDue: pack.pending_due,
	}));
}

async function rowCount(endpointId: string): Promise<number> {
	const prefix = deliveryId(endpointId, 0).slice(0, -10);
	const row = await env.DB.prepare("SELECT count(*) AS n FROM deliveries WHERE id >= ? AND id < ?")
		.bind(prefix, `${prefix}~`)
		.first<{ n: number }>();
	return row?.n ?? 0;
}

async function detail(endpointId: string, event: EventRow): Promise<Record<string, unknown>> {
	const response = await api("GET", `/v1/deliveries/${publicDeliveryId(endpointId, event.id)}`);
	expect(response.status).toBe(200);
	return record(response.body);
}

const codesOf = (body: Record<string, unknown>) =>
	(body.attempts as { status_code: number; attempt: number }[]).map((attempt) => [
		attempt.attempt,
		attempt.status_code,
	]);

async function listed(endpointId: string, status: string): Promise<number> {
	const response = await api("GET", `/v1/webhooks/${endpointId}/deliveries?status=${status}&limit=100`);
	return (record(response.body).deliveries as unknown[]).length;
}

describe("failed attempts and their retries packed many to a row", () => {
	it("carries a delivery from pack to pack through two failures and a success: in one pack at a time, every attempt kept, no row", async () => {
		const { endpointId, stored } = await endpointWithEvents("carried", 3, "carried.test");
		const [first, second, third] = stored as [EventRow, EventRow, EventRow];
		const now = Date.now();

		await write(stored.map((event, index) => failedUntil(firstAttempt(event, endpointId), now + 1000 * (index + 1))));
		let packs = await packsOf(endpointId);
		expect(packs).toHaveLength(1);
		expect(packs[0]?.members).toHaveLength(3);
		expect(packs[0]?.pendingDue).toBe(now + 1000);

		// The first one's retry fails again: it moves to a pack of its own; the old pack keeps the other two, due
		// at the earlier of theirs.
		await write([failedUntil(scheduledRetry(first, endpointId, 2), now + 60_000)]);
		packs = await packsOf(endpointId);
		expect(packs.map((pack) => [pack.members.length, pack.pendingDue]).sort()).toEqual(
			[
				[1, now + 60_000],
				[2, now + 2000],
			].sort(),
		);
		expect(await listed(endpointId, "pending")).toBe(3);
		expect(codesOf(await detail(endpointId, first))).toEqual([
			[1, 500],
			[2, 500],
		]);

		// The other two succeed at their second attempt: their old pack empties and goes.
		await write([second, third].map((event) => answered(scheduledRetry(event, endpointId, 2), 200)));
		// The first one succeeds at its third.
		await write([answered(scheduledRetry(first, endpointId, 3), 200)]);

		packs = await packsOf(endpointId);
		expect(packs).toHaveLength(2);
		expect(packs.every((pack) => pack.pendingDue === null)).toBe(true);
		expect(packs.flatMap((pack) => pack.members).sort()).toEqual(
			stored.map((event) => deliveryId(endpointId, event.seq)).sort(),
		);
		expect(await rowCount(endpointId)).toBe(0);

		expect(await detail(endpointId, first)).toMatchObject({ status: "success", attempt_count: 3 });
		expect(codesOf(await detail(endpointId, first))).toEqual([
			[1, 500],
			[2, 500],
			[3, 200],
		]);
		expect(codesOf(await detail(endpointId, second))).toEqual([
			[1, 500],
			[2, 200],
		]);
		expect(await listed(endpointId, "success")).toBe(3);
		expect(await listed(endpointId, "pending")).toBe(0);
		const stats = record((await api("GET", `/v1/webhooks/${endpointId}/stats`)).body);
		expect(stats.totals).toMatchObject({ deliveries: 3, succeeded: 3 });
	});

	it("writes 5 rows for ten deliveries that fail twice and then succeed together, where rows would take 50", async () => {
		const { endpointId, stored } = await endpointWithEvents("shares", 10, "shares.test");
		const now = Date.now();
		const written = [
			await write(stored.map((event) => failedUntil(firstAttempt(event, endpointId), now + 5000))),
			await write(stored.map((event) => failedUntil(scheduledRetry(event, endpointId, 2), now + 60_000))),
			await write(stored.map((event) => answered(scheduledRetry(event, endpointId, 3), 200))),
		];
		// The ten retried together each time, their pack is rewritten in place: the pack and its pending index
		// entry, the entry moved, then the pack left alone with none. Rows would have written 50: each delivery's
		// row with its entry, the row and its entry moved, the row.
		expect(written).toEqual([2, 2, 1]);
		expect(await rowCount(endpointId)).toBe(0);
		expect(await packsOf(endpointId)).toHaveLength(1);
		for (const event of stored) {
			expect(await detail(endpointId, event)).toMatchObject({ status: "success", attempt_count: 3 });
		}
	});

	it("rewrites a pack in place when a write retries exactly its deliveries, as a lone failure's retries do", async () => {
		const { endpointId, stored } = await endpointWithEvents("in-place", 1, "in-place.test");
		const [event] = stored as [EventRow];
		const now = Date.now();
		const written = [await write([failedUntil(firstAttempt(event, endpointId), now + 1000)])];
		const [pack] = await packsOf(endpointId);
		written.push(await write([failedUntil(scheduledRetry(event, endpointId, 2), now + 60_000)]));
		expect(await packsOf(endpointId)).toEqual([{ id: pack?.id, members: pack?.members, pendingDue: now + 60_000 }]);
		written.push(await write([answered(scheduledRetry(event, endpointId, 3), 200)]));
		expect(await packsOf(endpointId)).toEqual([{ id: pack?.id, members: pack?.members, pendingDue: null }]);
		expect(codesOf(await detail(endpointId, event))).toEqual([
			[1, 500],
			[2, 500],
			[3, 200],
		]);
		// The pack and its pending index entry, the entry moved, then the pack left alone with none: as a row would.
		expect(written).toEqual([2, 2, 1]);
	});

	it("a packed delivery that gets a row (held by its scheduler) goes on in the row; its packed copy counts for nothing", async () => {
		const { endpointId, stored } = await endpointWithEvents("held", 2, "held.test");
		const [held, other] = stored as [EventRow, EventRow];
		const now = Date.now();
		await write(stored.map((event) => failedUntil(firstAttempt(event, endpointId), now + 1000)));
		// The circuit holds the first one's retry: nothing sent, so it goes to a row, copied from its pack first.
		await write([
			{
				...answered(scheduledRetry(held, endpointId, 2), 200),
				status: "pending",
				record: null,
				error: null,
				nextAttemptAtMs: now + 30_000,
				health: null,
			},
		]);
		expect(await rowCount(endpointId)).toBe(1);
		expect(await detail(endpointId, held)).toMatchObject({ status: "pending", attempt_count: 1 });

		// Released and sent: the outcome goes to the row (in the pack insert's statement), not to a second copy.
		await write([
			answered(scheduledRetry(held, endpointId, 2), 200),
			answered(scheduledRetry(other, endpointId, 2), 200),
		]);
		expect(await detail(endpointId, held)).toMatchObject({ status: "success", attempt_count: 2 });
		expect(codesOf(await detail(endpointId, held))).toEqual([
			[1, 500],
			[2, 200],
		]);
		expect(await detail(endpointId, other)).toMatchObject({ status: "success", attempt_count: 2 });
		expect(await listed(endpointId, "success")).toBe(2);
		expect(await listed(endpointId, "pending")).toBe(0);
		// No pack is left due for a delivery whose row is its truth.
		expect((await packsOf(endpointId)).map((pack) => pack.pendingDue)).toEqual([null]);
	});

	it("cancels a packed pending delivery (its endpoint deleted) through a row, and a recover finds packed failures", async () => {
		const { endpointId, stored } = await endpointWithEvents("cancel", 3, "cancel.test");
		const [cancelled, exhausted, retrying] = stored as [EventRow, EventRow, EventRow];
		const now = Date.now();
		await write([
			failedUntil(firstAttempt(cancelled, endpointId), now + 1000),
			answered(firstAttempt(exhausted, endpointId), 500),
			failedUntil(firstAttempt(retrying, endpointId), now + 1000),
		]);
		expect(await detail(endpointId, exhausted)).toMatchObject({ status: "failed" });

		const db = openDatabase(env.DB);
		await failCancelledDeliveries(db, "default", [deliveryId(endpointId, cancelled.seq)], "the endpoint was deleted");
		expect(await detail(endpointId, cancelled)).toMatchObject({
			status: "failed",
			attempt_count: 1,
			error: "the endpoint was deleted",
		});
		expect(await detail(endpointId, retrying)).toMatchObject({ status: "pending" });

		// The two failed ones, one in a row and one in a pack, are counted once each and both re-sent.
		const sent: DeliveryJob[] = [];
		const metadata = { metrics: { backlogCount: 0, backlogBytes: 0 } };
		const queue: Queue<DeliveryJob> = {
			metrics: async () => metadata.metrics,
			send: async () => ({ metadata }),
			sendBatch: async (messages) => {
				for (const message of messages) sent.push(message.body);
				return { metadata };
			},
		};
		const window = { since: now - HOUR_MS, until: now + HOUR_MS };
		const task = await startRecover(db, queue, "default", endpointId, window, now);
		expect(task.total).toBe(2);
		expect(await recoverSlice({ ...env, DELIVERY_QUEUE: queue }, "default", task.id, now)).toBe(false);
		const resent = sent.flatMap((job) =>
			job.targets.map((target) => [deliveryId(target.endpointId, job.eventSeq), target.attempt, job.trigger]),
		);
		expect(resent.sort()).toEqual(
			[
				[deliveryId(endpointId, cancelled.seq), 2, "manual"],
				[deliveryId(endpointId, exhausted.seq), 2, "manual"],
			].sort(),
		);
	});
});
