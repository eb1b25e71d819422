import { createExecutionContext, getQueueResult, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { schedulerFor } from "../../src/scheduler/client";
import {
	api,
	firstAttemptBatch,
	receivedBy,
	receiverPath,
	record,
	setCircuit,
	storeEventDirectly,
	storeReportedRetries,
	uniqueName,
	waitFor,
} from "./helpers";

/** A tenant of its own, so its operational events are the test's alone. */
async function tenant(): Promise<{
	id: string;
	call: (method: string, path: string, body?: unknown) => ReturnType<typeof api>;
}> {
	const created = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("circuit") } })).body);
	const id = String(created.id);
	return { id, call: (method, path, body) => api(method, path, { body, headers: { "x-tenant-id": id } }) };
}

async function operationalEvents(receiver: string): Promise<{ type: string; data: Record<string, unknown> }[]> {
	return (await receivedBy(receiver)).map(
		(request) => JSON.parse(request.body) as { type: string; data: Record<string, unknown> },
	);
}

describe("circuit breaker", () => {
	it("opens after 5 failures in a row, holds new deliveries, probes, recovers and releases them; operational events say so", async () => {
		const { id: tenantId, call } = await tenant();
		const watcher = uniqueName("ops");
		await call("POST", "/v1/webhooks", {
			url: receiverPath("ok", watcher),
			events: ["endpoint.*", "delivery.exhausted"],
		});
		const failing = uniqueName("flaky");
		const hook = record(
			(
				await call("POST", "/v1/webhooks", {
					url: receiverPath("flaky/5", failing),
					events: ["order.*"],
					retry_schedule: [],
				})
			).body,
		);
		const hookId = String(hook.id);
		for (let i = 0; i < 5; i++) {
			expect((await call("POST", "/v1/events", { type: "order.paid", data: { i } })).status).toBe(202);
			// One at a time, so the five failures are five attempts in a row.
			await waitFor(async () => ((await receivedBy(failing)).length === i + 1 ? true : undefined));
		}
		const opened = await waitFor(async () => {
			const detail = record((await call("GET", `/v1/webhooks/${hookId}`)).body);
			return record(detail.circuit).state === "open" ? detail : undefined;
		});
		expect(record(opened.circuit)).toMatchObject({ failures_in_a_row: 5, last_status_code: 500 });
		expect(opened.failing_since).not.toBeNull();

		const seen = await waitFor(async () => {
			const events = await operationalEvents(watcher);
			return events.filter((event) => event.type === "delivery.exhausted").length === 5 &&
				events.some((event) => event.type === "endpoint.failing")
				? events
				: undefined;
		});
		// Operational events go to other endpoints: the URL they carry is masked, as a read-only portal sees it.
		const maskedUrl = `${new URL(String(hook.url)).origin}/…${String(hook.url).slice(-4)}`;
		const failingEvent = seen.find((event) => event.type === "endpoint.failing");
		expect(failingEvent?.data).toMatchObject({
			endpoint_id: hookId,
			url: maskedUrl,
			circuit: "open",
			failures_in_a_row: 5,
			failure_threshold: 5,
			last_status_code: 500,
		});
		expect(seen.find((event) => event.type === "delivery.exhausted")?.data).toMatchObject({
			endpoint_id: hookId,
			url: maskedUrl,
			event_type: "order.paid",
			attempts: 1,
			last_status_code: 500,
		});

		// While open, a new delivery waits: pending, no attempt, due at the next probe.
		const sixth = record((await call("POST", "/v1/events", { type: "order.paid", data: { i: 6 } })).body);
		const eventDetail = record((await call("GET", `/v1/events/${sixth.id}`)).body);
		const [sixthDelivery] = eventDetail.deliveries as Record<string, unknown>[];
		const sixthId = String(sixthDelivery?.id);
		// In the endpoint's log once recorded (until then it reads as queued).
		await waitFor(async () => {
			const log = record((await call("GET", `/v1/webhooks/${hookId}/deliveries?status=pending`)).body);
			return (log.deliveries as { id: string }[]).some((delivery) => delivery.id === sixthId) ? true : undefined;
		});
		const held = record((await call("GET", `/v1/deliveries/${sixthId}`)).body);
		expect(held).toMatchObject({ status: "pending", attempt_count: 0 });
		expect(Date.parse(String(held.next_attempt_at))).toBe(Date.parse(String(record(opened.circuit).next_probe_at)));
		expect(await receivedBy(failing)).toHaveLength(5);

		// The probe comes due: one delivery goes out, succeeds (flaky/5 now answers 200), and the circuit closes.
		const stub = schedulerFor(env, tenantId, hookId);
		await setCircuit(stub, { nextProbeAt: Date.now() - 1 });
		await runInDurableObject(stub, (_instance, state) =>
			state.storage.sql.exec("UPDATE due_retries SET due_at = ?", Date.now() - 1),
		);
		expect(await runDurableObjectAlarm(stub)).toBe(true);
		await waitFor(async () => {
			const detail = record((await call("GET", `/v1/deliveries/${sixthId}`)).body);
			return detail.status === "success" ? detail : undefined;
		});
		const recovered = await waitFor(async () => {
			const detail = record((await call("GET", `/v1/webhooks/${hookId}`)).body);
			return record(detail.circuit).state === "closed" && detail.failing_since === null ? detail : undefined;
		});
		expect(record(recovered.circuit).failures_in_a_row).toBe(0);
		const recoveredEvent = await waitFor(async () =>
			(await operationalEvents(watcher)).find((event) => event.type === "endpoint.recovered"),
		);
		expect(recoveredEvent.data).toMatchObject({ endpoint_id: hookId, circuit: "closed", failures_in_a_row: 5 });
	});

	it("disables an endpoint that fails without a success for too long, failing what it held", async () => {
		const { id: tenantId, call } = await tenant();
		const watcher = uniqueName("ops");
		await call("POST", "/v1/webhooks", { url: receiverPath("ok", watcher), events: ["endpoint.disabled"] });
		const dead = uniqueName("dead");
		const hook = record(
			(
				await call("POST", "/v1/webhooks", {
					url: receiverPath("status/503", dead),
					events: ["a"],
					retry_schedule: [3600],
				})
			).body,
		);
		const hookId = String(hook.id);
		expect((await call("POST", "/v1/events", { type: "a", data: {} })).status).toBe(202);
		const stub = schedulerFor(env, tenantId, hookId);
		// Stored before setCircuit evicts the object, which would lose it from memory (the sweeper's case).
		await storeReportedRetries(stub);
		// Pretend the failures began six days ago.
		await setCircuit(stub, { failingSince: Date.now() - 6 * 24 * 3600 * 1000 });
		expect((await call("POST", "/v1/events", { type: "a", data: {} })).status).toBe(202);
		const disabled = await waitFor(async () => {
			const detail = record((await call("GET", `/v1/webhooks/${hookId}`)).body);
			return detail.active === false ? detail : undefined;
		});
		expect(String(disabled.disabled_reason)).toMatch(/^the endpoint failed without a success since \d{4}-/);
		expect((await stub.pending()).count).toBe(0);
		const log = record((await call("GET", `/v1/webhooks/${hookId}/deliveries`)).body);
		const statuses = (log.deliveries as { status: string; error: string }[]).map((delivery) => delivery.status);
		expect(statuses).toEqual(["failed", "failed"]);
		const event = await waitFor(async () =>
			(await operationalEvents(watcher)).find((candidate) => candidate.type === "endpoint.disabled"),
		);
		expect(event.data).toMatchObject({ endpoint_id: hookId, reason: disabled.disabled_reason, last_status_code: 503 });

		// Enabled again, it starts from a closed circuit.
		expect((await call("PATCH", `/v1/webhooks/${hookId}`, { active: true })).status).toBe(200);
		const enabled = record((await call("GET", `/v1/webhooks/${hookId}`)).body);
		expect(enabled).toMatchObject({ active: true, disabled_reason: null, failing_since: null });
		expect(record(enabled.circuit)).toMatchObject({ state: "closed", failures_in_a_row: 0 });
	});

	it("disables at once on 410 Gone and says so in an operational event", async () => {
		const { call } = await tenant();
		const watcher = uniqueName("ops");
		await call("POST", "/v1/webhooks", { url: receiverPath("ok", watcher), events: ["endpoint.disabled"] });
		const token = crypto.randomUUID();
		const url = `${receiverPath("status/410", uniqueName("gone"))}?token=${token}`;
		const hook = record((await call("POST", "/v1/webhooks", { url, events: ["a"] })).body);
		await call("POST", "/v1/events", { type: "a", data: {} });
		const event = await waitFor(async () =>
			(await operationalEvents(watcher)).find((candidate) => candidate.type === "endpoint.disabled"),
		);
		expect(event.data).toMatchObject({
			endpoint_id: hook.id,
			last_status_code: 410,
			url: `${new URL(url).origin}/…${token.slice(-4)}`,
		});
		expect(JSON.stringify(event)).not.toContain(token);
		expect(String(event.data.reason)).toMatch(/410 Gone/);
	});

	it("reserves the operational event types and lists them in the catalog", async () => {
		const sent = await api("POST", "/v1/events", { body: { type: "endpoint.failing", data: {} } });
		expect(sent.status).toBe(422);
		expect(record(record(sent.body).error).details).toEqual([
			{ field: "type", message: expect.stringContaining("reserved") },
		]);
		const catalog = record((await api("GET", "/v1/event-types")).body).event_types as Record<string, unknown>[];
		expect(catalog.filter((type) => type.built_in).map((type) => type.name)).toEqual([
			"endpoint.failing",
			"endpoint.recovered",
			"endpoint.disabled",
			"delivery.exhausted",
		]);
		expect((await api("POST", "/v1/event-types", { body: { name: "delivery.exhausted" } })).status).toBe(409);
		expect((await api("DELETE", "/v1/event-types/endpoint.failing")).status).toBe(409);
	});
});

describe("a batch that meets a dead endpoint", () => {
	it("stops attempting it once it has failed the threshold in a row, and holds the rest behind the open circuit", async () => {
		const { id: tenantId, call } = await tenant();
		const name = uniqueName("dead-in-batch");
		const hook = record(
			(await call("POST", "/v1/webhooks", { url: receiverPath("hang", name), events: ["a"], timeout_ms: 200 })).body,
		);
		const events = [];
		for (let i = 0; i < 12; i++) events.push(await storeEventDirectly(tenantId, "a", [hook.id]));
		const batch = firstAttemptBatch(tenantId, events, String(hook.id));
		const ctx = createExecutionContext();
		await worker.queue(batch, env);
		expect((await getQueueResult(batch, ctx)).explicitAcks).toHaveLength(12);
		// At most the threshold plus what was already in flight beside the fifth failure (two at a time while unproven).
		const attempted = (await receivedBy(name)).length;
		expect(attempted).toBeGreaterThanOrEqual(5);
		expect(attempted).toBeLessThanOrEqual(6);
		const circuit = record(record((await call("GET", `/v1/webhooks/${hook.id}`)).body).circuit);
		expect(circuit.state).toBe("open");
		const pending = record((await call("GET", `/v1/webhooks/${hook.id}/deliveries?status=pending&limit=50`)).body);
		const held = (pending.deliveries as { attempts: number; next_attempt_at: string }[]).filter(
			(delivery) => delivery.attempts === 0,
		);
		expect(held).toHaveLength(12 - attempted);
		for (const delivery of held) expect(delivery.next_attempt_at).toBe(circuit.next_probe_at);

		// The probe comes due and fails: the circuit opens again for twice as long, and the log shows the held
		// deliveries' new due time (so the sweeper does not take them for lost ones).
		const stub = schedulerFor(env, tenantId, String(hook.id));
		await setCircuit(stub, { nextProbeAt: Date.now() - 1 });
		await runInDurableObject(stub, (_instance, state) =>
			state.storage.sql.exec("UPDATE due_retries SET due_at = ?", Date.now() - 1),
		);
		expect(await runDurableObjectAlarm(stub)).toBe(true);
		const reopened = await waitFor(async () => {
			const current = record(record((await call("GET", `/v1/webhooks/${hook.id}`)).body).circuit);
			return current.state === "open" && current.next_probe_at !== circuit.next_probe_at ? current : undefined;
		});
		const later = record((await call("GET", `/v1/webhooks/${hook.id}/deliveries?status=pending&limit=50`)).body);
		const pendingNow = later.deliveries as { attempts: number; next_attempt_at: string }[];
		// Everything still waits: the held first attempts, and the retries of those attempted (the probe among them).
		expect(pendingNow).toHaveLength(12);
		expect(pendingNow.filter((delivery) => delivery.attempts === 0).length).toBeGreaterThanOrEqual(held.length - 1);
		for (const delivery of pendingNow.filter((candidate) => candidate.attempts === 0)) {
			expect(delivery.next_attempt_at).toBe(reopened.next_probe_at);
		}
	});
});
