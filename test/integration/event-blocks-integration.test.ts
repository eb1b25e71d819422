import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import { deleteTenantBlocksBelow, EVENT_BLOCK_SHIFT } from "../../src/db/event-blocks";
import { meterD1, readDatabaseCounters, resetCounters } from "../../src/lib/metering";
import { deleteEmptiedBlocks, purgeExpired } from "../../src/retention";
import { api, callWithSettings, forgetCleanedMark, record, tenantWithKey } from "./helpers";

/*
 * A tenant's events in order come from event_blocks (src/db/event-blocks.ts),
 * which triggers on events keep: these tests write events as ingest and
 * hand-written SQL do, and read them back through the API.
 */

const database = env.SHARD_3;
const BLOCK_SEQS = 2 ** EVENT_BLOCK_SHIFT;
const DAY_MS = 24 * 3600 * 1000;

/**
 * Stores events of the given tenants, one per entry, in order, with created_at
 * `createdAt`; returns their ids. Their ids count as given, so a list's cursor
 * finds them (and each costs an entry in events_given_id) unless `idGiven` is 0.
 */
async function storeEvents(
	tenantIds: readonly string[],
	createdAt: number,
	into = database,
	idGiven: 0 | 1 = 1,
): Promise<string[]> {
	const ids = tenantIds.map((_, index) => `evt_block_${index}_${crypto.randomUUID()}`);
	await into
		.prepare(
			`INSERT INTO events (tenant_id, id, id_given, type, data, endpoint_ids, created_at)
			 SELECT value ->> 0, value ->> 1, ?3, 'block.test', '{}', '[]', ?2 FROM json_each(?1) ORDER BY key`,
		)
		.bind(JSON.stringify(tenantIds.map((tenantId, index) => [tenantId, ids[index]])), createdAt, idGiven)
		.run();
	return ids;
}

async function blockRows(tenantId: string): Promise<number[]> {
	const { results } = await database
		.prepare("SELECT block FROM event_blocks WHERE tenant_id = ? ORDER BY block")
		.bind(tenantId)
		.all<{ block: number }>();
	return results.map((row) => row.block);
}

/** Every event id of a tenant's list, page by page, with the rows each page read. */
async function listAll(
	tenantId: string,
	order: "asc" | "desc",
	limit = 10,
): Promise<{ ids: string[]; rowsRead: number[] }> {
	const ids: string[] = [];
	const rowsRead: number[] = [];
	let cursor: string | null = null;
	for (let page = 0; page < 1_000; page++) {
		resetCounters();
		const query: string = `limit=${limit}&order=${order}${cursor === null ? "" : `&cursor=${cursor}`}`;
		const answer = await callWithSettings({ BENCH_METERING: "on" }, "GET", `/v1/events?${query}`, undefined, {
			"x-tenant-id": tenantId,
		});
		expect(answer.status).toBe(200);
		rowsRead.push(readDatabaseCounters().SHARD_3?.d1_rows_read ?? 0);
		const body = record(answer.body);
		ids.push(...(body.events as { id: string }[]).map((event) => event.id));
		if (body.has_more !== true) return { ids, rowsRead };
		cursor = String(body.next_cursor);
	}
	throw new Error("the list did not end");
}

describe("a tenant's events in order through blocks of seqs", () => {
	beforeEach(async () => {
		await database.batch([
			database.prepare("DELETE FROM deliveries"),
			database.prepare("DELETE FROM delivery_packs"),
			database.prepare("DELETE FROM events"),
			database.prepare("DELETE FROM event_blocks"),
		]);
		await forgetCleanedMark(database);
	});

	it("writes a block's row with the event that opens it, in the same statement, and nothing for the others", async () => {
		const tenantId = "tenant-alone";
		resetCounters();
		const metered = meterD1(database, "SHARD_3");
		// Seqs 1 to 2,048 lie in blocks 0, 1 and 2.
		await storeEvents(
			Array.from({ length: 2 * BLOCK_SEQS }, () => tenantId),
			Date.now(),
			metered,
			0,
		);
		expect(readDatabaseCounters().SHARD_3?.d1_rows_written).toBe(2 * BLOCK_SEQS + 3);
		expect(await blockRows(tenantId)).toEqual([0, 1, 2]);

		resetCounters();
		await storeEvents([tenantId], Date.now(), metered, 0);
		expect(readDatabaseCounters().SHARD_3?.d1_rows_written).toBe(1);
	});

	it("lists a tenant that shares its blocks with another: each event once, in order both ways, a page reading about what it skips", async () => {
		const sparse = await tenantWithKey("sparse", "SHARD_3");
		const dense = await tenantWithKey("dense", "SHARD_3");
		// One event in eight is the sparse tenant's, over 3,000 seqs: three blocks shared.
		const owners = Array.from({ length: 3_000 }, (_, index) => (index % 8 === 3 ? sparse.id : dense.id));
		const ids = await storeEvents(owners, Date.now());
		const sparseIds = ids.filter((_, index) => owners[index] === sparse.id);
		expect(sparseIds).toHaveLength(375);

		const ascending = await listAll(sparse.id, "asc");
		expect(ascending.ids).toEqual(sparseIds);
		const descending = await listAll(sparse.id, "desc");
		expect(descending.ids).toEqual([...sparseIds].reverse());
		// A page of 10 spans about 80 seqs of the shared blocks (90 rows read with the cursor's lookup), not the
		// 3,000; one that crosses into the next block reads 2 more. Seeking each block from the cursor would read
		// the first block's rest again (about 160).
		expect(Math.max(...ascending.rowsRead, ...descending.rowsRead)).toBeLessThan(100);

		const denseList = await listAll(dense.id, "desc");
		expect(denseList.ids).toHaveLength(3_000 - 375);
		expect(new Set(denseList.ids).size).toBe(3_000 - 375);
		expect(denseList.ids.some((id) => sparseIds.includes(id))).toBe(false);
	});

	it("lists a row ingest reused for another tenant's event under that tenant, at its new place, and not under the old one", async () => {
		const previous = await tenantWithKey("previous", "SHARD_3");
		const next = await tenantWithKey("next", "SHARD_3");
		const [expiredId] = await storeEvents([previous.id], Date.now() - 31 * DAY_MS);
		const [olderId] = await storeEvents([next.id], Date.now());
		// Behind the event that will take it: a reused row moves to the end of the seqs.
		await database.prepare("UPDATE events SET seq = seq + 5000 WHERE id = ?").bind(olderId).run();
		expect(await purgeExpired(env, Date.now())).toMatchObject({ cleaned: 1 });

		const sent = await api("POST", "/v1/events", { auth: next.key, body: { type: "block.reused", data: {} } });
		expect(sent.status).toBe(202);
		const reusedId = String(record(sent.body).id);
		const row = await database
			.prepare("SELECT count(*) AS n FROM events WHERE tenant_id = ?")
			.bind(previous.id)
			.first<{ n: number }>();
		// The expired event's row now holds the new event: the database gained no row.
		expect(row?.n).toBe(0);
		expect((await database.prepare("SELECT count(*) AS n FROM events").first<{ n: number }>())?.n).toBe(2);

		expect((await listAll(next.id, "asc")).ids).toEqual([olderId, reusedId]);
		expect((await listAll(next.id, "desc")).ids).toEqual([reusedId, olderId]);
		expect((await listAll(previous.id, "asc")).ids).toEqual([]);
		expect((await api("GET", `/v1/events/${expiredId}`, { auth: previous.key })).status).toBe(404);
	});

	it("a list starts at the oldest event's block, and the daily retention deletes the rows of blocks with no event left", async () => {
		const { id: tenantId } = await tenantWithKey("shrinking", "SHARD_3");
		const ids = await storeEvents(
			Array.from({ length: 20 * BLOCK_SEQS }, () => tenantId),
			Date.now(),
		);
		expect(await blockRows(tenantId)).toEqual(Array.from({ length: 21 }, (_, block) => block));
		// The tenant's events of blocks 0 to 18 gone (reused or deleted), as reuse empties the oldest blocks first.
		await database
			.prepare("DELETE FROM events WHERE seq < ?")
			.bind(19 * BLOCK_SEQS)
			.run();
		// Seqs from 19,456 on: the ids from index 19,455.
		const kept = ids.slice(19 * BLOCK_SEQS - 1);
		const fromOldest = await listAll(tenantId, "asc", 100);
		expect(fromOldest.ids).toEqual(kept);

		// Another tenant's event scheduled a day ahead, stored at seq 1, holds the oldest seq back while it is kept:
		// the first page then walks the 19 emptied block rows of the tenant too, a seek each.
		await database
			.prepare(
				"INSERT INTO events (seq, tenant_id, id, id_given, type, data, endpoint_ids, created_at, deliver_at) VALUES (1, 'someone-else', 'evt_block_scheduled', 1, 'block.test', '{}', '[]', ?1, ?2)",
			)
			.bind(Date.now(), Date.now() + DAY_MS)
			.run();
		const pastEmptied = await listAll(tenantId, "asc", 100);
		expect(pastEmptied.ids).toEqual(kept);
		expect(pastEmptied.rowsRead[0]).toBeGreaterThan((fromOldest.rowsRead[0] ?? 0) + 30);

		// Blocks 1 to 18 hold no event; block 0 holds the scheduled one, so the tenant's row there stays.
		expect(await deleteEmptiedBlocks(env)).toBe(18);
		expect(await blockRows(tenantId)).toEqual([0, 19, 20]);
		const afterCleanup = await listAll(tenantId, "asc", 100);
		expect(afterCleanup.ids).toEqual(kept);
		expect(afterCleanup.rowsRead[0]).toBeLessThan((pastEmptied.rowsRead[0] ?? 0) - 30);
		expect((await listAll(tenantId, "desc", 100)).ids).toEqual([...kept].reverse());
	});

	it("a tenant's purge deletes the rows of blocks it emptied, and keeps one that still holds an event of the tenant", async () => {
		const tenantId = "tenant-purged";
		await storeEvents(
			Array.from({ length: 2 * BLOCK_SEQS }, () => tenantId),
			Date.now(),
		);
		expect(await blockRows(tenantId)).toEqual([0, 1, 2]);
		// The purge deleted the events it read; one event of block 2 came late, from a key still cached.
		await database
			.prepare("DELETE FROM events WHERE seq < ?")
			.bind(2 * BLOCK_SEQS)
			.run();
		await deleteTenantBlocksBelow(openDatabase(database), tenantId, Number.MAX_SAFE_INTEGER);
		expect(await blockRows(tenantId)).toEqual([2]);
	});
});
