import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it, onTestFinished } from "vitest";
import { openDatabase } from "../../src/db/client";
import { newestSeqBefore } from "../../src/db/event-position";
import { findEventsByIds } from "../../src/db/events";
import {
	deliveryEventSeqSql,
	deliveryId,
	generatedEventIdSql,
	generatedEventTime,
	isGeneratedEventId,
	newEventId,
} from "../../src/lib/ids";
import { api, record, uniqueName } from "./helpers";

/*
 * Ids Edgehook generates for events are not indexed (migration 0012): they
 * lead with the event's created_at, which ingest never sets before the
 * newest stored event's, and are found by bisecting the seqs.
 */

interface StoredEventRow {
	seq: number;
	id: string;
	id_given: number | null;
	created_at: number;
}

async function stored(id: string): Promise<StoredEventRow | null> {
	return env.DB.prepare("SELECT seq, id, id_given, created_at FROM events WHERE id = ?")
		.bind(id)
		.first<StoredEventRow>();
}

async function send(body: Record<string, unknown>): Promise<Record<string, unknown>> {
	const response = await api("POST", "/v1/events", { body });
	expect(response.status).toBe(202);
	return record(response.body);
}

/** Stores an event under `id` without ingest, with the created_at and id_given given. */
async function storeRaw(id: string, createdAt: number, idGiven: number | null): Promise<number> {
	const row = await env.DB.prepare(
		"INSERT INTO events (tenant_id, id, id_given, type, data, endpoint_ids, created_at) VALUES ('default', ?, ?, 'raw.stored', '{}', '[]', ?) RETURNING seq",
	)
		.bind(id, idGiven, createdAt)
		.first<{ seq: number }>();
	if (!row) throw new Error("not stored");
	return row.seq;
}

/**
 * Takes back events a test stored out of time order: every event of this
 * file's database is in the bisections, so they would mislead later tests.
 */
async function removeRaw(seqs: readonly number[]): Promise<void> {
	await env.DB.prepare("DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))")
		.bind(JSON.stringify(seqs))
		.run();
}

describe("generated event ids", () => {
	it("are made by the insert from the stored created_at, stay out of the index of given ids, and are found by GET", async () => {
		const type = `${uniqueName("gen")}.created`;
		const event = await send({ type, data: { n: 1 } });
		const id = String(event.id);
		expect(isGeneratedEventId(id)).toBe(true);

		const row = await stored(id);
		expect(row?.id_given).toBe(0);
		expect(generatedEventTime(id)).toBe(row?.created_at);
		expect(event.created_at).toBe(
			new Date(Math.floor(Number(row?.created_at) / 1000) * 1000).toISOString().replace(".000Z", "Z"),
		);

		const plan = await env.DB.prepare(
			"EXPLAIN QUERY PLAN SELECT seq FROM events WHERE tenant_id = 'default' AND id = ? AND id_given IS NOT 0",
		)
			.bind(id)
			.all<{ detail: string }>();
		expect(plan.results.map((step) => step.detail).join("\n")).toContain("events_given_id");
		const given = await env.DB.prepare(
			"SELECT count(*) AS n FROM events WHERE tenant_id = 'default' AND id = ? AND id_given IS NOT 0",
		)
			.bind(id)
			.first<{ n: number }>();
		expect(given?.n).toBe(0);

		const found = await api("GET", `/v1/events/${id}`);
		expect(found.status).toBe(200);
		expect(record(found.body).type).toBe(type);
	});

	it("are written by the insert as newEventId writes them", async () => {
		for (const createdAt of [0, 1, 1_733_000_000_000, 2 ** 50 - 1]) {
			const nonce = "0123456789abcdef";
			const row = await env.DB.prepare(`SELECT ${generatedEventIdSql("?1", "?2")} AS id`)
				.bind(createdAt, nonce)
				.first<{ id: string }>();
			expect(row?.id.slice(0, -nonce.length)).toBe(newEventId(createdAt).slice(0, -nonce.length));
			expect(row?.id.endsWith(nonce)).toBe(true);
			expect(generatedEventTime(row?.id ?? "")).toBe(createdAt);
		}
	});

	it("read delivery ids' seqs in SQL as parseDeliveryId does", async () => {
		for (const seq of [0, 1, 31, 32, 1_048_575, 123_456_789_012, 2 ** 50 - 1]) {
			const id = deliveryId("hook_0123456789abcdef", seq);
			const row = await env.DB.prepare(`SELECT ${deliveryEventSeqSql("?1")} AS seq`)
				.bind(id)
				.first<{ seq: number }>();
			expect(row?.seq).toBe(seq);
		}
	});

	it("never stamp an event before the newest stored one, so an isolate whose clock runs behind keeps the order", async () => {
		const ahead = Date.now() + 120_000;
		const raw = await storeRaw(`evt_${uniqueName("ahead")}`, ahead, 1);
		// The event stamped at the raw one's time stays last, so the order holds once that one is gone.
		onTestFinished(() => removeRaw([raw]));
		const event = await send({ type: "clock.behind", data: {} });
		const row = await stored(String(event.id));
		expect(row?.created_at).toBe(ahead);
		expect(generatedEventTime(String(event.id))).toBe(ahead);
		expect((await api("GET", `/v1/events/${String(event.id)}`)).status).toBe(200);
	});

	it("are found where the created_at of older events runs out of seq order, through the tenant's events around the time", async () => {
		// Events stored before migration 0012 could be stamped earlier than one stored before them. Behind
		// the target come older ones until the bisections' range for its millisecond leaves it out.
		const db = openDatabase(env.DB);
		const at = Date.now() + 600_000;
		const id = newEventId(at);
		const target = await storeRaw(id, at, 0);
		const raw = [target];
		onTestFinished(() => removeRaw(raw));
		const bisectionFinds = async () => {
			const range = await db.get<{ low: number; high: number }>(
				sql`SELECT ${newestSeqBefore(at)} AS low, ${newestSeqBefore(at + 1)} AS high`,
			);
			return range !== undefined && range.low < target && target <= range.high;
		};
		while (raw.length < 40 && (await bisectionFinds()))
			raw.push(await storeRaw(`evt_${uniqueName("older")}`, at - 5_000, null));
		expect(await bisectionFinds()).toBe(false);

		const [found] = await findEventsByIds(db, "default", [id]);
		expect(found?.id).toBe(id);
		expect((await api("GET", `/v1/events/${id}`)).status).toBe(200);
	});

	it("still find events stored before migration 0012 (id_given NULL) by the index, whatever their id's form", async () => {
		const oldGenerated = newEventId(Date.now() - 3_600_000);
		const oldGiven = `order-${uniqueName("old")}`;
		const raw = [
			await storeRaw(oldGenerated, Date.now() - 1_000, null),
			await storeRaw(oldGiven, Date.now() - 1_000, null),
		];
		onTestFinished(() => removeRaw(raw));
		for (const id of [oldGenerated, oldGiven]) expect((await api("GET", `/v1/events/${id}`)).status).toBe(200);
		// And an old id is still taken: sending it again answers the stored event.
		const again = await send({ type: "raw.stored", data: { other: true }, id: oldGenerated });
		expect(again.id).toBe(oldGenerated);
		expect(
			(await env.DB.prepare("SELECT count(*) AS n FROM events WHERE id = ?").bind(oldGenerated).first<{ n: number }>())
				?.n,
		).toBe(1);
	});

	it("answer a sender who reuses one as its own id with the event it names, storing nothing", async () => {
		const first = await send({ type: "reuse.generated", data: { v: 1 } });
		const id = String(first.id);
		const before = await env.DB.prepare("SELECT count(*) AS n FROM events").first<{ n: number }>();
		const response = await api("POST", "/v1/events", { body: { type: "reuse.generated", data: { v: 2 }, id } });
		expect(response.status).toBe(202);
		expect(record(response.body).id).toBe(id);
		expect(record(response.body).created_at).toBe(first.created_at);
		const after = await env.DB.prepare("SELECT count(*) AS n FROM events").first<{ n: number }>();
		expect(after?.n).toBe(before?.n);
		expect(record((await api("GET", `/v1/events/${id}`)).body).data).toEqual({ v: 1 });
	});

	it("take an id of the generated form that names no event as the sender's own", async () => {
		const id = newEventId(Date.now() - 86_400_000);
		const event = await send({ type: "own.generated.form", data: {}, id });
		expect(event.id).toBe(id);
		expect((await stored(id))?.id_given).toBe(1);
		expect((await api("GET", `/v1/events/${id}`)).status).toBe(200);
	});

	it("go back to their inputs in a batch that mixes given ids, made ids and a repeated id, keyed or not", async () => {
		// The second batch is keyed, so its events are new but for the id given, which answers the first's.
		const given = uniqueName("given");
		const events = [
			{ type: "mix.a", data: { i: 0 } },
			{ type: "mix.b", data: { i: 1 }, id: given },
			{ type: "mix.c", data: { i: 2 } },
			{ type: "mix.d", data: { i: 3 }, id: given },
			{ type: "mix.e", data: { i: 4 } },
		];
		const noHeaders: Record<string, string> = {};
		for (const headers of [noHeaders, { "idempotency-key": uniqueName("batch") }]) {
			const response = await api("POST", "/v1/events/batch", { body: { events }, headers });
			expect(response.status).toBe(202);
			const accepted = (record(response.body).events as Record<string, unknown>[]).map((event) => String(event.id));
			expect(accepted[1]).toBe(given);
			expect(accepted[3]).toBe(given);
			expect(new Set(accepted).size).toBe(4);
			for (const [index, id] of accepted.entries()) {
				if (id === given) continue;
				expect(record((await api("GET", `/v1/events/${id}`)).body).data).toEqual({ i: index });
			}
		}
		expect(record((await api("GET", `/v1/events/${given}`)).body).data).toEqual({ i: 1 });
	});

	it("answer an id Edgehook gave, sent again in a batch, with its event, and store the batch's other events", async () => {
		const first = await send({ type: "batch.reuse", data: { v: 0 } });
		const response = await api("POST", "/v1/events/batch", {
			body: {
				events: [
					{ type: "batch.reuse", data: { v: 1 } },
					{ type: "batch.reuse", data: { v: 2 }, id: String(first.id) },
				],
			},
		});
		expect(response.status).toBe(202);
		const [fresh, reused] = record(response.body).events as Record<string, unknown>[];
		expect(reused?.id).toBe(first.id);
		expect(fresh?.id).not.toBe(first.id);
		expect(record((await api("GET", `/v1/events/${String(first.id)}`)).body).data).toEqual({ v: 0 });
		expect(record((await api("GET", `/v1/events/${String(fresh?.id)}`)).body).data).toEqual({ v: 1 });
		const stored = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE id = ?")
			.bind(String(first.id))
			.first<{ n: number }>();
		expect(stored?.n).toBe(1);
	});

	it("name no event when only their form is right", async () => {
		const db = openDatabase(env.DB);
		expect(await findEventsByIds(db, "default", [newEventId(Date.now())])).toEqual([]);
		expect((await api("GET", `/v1/events/${newEventId(Date.now())}`)).status).toBe(404);
	});
});
