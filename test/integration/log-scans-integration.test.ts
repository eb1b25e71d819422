import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import { meterD1, readDatabaseCounters, resetCounters } from "../../src/lib/metering";
import { firstAttemptBacklog } from "../../src/reliability/first-attempt-backlog";
import { scheduledAfter } from "../../src/reliability/sweeper";
import { callWithSettings } from "./helpers";

/*
 * Statements that must read about what they return, not the log: a shard
 * holds tens of millions of events, and D1 runs one statement at a time.
 * Each test compares the rows read with a small and a large table.
 */

const database = env.SHARD_3;

/** Inserts `count` events of tenant 'default' with the given due times (null: not scheduled). */
async function seedEvents(
	count: number,
	deliverAt: (index: number) => number | null,
	into: D1Database = database,
): Promise<void> {
	const rows = Array.from({ length: count }, (_, index) => [`evt_scan_${index}`, deliverAt(index)]);
	await into
		.prepare(
			"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at, deliver_at) SELECT 'default', value ->> 0, 'a', '{}', '[]', 1, value ->> 1 FROM json_each(?1)",
		)
		.bind(JSON.stringify(rows))
		.run();
}

async function rowsReadBy(action: (db: ReturnType<typeof openDatabase>) => Promise<unknown>): Promise<number> {
	resetCounters();
	await action(openDatabase(meterD1(database, "SHARD_3")));
	return readDatabaseCounters().SHARD_3?.d1_rows_read ?? 0;
}

describe("statements that read about what they return, whatever the log holds", () => {
	beforeEach(async () => {
		await database.batch([database.prepare("DELETE FROM deliveries"), database.prepare("DELETE FROM events")]);
	});

	it("the first-attempt backlog (GET /v1/health) finds the oldest and newest seq with a lookup each", async () => {
		const readWith = async (count: number) => {
			await database.prepare("DELETE FROM events").run();
			await seedEvents(count, () => null);
			return rowsReadBy((db) => firstAttemptBacklog(db, Date.now()));
		};
		const small = await readWith(100);
		const large = await readWith(5_000);
		// min() and max() in one select scanned the whole table: 5,000 rows and more here.
		expect(large).toBeLessThan(50);
		expect(large - small).toBeLessThan(10);
	});

	it("the sweeper's walk of scheduled events starts at its cursor instead of the first scheduled event", async () => {
		const readWith = async (count: number) => {
			await database.prepare("DELETE FROM events").run();
			await seedEvents(count, (index) => 1_000 + index);
			// The cursor stands 10 events before the end: the page holds those 10.
			const cursor = { deliverAt: 1_000 + count - 11, seq: Number.MAX_SAFE_INTEGER };
			let page = 0;
			const read = await rowsReadBy(async (db) => {
				page = (await scheduledAfter(db, cursor, 1_000_000)).length;
			});
			expect(page).toBe(10);
			return read;
		};
		const small = await readWith(100);
		const large = await readWith(5_000);
		// Without a lower end to the range, each page read every scheduled event before the cursor (5,000 here).
		expect(large).toBe(small);
		expect(large).toBeLessThan(30);
	});

	it("a page of a tenant's events (GET /v1/events, newest first or after a cursor) reads the page, not the tenant's history", async () => {
		const readWith = async (count: number, query: string) => {
			await env.DB.batch([
				env.DB.prepare("DELETE FROM events WHERE tenant_id = 'default'"),
				env.DB.prepare("DELETE FROM event_blocks WHERE tenant_id = 'default'"),
			]);
			await seedEvents(count, () => null, env.DB);
			resetCounters();
			const answer = await callWithSettings({ BENCH_METERING: "on" }, "GET", `/v1/events?${query}`, undefined);
			expect(answer.status).toBe(200);
			expect((answer.body as { events: unknown[] }).events).toHaveLength(10);
			return readDatabaseCounters().DB?.d1_rows_read ?? 0;
		};
		for (const query of ["limit=10&order=desc", "limit=10", "limit=10&order=desc&type=a"]) {
			const small = await readWith(100, query);
			const large = await readWith(5_000, query);
			// Read in any order but the blocks' (or with no order at all) a page read and sorted every event of the tenant (5,000 here).
			expect(large, query).toBe(small);
			expect(large, query).toBeLessThan(60);
		}
	});

	it("a tenant's events after a time (GET /v1/events?after=) read the window's part of its events, not those before it", async () => {
		const hourAgo = Date.now() - 3_600_000;
		const readWith = async (olderEvents: number) => {
			await env.DB.prepare("DELETE FROM events WHERE tenant_id = 'default'").run();
			// Stamped as ingest stamps them: older events first, then 20 of the last half hour.
			await seedEvents(olderEvents, () => null, env.DB);
			await env.DB.prepare(
				"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at) SELECT 'default', 'evt_recent_' || value, 'a', '{}', '[]', ?2 FROM json_each(?1)",
			)
				.bind(JSON.stringify(Array.from({ length: 20 }, (_, index) => index)), hourAgo + 1_800_000)
				.run();
			resetCounters();
			const after = new Date(hourAgo).toISOString();
			const answer = await callWithSettings(
				{ BENCH_METERING: "on" },
				"GET",
				`/v1/events?after=${after}&limit=50`,
				undefined,
			);
			expect(answer.status).toBe(200);
			expect((answer.body as { events: unknown[] }).events).toHaveLength(20);
			return readDatabaseCounters().DB?.d1_rows_read ?? 0;
		};
		const small = await readWith(100);
		const large = await readWith(5_000);
		// Filtered on created_at alone, the oldest-first page read every older event of the tenant (5,020 rows here).
		expect(large - small).toBeLessThan(20);
		expect(large).toBeLessThan(120);
	});
});
