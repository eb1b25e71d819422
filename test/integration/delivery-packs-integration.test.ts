import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { desc, eq, getTableColumns } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import { scanEndpointDeliveries } from "../../src/db/deliveries";
import { copyPackedToRows, type LogQuery, PACK_SPAN, readEndpointLog, rowsInRange } from "../../src/db/delivery-log";
import { type DeliveryRow, deliveries, type EventRow } from "../../src/db/schema";
import worker from "../../src/index";
import { deliveryId, deliveryIdRange, publicDeliveryId } from "../../src/lib/ids";
import type { DeliveryJob } from "../../src/queue/messages";
import { recordOutcomes } from "../../src/queue/record";
import { sweep } from "../../src/reliability/sweeper";
import { purgeExpired } from "../../src/retention";
import {
	answered,
	api,
	createWebhook,
	endpointWithEvents,
	firstAttempt,
	firstAttemptBatch,
	forgetCleanedMark,
	receivedBy,
	receiverPath,
	record,
	storedEvent,
	storeEventDirectly,
	uniqueName,
	waitFor,
} from "./helpers";

const DAY_MS = 24 * 3600 * 1000;

/** An endpoint with two events' first attempts delivered in one batch, so packed together. */
async function twoPackedDeliveries(
	label: string,
): Promise<{ endpointId: string; stored: { seq: number; id: string }[] }> {
	const hook = await createWebhook({ url: receiverPath("ok", uniqueName(label)), events: ["*"] });
	const endpointId = String(hook.id);
	const stored = [
		await storeEventDirectly("default", "pack.test", [endpointId]),
		await storeEventDirectly("default", "pack.test", [endpointId]),
	];
	const batch = firstAttemptBatch("default", stored, endpointId);
	await worker.queue(batch, env);
	await getQueueResult(batch, createExecutionContext());
	return { endpointId, stored };
}

async function countIn(table: "deliveries" | "delivery_packs", endpointId: string): Promise<number> {
	const row = await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE id >= ? AND id < ?`)
		.bind(deliveryId(endpointId, 0), `${deliveryId(endpointId, 0).slice(0, -10)}~`)
		.first<{ n: number }>();
	return row?.n ?? 0;
}

/** Every page of a list, following next_cursor, as the ids it named. */
async function everyPage(path: (cursor: string | null) => string, listed: (body: Record<string, unknown>) => string[]) {
	const ids: string[] = [];
	let cursor: string | null = null;
	for (let page = 0; page < 100; page++) {
		const response = await api("GET", path(cursor));
		expect(response.status).toBe(200);
		const body = record(response.body);
		ids.push(...listed(body));
		cursor = typeof body.next_cursor === "string" ? body.next_cursor : null;
		if (cursor === null) return ids;
	}
	throw new Error("the list never ended");
}

const deliveryIdsOf = (body: Record<string, unknown>) =>
	(body.deliveries as { id: string }[]).map((delivery) => delivery.id);

/** Every delivery of the endpoint's list, page by page at `limit` a page, in the order listed. */
function everyListedDelivery(endpointId: string, limit: number): Promise<string[]> {
	return everyPage(
		(cursor) => `/v1/webhooks/${endpointId}/deliveries?limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`,
		deliveryIdsOf,
	);
}

const attemptDeliveryIdsOf = (body: Record<string, unknown>) =>
	(body.attempts as { delivery_id: string }[]).map((attempt) => attempt.delivery_id);

describe("outcomes packed many to a row", () => {
	// First: retention walks events from the oldest seq and stops at the first it keeps, so these come before any other.
	it("retention removes a pack once its last delivery expires, even when its highest event went on an earlier run", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("orphan")), events: ["*"] });
		const endpointId = String(hook.id);
		const base = Date.now();
		const insert = (deliverAt: number | null) =>
			env.DB.prepare(
				"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at, deliver_at) VALUES ('default', ?, 'old.test', '{}', ?, ?, ?) RETURNING seq",
			)
				.bind(`evt_${uniqueName("orphan")}`, JSON.stringify([endpointId]), base - 40 * DAY_MS, deliverAt)
				.first<{ seq: number }>();
		// The lower event was scheduled for later, so it is kept after the higher one expires.
		const scheduled = await storedEvent(Number((await insert(base + 10 * DAY_MS))?.seq));
		const plain = await storedEvent(Number((await insert(null))?.seq));
		await env.DB.batch(
			recordOutcomes(
				env.DB,
				[scheduled, plain].map((event) => answered(firstAttempt(event, endpointId), 200)),
			),
		);
		expect(await countIn("delivery_packs", endpointId)).toBe(1);

		expect(await purgeExpired(env, base)).toMatchObject({ events: 1, packs: 0 });
		expect(await purgeExpired(env, base + 45 * DAY_MS)).toMatchObject({ events: 1, packs: 1 });
		expect(await countIn("delivery_packs", endpointId)).toBe(0);
		// Run 45 days ahead, retention's mark covers the events the next tests insert by hand.
		await forgetCleanedMark(env.DB);
	});

	it("retention removes a pack with the events it records, and keeps one whose newest event it keeps", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("expiring")), events: ["*"] });
		const endpointId = String(hook.id);
		const old = Date.now() - 40 * DAY_MS;
		const insert = (createdAt: number) =>
			env.DB.prepare(
				"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at) VALUES ('default', ?, 'old.test', '{}', ?, ?) RETURNING seq",
			)
				.bind(`evt_${uniqueName("old")}`, JSON.stringify([endpointId]), createdAt)
				.first<{ seq: number }>();
		const expired = [await insert(old), await insert(old)];
		const kept = await insert(Date.now());
		const rows = await Promise.all([...expired, kept].map((row) => storedEvent(Number(row?.seq))));
		const [first, second, recent] = rows as [EventRow, EventRow, EventRow];
		await env.DB.batch(
			recordOutcomes(
				env.DB,
				[first, second].map((event) => answered(firstAttempt(event, endpointId), 200)),
			),
		);
		await env.DB.batch(recordOutcomes(env.DB, [answered(firstAttempt(recent, endpointId), 200)]));
		expect(await countIn("delivery_packs", endpointId)).toBe(2);

		const removed = await purgeExpired(env, Date.now());
		expect(removed.packs).toBeGreaterThanOrEqual(1);
		expect(await countIn("delivery_packs", endpointId)).toBe(1);
		const listed = deliveryIdsOf(record((await api("GET", `/v1/webhooks/${endpointId}/deliveries`)).body));
		expect(listed).toEqual([publicDeliveryId(endpointId, recent.id)]);
	});

	it("stores a batch's successes to one endpoint as one pack, which reads as its deliveries everywhere", async () => {
		const name = uniqueName("packed");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["*"] });
		const endpointId = String(hook.id);
		const stored = [];
		for (let index = 0; index < 20; index++)
			stored.push(await storeEventDirectly("default", "pack.test", [endpointId]));
		const batch = firstAttemptBatch("default", stored, endpointId);
		await worker.queue(batch, env);
		expect((await getQueueResult(batch, createExecutionContext())).explicitAcks).toHaveLength(20);
		expect(await receivedBy(name)).toHaveLength(20);

		expect(await countIn("deliveries", endpointId)).toBe(0);
		expect(await countIn("delivery_packs", endpointId)).toBe(1);

		const newestFirst = stored.map((event) => publicDeliveryId(endpointId, event.id)).reverse();
		const [newest] = newestFirst;
		const detail = record((await api("GET", `/v1/deliveries/${newest}`)).body);
		expect(detail).toMatchObject({ status: "success", attempt_count: 1, status_code: 200 });
		expect(detail.attempts).toHaveLength(1);
		for (const limit of [1, 7, 20]) {
			expect(await everyListedDelivery(endpointId, limit)).toEqual(newestFirst);
		}
		expect(
			await everyPage(
				(cursor) => `/v1/attempts?endpoint_id=${endpointId}&limit=6${cursor ? `&cursor=${cursor}` : ""}`,
				attemptDeliveryIdsOf,
			),
		).toEqual(newestFirst);
		const event = record((await api("GET", `/v1/events/${stored[3]?.id}`)).body);
		expect(event.deliveries).toMatchObject([{ endpoint_id: endpointId, status: "success" }]);
		const stats = record((await api("GET", `/v1/webhooks/${endpointId}/stats`)).body);
		expect(stats.totals).toMatchObject({ deliveries: 20, succeeded: 20, failed: 0 });

		// Found by the sweeper as delivered, not as lost first attempts.
		const swept = await sweep(env, Date.now() + DAY_MS);
		expect(swept.firstAttemptsRequeued).toBe(0);

		// The same messages delivered again (a lost ack): their attempts are in the packs, so none is made twice.
		const again = createMessageBatch<DeliveryJob>(
			"edgehook-deliveries",
			stored.map((stored, index) => ({
				id: `again${index}`,
				timestamp: new Date(),
				attempts: 2,
				body: { tenantId: "default", eventSeq: stored.seq, targets: [{ endpointId, attempt: 1 }], trigger: "initial" },
			})),
		);
		await worker.queue(again, env);
		expect((await getQueueResult(again, createExecutionContext())).explicitAcks).toHaveLength(20);
		expect(await receivedBy(name)).toHaveLength(20);
	});

	it("a resend of a packed delivery gets a row that goes on from the packed attempt, and the list shows it once", async () => {
		const { endpointId, stored } = await twoPackedDeliveries("resent");
		const id = publicDeliveryId(endpointId, String(stored[0]?.id));

		const resent = await api("POST", `/v1/deliveries/${id}/retry`);
		expect(resent.body).toEqual({ id, attempt: 2 });
		// The retry route queues the resend; the queue's consumer runs it.
		const detail = await waitFor(async () => {
			const current = record((await api("GET", `/v1/deliveries/${id}`)).body);
			return current.attempt_count === 2 ? current : undefined;
		});
		expect(await countIn("deliveries", endpointId)).toBe(1);
		expect((detail.attempts as { trigger: string }[]).map((attempt) => attempt.trigger)).toEqual(["initial", "manual"]);
		const listed = deliveryIdsOf(record((await api("GET", `/v1/webhooks/${endpointId}/deliveries`)).body));
		expect(listed).toEqual([publicDeliveryId(endpointId, String(stored[1]?.id)), id]);
	});

	it("keeps on its page a packed delivery copied into a row between the page's read of its rows and of its packs", async () => {
		const { endpointId, stored } = await twoPackedDeliveries("between");
		const [older, newer] = stored.map(({ seq }) => deliveryId(endpointId, seq));
		expect(await countIn("deliveries", endpointId)).toBe(0);

		const db = openDatabase(env.DB);
		const range = { fromId: deliveryIdRange(endpointId).from, toId: deliveryIdRange(endpointId).to, includeTo: false };
		const query: LogQuery<DeliveryRow> = (source, limit) =>
			db.select(getTableColumns(deliveries)).from(source).orderBy(desc(deliveries.id)).limit(limit);
		// The page reads the rows (none yet), then a resend copies the older delivery into a row, then the packs.
		const rows = await query(rowsInRange("default", range), 10);
		await env.DB.batch([copyPackedToRows(env.DB, [String(older)])]);
		const { items } = await readEndpointLog(db, "default", range, {
			limit: 10,
			packs: true,
			fromTable: { items: rows, stop: null },
			query,
			positionOf: (row) => row,
		});
		expect(items.map((item) => item.id)).toEqual([newer, older]);
	});

	it("pages through a log where overlapping packs and rows interleave: every delivery once, newest first, per filter", async () => {
		const { endpointId, stored } = await endpointWithEvents("mixed", 12, "mixed.test");
		const at = (indexes: number[]) => indexes.map((index) => firstAttempt(stored[index] as EventRow, endpointId));
		// Two packs whose spans overlap, one of successes and one of failures, and failures the sweeper sent again
		// (rows) between and inside them.
		await env.DB.batch(
			recordOutcomes(
				env.DB,
				at([0, 2, 4, 6, 8, 10]).map((item) => answered(item, 200)),
			),
		);
		await env.DB.batch(
			recordOutcomes(
				env.DB,
				at([1, 5, 9]).map((item) => answered(item, 500)),
			),
		);
		await env.DB.batch(
			recordOutcomes(
				env.DB,
				at([3, 7, 11]).map((item) => answered({ ...item, swept: true }, 500)),
			),
		);
		expect(await countIn("delivery_packs", endpointId)).toBe(2);
		expect(await countIn("deliveries", endpointId)).toBe(3);
		const failed = [1, 3, 5, 7, 9, 11];

		const idOf = (index: number) => publicDeliveryId(endpointId, (stored[index] as EventRow).id);
		const newestFirst = (indexes: number[]) => [...indexes].sort((a, b) => b - a).map(idOf);
		const all = Array.from({ length: 12 }, (_, index) => index);
		for (const limit of [1, 2, 3, 5, 12]) {
			const list = (filter: string) =>
				everyPage(
					(cursor) =>
						`/v1/webhooks/${endpointId}/deliveries?limit=${limit}${filter}${cursor ? `&cursor=${cursor}` : ""}`,
					deliveryIdsOf,
				);
			expect(await list("")).toEqual(newestFirst(all));
			expect(await list("&status=failed")).toEqual(newestFirst(failed));
			expect(await list("&status=success")).toEqual(newestFirst([0, 2, 4, 6, 8, 10]));
			expect(
				await everyPage(
					(cursor) => `/v1/attempts?endpoint_id=${endpointId}&limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`,
					attemptDeliveryIdsOf,
				),
			).toEqual(newestFirst(all));
		}
		const stats = record((await api("GET", `/v1/webhooks/${endpointId}/stats`)).body);
		expect(stats.totals).toMatchObject({ deliveries: 12, succeeded: 6, failed: 6 });
		// Found by id in whichever pack holds it, though a pack named above it comes first in key order.
		for (const index of all) {
			const detail = record((await api("GET", `/v1/deliveries/${idOf(index)}`)).body);
			expect(detail.status).toBe(failed.includes(index) ? "failed" : "success");
			expect(detail.attempt_count).toBe(1);
		}
	});

	it("lists once a delivery that two packs hold (its message handled twice at once), and every other one", async () => {
		const { endpointId, stored } = await endpointWithEvents("twice", 3, "twice.test");
		const [low, middle, high] = stored as [EventRow, EventRow, EventRow];
		// Two packs named after the same delivery, each with one other.
		for (const pair of [
			[low, high],
			[middle, high],
		]) {
			await env.DB.batch(
				recordOutcomes(
					env.DB,
					pair.map((event) => answered(firstAttempt(event, endpointId), 200)),
				),
			);
		}
		expect(await countIn("delivery_packs", endpointId)).toBe(2);
		const newestFirst = [high, middle, low].map((event) => publicDeliveryId(endpointId, event.id));
		for (const limit of [1, 2, 3]) {
			expect(await everyListedDelivery(endpointId, limit)).toEqual(newestFirst);
		}
		expect(record((await api("GET", `/v1/events/${high.id}`)).body).deliveries).toHaveLength(1);
		const stats = record((await api("GET", `/v1/webhooks/${endpointId}/stats`)).body);
		expect(stats.totals).toMatchObject({ deliveries: 3, succeeded: 3 });
	});

	it("a scan with a small budget goes on below its range, never above it, when the packs it reads reach above", async () => {
		const { endpointId, stored } = await endpointWithEvents("budget", 6, "budget.test");
		const at = (index: number) => stored[index] as EventRow;
		// Two packs that hold deliveries below the range's top (3) and are named above it (4 and 5).
		for (const pair of [
			[0, 5],
			[1, 4],
		]) {
			await env.DB.batch(
				recordOutcomes(
					env.DB,
					pair.map((index) => answered(firstAttempt(at(index), endpointId), 200)),
				),
			);
		}
		const top = deliveryId(endpointId, at(3).seq);
		const seen: string[] = [];
		let upper = top;
		for (let call = 0; call < 5; call++) {
			const { rows, goOnBelow } = await scanEndpointDeliveries(
				openDatabase(env.DB),
				"default",
				{ fromId: deliveryId(endpointId, 0), toId: upper, includeTo: false },
				undefined,
				1,
				1,
			);
			seen.push(...rows.map(({ delivery }) => delivery.id));
			if (goOnBelow === null) break;
			expect(goOnBelow.id < upper).toBe(true);
			upper = goOnBelow.id;
		}
		expect(seen).toEqual([1, 0].map((index) => deliveryId(endpointId, at(index).seq)));

		// A filter no packed delivery passes: the scan stops at its budget after the first read (the two packs),
		// and names where to go on by the delivery the last pack is named after, with its event (the API's cursor).
		const { rows, goOnBelow } = await scanEndpointDeliveries(
			openDatabase(env.DB),
			"default",
			{ fromId: deliveryIdRange(endpointId).from, toId: deliveryIdRange(endpointId).to, includeTo: false },
			eq(deliveries.eventType, "no.such.type"),
			1,
			1,
		);
		expect(rows).toEqual([]);
		expect(goOnBelow).toEqual({ id: deliveryId(endpointId, at(4).seq), endpointId, eventId: at(4).id });
	});

	it("a first attempt the sweeper sent again goes to a row, and the other send's outcome goes on in it, in either order", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("late")), events: ["*"] });
		const endpointId = String(hook.id);
		const first = await storedEvent((await storeEventDirectly("default", "late.test", [endpointId])).seq);
		const second = await storedEvent((await storeEventDirectly("default", "late.test", [endpointId])).seq);
		const detail = async (event: EventRow) =>
			record((await api("GET", `/v1/deliveries/${publicDeliveryId(endpointId, event.id)}`)).body);
		const codes = (body: Record<string, unknown>) =>
			(body.attempts as { status_code: number }[]).map((attempt) => attempt.status_code);

		// The sweeper's second send failed and was recorded first; then the first send's success arrives.
		const failed = answered({ ...firstAttempt(first, endpointId), swept: true }, 500);
		await env.DB.batch(
			recordOutcomes(env.DB, [{ ...failed, status: "pending", nextAttemptAtMs: Date.now() + 60_000 }]),
		);
		await env.DB.batch(recordOutcomes(env.DB, [answered(firstAttempt(first, endpointId), 200)]));
		const afterRow = await detail(first);
		expect(afterRow).toMatchObject({ status: "success", attempt_count: 2 });
		expect(codes(afterRow)).toEqual([500, 200]);

		// The other way round: packed first, then the sweeper's send fails for the same delivery.
		await env.DB.batch(recordOutcomes(env.DB, [answered(firstAttempt(second, endpointId), 200)]));
		await env.DB.batch(recordOutcomes(env.DB, [answered({ ...firstAttempt(second, endpointId), swept: true }, 500)]));
		const afterPack = await detail(second);
		expect(afterPack.attempt_count).toBe(2);
		expect(codes(afterPack)).toEqual([200, 500]);
		expect(await countIn("deliveries", endpointId)).toBe(2);
	});

	it("splits one endpoint's successes into packs no more than PACK_SPAN events apart", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("span")), events: ["*"] });
		const endpointId = String(hook.id);
		const low = await storedEvent((await storeEventDirectly("default", "span.test", [endpointId])).seq);
		// Events of other endpoints in between push the next one of this endpoint past the span.
		await env.DB.prepare(
			`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
			 INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at)
			 SELECT 'default', 'evt_filler_' || ?2 || '_' || i, 'filler', '{}', '[]', ?3 FROM n`,
		)
			.bind(PACK_SPAN + 1, uniqueName("f"), Date.now())
			.run();
		const high = await storedEvent((await storeEventDirectly("default", "span.test", [endpointId])).seq);
		expect(high.seq - low.seq).toBeGreaterThan(PACK_SPAN);
		await env.DB.batch(
			recordOutcomes(
				env.DB,
				[low, high].map((event) => answered(firstAttempt(event, endpointId), 200)),
			),
		);
		expect(await countIn("delivery_packs", endpointId)).toBe(2);
		for (const event of [low, high]) {
			const detail = record((await api("GET", `/v1/deliveries/${publicDeliveryId(endpointId, event.id)}`)).body);
			expect(detail).toMatchObject({ status: "success", attempt_count: 1 });
		}
	});
});
