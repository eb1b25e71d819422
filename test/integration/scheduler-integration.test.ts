import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { deliveryId, publicDeliveryId } from "../../src/lib/ids";
import { readCounters } from "../../src/lib/metering";
import type { DeliveryJob } from "../../src/queue/messages";
import { schedulerFor } from "../../src/scheduler/client";
import {
	type EndpointScheduler,
	jobsByLane,
	PACK_WINDOW_MS,
	packDueAt,
	TARGETS_PER_RELEASED_JOB,
	UNSAVED_RETRIES_MAX_MS,
} from "../../src/scheduler/endpoint-scheduler";
import {
	api,
	createWebhook,
	firstAttemptBatch,
	receivedBy,
	receiverPath,
	record,
	shardOf,
	storedSeq,
	storeEventDirectly,
	storeReportedRetries,
	uniqueName,
	waitFor,
} from "./helpers";

/** Every retry the scheduler holds, in a row of its own or in a pack, earliest first. */
async function dueRows(stub: DurableObjectStub<EndpointScheduler>) {
	return runInDurableObject(stub, (_instance, state) =>
		state.storage.sql
			.exec<{ delivery_id: string; attempt: number; due_at: number }>(
				`SELECT delivery_id, attempt, due_at FROM due_retries
				 UNION ALL SELECT json_extract(value, '$.deliveryId'), json_extract(value, '$.attempt'), due_at
				 FROM due_packs, json_each(due_packs.retries)
				 ORDER BY due_at, delivery_id`,
			)
			.toArray(),
	);
}

/** The scheduler's storage rows: one per retry held on its own, one per pack. */
async function storageRows(stub: DurableObjectStub<EndpointScheduler>) {
	return runInDurableObject(stub, (_instance, state) => ({
		rows: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM due_retries").one().n,
		packs: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM due_packs").one().n,
	}));
}

/** Moves every pack's release time an hour and a bit back, keeping their order: what was due in an hour is due now. */
async function makePacksDue(stub: DurableObjectStub<EndpointScheduler>): Promise<void> {
	await runInDurableObject(stub, (_instance, state) => {
		state.storage.sql.exec("UPDATE due_packs SET due_at = due_at - ?", 3_700_000);
	});
}

describe("endpoint scheduler", () => {
	it("packs due deliveries into few jobs, per queue, each target naming its event", () => {
		const row = { tenant_id: "default", endpoint_id: "hook_x", attempt: 2, due_at: 0, trigger: "scheduled", held: 0 };
		const jobs = jobsByLane([
			{ ...row, delivery_id: "del_a", event_seq: 1, lane: "main" },
			{ ...row, delivery_id: "del_c", event_seq: 3, lane: "main" },
			{ ...row, delivery_id: "del_b", event_seq: 2, lane: "slow" },
		]);
		expect(jobs.main).toEqual([
			{
				tenantId: "default",
				eventSeq: 1,
				targets: [
					{ endpointId: "hook_x", attempt: 2, eventSeq: 1 },
					{ endpointId: "hook_x", attempt: 2, eventSeq: 3 },
				],
				trigger: "scheduled",
				admitted: true,
			},
		]);
		expect(jobs.slow[0]).toEqual({
			tenantId: "default",
			eventSeq: 2,
			targets: [{ endpointId: "hook_x", attempt: 2, eventSeq: 2 }],
			trigger: "scheduled",
			admitted: true,
		});
		const many = Array.from({ length: TARGETS_PER_RELEASED_JOB + 1 }, (_, index) => ({
			...row,
			delivery_id: `del_${index}`,
			event_seq: index,
			lane: "main",
		}));
		expect(jobsByLane(many).main.map((job) => job.targets.length)).toEqual([TARGETS_PER_RELEASED_JOB, 1]);
	});

	it("keeps one row per pack window, never releases early, and arms its alarm for the earliest", async () => {
		const stub = schedulerFor(env, "default", "hook_sched00000000001");
		const now = Date.now();
		await stub.schedule("default", "hook_sched00000000001", [
			{ deliveryId: "del_a", eventSeq: 1, attempt: 2, dueAtMs: now + 60_000, lane: "main" },
			{ deliveryId: "del_b", eventSeq: 2, attempt: 3, dueAtMs: now + 30_000, lane: "main" },
		]);
		expect(await dueRows(stub)).toEqual([
			{ delivery_id: "del_b", attempt: 3, due_at: packDueAt(now + 30_000) },
			{ delivery_id: "del_a", attempt: 2, due_at: packDueAt(now + 60_000) },
		]);
		expect(packDueAt(now + 30_000)).toBeGreaterThanOrEqual(now + 30_000);
		expect(packDueAt(now + 30_000)).toBeLessThan(now + 30_000 + PACK_WINDOW_MS);
		const alarm = await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
		expect(alarm).toBe(packDueAt(now + 30_000));

		// A retry due in the same window joins its pack, and one of a delivery already there replaces it.
		await stub.schedule("default", "hook_sched00000000001", [
			{ deliveryId: "del_b", eventSeq: 2, attempt: 4, dueAtMs: now + 30_000, lane: "main" },
			{ deliveryId: "del_c", eventSeq: 3, attempt: 2, dueAtMs: packDueAt(now + 30_000), lane: "slow" },
		]);
		expect(await dueRows(stub)).toEqual([
			{ delivery_id: "del_b", attempt: 4, due_at: packDueAt(now + 30_000) },
			{ delivery_id: "del_c", attempt: 2, due_at: packDueAt(now + 30_000) },
			{ delivery_id: "del_a", attempt: 2, due_at: packDueAt(now + 60_000) },
		]);
		expect(await storageRows(stub)).toEqual({ rows: 0, packs: 2 });
	});

	it("sends exactly the due retries when the alarm fires, and a second firing changes nothing", async () => {
		const name = uniqueName("retry");
		const hook = await createWebhook({
			url: receiverPath("flaky/1", name),
			events: ["alarm.test"],
			retry_schedule: [3600],
		});
		const event = record((await api("POST", "/v1/events", { body: { type: "alarm.test", data: {} } })).body);
		const seq = await storedSeq(String(event.id));
		const id = publicDeliveryId(String(hook.id), String(event.id));
		// The first attempt fails (flaky/1) and leaves a retry due in an hour.
		await waitFor(async () => {
			const detail = record((await api("GET", `/v1/deliveries/${id}`)).body);
			return detail.status === "pending" && detail.attempt_count === 1 ? detail : undefined;
		});
		const stub = schedulerFor(env, "default", String(hook.id));
		await storeReportedRetries(stub);
		expect((await dueRows(stub)).map((row) => row.delivery_id)).toEqual([deliveryId(String(hook.id), seq)]);

		// Nothing is due yet: the alarm (if run early) must not send it.
		await runInDurableObject(stub, (instance) => instance.alarm());
		expect(await dueRows(stub)).toHaveLength(1);
		expect(await receivedBy(name)).toHaveLength(1);

		// Make it due now, add one that is not, and fire the alarm.
		await makePacksDue(stub);
		await stub.schedule("default", String(hook.id), [
			{ deliveryId: "del_later", eventSeq: seq, attempt: 2, dueAtMs: Date.now() + 3_600_000, lane: "main" },
		]);
		expect(await runDurableObjectAlarm(stub)).toBe(true);
		expect((await dueRows(stub)).map((row) => row.delivery_id)).toEqual(["del_later"]);
		const detail = await waitFor(async () => {
			const current = record((await api("GET", `/v1/deliveries/${id}`)).body);
			return current.status === "success" ? current : undefined;
		});
		expect(detail.attempt_count).toBe(2);
		expect((detail.attempts as { trigger: string }[]).map((attempt) => attempt.trigger)).toEqual([
			"initial",
			"scheduled",
		]);
		expect(record((await api("GET", `/v1/events/${event.id}`)).body).id).toBe(event.id);

		// At-least-once alarms: firing again finds nothing due and sends nothing.
		await runInDurableObject(stub, (instance) => instance.alarm());
		expect(await receivedBy(name)).toHaveLength(2);
	});

	it("loses nothing when the object is evicted between alarms", async () => {
		const stub = schedulerFor(env, "default", "hook_sched00000000002");
		await stub.schedule("default", "hook_sched00000000002", [
			{ deliveryId: "del_kept", eventSeq: 9, attempt: 2, dueAtMs: Date.now() + 60_000, lane: "main" },
		]);
		await evictDurableObject(stub);
		expect((await stub.pending()).count).toBe(1);
		expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).not.toBeNull();
	});

	it("cancels every pending retry when the endpoint is deleted, failing those deliveries", async () => {
		const name = uniqueName("deleted");
		const hook = await createWebhook({
			url: receiverPath("status/500", name),
			events: ["del.test"],
			retry_schedule: [3600],
		});
		const event = record((await api("POST", "/v1/events", { body: { type: "del.test", data: {} } })).body);
		const id = publicDeliveryId(String(hook.id), String(event.id));
		await waitFor(async () =>
			record((await api("GET", `/v1/deliveries/${id}`)).body).attempt_count === 1 ? true : undefined,
		);
		const stub = schedulerFor(env, "default", String(hook.id));
		await waitFor(async () => ((await stub.pending()).count === 1 ? true : undefined));

		expect((await api("DELETE", `/v1/webhooks/${hook.id}`)).status).toBe(204);
		expect(await stub.pending()).toEqual({ count: 0, nextDueAtMs: null });
		expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeNull();
		expect(record((await api("GET", `/v1/deliveries/${id}`)).body)).toMatchObject({
			status: "failed",
			error: "the endpoint was deleted",
		});
	});
});

describe("circuit storage", () => {
	const policy = { rateLimitPerSecond: null, ordered: false };
	const result = (deliveryId: string, ok: boolean) => ({
		deliveryId,
		ok,
		statusCode: ok ? 200 : 500,
		error: ok ? null : "HTTP 500",
		retry: null,
		settled: true,
		startedAt: Date.now(),
		pauseUntil: null,
	});
	const storedCircuit = (stub: DurableObjectStub<EndpointScheduler>) =>
		runInDurableObject(stub, (_instance, state) =>
			state.storage.sql.exec<{ value: string }>("SELECT value FROM endpoint_state WHERE name = 'circuit'").toArray(),
		);

	it("writes nothing for a short run of failures that ends in a success, and keeps an open circuit across eviction", async () => {
		const stub = schedulerFor(env, "default", "hook_circuitstore0001");
		await stub.report("default", "hook_circuitstore0001", policy, [result("del_1", false), result("del_2", false)]);
		await stub.report("default", "hook_circuitstore0001", policy, [result("del_3", true)]);
		expect(await storedCircuit(stub)).toEqual([]);

		await stub.report(
			"default",
			"hook_circuitstore0001",
			policy,
			["a", "b", "c", "d", "e"].map((id) => result(`del_${id}`, false)),
		);
		expect(await storedCircuit(stub)).toHaveLength(1);
		await evictDurableObject(stub);
		expect((await stub.health()).state).toBe("open");
	});
});

describe("packed retries", () => {
	const policy = { rateLimitPerSecond: null, ordered: false };
	const failed = (id: string, seq: number, dueAtMs: number) => ({
		deliveryId: id,
		ok: false,
		statusCode: 500,
		error: "HTTP 500",
		retry: { deliveryId: id, eventSeq: seq, attempt: 2, dueAtMs, lane: "main" as const },
		settled: false,
		startedAt: Date.now(),
		pauseUntil: null,
	});

	/** Puts a queue in the scheduler's place that records what it is asked to send and sends nothing. */
	function recordSends(instance: EndpointScheduler): DeliveryJob[][] {
		const sent: DeliveryJob[][] = [];
		const recorder = {
			sendBatch: async (messages: Iterable<MessageSendRequest<DeliveryJob>>) => {
				sent.push([...messages].map((message) => message.body));
			},
		} as unknown as Queue<DeliveryJob>;
		// The scheduler keeps its queues private; a test may swap them through an element access.
		instance["queues"].main = recorder;
		return sent;
	}

	it("holds a report's retries in memory until its alarm, a second later, stores them as one row; one alarm sends them as one message and deletes that row", async () => {
		const endpointId = "hook_packed0000000001";
		const stub = schedulerFor(env, "default", endpointId);
		const dueAt = packDueAt(Date.now() + 60_000);
		const results = Array.from({ length: 30 }, (_, index) => failed(`del_pack${index}`, index + 1, dueAt - index));
		const reportedAt = Date.now();
		await stub.report("default", endpointId, policy, results);
		expect(await storageRows(stub)).toEqual({ rows: 0, packs: 0 });
		expect(await stub.pending()).toEqual({ count: 30, nextDueAtMs: dueAt });
		const saveBy = await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
		expect(saveBy).toBeGreaterThanOrEqual(reportedAt + UNSAVED_RETRIES_MAX_MS);
		expect(saveBy).toBeLessThanOrEqual(Date.now() + UNSAVED_RETRIES_MAX_MS);

		// A second batch's retries in the same window join them: the alarm stays.
		await stub.report("default", endpointId, policy, [failed("del_pack30", 31, dueAt)]);
		expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBe(saveBy);

		// The alarm sends nothing (nothing is due) and writes the one pack, then waits for it.
		expect(await runDurableObjectAlarm(stub)).toBe(true);
		expect(await storageRows(stub)).toEqual({ rows: 0, packs: 1 });
		expect(await dueRows(stub)).toHaveLength(31);
		expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBe(dueAt);

		// Thirty failures in a row opened the circuit; reset, as when someone enables the endpoint again, it releases.
		await stub.resetCircuit();
		await makePacksDue(stub);
		const sent = await runInDurableObject(stub, async (instance) => {
			const recorded = recordSends(instance);
			await instance.alarm();
			// At-least-once alarms: a second firing finds nothing due.
			await instance.alarm();
			return recorded;
		});
		expect(sent).toHaveLength(1);
		const [messages = []] = sent;
		expect(messages).toHaveLength(1);
		expect(messages[0]?.admitted).toBe(true);
		expect(messages[0]?.targets.map((target) => target.eventSeq).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
			Array.from({ length: 31 }, (_, index) => index + 1),
		);
		expect(await storageRows(stub)).toEqual({ rows: 0, packs: 0 });
		expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeNull();
	});

	it("writes no storage row for retries reported one at a time and due within a second: the alarm sends them from memory", async () => {
		const endpointId = "hook_packed0000000003";
		const stub = schedulerFor(env, "default", endpointId);
		const rowsWritten = () => runInDurableObject(stub, () => readCounters().do_rows_written);
		const sent = await runInDurableObject(stub, (instance) => recordSends(instance));
		const before = await rowsWritten();
		const dueAt = packDueAt(Date.now() + 300);
		// As a consumer that takes one message at a time reports them (four: the fifth would open the circuit).
		for (let index = 0; index < 4; index++) {
			await stub.report("default", endpointId, policy, [failed(`del_one${index}`, index + 1, dueAt)]);
		}
		expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBe(dueAt);
		// The alarm fires on its own.
		await waitFor(async () => ((await stub.pending()).count === 0 ? true : undefined));
		expect(sent.map((messages) => messages.map((message) => message.targets.length))).toEqual([[4]]);
		expect(await storageRows(stub)).toEqual({ rows: 0, packs: 0 });
		expect(await stub.pending()).toEqual({ count: 0, nextDueAtMs: null });
		// The one alarm set; written at once, they cost a pack write per report, then its delete.
		expect((await rowsWritten()) - before).toBe(1);
	});

	it("arms one alarm at the due time of a retry due within a window after the second it may wait in memory", async () => {
		const endpointId = "hook_packed0000000004";
		const stub = schedulerFor(env, "default", endpointId);
		// Where a window ends 200 to 250 ms after that second (within the first 50 ms of a window).
		await waitFor(async () => (Date.now() % PACK_WINDOW_MS < 50 ? true : undefined));
		const dueAt = packDueAt(Date.now() + UNSAVED_RETRIES_MAX_MS + 100);
		const reportedAt = Date.now();
		await stub.report("default", endpointId, policy, [failed("del_soon", 1, dueAt)]);
		expect(dueAt).toBeGreaterThan(reportedAt + UNSAVED_RETRIES_MAX_MS);
		expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBe(dueAt);
	});

	it("holds a due pack row by row while the circuit is open, until its probe", async () => {
		const endpointId = "hook_packed0000000002";
		const stub = schedulerFor(env, "default", endpointId);
		const dueAt = packDueAt(Date.now() + 60 * 60_000);
		await stub.report(
			"default",
			endpointId,
			policy,
			Array.from({ length: 10 }, (_, index) => failed(`del_open${index}`, index + 1, dueAt)),
		);
		const circuit = await stub.health();
		expect(circuit.state).toBe("open");
		await storeReportedRetries(stub);
		await makePacksDue(stub);
		const sent = await runInDurableObject(stub, async (instance) => {
			const recorded = recordSends(instance);
			await instance.alarm();
			return recorded;
		});
		expect(sent).toEqual([]);
		expect(await storageRows(stub)).toEqual({ rows: 10, packs: 0 });
		expect(new Set((await dueRows(stub)).map((row) => row.due_at))).toEqual(new Set([circuit.nextProbeAt]));
	});

	it("loses no retry of a packed batch when the worker dies while sending it, and the log shows every attempt once", async () => {
		const name = uniqueName("packed-kill");
		const deliveries = TARGETS_PER_RELEASED_JOB + 10;
		const hook = await createWebhook({
			url: receiverPath(`flaky/${deliveries}`, name),
			events: ["packed.kill"],
			retry_schedule: [3600],
		});
		const endpointId = String(hook.id);
		const events = [];
		for (let index = 0; index < deliveries; index++) {
			events.push(await storeEventDirectly("default", "packed.kill", [endpointId]));
		}
		// One consumer batch of first attempts, all failing: its retries are scheduled together.
		const batch = firstAttemptBatch("default", events, endpointId);
		const started = Date.now();
		// Every attempt of the batch is made: the consumer stops early only after many failures in a row.
		await worker.queue(batch, { ...env, CIRCUIT_FAILURE_THRESHOLD: String(deliveries + 1) });
		const batchMs = Date.now() - started;
		const stub = schedulerFor(env, "default", endpointId);
		await storeReportedRetries(stub);
		expect(await dueRows(stub)).toHaveLength(deliveries);
		// One row per window the batch's failures fell in, not one per retry.
		const stored = await storageRows(stub);
		expect(stored.rows).toBe(0);
		expect(stored.packs).toBeLessThanOrEqual(Math.ceil(batchMs / PACK_WINDOW_MS) + 1);
		expect(stored.packs).toBeLessThan(deliveries / 10);

		// The scheduler's own threshold (5) opened the circuit; reset, as when someone enables the endpoint again.
		await stub.resetCircuit();
		// The worker dies after the first message of the release went out: the alarm throws before deleting anything.
		await makePacksDue(stub);
		await runInDurableObject(stub, async (instance) => {
			const queues = instance["queues"];
			const real = queues.main;
			queues.main = {
				sendBatch: async (messages: Iterable<MessageSendRequest<DeliveryJob>>) => {
					const [first] = [...messages];
					if (first) await real.send(first.body, { contentType: "json" });
					throw new Error("the worker was killed while sending");
				},
			} as unknown as Queue<DeliveryJob>;
			await expect(instance.alarm()).rejects.toThrow("killed");
			queues.main = real;
		});
		expect(await dueRows(stub)).toHaveLength(deliveries);
		const log = async () =>
			(
				await (
					await shardOf("default")
				)
					.prepare("SELECT status, attempts FROM delivery_log WHERE endpoint_id = ?")
					.bind(endpointId)
					.all<{ status: string; attempts: string }>()
			).results;
		// The message that went out is delivered.
		await waitFor(async () => {
			const done = (await log()).filter((row) => row.status === "success").length;
			return done >= TARGETS_PER_RELEASED_JOB ? true : undefined;
		}, 15_000);

		// The alarm runs again: the platform retries a failed alarm, and the report of those 50 attempts re-armed it
		// for the pack, which is still due. Run here, it finds nothing left if that run came first.
		await runInDurableObject(stub, (instance) => instance.alarm());
		expect(await storageRows(stub)).toEqual({ rows: 0, packs: 0 });
		const rows = await waitFor(async () => {
			const current = await log();
			return current.length === deliveries && current.every((row) => row.status === "success") ? current : undefined;
		}, 15_000);
		// The repeated message's retries were already made: the consumer skips them, so each shows once.
		for (const row of rows) {
			expect((JSON.parse(row.attempts) as { trigger: string }[]).map((attempt) => attempt.trigger)).toEqual([
				"initial",
				"scheduled",
			]);
		}
		expect(await receivedBy(name)).toHaveLength(deliveries * 2);
		const [first] = events;
		if (!first) throw new Error("no event stored");
		const detail = record((await api("GET", `/v1/deliveries/${publicDeliveryId(endpointId, first.id)}`)).body);
		expect(detail).toMatchObject({ status: "success", attempt_count: 2 });
	}, 45_000);
});
