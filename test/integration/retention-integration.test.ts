import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { UNUSED_CLEANED_KEPT_MS } from "../../src/db/event-reuse";
import worker from "../../src/index";
import { chunk } from "../../src/lib/chunk";
import { deliveryId, newEndpointId } from "../../src/lib/ids";
import { meterD1, readDatabaseCounters, resetCounters } from "../../src/lib/metering";
import { deleteEmptiedBlocks, purgeExpired } from "../../src/retention";
import { forgetCleanedMark } from "./helpers";

const DAY_MS = 24 * 3600 * 1000;

/** The shards of the test worker; every test here starts from empty event and delivery tables on each. */
const SHARDS = [env.DB, env.SHARD_2, env.SHARD_3];

/**
 * Inserts events as ingest does, fanned out to `endpointIds`, with a delivery
 * row per endpoint as the consumer writes them. Returns the events' seqs in order.
 */
async function seed(
	database: D1Database,
	events: { id: string; createdAt: number; deliverAt?: number }[],
	endpointIds: string[],
): Promise<number[]> {
	const seqs: number[] = [];
	for (const event of events) {
		const inserted = await database
			.prepare(
				"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at, deliver_at) VALUES ('default', ?, 'a', '{}', ?, ?, ?) RETURNING seq",
			)
			.bind(event.id, JSON.stringify(endpointIds), event.createdAt, event.deliverAt ?? null)
			.first<{ seq: number }>();
		if (!inserted) throw new Error(`event ${event.id} was not inserted`);
		seqs.push(inserted.seq);
		for (const endpointId of endpointIds) {
			await database
				.prepare(
					`INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, attempt_count, attempts, created_at, updated_at)
					 VALUES (?, 'default', ?, ?, 'a', 'success', 1, '[]', ?, ?)`,
				)
				.bind(deliveryId(endpointId, inserted.seq), endpointId, event.id, event.createdAt, event.createdAt)
				.run();
		}
	}
	return seqs;
}

/** `count` events created at `createdAt`, each to every one of `endpointIds` with its delivery rows, inserted in bulk; returns their seqs. */
async function seedMany(
	database: D1Database,
	endpointIds: string[],
	count: number,
	createdAt: number,
): Promise<number[]> {
	const names = Array.from({ length: count }, (_, index) => `evt_${createdAt}_${index}`);
	const inserted = await database
		.prepare(
			"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at) SELECT 'default', value, 'a', '{}', ?2, ?3 FROM json_each(?1) RETURNING seq",
		)
		.bind(JSON.stringify(names), JSON.stringify(endpointIds), createdAt)
		.all<{ seq: number }>();
	const seqs = inserted.results.map((row) => row.seq);
	const rows = seqs.flatMap((seq) =>
		endpointIds.map((endpoint) => [deliveryId(endpoint, seq), endpoint, `evt_${seq}`]),
	);
	for (const part of chunk(rows, 2000)) {
		await database
			.prepare(
				`INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, attempt_count, attempts, created_at, updated_at)
				 SELECT value ->> 0, 'default', value ->> 1, value ->> 2, 'a', 'success', 1, '[]', ?2, ?2 FROM json_each(?1)`,
			)
			.bind(JSON.stringify(part), createdAt)
			.run();
	}
	return seqs;
}

/** Empties the event log of a database, and the marks retention keeps of it, so seqs start again from 1. */
async function emptyLog(database: D1Database): Promise<void> {
	await database.batch([
		database.prepare("DELETE FROM deliveries"),
		database.prepare("DELETE FROM events"),
		database.prepare("DELETE FROM event_blocks"),
	]);
	await forgetCleanedMark(database);
}

async function eventIdsLeft(database: D1Database, ids: string[]): Promise<string[]> {
	const left = await database
		.prepare("SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id")
		.bind(JSON.stringify(ids))
		.all<{ id: string }>();
	return left.results.map((row) => row.id);
}

async function deliveryEventIdsLeft(database: D1Database, ids: string[]): Promise<string[]> {
	const left = await database
		.prepare("SELECT event_id FROM delivery_log WHERE event_id IN (SELECT value FROM json_each(?)) ORDER BY event_id")
		.bind(JSON.stringify(ids))
		.all<{ event_id: string }>();
	return left.results.map((row) => row.event_id);
}

describe("retention", () => {
	beforeEach(async () => {
		for (const database of SHARDS) {
			await emptyLog(database);
		}
	});

	it("the cron removes events and their deliveries older than RETENTION_DAYS and keeps the rest, on every shard", async () => {
		const now = Date.now();
		const endpoint = newEndpointId();
		for (const database of SHARDS) {
			await seed(
				database,
				[
					{ id: "evt_old", createdAt: now - 31 * DAY_MS },
					{ id: "evt_recent", createdAt: now - 29 * DAY_MS },
				],
				[endpoint],
			);
		}
		await worker.scheduled(createScheduledController({ scheduledTime: now, cron: "* * * * *" }), env);
		for (const database of SHARDS) {
			expect(await eventIdsLeft(database, ["evt_old", "evt_recent"])).toEqual(["evt_recent"]);
			expect(await deliveryEventIdsLeft(database, ["evt_old", "evt_recent"])).toEqual(["evt_recent"]);
		}
	});

	it("a shard that fails keeps none of the others from being cleaned, and the run fails with it", async () => {
		const now = Date.now();
		const endpoint = newEndpointId();
		for (const database of SHARDS) await seed(database, [{ id: "evt_old", createdAt: now - 31 * DAY_MS }], [endpoint]);
		// SHARD_2, between the other two, answers nothing.
		const down = new Proxy(env.SHARD_2, {
			get(target, property) {
				if (property === "prepare" || property === "batch")
					return () => {
						throw new Error("SHARD_2 is down");
					};
				const value: unknown = Reflect.get(target, property);
				return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
			},
		});
		const withShardDown: Env = Object.assign({}, env, { SHARD_2: down });
		await expect(purgeExpired(withShardDown, now)).rejects.toThrow("SHARD_2 is down");
		expect(await eventIdsLeft(env.DB, ["evt_old"])).toEqual([]);
		expect(await eventIdsLeft(env.SHARD_2, ["evt_old"])).toEqual(["evt_old"]);
		expect(await eventIdsLeft(env.SHARD_3, ["evt_old"])).toEqual([]);

		// The event's block row is left behind on SHARD_3, empty; the daily cleanup still reaches it.
		await expect(deleteEmptiedBlocks(withShardDown)).rejects.toThrow("SHARD_2 is down");
		const blocksLeft = await env.SHARD_3.prepare("SELECT count(*) AS n FROM event_blocks").first<{ n: number }>();
		expect(blocksLeft?.n).toBe(0);
	});

	it("the daily cron removes them too", async () => {
		const now = Date.now();
		await seed(
			env.DB,
			[
				{ id: "evt_old", createdAt: now - 31 * DAY_MS },
				{ id: "evt_recent", createdAt: now - 29 * DAY_MS },
			],
			[newEndpointId(), newEndpointId()],
		);
		await worker.scheduled(createScheduledController({ scheduledTime: now, cron: "17 3 * * *" }), env);
		expect(await eventIdsLeft(env.DB, ["evt_old", "evt_recent"])).toEqual(["evt_recent"]);
		expect(await deliveryEventIdsLeft(env.DB, ["evt_old", "evt_recent"])).toEqual(["evt_recent", "evt_recent"]);
	});

	it("keeps an event scheduled ahead, and its deliveries, until RETENTION_DAYS after it was due", async () => {
		const now = Date.now();
		const created = now - 31 * DAY_MS;
		const ids = ["evt_scheduled_ahead", "evt_scheduled_recent", "evt_scheduled_long_ago", "evt_plain"];
		await seed(
			env.DB,
			[
				// Scheduled past the cutoff: still to be sent (or just sent), kept.
				{ id: "evt_scheduled_ahead", createdAt: created, deliverAt: now + DAY_MS },
				{ id: "evt_scheduled_recent", createdAt: created, deliverAt: now - 29 * DAY_MS },
				// Due before the cutoff as well: gone like any old event, as is the plain one after the kept ones.
				{ id: "evt_scheduled_long_ago", createdAt: created, deliverAt: now - 30.5 * DAY_MS },
				{ id: "evt_plain", createdAt: created },
			],
			[newEndpointId()],
		);
		await worker.scheduled(createScheduledController({ scheduledTime: now, cron: "* * * * *" }), env);
		const kept = ["evt_scheduled_ahead", "evt_scheduled_recent"];
		expect(await eventIdsLeft(env.DB, ids)).toEqual(kept);
		expect(await deliveryEventIdsLeft(env.DB, ids)).toEqual(kept);
	});

	it("stops at the first event that has not expired, and takes the ones behind it once it has", async () => {
		const now = Date.now();
		// Two isolates' clocks may differ by a few milliseconds, so created_at is not quite in seq order.
		await seed(
			env.DB,
			[
				{ id: "evt_a", createdAt: now - 31 * DAY_MS },
				{ id: "evt_b", createdAt: now - 29 * DAY_MS },
				{ id: "evt_c", createdAt: now - 29 * DAY_MS - 5 },
			],
			[newEndpointId()],
		);
		await purgeExpired(env, now);
		expect(await eventIdsLeft(env.DB, ["evt_a", "evt_b", "evt_c"])).toEqual(["evt_b", "evt_c"]);
		await purgeExpired(env, now + DAY_MS + 1);
		expect(await deliveryEventIdsLeft(env.DB, ["evt_a", "evt_b", "evt_c"])).toEqual([]);
		// Expired a moment ago, their rows wait for ingest to reuse them, and go once they waited long enough.
		expect(await eventIdsLeft(env.DB, ["evt_a", "evt_b", "evt_c"])).toEqual(["evt_b", "evt_c"]);
		expect(await purgeExpired(env, now + DAY_MS + UNUSED_CLEANED_KEPT_MS + 1)).toMatchObject({ events: 2 });
		expect(await eventIdsLeft(env.DB, ["evt_a", "evt_b", "evt_c"])).toEqual([]);
	});

	it("reads what it removes, not the log it keeps, although old deliveries sit before newer ones of the same endpoints", async () => {
		const database = env.SHARD_2;
		const now = Date.now();
		const endpoints = Array.from({ length: 20 }, () => newEndpointId());
		const deliveriesOf = async (seqs: number[]) => {
			const ids = seqs.flatMap((seq) => endpoints.map((endpoint) => deliveryId(endpoint, seq)));
			const found = await database
				.prepare("SELECT count(*) AS n FROM delivery_log WHERE id IN (SELECT value FROM json_each(?1))")
				.bind(JSON.stringify(ids))
				.first<{ n: number }>();
			return found?.n;
		};
		/** Rows read to remove 100 expired events and their 2,000 deliveries from a log that keeps `keptEvents` newer ones. */
		const rowsReadWith = async (keptEvents: number) => {
			await emptyLog(database);
			const expired = await seedMany(database, endpoints, 100, now - 31 * DAY_MS);
			const kept = await seedMany(database, endpoints, keptEvents, now - DAY_MS);
			resetCounters();
			const counted = { ...env, SHARD_2: meterD1(database, "SHARD_2") };
			await purgeExpired(counted, now);
			expect(await deliveriesOf(expired)).toBe(0);
			expect(await deliveriesOf(kept)).toBe(keptEvents * endpoints.length);
			return readDatabaseCounters().SHARD_2?.d1_rows_read ?? 0;
		};

		const small = await rowsReadWith(50);
		const large = await rowsReadWith(500);
		// Walking the deliveries in key order re-read every kept delivery before the next old one: 44,007 rows
		// here with 500 kept events, growing with the log. Through the events it is about four rows per row
		// removed (a json_each row, the key's lookup and the row), whatever the log keeps.
		// What is left is the walk's last page, which reads up to a page (500 events) past the last expired one.
		expect(large - small).toBeLessThanOrEqual(500);
		expect(large).toBeLessThan(5 * (100 + 100 * endpoints.length));
	});

	it("removes an event with a fan-out larger than a page on its own page, and every one after it", async () => {
		const now = Date.now();
		const endpoints = Array.from({ length: 3000 }, () => newEndpointId());
		await seedMany(env.SHARD_3, endpoints, 3, now - 31 * DAY_MS);
		const removed = await purgeExpired(env, now);
		// Expired for longer than a cleaned row waits to be reused: cleaned, then deleted in the same run.
		expect(removed).toEqual({ events: 3, cleaned: 3, deliveries: 9000, packs: 0 });
		const left = await env.SHARD_3.prepare("SELECT count(*) AS n FROM delivery_log").first<{ n: number }>();
		expect(left?.n).toBe(0);
	});

	it("reads each expired event once a run, so a backlog four times as long costs four times the rows, not sixteen", async () => {
		const database = env.SHARD_2;
		const now = Date.now();
		const endpoint = [newEndpointId()];
		/** Rows read per row removed, clearing a backlog of `expiredEvents` old events to one endpoint. */
		const readPerRowWith = async (expiredEvents: number) => {
			await emptyLog(database);
			await seedMany(database, endpoint, expiredEvents, now - 31 * DAY_MS);
			await seedMany(database, endpoint, 10, now - DAY_MS);
			resetCounters();
			const counted = { ...env, SHARD_2: meterD1(database, "SHARD_2") };
			const removed = await purgeExpired(counted, now);
			expect(removed).toEqual({
				events: expiredEvents,
				cleaned: expiredEvents,
				deliveries: expiredEvents,
				packs: 0,
			});
			return (readDatabaseCounters().SHARD_2?.d1_rows_read ?? 0) / (2 * expiredEvents);
		};
		const short = await readPerRowWith(1_000);
		const long = await readPerRowWith(4_000);
		// Finding the first unexpired event again on each page re-read the whole backlog left: quadratic.
		expect(long).toBeLessThanOrEqual(short * 1.05);
	});

	it("passes over any number of events kept for their schedule to reach the expired ones behind them", async () => {
		const database = env.SHARD_3;
		await emptyLog(database);
		const now = Date.now();
		// More kept events than a run's pages hold (100 of 500): a walk that returned them would stop before the end.
		for (let start = 0; start < 60_000; start += 10_000) {
			await database
				.prepare(
					"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at, deliver_at) SELECT 'default', 'evt_kept_' || value, 'a', '{}', '[]', ?2, ?3 FROM json_each(?1)",
				)
				.bind(
					JSON.stringify(Array.from({ length: 10_000 }, (_, index) => start + index)),
					now - 31 * DAY_MS,
					now + DAY_MS,
				)
				.run();
		}
		await seedMany(database, [newEndpointId()], 10, now - 31 * DAY_MS);
		const removed = await purgeExpired(env, now);
		expect(removed).toEqual({ events: 10, cleaned: 10, deliveries: 10, packs: 0 });
		const kept = await database.prepare("SELECT count(*) AS n FROM events").first<{ n: number }>();
		expect(kept?.n).toBe(60_000);
	}, 60_000);
});
