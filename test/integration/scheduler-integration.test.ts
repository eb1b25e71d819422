import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deliveryId, publicDeliveryId } from "../../src/lib/ids";
import { schedulerFor } from "../../src/scheduler/client";
import { type EndpointScheduler, jobsByLane, TARGETS_PER_RELEASED_JOB } from "../../src/scheduler/endpoint-scheduler";
import { api, createWebhook, receivedBy, receiverPath, record, storedSeq, uniqueName, waitFor } from "./helpers";

async function dueRows(stub: DurableObjectStub<EndpointScheduler>) {
	return runInDurableObject(stub, (_instance, state) =>
		state.storage.sql
			.exec<{ delivery_id: string; attempt: number; due_at: number }>(
				"SELECT delivery_id, attempt, due_at FROM due_retries ORDER BY due_at",
			)
			.toArray(),
	);
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

	it("keeps one row per due retry and arms its alarm for the earliest", async () => {
		const stub = schedulerFor(env, "default", "hook_sched00000000001");
		const now = Date.now();
		await stub.schedule("default", "hook_sched00000000001", [
			{ deliveryId: "del_a", eventSeq: 1, attempt: 2, dueAtMs: now + 60_000, lane: "main" },
			{ deliveryId: "del_b", eventSeq: 2, attempt: 3, dueAtMs: now + 30_000, lane: "main" },
		]);
		expect((await dueRows(stub)).map((row) => row.delivery_id)).toEqual(["del_b", "del_a"]);
		const alarm = await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
		expect(alarm).toBe(now + 30_000);

		// Rescheduling the same delivery replaces its row instead of adding one.
		await stub.schedule("default", "hook_sched00000000001", [
			{ deliveryId: "del_b", eventSeq: 2, attempt: 4, dueAtMs: now + 90_000, lane: "main" },
		]);
		expect(await dueRows(stub)).toEqual([
			{ delivery_id: "del_a", attempt: 2, due_at: now + 60_000 },
			{ delivery_id: "del_b", attempt: 4, due_at: now + 90_000 },
		]);
		expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBe(now + 60_000);
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
		expect(await dueRows(stub)).toHaveLength(1);

		// Nothing is due yet: the alarm (if run early) must not send it.
		await runInDurableObject(stub, (instance) => instance.alarm());
		expect(await dueRows(stub)).toHaveLength(1);
		expect(await receivedBy(name)).toHaveLength(1);

		// Make it due now, add one that is not, and fire the alarm.
		await stub.schedule("default", String(hook.id), [
			{
				deliveryId: deliveryId(String(hook.id), seq),
				eventSeq: seq,
				attempt: 2,
				dueAtMs: Date.now() - 1,
				lane: "main",
			},
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
