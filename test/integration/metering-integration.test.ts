import { createExecutionContext, createMessageBatch } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { readCounters, resetCounters } from "../../src/lib/metering";
import type { DeliveryJob } from "../../src/queue/messages";
import { ADMIN_KEY, benchEnv, callMetered, createWebhook, receiverPath, record, uniqueName } from "./helpers";

async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
	return record((await callMetered("POST", path, body)).body);
}

/** One consumer batch, under the bench's metering, of one message: the first attempts of an event to these endpoints. */
async function deliverFirstAttempts(eventSeq: number, hooks: readonly Record<string, unknown>[]): Promise<void> {
	const job: DeliveryJob = {
		tenantId: "default",
		eventSeq,
		targets: hooks.map((hook) => ({ endpointId: String(hook.id), attempt: 1 })),
		trigger: "initial",
	};
	await worker.queue(
		createMessageBatch<DeliveryJob>("edgehook-deliveries", [
			{ id: `first-${eventSeq}`, timestamp: Date.now(), attempts: 1, body: job },
		]),
		benchEnv,
	);
}

/** Rows of event_blocks on the default tenant's database: an event that opens a block writes one. */
async function blockRowCount(): Promise<number> {
	return (await env.DB.prepare("SELECT count(*) AS n FROM event_blocks").first<{ n: number }>())?.n ?? -1;
}

describe("metered cost of the hot path", () => {
	beforeEach(() => resetCounters());

	it("writes 1 D1 row per event, 2 with an id of the sender's, and 1 per first-attempt delivery, in one query for the event and three for a batch", async () => {
		const type = `${uniqueName("cost")}.created`;
		const hooks = [];
		for (let i = 0; i < 10; i++)
			hooks.push(await createWebhook({ url: receiverPath("ok", uniqueName("cost")), events: [type] }));
		resetCounters();

		// An event nobody subscribes to: its cost is the event alone, and no
		// background delivery muddles the counters of the batch run below.
		let blocks = await blockRowCount();
		await post("/v1/events", { type: `${type}.unsubscribed`, data: { n: 1 } });
		const afterIngest = readCounters();
		// A generated id is not indexed (migration 0012): it leads with the created_at that orders the seqs. The
		// tenant's order costs a row only for an event that opens a block of seqs (src/db/event-blocks.ts).
		expect(afterIngest.d1_rows_written).toBe(1 + (await blockRowCount()) - blocks);
		expect(afterIngest.worker_fetch_invocations).toBe(1);
		expect(afterIngest.d1_queries).toBe(1);

		resetCounters();
		blocks = await blockRowCount();
		await post("/v1/events", { type: `${type}.unsubscribed`, data: { n: 2 }, id: uniqueName("own-id") });
		expect(readCounters().d1_rows_written).toBe(2 + (await blockRowCount()) - blocks);
		expect(readCounters().d1_queries).toBe(1);
		resetCounters();
		blocks = await blockRowCount();
		await post("/v1/events", { type: `${type}.unsubscribed`, data: { n: 3 } });
		const generatedAgain = readCounters();
		expect(generatedAgain.d1_rows_written).toBe(1 + (await blockRowCount()) - blocks);

		const [seqRow] = (await env.DB.prepare("SELECT max(seq) AS seq FROM events").all<{ seq: number }>()).results;
		resetCounters();
		await deliverFirstAttempts(Number(seqRow?.seq), hooks);
		const afterDelivery = readCounters();
		expect(afterDelivery.attempts_succeeded).toBe(10);
		expect(afterDelivery.d1_rows_written).toBe(10);
		// Ten deliveries of one batch: two reads (events; tenants with endpoints) and one write for all ten.
		expect(afterDelivery.d1_queries).toBe(3);
		// A delivery that succeeds at once never touches its endpoint's Durable Object.
		expect(afterDelivery.do_requests).toBe(0);
		expect(afterDelivery.queue_messages_consumed).toBe(1);
		expect((generatedAgain.d1_rows_written + afterDelivery.d1_rows_written) / 10).toBeLessThanOrEqual(1.2);
	});

	it("finds a delivery's event by rowid when it records the outcome and lists the log: rows read do not follow the events stored", async () => {
		// A generated event id has no index: a lookup by it would read every event stored.
		await env.DB.prepare(
			`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
			INSERT INTO events (tenant_id, id, id_given, type, data, endpoint_ids, created_at)
			SELECT 'default', 'evt_filler_' || i, 1, 'filler', '{}', '[]', ?1 FROM n`,
		)
			.bind(Date.now())
			.run();
		const type = `${uniqueName("rowid")}.created`;
		const succeeding = await createWebhook({ url: receiverPath("ok", uniqueName("rowid")), events: [type] });
		const failing = await createWebhook({ url: receiverPath("status/500", uniqueName("rowid")), events: [type] });
		const event = await post("/v1/events", { type, data: {} });
		const [seqRow] = (
			await env.DB.prepare("SELECT seq FROM events WHERE id = ?").bind(String(event.id)).all<{ seq: number }>()
		).results;
		resetCounters();
		await deliverFirstAttempts(Number(seqRow?.seq), [succeeding, failing]);
		// One success packed, one failure in a row: each statement checked its event is still there.
		expect(readCounters().attempts_made).toBe(2);
		expect(readCounters().d1_rows_read).toBeLessThan(500);
		// An id the sender gave is found through the index of given ids.
		const given = await post("/v1/events", { type: "rowid.given", data: {}, id: uniqueName("own") });
		for (const path of [
			`/v1/events/${String(event.id)}`,
			`/v1/events/${String(given.id)}`,
			`/v1/webhooks/${String(failing.id)}/deliveries`,
		]) {
			resetCounters();
			const response = await worker.fetch(
				new Request(`http://edgehook.test${path}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }),
				benchEnv,
				createExecutionContext(),
			);
			expect(response.status).toBe(200);
			expect(readCounters().d1_rows_read).toBeLessThan(500);
		}
	});

	it("serves the counters at /_bench only when metering is on", async () => {
		const init = { headers: { authorization: `Bearer ${ADMIN_KEY}` } };
		const url = "http://edgehook.test/_bench/metrics";
		expect((await worker.fetch(new Request(url, init), env, createExecutionContext())).status).toBe(404);
		const metered = await worker.fetch(new Request(url, init), benchEnv, createExecutionContext());
		expect(metered.status).toBe(200);
		expect(record(await metered.json())).toHaveProperty("d1_rows_written");
	});
});
