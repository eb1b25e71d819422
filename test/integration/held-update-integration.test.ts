import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deliveryId, newEndpointId } from "../../src/lib/ids";
import { readDatabaseCounters, resetCounters } from "../../src/lib/metering";
import { type AdmissionRequest, type ReportedAttempt, schedulerFor } from "../../src/scheduler/client";
import { EndpointScheduler } from "../../src/scheduler/endpoint-scheduler";
import { setCircuit } from "./helpers";

/*
 * While an endpoint's circuit is open, its scheduler writes the next probe
 * time into the delivery log for what it holds, so the sweeper does not take
 * held deliveries for lost ones. These tests check that the log still shows
 * it, and that writing it reads the held deliveries only, not the
 * endpoint's whole log (30 days of it, possibly millions of rows).
 */

/** On the control database (DB), whose placement needs no lookup, so DB's counters are the update's alone. */
const TENANT = "default";
const policy = { rateLimitPerSecond: null, ordered: false };
const HOUR_MS = 3600_000;

interface LogRow {
	seq: number;
	status: "success" | "pending";
	attemptCount: number;
	nextAttemptAt: number | null;
}

/** Writes delivery rows of the endpoint as the consumer does, in one statement whatever their number. */
async function writeLog(endpointId: string, rows: readonly LogRow[]): Promise<void> {
	const values = rows.map((row) => [
		deliveryId(endpointId, row.seq),
		`evt_held_${row.seq}`,
		row.status,
		row.attemptCount,
		row.nextAttemptAt,
	]);
	await env.DB.prepare(
		`INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, attempt_count, attempts,
			next_attempt_at, created_at, updated_at)
		 SELECT json_extract(value, '$[0]'), ?2, ?3, json_extract(value, '$[1]'), 'held.update', json_extract(value, '$[2]'),
			json_extract(value, '$[3]'), '[]', json_extract(value, '$[4]'), ?4, ?4
		 FROM json_each(?1) WHERE true
		 ON CONFLICT (id) DO UPDATE SET status = excluded.status, attempt_count = excluded.attempt_count,
			next_attempt_at = excluded.next_attempt_at`,
	)
		.bind(JSON.stringify(values), TENANT, endpointId, Date.now())
		.run();
}

function settledLog(count: number): LogRow[] {
	return Array.from({ length: count }, (_, index) => ({
		seq: index + 1,
		status: "success",
		attemptCount: 1,
		nextAttemptAt: null,
	}));
}

/** The log's next_attempt_at of the endpoint's deliveries, by seq. */
async function logTimes(endpointId: string, seqs: readonly number[]): Promise<(number | null)[]> {
	const ids = seqs.map((seq) => deliveryId(endpointId, seq));
	const { results } = await env.DB.prepare(
		"SELECT id, next_attempt_at FROM delivery_log WHERE id IN (SELECT value FROM json_each(?1))",
	)
		.bind(JSON.stringify(ids))
		.all<{ id: string; next_attempt_at: number | null }>();
	const byId = new Map(results.map((row) => [row.id, row.next_attempt_at]));
	return ids.map((id) => byId.get(id) ?? null);
}

async function expectSettledUntouched(endpointId: string, count: number): Promise<void> {
	const row = await env.DB.prepare(
		`SELECT count(*) AS n FROM delivery_log WHERE endpoint_id = ?1 AND status = 'success' AND next_attempt_at IS NULL
		 AND event_type = 'held.update'`,
	)
		.bind(endpointId)
		.first<{ n: number }>();
	expect(row?.n).toBe(count);
}

function failure(id: string, seq: number, retryDueAtMs: number | null): ReportedAttempt {
	return {
		deliveryId: id,
		ok: false,
		statusCode: 500,
		error: "HTTP 500",
		retry:
			retryDueAtMs === null ? null : { deliveryId: id, eventSeq: seq, attempt: 2, dueAtMs: retryDueAtMs, lane: "main" },
		settled: retryDueAtMs === null,
		startedAt: Date.now(),
		pauseUntil: null,
	};
}

function firstAttempt(id: string, seq: number): AdmissionRequest {
	return {
		deliveryId: id,
		eventSeq: seq,
		attempt: 1,
		trigger: "initial",
		lane: "main",
		throughCircuit: true,
		inOrder: false,
	};
}

/**
 * Runs `act` on an instance of the endpoint's object over its own storage
 * whose D1 is metered (as the bench meters it), and returns the rows it read
 * from DB. The object in place is evicted afterwards: it would otherwise
 * keep the circuit it had in memory.
 */
async function d1RowsReadBy(
	stub: DurableObjectStub<EndpointScheduler>,
	act: (scheduler: EndpointScheduler) => Promise<unknown>,
): Promise<number> {
	return (await d1UseOf(stub, act)).rowsRead;
}

/** As d1RowsReadBy, with the statements run on DB too. */
async function d1UseOf(
	stub: DurableObjectStub<EndpointScheduler>,
	act: (scheduler: EndpointScheduler) => Promise<unknown>,
): Promise<{ rowsRead: number; statements: number }> {
	const use = await runInDurableObject(stub, async (_instance, state) => {
		const metered = new EndpointScheduler(state, { ...env, BENCH_METERING: "on" });
		resetCounters();
		await act(metered);
		const counted = readDatabaseCounters().DB;
		return { rowsRead: counted?.d1_rows_read ?? 0, statements: counted?.d1_queries ?? 0 };
	});
	await evictDurableObject(stub);
	return use;
}

/** Opens the endpoint's circuit with five failures of deliveries that settled for good; returns its first probe time. */
async function openCircuit(stub: DurableObjectStub<EndpointScheduler>, endpointId: string): Promise<number> {
	const seqs = [1_000_001, 1_000_002, 1_000_003, 1_000_004, 1_000_005];
	await stub.report(
		TENANT,
		endpointId,
		policy,
		seqs.map((seq) => failure(deliveryId(endpointId, seq), seq, null)),
	);
	const circuit = await stub.health();
	expect(circuit.state).toBe("open");
	if (circuit.nextProbeAt === null) throw new Error("an open circuit has a probe time");
	return circuit.nextProbeAt;
}

describe("held deliveries in the delivery log", () => {
	/**
	 * An endpoint whose log holds `settled` delivered rows and, behind its
	 * open circuit, held first attempts, a held retry and a delivery in line;
	 * its probe fails. Returns the D1 rows read by the report of that failure.
	 */
	async function probeFailsWith(settled: number): Promise<number> {
		const endpointId = newEndpointId();
		const id = (seq: number) => deliveryId(endpointId, seq);
		const stub = schedulerFor(env, TENANT, endpointId);
		await writeLog(endpointId, settledLog(settled));
		const firstProbe = await openCircuit(stub, endpointId);

		// First attempts that arrive while it is open wait for the probe, and the consumer logs them with its time.
		const held = [settled + 1, settled + 2, settled + 3, settled + 4];
		const admissions = await stub.admit(
			TENANT,
			endpointId,
			policy,
			held.map((seq) => firstAttempt(id(seq), seq)),
		);
		expect(admissions.every((admission) => !admission.send)).toBe(true);
		await writeLog(
			endpointId,
			held.map((seq) => ({ seq, status: "pending", attemptCount: 0, nextAttemptAt: firstProbe })),
		);

		// A retry due before the probe waits for it; the consumer logged the retry's own time before reporting it,
		// and the report shows the probe's instead.
		const retried = settled + 5;
		const retryDue = Date.now() + 1000;
		await writeLog(endpointId, [{ seq: retried, status: "pending", attemptCount: 1, nextAttemptAt: retryDue }]);
		await stub.report(TENANT, endpointId, policy, [failure(id(retried), retried, retryDue)]);
		expect(await logTimes(endpointId, [retried])).toEqual([firstProbe]);

		// A retry due long after the probe waits in its pack; its log time is already later than any probe's.
		const later = settled + 6;
		const laterDue = Date.now() + 2 * HOUR_MS;
		await writeLog(endpointId, [{ seq: later, status: "pending", attemptCount: 1, nextAttemptAt: laterDue }]);
		await stub.report(TENANT, endpointId, policy, [failure(id(later), later, laterDue)]);

		// A delivery in line, as an ordered endpoint's scheduler holds one, whose log time has come and gone.
		const inLine = settled + 7;
		const inLineLogged = Date.now() - 60_000;
		await runInDurableObject(stub, (_instance, state) => {
			state.storage.sql.exec(
				`INSERT INTO due_retries (delivery_id, tenant_id, endpoint_id, event_seq, attempt, due_at, lane, trigger, held)
				 VALUES (?, ?, ?, ?, 1, ?, 'main', 'initial', 2)`,
				id(inLine),
				TENANT,
				endpointId,
				inLine,
				inLineLogged,
			);
		});
		await writeLog(endpointId, [{ seq: inLine, status: "pending", attemptCount: 0, nextAttemptAt: inLineLogged }]);

		// The probe (the first held delivery) goes out and fails; the consumer logs its retry, then reports it.
		const [probe = 0] = held;
		await setCircuit(stub, { state: "half_open", since: Date.now() });
		const probeRetryDue = Date.now() + 1000;
		await writeLog(endpointId, [{ seq: probe, status: "pending", attemptCount: 1, nextAttemptAt: probeRetryDue }]);
		const rowsRead = await d1RowsReadBy(stub, (scheduler) =>
			scheduler.report(TENANT, endpointId, policy, [failure(id(probe), probe, probeRetryDue)]),
		);

		const reopened = await stub.health();
		expect(reopened.state).toBe("open");
		const nextProbe = reopened.nextProbeAt;
		expect(nextProbe).toBeGreaterThan(firstProbe);
		// Everything the circuit holds shows the next probe; the retry due later keeps its time, the settled ones theirs.
		const waiting = [...held, retried, inLine];
		expect(await logTimes(endpointId, waiting)).toEqual(waiting.map(() => nextProbe));
		expect(await logTimes(endpointId, [later])).toEqual([laterDue]);
		await expectSettledUntouched(endpointId, settled);
		return rowsRead;
	}

	it("moves what a failed probe holds to the next probe, reading as many rows with 2,000 settled deliveries as with 200", async () => {
		const small = await probeFailsWith(200);
		const large = await probeFailsWith(2000);
		expect(large).toBe(small);
		// Six held deliveries, a few rows each (a json_each row, the key's lookup), not the endpoint's log.
		expect(large).toBeLessThan(50);
	});

	it("moves a long list of held deliveries in several statements of one batch, every one of them", async () => {
		const endpointId = newEndpointId();
		const id = (seq: number) => deliveryId(endpointId, seq);
		const stub = schedulerFor(env, TENANT, endpointId);
		const firstProbe = await openCircuit(stub, endpointId);
		// One more than a statement takes (HELD_IDS_PER_STATEMENT).
		const held = Array.from({ length: 5_001 }, (_, index) => index + 1);
		await stub.admit(
			TENANT,
			endpointId,
			policy,
			held.map((seq) => firstAttempt(id(seq), seq)),
		);
		await writeLog(
			endpointId,
			held.map((seq) => ({ seq, status: "pending", attemptCount: 0, nextAttemptAt: firstProbe })),
		);

		const [probe = 0] = held;
		await setCircuit(stub, { state: "half_open", since: Date.now() });
		const used = await d1UseOf(stub, (scheduler) =>
			scheduler.report(TENANT, endpointId, policy, [failure(id(probe), probe, Date.now() + 1000)]),
		);
		expect(used.statements).toBe(2);
		const { nextProbeAt } = await stub.health();
		expect(nextProbeAt).toBeGreaterThan(firstProbe);
		const moved = await env.DB.prepare(
			"SELECT count(*) AS n FROM delivery_log WHERE endpoint_id = ?1 AND status = 'pending' AND next_attempt_at = ?2",
		)
			.bind(endpointId, nextProbeAt)
			.first<{ n: number }>();
		expect(moved?.n).toBe(held.length);
	});

	/**
	 * An endpoint whose log holds `settled` delivered rows and whose open
	 * circuit holds retries that come due before its probe. Returns the D1
	 * rows read by the alarm that holds them.
	 */
	async function retriesComeDueWith(settled: number): Promise<number> {
		const endpointId = newEndpointId();
		const id = (seq: number) => deliveryId(endpointId, seq);
		const stub = schedulerFor(env, TENANT, endpointId);
		await writeLog(endpointId, settledLog(settled));
		const probeAt = await openCircuit(stub, endpointId);

		// Retries packed for an hour from now, then made due ten seconds ago behind the alarm's back (an armed
		// alarm due now would fire on its own): the log has their own time, which has passed.
		const retried = [settled + 1, settled + 2, settled + 3];
		const inAnHour = Date.now() + HOUR_MS;
		await stub.schedule(
			TENANT,
			endpointId,
			retried.map((seq) => ({ deliveryId: id(seq), eventSeq: seq, attempt: 2, dueAtMs: inAnHour, lane: "main" })),
		);
		const dueAt = Date.now() - 10_000;
		await runInDurableObject(stub, (_instance, state) => {
			state.storage.sql.exec("UPDATE due_packs SET due_at = ?", dueAt);
		});
		await writeLog(
			endpointId,
			retried.map((seq) => ({ seq, status: "pending", attemptCount: 1, nextAttemptAt: dueAt })),
		);

		const rowsRead = await d1RowsReadBy(stub, (scheduler) => scheduler.alarm());
		expect((await stub.health()).nextProbeAt).toBe(probeAt);
		expect(await logTimes(endpointId, retried)).toEqual(retried.map(() => probeAt));
		await expectSettledUntouched(endpointId, settled);
		return rowsRead;
	}

	it("moves retries an alarm holds behind the open circuit to its probe, reading as many rows with 2,000 settled deliveries as with 200", async () => {
		const small = await retriesComeDueWith(200);
		const large = await retriesComeDueWith(2000);
		expect(large).toBe(small);
		expect(large).toBeLessThan(50);
	});
});
