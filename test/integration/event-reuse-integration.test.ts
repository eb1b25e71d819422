import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import { readCleanedMark, writeCleanedMark } from "../../src/db/event-reuse";
import { deliveryId, newEndpointId } from "../../src/lib/ids";
import { readCounters, resetCounters } from "../../src/lib/metering";
import { recordOutcomes } from "../../src/queue/record";
import { firstAttemptBacklog } from "../../src/reliability/first-attempt-backlog";
import { sweep } from "../../src/reliability/sweeper";
import { purgeExpired } from "../../src/retention";
import {
	answered,
	callMetered,
	createWebhook,
	firstAttempt,
	forgetCleanedMark,
	receivedBy,
	receiverPath,
	record,
	runFirstAttempt,
	storedEvent,
	uniqueName,
} from "./helpers";

const DAY_MS = 24 * 3600 * 1000;
/** The test worker keeps the default RETENTION_DAYS. */
const RETENTION_MS = 30 * DAY_MS;

interface StoredRow {
	seq: number;
	id: string;
	type: string;
	id_given: number;
	idempotency_key: string | null;
	labels: string | null;
	tags: string | null;
	data: string;
	created_at: number;
}

async function storedRows(): Promise<StoredRow[]> {
	const { results } = await env.DB.prepare(
		"SELECT seq, id, type, id_given, idempotency_key, labels, tags, data, created_at FROM events ORDER BY seq",
	).all<StoredRow>();
	return results;
}

/**
 * Events of the default tenant that expired ten minutes ago, each with every
 * field set and a delivery row, stored as ingest stored them then: after
 * every other event. Returns their seqs.
 */
async function expiredEvents(count: number, endpointId: string): Promise<number[]> {
	const createdAt = Date.now() - RETENTION_MS - 10 * 60_000;
	const seqs: number[] = [];
	for (let index = 0; index < count; index++) {
		const id = `evt_${uniqueName("expired")}`;
		const row = await env.DB.prepare(
			`INSERT INTO events (tenant_id, id, id_given, type, data, idempotency_key, endpoint_ids, created_at, labels, tags)
			 VALUES ('default', ?1, 1, 'old.thing', '{"old":true}', ?2, ?3, ?4, '["old-label"]', '["old-tag"]') RETURNING seq`,
		)
			.bind(id, `key-${id}`, JSON.stringify([endpointId]), createdAt)
			.first<{ seq: number }>();
		if (!row) throw new Error("expired event not stored");
		await env.DB.prepare(
			`INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, attempt_count, attempts, created_at, updated_at)
			 VALUES (?1, 'default', ?2, ?3, 'old.thing', 'failed', 1, '[]', ?4, ?4)`,
		)
			.bind(deliveryId(endpointId, row.seq), endpointId, id, createdAt)
			.run();
		seqs.push(row.seq);
	}
	return seqs;
}

async function deliveryRowCount(): Promise<number> {
	return (await env.DB.prepare("SELECT count(*) AS n FROM deliveries").first<{ n: number }>())?.n ?? -1;
}

describe("expired events' rows reused by ingest", () => {
	beforeEach(async () => {
		await env.DB.batch([
			env.DB.prepare("DELETE FROM deliveries"),
			env.DB.prepare("DELETE FROM delivery_packs"),
			env.DB.prepare("DELETE FROM events"),
			env.DB.prepare("DELETE FROM event_blocks"),
		]);
		await forgetCleanedMark(env.DB);
	});

	it("stores an event in the oldest cleaned row: the rows written of an insert, nothing of the old event left, no delete to come", async () => {
		const oldSeqs = await expiredEvents(20, newEndpointId());
		const [oldest] = await storedRows();
		expect(await purgeExpired(env, Date.now())).toEqual({ events: 0, cleaned: 20, deliveries: 20, packs: 0 });
		expect(await deliveryRowCount()).toBe(0);
		expect((await storedRows()).map((row) => row.seq)).toEqual(oldSeqs);

		resetCounters();
		const accepted = await callMetered("POST", "/v1/events", { type: uniqueName("fresh"), data: { n: 1 } });
		expect(accepted.status).toBe(202);
		const counters = readCounters();
		// The same as a new row in a block its tenant has events in (src/db/event-blocks.ts), in the one query of ingest.
		expect(counters.d1_rows_written).toBe(1);
		expect(counters.d1_queries).toBe(1);

		const newId = String(record(accepted.body).id);
		const rows = await storedRows();
		expect(rows.map((row) => row.seq)).toEqual([...oldSeqs.slice(1), Math.max(...oldSeqs) + 1]);
		expect(rows.at(-1)).toMatchObject({
			id: newId,
			id_given: 0,
			idempotency_key: null,
			labels: null,
			tags: null,
			data: '{"n":1}',
		});
		expect((await callMetered("GET", `/v1/events/${newId}`)).status).toBe(200);
		expect((await callMetered("GET", `/v1/events/${oldest?.id}`)).status).toBe(404);

		// An hour on, the 19 rows left unused go; the new event, not expired, stays.
		expect(await purgeExpired(env, Date.now() + 2 * 3600_000)).toMatchObject({ events: 19, cleaned: 0 });
		expect((await storedRows()).map((row) => row.id)).toEqual([newId]);
	});

	it("a batch takes the cleaned rows there are and inserts the rest, in input order, and a repeated id stores nothing", async () => {
		const live = await callMetered("POST", "/v1/events", { type: "live.thing", id: "evt_given_live", data: {} });
		expect(live.status).toBe(202);
		await expiredEvents(3, newEndpointId());
		// Stored after the live event, the expired ones are behind it in seq order: move the live one to the end.
		await env.DB.prepare("UPDATE events SET seq = (SELECT max(seq) + 1 FROM events) WHERE id = 'evt_given_live'").run();
		expect(await purgeExpired(env, Date.now())).toMatchObject({ cleaned: 3 });

		const type = uniqueName("batch");
		const batch = await callMetered("POST", "/v1/events/batch", {
			events: [
				{ type, data: { n: 0 } },
				{ type, id: "evt_given_live", data: { n: 1 } },
				{ type, data: { n: 2 } },
				{ type, id: "evt_given_new", data: { n: 3 } },
				{ type, data: { n: 4 } },
			],
		});
		expect(batch.status).toBe(202);
		const answered = (record(batch.body).events as { id: string; type: string }[]).map((event) => event.id);
		// The repeated id answers the event stored under it, which keeps its own type.
		expect(answered[1]).toBe("evt_given_live");
		const rows = await storedRows();
		// The repeated id's turn passed over a cleaned row, which waits for the next ingest.
		expect(rows.filter((row) => row.type === "old.thing")).toHaveLength(1);
		const stored = rows.filter((row) => row.type !== "old.thing");
		expect(stored.map((row) => row.id)).toEqual(["evt_given_live", answered[0], answered[2], answered[3], answered[4]]);
		expect(stored.map((row) => JSON.parse(row.data))).toEqual([{}, { n: 0 }, { n: 2 }, { n: 3 }, { n: 4 }]);
	});

	it("a job for a cleaned event sends nothing and records nothing, as for one deleted", async () => {
		const name = uniqueName("late");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["*"] });
		const [seq] = await expiredEvents(1, String(hook.id));
		await purgeExpired(env, Date.now());
		await runFirstAttempt("default", { seq: Number(seq) }, hook.id);
		expect(await receivedBy(name)).toEqual([]);
		expect(await deliveryRowCount()).toBe(0);
	});

	it("an outcome recorded after its event was cleaned writes no delivery and no pack", async () => {
		const endpointId = newEndpointId();
		const seqs = await expiredEvents(2, endpointId);
		// Loaded by a consumer before retention ran, as a batch in flight would have.
		const [failed, succeeded] = await Promise.all(seqs.map((seq) => storedEvent(seq)));
		await purgeExpired(env, Date.now());
		if (!failed || !succeeded) throw new Error("expired events not stored");
		await env.DB.batch(
			recordOutcomes(env.DB, [
				answered(firstAttempt(failed, endpointId), 500),
				answered(firstAttempt(succeeded, endpointId), 200),
			]),
		);
		expect(await deliveryRowCount()).toBe(0);
		const packs = await env.DB.prepare("SELECT count(*) AS n FROM delivery_packs").first<{ n: number }>();
		expect(packs?.n).toBe(0);
	});

	it("does not move the mark over an event stored behind a page after retention read it", async () => {
		const expiredAt = Date.now() - RETENTION_MS - 10 * 60_000;
		const cutoff = Date.now() - RETENTION_MS;
		// Seqs 1 and 3 expired; 2 was stored a moment ago, as the next rowid once a purge removed every event above.
		for (const [seq, createdAt] of [
			[1, expiredAt],
			[2, Date.now()],
			[3, expiredAt],
		] as const) {
			await env.DB.prepare(
				"INSERT INTO events (seq, tenant_id, id, type, data, endpoint_ids, created_at) VALUES (?1, 'default', ?2, 'a', '{}', '[]', ?3)",
			)
				.bind(seq, `evt_${uniqueName("behind")}`, createdAt)
				.run();
		}
		const held = await writeCleanedMark(env.DB, 0, { throughSeq: 3, beforeMs: cutoff }).run();
		expect(held.meta.changes).toBe(0);
		expect(await readCleanedMark(env.DB).first()).toEqual({ throughSeq: 0, beforeMs: 0 });
		await writeCleanedMark(env.DB, 0, { throughSeq: 1, beforeMs: cutoff }).run();
		expect(await readCleanedMark(env.DB).first()).toEqual({ throughSeq: 1, beforeMs: cutoff });
		// A run walks from the mark and stops at the young event: it is neither cleaned nor reused.
		expect(await purgeExpired(env, Date.now())).toMatchObject({ cleaned: 0 });
		expect((await storedRows()).map((row) => row.seq)).toEqual([1, 2, 3]);
	});

	it("the backlog probe and the sweeper take cleaned rows for expired, not for lost", async () => {
		await expiredEvents(5, newEndpointId());
		await purgeExpired(env, Date.now());
		const db = openDatabase(env.DB);
		expect(await firstAttemptBacklog(db, Date.now())).toEqual({
			oldestWaitingAgeSeconds: null,
			waitingEventsAtMost: 0,
		});
		const swept = await sweep(env, Date.now());
		expect(swept.firstAttemptsRequeued).toBe(0);
	});

	it("never gives a seq behind the mark, even once every event after it is gone", async () => {
		const seqs = await expiredEvents(3, newEndpointId());
		await purgeExpired(env, Date.now());
		// As a purge of the newest events would leave it: nothing stored, the mark still at the last seq.
		await env.DB.prepare("DELETE FROM events").run();
		const accepted = await callMetered("POST", "/v1/events", { type: "after.purge", data: {} });
		expect(accepted.status).toBe(202);
		const [row] = await storedRows();
		expect(row?.seq).toBeGreaterThan(Math.max(...seqs));
	});
});
