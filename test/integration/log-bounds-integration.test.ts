import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import { eventsAround } from "../../src/db/event-position";
import type { AttemptRecord } from "../../src/delivery/attempt-record";
import worker from "../../src/index";
import { chunk } from "../../src/lib/chunk";
import { deliveryId, publicDeliveryId } from "../../src/lib/ids";
import type { DeliveryJob } from "../../src/queue/messages";
import { recoverSlice, startRecover } from "../../src/tasks/recover";
import { ADMIN_KEY, createWebhook, record } from "./helpers";

/*
 * An endpoint's log is one primary-key range of the deliveries table,
 * millions of rows on a busy shard, and D1 runs one statement at a time:
 * a filter that few rows pass must not read the whole range to find them.
 * Each rows-read test compares a log with a short and a long history before
 * the window asked for; the other tests check that the answers are those a
 * filter over every row gives, in the same order and with the same cursors.
 *
 * Every test seeds the default tenant's database (DB) directly, as ingest
 * and the consumer would have written it: an event's created_at is the time
 * it was stored, so it follows seq, give or take the isolates' clock skew
 * that some rows below imitate.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const database = env.DB;

interface SeedRow {
	createdAt: number;
	type?: string;
	status?: "pending" | "success" | "failed" | "skipped";
	tags?: string[];
	labels?: string[];
	/** Start times of the delivery's attempts, oldest first (default: one, at createdAt); [] when nothing was sent. */
	attemptsAt?: number[];
}

interface Seeded {
	seq: number;
	storedId: string;
	publicId: string;
	eventId: string;
	type: string;
	status: string;
	createdAt: number;
	updatedAt: number;
	tags: string[];
	labels: string[];
	attempts: AttemptRecord[];
}

async function clearLog(): Promise<void> {
	await database.batch([database.prepare("DELETE FROM deliveries"), database.prepare("DELETE FROM events")]);
}

/** Stores `rows` as events in this order (so their seqs follow it) with one delivery each to `endpointId`. */
async function seed(endpointId: string, rows: readonly SeedRow[]): Promise<Seeded[]> {
	const prefix = `evt_${crypto.randomUUID().slice(0, 8)}_`;
	const seeded: Seeded[] = [];
	for (const [part, offset] of chunk(rows, 500).map((part, index) => [part, index * 500] as const)) {
		const values = part.map((row, index) => [
			`${prefix}${offset + index}`,
			row.type ?? "order.paid",
			row.createdAt,
			row.tags === undefined ? null : JSON.stringify(row.tags),
			row.labels === undefined ? null : JSON.stringify(row.labels),
		]);
		const inserted = await database
			.prepare(
				`INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at, tags, labels)
				SELECT 'default', value ->> 0, value ->> 1, '{}', ?2, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?1)
				RETURNING seq, id`,
			)
			.bind(JSON.stringify(values), JSON.stringify([endpointId]))
			.all<{ seq: number; id: string }>();
		const seqOf = new Map(inserted.results.map((row) => [row.id, row.seq]));
		part.forEach((row, index) => {
			const eventId = `${prefix}${offset + index}`;
			const seq = seqOf.get(eventId);
			if (seq === undefined) throw new Error(`event ${eventId} was not stored`);
			const status = row.status ?? "success";
			const attempts: AttemptRecord[] = (row.attemptsAt ?? [row.createdAt]).map((startedAt, attemptIndex) => ({
				id: `att_${eventId}_${attemptIndex}`,
				attempt: attemptIndex + 1,
				trigger: attemptIndex === 0 ? "initial" : "scheduled",
				started_at: new Date(startedAt).toISOString(),
				duration_ms: 10,
				status_code: status === "failed" ? 500 : 200,
				response_body: null,
				error: status === "failed" ? "HTTP 500" : null,
			}));
			seeded.push({
				seq,
				storedId: deliveryId(endpointId, seq),
				publicId: publicDeliveryId(endpointId, eventId),
				eventId,
				type: row.type ?? "order.paid",
				status,
				createdAt: row.createdAt,
				updatedAt: (row.attemptsAt ?? [row.createdAt]).reduce((last, at) => Math.max(last, at + 10), row.createdAt),
				tags: row.tags ?? [],
				labels: row.labels ?? [],
				attempts,
			});
		});
	}
	for (const part of chunk(seeded, 1000)) {
		await database
			.prepare(
				`INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, status_code, attempt_count,
					attempts, created_at, updated_at)
				SELECT value ->> 0, 'default', ?2, value ->> 1, value ->> 2, value ->> 3, NULL, value ->> 4, value ->> 5,
					value ->> 6, value ->> 7
				FROM json_each(?1)`,
			)
			.bind(
				JSON.stringify(
					part.map((row) => [
						row.storedId,
						row.eventId,
						row.type,
						row.status,
						row.attempts.length,
						JSON.stringify(row.attempts),
						row.createdAt,
						row.updatedAt,
					]),
				),
				endpointId,
			)
			.run();
	}
	return seeded;
}

/**
 * DB with the rows each statement reads added up. The bench's meter
 * (src/lib/metering.ts) answers `raw()` through `all()`, whose rows are
 * objects: a join's columns of the same name (a delivery's and its event's
 * `id`) collapse there, and drizzle, which reads selects through `raw()`,
 * then gets the columns shifted. So a read here runs twice, through `all()`
 * for its count and through `raw()` for its rows; writes run once.
 */
function countingD1(real: D1Database): { d1: D1Database; read: () => number; reset: () => void } {
	let rowsRead = 0;
	const count = <T>(result: D1Result<T>) => {
		rowsRead += result.meta.rows_read;
		return result;
	};
	const wrap = (sql: string, statement: D1PreparedStatement): D1PreparedStatement => {
		const isRead = /^\s*(select|with)\b/i.test(sql);
		return new Proxy(statement, {
			get(target, property) {
				if (property === "bind") return (...values: unknown[]) => wrap(sql, target.bind(...values));
				if (property === "all") return async () => count(await target.all());
				if (property === "run") return async () => count(await target.run());
				if (property === "first")
					return async (column?: string) => {
						const row = count(await target.all<Record<string, unknown>>()).results[0];
						if (row === undefined) return null;
						return column === undefined ? row : (row[column] ?? null);
					};
				if (property === "raw")
					return async (options?: { columnNames?: boolean }) => {
						if (isRead) count(await target.all());
						return options?.columnNames === true ? target.raw({ columnNames: true }) : target.raw();
					};
				const value: unknown = Reflect.get(target, property);
				return typeof value === "function" ? value.bind(target) : value;
			},
		});
	};
	const d1 = new Proxy(real, {
		get(target, property) {
			if (property === "prepare") return (sql: string) => wrap(sql, target.prepare(sql));
			if (property === "batch")
				return async (statements: D1PreparedStatement[]) => (await target.batch(statements)).map(count);
			const value: unknown = Reflect.get(target, property);
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
	return { d1, read: () => rowsRead, reset: () => (rowsRead = 0) };
}

const counted = countingD1(database);

/** GET through the worker's fetch handler, with the rows read on DB. */
async function countedGet(path: string): Promise<{ body: Record<string, unknown>; rowsRead: number }> {
	counted.reset();
	const response = await worker.fetch(
		new Request(`http://edgehook.test${path}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }),
		{ ...env, DB: counted.d1 },
		createExecutionContext(),
	);
	const body = record(await response.json());
	expect(response.status, JSON.stringify(body)).toBe(200);
	return { body, rowsRead: counted.read() };
}

function iso(ms: number): string {
	return encodeURIComponent(new Date(ms).toISOString());
}

/** `count` deliveries created a millisecond apart from `from` on, each with one attempt. */
function history(count: number, from: number, row: Omit<SeedRow, "createdAt"> = {}): SeedRow[] {
	return Array.from({ length: count }, (_, index) => ({ ...row, createdAt: from + index }));
}

/** A queue that keeps the delivery jobs it is sent. */
function capturingQueue(): { queue: Queue<DeliveryJob>; sent: DeliveryJob[] } {
	const sent: DeliveryJob[] = [];
	const metadata = { metrics: { backlogCount: 0, backlogBytes: 0 } };
	const queue: Queue<DeliveryJob> = {
		metrics: async () => metadata.metrics,
		send: async (body) => {
			sent.push(body);
			return { metadata };
		},
		sendBatch: async (messages) => {
			for (const message of messages) sent.push(message.body);
			return { metadata };
		},
	};
	return { queue, sent };
}

describe("the endpoint log reads its time window, not the endpoint's whole history", () => {
	beforeEach(clearLog);

	it.each([
		["since", ""],
		["since and status", "&status=failed"],
		["since and tag", "&tag=vip"],
	])(
		"GET /v1/webhooks/{id}/deliveries with %s reads about as many rows with 5,000 older deliveries as with 200",
		async (name, filter) => {
			const readWith = async (older: number) => {
				await clearLog();
				const hook = await createWebhook({ url: "https://example.com/log-bounds", events: ["*"] });
				const now = Date.now();
				const recent = Array.from({ length: 30 }, (_, index) => ({
					createdAt: now - 50 * MINUTE + index * MINUTE,
					status: index % 10 === 0 ? ("failed" as const) : ("success" as const),
					tags: index % 10 === 0 ? ["vip"] : undefined,
				}));
				const seeded = await seed(String(hook.id), [
					...history(older, now - 5 * HOUR, { status: "failed", tags: ["vip"] }),
					...recent,
				]);
				const path = `/v1/webhooks/${hook.id}/deliveries?since=${iso(now - HOUR)}${filter}`;
				await countedGet(path);
				const { body, rowsRead } = await countedGet(path);
				const expected = seeded
					.filter((row) => row.createdAt >= now - HOUR && (filter === "" || row.status === "failed"))
					.map((row) => row.publicId)
					.reverse();
				expect((body.deliveries as { id: string }[]).map((row) => row.id)).toEqual(expected);
				expect(body.next_cursor).toBeNull();
				return rowsRead;
			};
			const small = await readWith(200);
			const large = await readWith(5_000);
			console.log(`deliveries ${name}: rows read with 200 older ${small}, with 5,000 older ${large}`);
			// The filters applied after the range read every older delivery (5,000 and more here) to learn that none
			// passed. Bounded by the window, what grows with the log is the bisection that finds it: a lookup or two
			// per doubling of the events.
			expect(large).toBeLessThan(small + 30);
			expect(large).toBeLessThan(300);
		},
	);

	it("GET /v1/attempts?endpoint_id= with before reads about as many rows with 5,000 newer deliveries as with 200", async () => {
		const readWith = async (newer: number) => {
			await clearLog();
			const hook = await createWebhook({ url: "https://example.com/log-bounds", events: ["*"] });
			const now = Date.now();
			const seeded = await seed(String(hook.id), [
				...history(20, now - 3 * HOUR, { status: "failed" }),
				...history(newer, now - HOUR),
			]);
			const path = `/v1/attempts?endpoint_id=${hook.id}&before=${iso(now - 2 * HOUR)}&limit=250`;
			await countedGet(path);
			const { body, rowsRead } = await countedGet(path);
			expect((body.attempts as { delivery_id: string }[]).map((attempt) => attempt.delivery_id)).toEqual(
				seeded
					.filter((row) => row.createdAt < now - 2 * HOUR)
					.map((row) => row.publicId)
					.reverse(),
			);
			expect(body.next_cursor).toBeNull();
			return rowsRead;
		};
		const small = await readWith(200);
		const large = await readWith(5_000);
		console.log(`attempts before: rows read with 200 newer ${small}, with 5,000 newer ${large}`);
		expect(large).toBeLessThan(small + 30);
		expect(large).toBeLessThan(300);
	});

	it("a recover counts and re-sends the window's failures reading about as many rows with 5,000 older failures as with 200", async () => {
		const readWith = async (older: number) => {
			await clearLog();
			const hook = await createWebhook({ url: "https://example.com/log-bounds", events: ["*"] });
			const endpointId = String(hook.id);
			const now = Date.now();
			const seeded = await seed(endpointId, [
				...history(older, now - 5 * HOUR, { status: "failed" }),
				...Array.from({ length: 30 }, (_, index) => ({
					createdAt: now - 50 * MINUTE + index * MINUTE,
					status: index % 3 === 0 ? ("failed" as const) : ("success" as const),
				})),
			]);
			const inWindow = seeded.filter((row) => row.status === "failed" && row.createdAt >= now - HOUR);
			const { queue, sent } = capturingQueue();
			const metered = { ...env, DB: counted.d1, DELIVERY_QUEUE: queue };

			counted.reset();
			const task = await startRecover(
				openDatabase(counted.d1),
				queue,
				"default",
				endpointId,
				{ since: now - HOUR, until: now },
				now,
			);
			const countRead = counted.read();
			expect(task.total).toBe(inWindow.length);

			sent.length = 0;
			counted.reset();
			let slices = 0;
			while (await recoverSlice(metered, "default", task.id, now)) slices++;
			const slicesRead = counted.read();
			const resent = sent.flatMap((job) => job.targets.map((target) => deliveryId(target.endpointId, job.eventSeq)));
			expect(resent.sort()).toEqual(inWindow.map((row) => row.storedId).sort());
			const done = await database.prepare("SELECT status, done FROM tasks WHERE id = ?").bind(task.id).first();
			expect(done).toEqual({ status: "completed", done: inWindow.length });
			return { countRead, slicesRead, slices };
		};
		const small = await readWith(200);
		const large = await readWith(5_000);
		console.log(
			`recover: rows read with 200 older ${JSON.stringify(small)}, with 5,000 older ${JSON.stringify(large)}`,
		);
		// The count read the endpoint's whole log range, and the first slice read it from its oldest delivery on.
		expect(large.countRead).toBeLessThan(small.countRead + 30);
		expect(large.countRead).toBeLessThan(300);
		expect(large.slicesRead).toBeLessThan(small.slicesRead + 30);
		expect(large.slicesRead).toBeLessThan(300);
	});
});

/**
 * Sixty deliveries six minutes apart over the last six hours, of three types,
 * some failed, pending, tagged or labelled, with up to three attempts each.
 * A few were stored just after a delivery of a later time, as isolates whose
 * clocks disagree by a second or two store them, right across the window's
 * ends.
 */
function mixedLog(now: number): { rows: SeedRow[]; since: number; until: number } {
	const start = now - 6 * HOUR;
	const since = start + 20 * 6 * MINUTE;
	const until = start + 40 * 6 * MINUTE;
	const skewed = new Map([
		[21, since - 1_500],
		[22, since - 1],
		[39, until + 1_000],
		[41, until - 1],
		[7, start + 7 * 6 * MINUTE - 2_000],
	]);
	const types = ["order.paid", "order.refunded", "user.created"];
	const rows = Array.from({ length: 60 }, (_, index): SeedRow => {
		const createdAt = skewed.get(index) ?? start + index * 6 * MINUTE;
		const status = index % 4 === 0 ? "failed" : index % 5 === 0 ? "pending" : index % 11 === 0 ? "skipped" : "success";
		const attempts = status === "skipped" || index % 10 === 5 ? 0 : 1 + (index % 3);
		return {
			createdAt,
			type: types[index % 3],
			status,
			tags: index % 6 === 0 ? ["vip"] : undefined,
			labels: index % 5 === 1 ? ["eu"] : undefined,
			attemptsAt: Array.from({ length: attempts }, (_, attempt) => createdAt + attempt * 10 * MINUTE),
		};
	});
	return { rows, since, until };
}

/** Every page of a list, from the first to the one whose cursor is null. */
async function allPages(path: string, items: string): Promise<{ items: Record<string, unknown>[]; cursor: unknown }[]> {
	const pages: { items: Record<string, unknown>[]; cursor: unknown }[] = [];
	let cursor: unknown = null;
	do {
		const separator = path.includes("?") ? "&" : "?";
		const { body } = await countedGet(
			cursor === null ? path : `${path}${separator}cursor=${encodeURIComponent(String(cursor))}`,
		);
		cursor = body.next_cursor;
		pages.push({ items: body[items] as Record<string, unknown>[], cursor });
	} while (cursor !== null && pages.length < 100);
	return pages;
}

/** The pages a list of `all` in pages of `limit` answers: a cursor after a page only when more follow. */
function expectedPages<T>(
	all: T[],
	limit: number,
	cursorOf: (item: T) => string,
): { items: T[]; cursor: string | null }[] {
	const pages: { items: T[]; cursor: string | null }[] = [];
	for (let start = 0; start === 0 || start < all.length; start += limit) {
		const items = all.slice(start, start + limit);
		const last = items.at(-1);
		pages.push({ items, cursor: start + limit < all.length && last !== undefined ? cursorOf(last) : null });
	}
	return pages;
}

describe("the bounded log answers what a filter over every row answers", () => {
	beforeEach(clearLog);

	it("GET /v1/webhooks/{id}/deliveries: the same deliveries, order and cursors for each combination of filters", async () => {
		const hook = await createWebhook({ url: "https://example.com/log-bounds", events: ["*"] });
		const now = Date.now();
		const { rows, since, until } = mixedLog(now);
		const seeded = await seed(String(hook.id), rows);
		const newestFirst = [...seeded].reverse();
		const cases: [string, (row: Seeded) => boolean][] = [
			["", () => true],
			[`since=${iso(since)}`, (row) => row.createdAt >= since],
			[`until=${iso(until)}`, (row) => row.createdAt < until],
			[`since=${iso(since)}&until=${iso(until)}`, (row) => row.createdAt >= since && row.createdAt < until],
			[`since=${iso(since)}&status=failed`, (row) => row.createdAt >= since && row.status === "failed"],
			[`until=${iso(until)}&event_type=order.paid`, (row) => row.createdAt < until && row.type === "order.paid"],
			[
				`since=${iso(since)}&until=${iso(until)}&tag=vip`,
				(row) => row.createdAt >= since && row.createdAt < until && row.tags.includes("vip"),
			],
			[`since=${iso(since)}&label=eu`, (row) => row.createdAt >= since && row.labels.includes("eu")],
			[
				`since=${iso(since - HOUR)}&event_types=order.paid,user.created`,
				(row) => row.createdAt >= since - HOUR && row.type !== "order.refunded",
			],
			[`status=success`, (row) => row.status === "success"],
			[`since=${iso(now)}`, () => false],
			[`until=${iso(now - 7 * HOUR)}`, () => false],
		];
		for (const [query, passes] of cases) {
			const pages = await allPages(`/v1/webhooks/${hook.id}/deliveries?limit=4&${query}`, "deliveries");
			expect(
				pages.map((page) => ({ items: page.items.map((item) => item.id), cursor: page.cursor })),
				query,
			).toEqual(
				expectedPages(
					newestFirst.filter(passes).map((row) => row.publicId),
					4,
					(id) => id,
				),
			);
		}
	});

	it("GET /v1/attempts?endpoint_id=: the same attempts, order and cursors for each combination of filters", async () => {
		const hook = await createWebhook({ url: "https://example.com/log-bounds", events: ["*"] });
		const now = Date.now();
		const { rows, since, until } = mixedLog(now);
		const seeded = await seed(String(hook.id), rows);
		const attemptsOf = (deliveryPasses: (row: Seeded) => boolean, attemptPasses: (started: number) => boolean) =>
			[...seeded]
				.reverse()
				.filter((row) => row.attempts.length > 0 && deliveryPasses(row))
				.flatMap((row) =>
					[...row.attempts]
						.reverse()
						.filter((attempt) => attemptPasses(Date.parse(attempt.started_at)))
						.map((attempt) => `${row.publicId}.${attempt.attempt}`),
				);
		const cases: [string, string[]][] = [
			[
				"",
				attemptsOf(
					() => true,
					() => true,
				),
			],
			[
				`before=${iso(until)}`,
				attemptsOf(
					(row) => row.createdAt < until,
					(started) => started < until,
				),
			],
			[
				`after=${iso(since)}`,
				attemptsOf(
					(row) => row.updatedAt > since,
					(started) => started > since,
				),
			],
			[
				`after=${iso(since)}&before=${iso(until)}`,
				attemptsOf(
					(row) => row.updatedAt > since && row.createdAt < until,
					(started) => started > since && started < until,
				),
			],
			[
				`before=${iso(until)}&tag=vip`,
				attemptsOf(
					(row) => row.createdAt < until && row.tags.includes("vip"),
					(started) => started < until,
				),
			],
			[
				`before=${iso(since)}&status=failed`,
				attemptsOf(
					(row) => row.createdAt < since && row.status === "failed",
					(started) => started < since,
				),
			],
			[`before=${iso(now - 7 * HOUR)}`, []],
		];
		for (const [query, expected] of cases) {
			const pages = await allPages(`/v1/attempts?endpoint_id=${hook.id}&limit=3&${query}`, "attempts");
			expect(
				pages.map((page) => ({
					items: page.items.map((item) => `${String(item.delivery_id)}.${String(item.attempt)}`),
					cursor: page.cursor,
				})),
				query,
			).toEqual(expectedPages(expected, 3, (item) => item));
		}
	});
});

describe("an endpoint's attempts, filtered on what no bound can narrow", () => {
	beforeEach(clearLog);

	it("GET /v1/attempts?endpoint_id= looks at a bounded number of deliveries per request and pages on to every match", async () => {
		const readWith = async (deliveries: number) => {
			await clearLog();
			const hook = await createWebhook({ url: "https://example.com/log-bounds", events: ["*"] });
			const now = Date.now();
			// Three tagged deliveries among the oldest, the rest untagged: each page must look past thousands.
			const seeded = await seed(String(hook.id), [
				...history(3, now - 3 * HOUR, { tags: ["rare"] }),
				...history(deliveries, now - 2 * HOUR),
			]);
			const reads: number[] = [];
			const items: string[] = [];
			let cursor: unknown = null;
			do {
				const query = cursor === null ? "" : `&cursor=${encodeURIComponent(String(cursor))}`;
				const { body, rowsRead } = await countedGet(`/v1/attempts?endpoint_id=${hook.id}&tag=rare${query}`);
				reads.push(rowsRead);
				items.push(...(body.attempts as { delivery_id: string }[]).map((attempt) => attempt.delivery_id));
				cursor = body.next_cursor;
			} while (cursor !== null && reads.length < 20);
			// Without a filter that holds the scan back, a page still stops at its last delivery: the bound is a
			// subquery the outer query pulls from, not a sort of everything it holds.
			const unfiltered = await countedGet(`/v1/attempts?endpoint_id=${hook.id}&limit=50`);
			expect(unfiltered.body.attempts).toHaveLength(50);
			expect(unfiltered.rowsRead).toBeLessThan(300);
			expect(items).toEqual(
				seeded
					.filter((row) => row.tags.includes("rare"))
					.map((row) => row.publicId)
					.reverse(),
			);
			return reads;
		};
		const small = await readWith(6_000);
		const large = await readWith(12_000);
		console.log(`attempts tag: rows read per request with 6,000 deliveries ${small}, with 12,000 ${large}`);
		// One request read the whole log: twice its deliveries, as each one's event is looked up for its tags. Now
		// a request looks at 5,000 deliveries at most: those rows, their events, and where the look stopped
		// (one more read of the rows looked at by a statement that found too few to fill its page).
		expect(Math.max(...large)).toBeLessThan(Math.max(...small) + 10);
		expect(Math.max(...large)).toBeLessThan(16_000);
		expect(large.length).toBeGreaterThan(small.length);
	});
});

describe("a recover's slices, where few of the window's deliveries failed", () => {
	beforeEach(clearLog);

	it("each slice looks at a bounded number of deliveries and moves its cursor down past them", async () => {
		const runWith = async (inWindow: number) => {
			await clearLog();
			const hook = await createWebhook({ url: "https://example.com/log-bounds", events: ["*"] });
			const endpointId = String(hook.id);
			const now = Date.now();
			const rows = history(inWindow, now - 50 * MINUTE).map(
				(row, index): SeedRow => (index % 997 === 500 ? { ...row, status: "failed" } : row),
			);
			const failed = (await seed(endpointId, rows)).filter((row) => row.status === "failed");
			const { queue, sent } = capturingQueue();
			const metered = { ...env, DB: counted.d1, DELIVERY_QUEUE: queue };
			const task = await startRecover(
				openDatabase(database),
				queue,
				"default",
				endpointId,
				{ since: now - HOUR, until: now },
				now,
			);
			expect(task.total).toBe(failed.length);
			sent.length = 0;
			const reads: number[] = [];
			for (let more = true; more && reads.length < 50; ) {
				counted.reset();
				more = await recoverSlice(metered, "default", task.id, now);
				reads.push(counted.read());
			}
			const resent = sent.flatMap((job) => job.targets.map((target) => deliveryId(target.endpointId, job.eventSeq)));
			// Newest first: the slices walk the window down from its end.
			expect(resent).toEqual(failed.map((row) => row.storedId).reverse());
			const done = await database.prepare("SELECT status, done, total FROM tasks WHERE id = ?").bind(task.id).first();
			expect(done).toEqual({ status: "completed", done: failed.length, total: failed.length });
			return reads;
		};
		const small = await runWith(3_000);
		const large = await runWith(6_000);
		console.log(`recover slices: rows read per slice with 3,000 in the window ${small}, with 6,000 ${large}`);
		// A slice read on until it had found 100 failed deliveries: here the whole window in one slice.
		expect(Math.max(...large)).toBeLessThan(Math.max(...small) + 10);
		// A slice reads its 1,000 rows, then finds where that scan stopped (the same index range again), and its
		// packs: about 2,100 rows, however long the window.
		expect(Math.max(...large)).toBeLessThan(2_200);
		expect(large.length).toBeGreaterThan(small.length);
	});
});

describe("where a time falls among the events", () => {
	beforeEach(clearLog);

	/** Events created 10 ms apart from `start` on, in seq order; every 7th is then removed, as retention leaves gaps. */
	async function events(count: number, start: number): Promise<{ seq: number; createdAt: number }[]> {
		const stored = await database
			.prepare(
				`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1)
				INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at)
				SELECT 'default', 'evt_around_' || i, 'a', '{}', '[]', ?2 + i * 10 FROM n RETURNING seq, created_at AS createdAt`,
			)
			.bind(count, start)
			.all<{ seq: number; createdAt: number }>();
		const removed = new Set(stored.results.filter((_, index) => index % 7 === 3).map((row) => row.seq));
		await database
			.prepare("DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?1))")
			.bind(JSON.stringify([...removed]))
			.run();
		return stored.results.filter((row) => !removed.has(row.seq)).sort((a, b) => a.seq - b.seq);
	}

	it("finds the newest event before a time and the next one, reading a few rows per halving", async () => {
		const db = openDatabase(counted.d1);
		expect(await eventsAround(db, Date.now())).toEqual({ before: null, atOrAfter: null });
		const stored = await events(5_000, 1_000_000);
		const reads: number[] = [];
		for (const at of [0, 1_000_000, 1_000_001, 1_000_035, 1_012_340, 1_025_000, 1_049_990, 1_049_991, 2_000_000]) {
			counted.reset();
			const found = await eventsAround(db, at);
			reads.push(counted.read());
			const before = stored.filter((row) => row.createdAt < at).at(-1);
			const atOrAfter = stored.find((row) => row.createdAt >= at);
			expect(found.before && { seq: found.before.seq, createdAt: found.before.createdAt }, String(at)).toEqual(
				before ?? null,
			);
			expect(found.atOrAfter && { seq: found.atOrAfter.seq, createdAt: found.atOrAfter.createdAt }, String(at)).toEqual(
				atOrAfter ?? null,
			);
		}
		console.log(`events around a time among 4,286 events: rows read ${reads}`);
		// log2(5,000) is about 12 halvings.
		expect(Math.max(...reads)).toBeLessThan(40);
		// A search may start from an event known to be older (the sweeper's cursor).
		const known = stored[100];
		const target = stored[4_000];
		if (!known || !target) throw new Error("too few events");
		const from = await eventsAround(db, target.createdAt, known.seq);
		expect(from.before?.seq).toBe(stored[3_999]?.seq);
		expect(from.atOrAfter?.seq).toBe(target.seq);
	});

	it("never places an event on the wrong side of the time when created_at runs against seq", async () => {
		const stored = await events(1_000, 1_000_000);
		// Stored a little after newer events, as an isolate with a slow clock stores them.
		const late = stored.filter((_, index) => index % 50 === 10);
		for (const row of late) {
			await database
				.prepare("UPDATE events SET created_at = ?1 WHERE seq = ?2")
				.bind(row.createdAt - 1_500, row.seq)
				.run();
		}
		const db = openDatabase(database);
		for (let at = 999_000; at < 1_011_000; at += 777) {
			const { before, atOrAfter } = await eventsAround(db, at);
			if (before) expect(before.createdAt).toBeLessThan(at);
			if (atOrAfter) expect(atOrAfter.createdAt).toBeGreaterThanOrEqual(at);
			if (before && atOrAfter) expect(atOrAfter.seq).toBeGreaterThan(before.seq);
		}
	});
});
