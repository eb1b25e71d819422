import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { AttemptRecord } from "../../src/delivery/attempt-record";
import { deliveryId } from "../../src/lib/ids";
import type { Outcome, PlannedAttempt } from "../../src/queue/attempt";
import { recordOutcomes } from "../../src/queue/record";
import { uniqueName } from "./helpers";

const EVENT_CREATED_AT = 1_700_000_000_000;

function planned(endpointId: string, eventSeq: number, attempt = 1): PlannedAttempt {
	return {
		message: { id: "msg", timestamp: new Date(), attempts: 1, body: null, ack() {}, retry() {} },
		tenantId: "default",
		event: {
			seq: eventSeq,
			tenantId: "default",
			id: `evt_record_${eventSeq}`,
			idGiven: true,
			type: "record.test",
			data: "{}",
			idempotencyKey: null,
			endpointIds: JSON.stringify([endpointId]),
			createdAt: EVENT_CREATED_AT,
			labels: null,
			tags: null,
			deliverAt: null,
		},
		endpointId,
		deliveryId: deliveryId(endpointId, eventSeq),
		attempt,
		trigger: attempt === 1 ? "initial" : "scheduled",
		previousStatus: undefined,
		admitted: false,
		swept: false,
	};
}

function attemptRecord(attempt: number, statusCode: number | null, responseBody: string | null = "ok"): AttemptRecord {
	return {
		id: `att_${uniqueName("a")}`,
		attempt,
		trigger: attempt === 1 ? "initial" : "scheduled",
		started_at: new Date().toISOString(),
		duration_ms: 3,
		status_code: statusCode,
		response_body: responseBody,
		error: statusCode === 200 ? null : `answered ${statusCode}`,
	};
}

function outcome(item: PlannedAttempt, fields: Partial<Outcome>): Outcome {
	return {
		planned: item,
		status: "success",
		record: attemptRecord(item.attempt, 200),
		error: null,
		nextAttemptAtMs: null,
		keepSchedule: false,
		disableEndpoint: null,
		health: "success",
		pauseUntil: null,
		...fields,
	};
}

interface StoredDelivery {
	status: string;
	status_code: number | null;
	attempt_count: number;
	attempts: string;
	next_attempt_at: number | null;
	error: string | null;
}

async function stored(id: string): Promise<StoredDelivery> {
	const row = await env.DB.prepare(
		"SELECT status, status_code, attempt_count, attempts, next_attempt_at, error FROM delivery_log WHERE id = ?",
	)
		.bind(id)
		.first<StoredDelivery>();
	if (!row) throw new Error(`no delivery ${id}`);
	return row;
}

/** The events `planned` names, stored: an outcome is written only while its event exists. */
async function storeEvents(seqs: number[]): Promise<void> {
	await env.DB.prepare(
		`INSERT OR IGNORE INTO events (seq, tenant_id, id, type, data, endpoint_ids, created_at)
		 SELECT value, 'default', 'evt_record_' || value, 'record.test', '{}', '[]', ?2 FROM json_each(?1)`,
	)
		.bind(JSON.stringify(seqs), EVENT_CREATED_AT)
		.run();
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, index) => from + index);

describe("recording a batch's outcomes", () => {
	beforeAll(async () => {
		await storeEvents([...range(900_000, 20), 910_000, 920_000, ...range(930_000, 100)]);
	});

	it("stores twenty first attempts, ten failed and ten succeeded, as one pack in one statement, due at its earliest retry", async () => {
		const endpointId = `hook_${uniqueName("rec")}`;
		const outcomes = Array.from({ length: 20 }, (_, index) =>
			outcome(planned(endpointId, 900_000 + index), {
				record: attemptRecord(1, index % 2 === 0 ? 200 : 503, `answer "${index}" ü`),
				status: index % 2 === 0 ? "success" : "pending",
				error: index % 2 === 0 ? null : "answered 503",
				nextAttemptAtMs: index % 2 === 0 ? null : EVENT_CREATED_AT + index,
			}),
		);
		const statements = recordOutcomes(env.DB, outcomes);
		expect(statements.length).toBe(1);
		await env.DB.batch(statements);
		const range = [deliveryId(endpointId, 900_000), deliveryId(endpointId, 900_020)];
		const count = async (sql: string) =>
			(
				await env.DB.prepare(sql)
					.bind(...range)
					.first<{ n: number }>()
			)?.n;
		expect(await count("SELECT count(*) AS n FROM deliveries WHERE id >= ? AND id < ?")).toBe(0);
		expect(await count("SELECT count(*) AS n FROM delivery_packs WHERE id >= ? AND id < ?")).toBe(1);
		// The earliest retry among the pending ones (index 1), which the sweeper finds the pack by.
		expect(await count("SELECT pending_due AS n FROM delivery_packs WHERE id >= ? AND id < ?")).toBe(
			EVENT_CREATED_AT + 1,
		);

		for (const [index, item] of outcomes.entries()) {
			const row = await stored(item.planned.deliveryId);
			expect(row.status).toBe(index % 2 === 0 ? "success" : "pending");
			expect(row.status_code).toBe(index % 2 === 0 ? 200 : 503);
			expect(row.attempt_count).toBe(1);
			expect(row.next_attempt_at).toBe(index % 2 === 0 ? null : EVENT_CREATED_AT + index);
			const attempts = JSON.parse(row.attempts) as AttemptRecord[];
			expect(attempts).toEqual([item.record]);
		}
	});

	it("applies two outcomes of one delivery in the same upsert in order, appending both attempts", async () => {
		const item = planned(`hook_${uniqueName("twice")}`, 910_000);
		const failed = outcome(item, {
			status: "pending",
			record: attemptRecord(1, 500),
			error: "answered 500",
			nextAttemptAtMs: EVENT_CREATED_AT + 60_000,
		});
		const retried = outcome(planned(item.endpointId, 910_000, 2), { record: attemptRecord(2, 200) });
		// Two outcomes of one delivery in one write are not packed: one upsert, after the statement that would
		// copy a packed first attempt into a row.
		const statements = recordOutcomes(env.DB, [failed, retried]);
		expect(statements).toHaveLength(2);
		await env.DB.batch(statements);

		const row = await stored(item.deliveryId);
		expect(row).toMatchObject({ status: "success", status_code: 200, attempt_count: 2, next_attempt_at: null });
		expect((JSON.parse(row.attempts) as AttemptRecord[]).map((entry) => entry.attempt)).toEqual([1, 2]);
	});

	it("keeps the scheduled retry for a failed resend, and the last error for an outcome that sent nothing", async () => {
		const item = planned(`hook_${uniqueName("keep")}`, 920_000);
		const dueAt = EVENT_CREATED_AT + 120_000;
		await env.DB.batch(
			recordOutcomes(env.DB, [
				outcome(item, {
					status: "pending",
					record: attemptRecord(1, 502),
					error: "answered 502",
					nextAttemptAtMs: dueAt,
				}),
			]),
		);
		const resendFailed = outcome(planned(item.endpointId, 920_000, 2), {
			status: "pending",
			record: attemptRecord(2, 504),
			error: "answered 504",
			nextAttemptAtMs: null,
			keepSchedule: true,
		});
		// The failure was packed; the resend that keeps its retry is not, so it copies the pack's copy into a row
		// and goes on there.
		const resendStatements = recordOutcomes(env.DB, [resendFailed]);
		expect(resendStatements).toHaveLength(2);
		await env.DB.batch(resendStatements);
		expect(await stored(item.deliveryId)).toMatchObject({ next_attempt_at: dueAt, error: "answered 504" });

		const heldBack = outcome(planned(item.endpointId, 920_000, 3), {
			status: "pending",
			record: null,
			error: null,
			nextAttemptAtMs: dueAt + 1,
		});
		// A held delivery (moves the retry) then another failed resend (must leave it where the first put it): two
		// upserts, after the copy (which finds the row there and does nothing).
		const statements = recordOutcomes(env.DB, [heldBack, { ...resendFailed, record: attemptRecord(2, 500) }]);
		expect(statements).toHaveLength(3);
		await env.DB.batch(statements.slice(0, 2));
		expect(await stored(item.deliveryId)).toMatchObject({
			next_attempt_at: dueAt + 1,
			error: "answered 504",
			attempt_count: 2,
			status_code: 504,
		});
		await env.DB.batch(statements.slice(2));

		const row = await stored(item.deliveryId);
		expect(row).toMatchObject({ status: "pending", status_code: 500, attempt_count: 3, next_attempt_at: dueAt + 1 });
		expect((JSON.parse(row.attempts) as AttemptRecord[]).map((entry) => entry.status_code)).toEqual([502, 504, 500]);
	});

	it("splits outcomes with long answers over statements by size, storing every one", async () => {
		const endpointId = `hook_${uniqueName("long")}`;
		const longAnswer = "x".repeat(4096);
		const outcomes = Array.from({ length: 100 }, (_, index) =>
			outcome(planned(endpointId, 930_000 + index), { record: attemptRecord(1, 200, longAnswer) }),
		);
		const statements = recordOutcomes(env.DB, outcomes);
		expect(statements.length).toBeGreaterThan(1);
		expect(statements.length).toBeLessThan(5);
		await env.DB.batch(statements);
		const { results } = await env.DB.prepare(
			"SELECT count(*) AS n FROM delivery_log WHERE id >= ? AND id < ? AND status = 'success'",
		)
			.bind(deliveryId(endpointId, 930_000), deliveryId(endpointId, 930_100))
			.all<{ n: number }>();
		expect(results[0]?.n).toBe(100);
	});

	it("drops an outcome whose event is gone, and writes the others of its statement", async () => {
		const endpointId = `hook_${uniqueName("gone")}`;
		await storeEvents([940_000]);
		const kept = outcome(planned(endpointId, 940_000), {});
		const gone = outcome(planned(endpointId, 940_001), {});
		await env.DB.batch(recordOutcomes(env.DB, [kept, gone]));
		expect((await stored(kept.planned.deliveryId)).status).toBe("success");
		const orphan = await env.DB.prepare("SELECT id FROM delivery_log WHERE id = ?")
			.bind(gone.planned.deliveryId)
			.first();
		expect(orphan).toBeNull();
	});
});
