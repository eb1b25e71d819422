import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { publicDeliveryId } from "../../src/lib/ids";
import type { DeliveryJob } from "../../src/queue/messages";
import { schedulerFor } from "../../src/scheduler/client";
import { packDueAt } from "../../src/scheduler/endpoint-scheduler";
import { api, createWebhook, receivedBy, receiverPath, record, storeReportedRetries, uniqueName } from "./helpers";

/** Stores an event without going through ingest, so only the batch under test delivers it. */
async function storeEvent(type: string, data: unknown, endpointIds: string[]): Promise<{ seq: number; id: string }> {
	const id = `evt_${uniqueName("direct")}`;
	const row = await env.DB.prepare(
		"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at) VALUES ('default', ?, ?, ?, ?, ?) RETURNING seq",
	)
		.bind(id, type, JSON.stringify(data), JSON.stringify(endpointIds), Date.now())
		.first<{ seq: number }>();
	if (!row) throw new Error("event not stored");
	return { seq: row.seq, id };
}

async function runBatch(jobs: DeliveryJob[], queue = "edgehook-deliveries") {
	const batch = createMessageBatch<DeliveryJob>(
		queue,
		jobs.map((body, index) => ({ id: `msg-${index}`, timestamp: Date.now(), attempts: 1, body })),
	);
	const ctx = createExecutionContext();
	await worker.queue(batch, env);
	return getQueueResult(batch, ctx);
}

/** The job for one attempt of `event` to `hook`; by default the first, as ingest queues it. */
function attemptJob(
	hook: Record<string, unknown>,
	event: { seq: number },
	attempt = 1,
	trigger: DeliveryJob["trigger"] = "initial",
): DeliveryJob {
	return { tenantId: "default", eventSeq: event.seq, targets: [{ endpointId: String(hook.id), attempt }], trigger };
}

async function delivery(id: string): Promise<Record<string, unknown>> {
	const response = await api("GET", `/v1/deliveries/${id}`);
	expect(response.status).toBe(200);
	return record(response.body);
}

describe("queue consumer", () => {
	it("delivers the signed envelope with every SPEC header, records the attempt and acks", async () => {
		const name = uniqueName("signed");
		const hook = await createWebhook({
			url: receiverPath("ok", name),
			events: ["user.created"],
			headers: { "X-Team": "core" },
		});
		const event = await storeEvent("user.created", { name: "Ada", ü: [1, 2] }, [String(hook.id)]);
		const result = await runBatch([attemptJob(hook, event)]);
		expect(result.explicitAcks).toEqual(["msg-0"]);
		expect(result.retryMessages).toEqual([]);

		const [request] = await receivedBy(name);
		if (!request) throw new Error("receiver got nothing");
		const body = JSON.parse(request.body) as Record<string, unknown>;
		expect(request.body).toBe(JSON.stringify(body));
		expect(Object.keys(body)).toEqual(["id", "type", "created", "created_at", "data"]);
		expect(body).toMatchObject({ id: event.id, type: "user.created", data: { name: "Ada", ü: [1, 2] } });
		expect(request.headers["content-type"]).toBe("application/json");
		expect(request.headers["user-agent"]).toMatch(/^Edgehook\/\d+\.\d+\.\d+$/);
		expect(request.headers["webhook-id"]).toBe(event.id);
		expect(request.headers["x-webhook-id"]).toBe(event.id);
		expect(request.headers["x-webhook-timestamp"]).toBe(request.headers["webhook-timestamp"]);
		expect(request.headers["x-webhook-signature"]).toMatch(/^sha256=[0-9a-f]{64}$/);
		expect(request.headers["x-team"]).toBe("core");
		const secret = String(record((await api("GET", `/v1/webhooks/${hook.id}/secret`)).body).secret);
		expect(() => new Webhook(secret).verify(request.body, request.headers)).not.toThrow();

		const recorded = await delivery(publicDeliveryId(String(hook.id), event.id));
		expect(recorded).toMatchObject({ status: "success", status_code: 200, attempt_count: 1, error: null });
		const [attempt] = recorded.attempts as Record<string, unknown>[];
		expect(attempt).toMatchObject({
			attempt: 1,
			trigger: "initial",
			status_code: 200,
			response_body: "received",
			error: null,
		});
		expect(attempt?.id).toMatch(/^att_/);
	});

	it("records a failure, schedules the retry in the endpoint's scheduler and does not mark it failed yet", async () => {
		const name = uniqueName("fails");
		const hook = await createWebhook({
			url: receiverPath("status/500", name),
			events: ["*"],
			retry_schedule: [120, 600],
		});
		const event = await storeEvent("thing.happened", {}, [String(hook.id)]);
		const before = Date.now();
		await runBatch([attemptJob(hook, event)]);
		const recorded = await delivery(publicDeliveryId(String(hook.id), event.id));
		expect(recorded).toMatchObject({ status: "pending", status_code: 500, attempt_count: 1, error: "HTTP 500" });
		const nextAttemptAt = Date.parse(String(recorded.next_attempt_at));
		expect(nextAttemptAt).toBeGreaterThanOrEqual(before + 120_000);
		const pending = await schedulerFor(env, "default", String(hook.id)).pending();
		// Released with its pack, at the end of the pack's window: never before the time the log shows.
		expect(pending).toEqual({ count: 1, nextDueAtMs: packDueAt(nextAttemptAt) });
	});

	it("marks the delivery failed when the last scheduled attempt fails", async () => {
		const name = uniqueName("last");
		const hook = await createWebhook({ url: receiverPath("status/503", name), events: ["*"], retry_schedule: [1, 1] });
		const event = await storeEvent("thing.happened", {}, [String(hook.id)]);
		for (const [attempt, trigger] of [
			[1, "initial"],
			[2, "scheduled"],
			[3, "scheduled"],
		] as const) {
			await runBatch([
				{ tenantId: "default", eventSeq: event.seq, targets: [{ endpointId: String(hook.id), attempt }], trigger },
			]);
		}
		expect(await receivedBy(name)).toHaveLength(3);
		const recorded = await delivery(publicDeliveryId(String(hook.id), event.id));
		expect(recorded).toMatchObject({ status: "failed", status_code: 503, attempt_count: 3, next_attempt_at: null });
	});

	it("keeps a pending delivery's scheduled retry when a manual resend of it fails", async () => {
		const hook = await createWebhook({
			url: receiverPath("status/500", uniqueName("manual")),
			events: ["*"],
			retry_schedule: [600],
		});
		const event = await storeEvent("thing.happened", {}, [String(hook.id)]);
		await runBatch([attemptJob(hook, event)]);
		const id = publicDeliveryId(String(hook.id), event.id);
		const scheduled = (await delivery(id)).next_attempt_at;
		await runBatch([attemptJob(hook, event, 2, "manual")]);
		expect(await delivery(id)).toMatchObject({ status: "pending", attempt_count: 2, next_attempt_at: scheduled });
	});

	it("honours Retry-After on 429 when it is later than the schedule", async () => {
		const name = uniqueName("limited");
		const hook = await createWebhook({
			url: `${receiverPath("status/429", name)}?retry_after=3600`,
			events: ["*"],
			retry_schedule: [60],
		});
		const event = await storeEvent("thing.happened", {}, [String(hook.id)]);
		const before = Date.now();
		await runBatch([attemptJob(hook, event)]);
		const recorded = await delivery(publicDeliveryId(String(hook.id), event.id));
		expect(Date.parse(String(recorded.next_attempt_at))).toBeGreaterThanOrEqual(before + 3_600_000);
	});

	it("treats a redirect as a failure without following it", async () => {
		const name = uniqueName("redirect");
		const hook = await createWebhook({ url: receiverPath("status/302", name), events: ["*"] });
		const event = await storeEvent("thing.happened", {}, [String(hook.id)]);
		await runBatch([attemptJob(hook, event)]);
		expect(await delivery(publicDeliveryId(String(hook.id), event.id))).toMatchObject({
			status: "pending",
			status_code: 302,
		});
		expect(await receivedBy(name)).toHaveLength(1);
	});

	it("records a timeout as a failed attempt with its error text", async () => {
		const name = uniqueName("hang");
		const hook = await createWebhook({ url: receiverPath("hang", name), events: ["*"], timeout_ms: 300 });
		const event = await storeEvent("thing.happened", {}, [String(hook.id)]);
		await runBatch([attemptJob(hook, event)]);
		const recorded = await delivery(publicDeliveryId(String(hook.id), event.id));
		expect(recorded).toMatchObject({ status: "pending", status_code: null, error: "timeout after 300 ms" });
		// The endpoint is now in the slow lane, and so is the retry its scheduler holds.
		const scheduler = schedulerFor(env, "default", String(hook.id));
		await storeReportedRetries(scheduler);
		const lanes = await runInDurableObject(scheduler, (_instance, state) =>
			state.storage.sql
				.exec<{ lane: string }>(
					"SELECT json_extract(value, '$.lane') AS lane FROM due_packs, json_each(due_packs.retries)",
				)
				.toArray(),
		);
		expect(lanes).toEqual([{ lane: "slow" }]);
	});

	it("records a connection error as a failed attempt", async () => {
		const hook = await createWebhook({ url: "http://127.0.0.1:9/refused", events: ["*"] });
		const event = await storeEvent("thing.happened", {}, [String(hook.id)]);
		await runBatch([attemptJob(hook, event)]);
		const recorded = await delivery(publicDeliveryId(String(hook.id), event.id));
		expect(recorded.status).toBe("pending");
		expect(recorded.status_code).toBeNull();
		expect(String(recorded.error)).toMatch(
			/^the connection to 127\.0\.0\.1:9 was refused or cut before an answer \(the runtime said: /,
		);
	});

	it("names the host when it cannot be reached, and says when Cloudflare found its name does not resolve", async () => {
		const unreachable = await createWebhook({ url: "http://edgehook-test-no-such-host.invalid/hook", events: ["*"] });
		const lost = await storeEvent("thing.happened", {}, [String(unreachable.id)]);
		await runBatch([attemptJob(unreachable, lost)]);
		expect(String((await delivery(publicDeliveryId(String(unreachable.id), lost.id))).error)).toMatch(
			/^could not connect to edgehook-test-no-such-host\.invalid: its name may not resolve, or nothing answered there/,
		);

		// Deployed, such a fetch is answered by Cloudflare itself: 530 with error 1016.
		const name = uniqueName("dns");
		const answered = await createWebhook({ url: receiverPath("origin-dns-error", name), events: ["*"] });
		const event = await storeEvent("thing.happened", {}, [String(answered.id)]);
		await runBatch([attemptJob(answered, event)]);
		const recorded = await delivery(publicDeliveryId(String(answered.id), event.id));
		expect(recorded.status_code).toBe(530);
		expect(recorded.error).toBe(
			`the host name ${new URL(String(answered.url)).host} does not resolve (Cloudflare error 1016: origin DNS error)`,
		);
	});

	it("disables the endpoint on 410 Gone and fails the delivery", async () => {
		const name = uniqueName("gone");
		const hook = await createWebhook({ url: receiverPath("status/410", name), events: ["*"] });
		const event = await storeEvent("thing.happened", {}, [String(hook.id)]);
		await runBatch([attemptJob(hook, event)]);
		expect(await delivery(publicDeliveryId(String(hook.id), event.id))).toMatchObject({
			status: "failed",
			status_code: 410,
		});
		const endpoint = record((await api("GET", `/v1/webhooks/${hook.id}`)).body);
		expect(endpoint.active).toBe(false);
		expect(String(endpoint.disabled_reason)).toContain("410");
	});

	it("keeps healthy endpoints flowing while one hangs in the same batch", async () => {
		const hang = await createWebhook({
			url: receiverPath("hang", uniqueName("slow")),
			events: ["*"],
			timeout_ms: 1500,
		});
		const names = Array.from({ length: 8 }, () => uniqueName("quick"));
		const quick = await Promise.all(
			names.map((name) => createWebhook({ url: receiverPath("ok", name), events: ["*"] })),
		);
		const event = await storeEvent("thing.happened", {}, [String(hang.id), ...quick.map((hook) => String(hook.id))]);
		const started = Date.now();
		await runBatch([
			{
				tenantId: "default",
				eventSeq: event.seq,
				targets: [hang, ...quick].map((hook) => ({ endpointId: String(hook.id), attempt: 1 })),
				trigger: "initial",
			},
		]);
		for (const name of names) {
			const [request] = await receivedBy(name);
			// Every healthy endpoint was reached while the hanging one still held its slot.
			expect(request?.receivedAt ?? Number.POSITIVE_INFINITY).toBeLessThan(started + 1500);
		}
	});

	it("moves a hanging endpoint to the slow lane: later attempts skip the main queue until it answers promptly", async () => {
		const hangName = uniqueName("lane-hang");
		const hang = await createWebhook({ url: receiverPath("hang", hangName), events: ["*"], timeout_ms: 1500 });
		const okNames = [uniqueName("lane-ok"), uniqueName("lane-ok")];
		const ok = await Promise.all(
			okNames.map((name) => createWebhook({ url: receiverPath("ok", name), events: ["*"] })),
		);
		const targets = [hang, ...ok].map((hook) => ({ endpointId: String(hook.id), attempt: 1 }));
		const firstEvents = await Promise.all(
			[0, 1, 2, 3].map(() =>
				storeEvent(
					"lane.test",
					{},
					targets.map((target) => target.endpointId),
				),
			),
		);
		const started = Date.now();
		await runBatch(
			firstEvents.map((event) => ({ tenantId: "default", eventSeq: event.seq, targets, trigger: "initial" as const })),
		);
		// At most two attempts to the hanging endpoint ran inline; the healthy ones were not held up by it.
		for (const name of okNames) {
			const requests = await receivedBy(name);
			expect(requests).toHaveLength(4);
			for (const request of requests) expect(request.receivedAt).toBeLessThan(started + 1500);
		}
		const slowUntil = await env.DB.prepare("SELECT slow_until FROM endpoints WHERE id = ?")
			.bind(hang.id)
			.first<number>("slow_until");
		expect(slowUntil).toBeGreaterThan(Date.now());

		// The next batch does not attempt the slow endpoint inline at all.
		const next = await storeEvent(
			"lane.test",
			{},
			targets.map((target) => target.endpointId),
		);
		await runBatch([{ tenantId: "default", eventSeq: next.seq, targets, trigger: "initial" }]);
		expect(await delivery(publicDeliveryId(String(ok[0]?.id), next.id))).toMatchObject({ status: "success" });
		expect(await delivery(publicDeliveryId(String(hang.id), next.id))).toMatchObject({
			status: "pending",
			attempt_count: 0,
		});

		// A prompt answer on the slow lane brings the endpoint back to the main queue.
		await api("PATCH", `/v1/webhooks/${hang.id}`, { body: { url: receiverPath("ok", hangName) } });
		const recovered = await storeEvent("lane.test", {}, [String(hang.id)]);
		await runBatch(
			[
				{
					tenantId: "default",
					eventSeq: recovered.seq,
					targets: [targets[0] ?? { endpointId: "", attempt: 1 }],
					trigger: "initial",
				},
			],
			"edgehook-deliveries-slow",
		);
		expect(
			await env.DB.prepare("SELECT slow_until FROM endpoints WHERE id = ?").bind(hang.id).first("slow_until"),
		).toBeNull();
	});

	it("settles deliveries to deleted or disabled endpoints without sending", async () => {
		const name = uniqueName("disabled");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["*"], active: false });
		const event = await storeEvent("thing.happened", {}, [String(hook.id), "hook_0000000000000000"]);
		const result = await runBatch([
			{
				tenantId: "default",
				eventSeq: event.seq,
				targets: [
					{ endpointId: String(hook.id), attempt: 1 },
					{ endpointId: "hook_0000000000000000", attempt: 1 },
				],
				trigger: "initial",
			},
		]);
		expect(result.explicitAcks).toEqual(["msg-0"]);
		expect(await receivedBy(name)).toHaveLength(0);
		expect(await delivery(publicDeliveryId(String(hook.id), event.id))).toMatchObject({
			status: "failed",
			attempt_count: 0,
			error: "the endpoint is disabled",
		});
	});

	it("skips a scheduled retry that a manual resend already settled", async () => {
		const name = uniqueName("settled");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["*"] });
		const event = await storeEvent("thing.happened", {}, [String(hook.id)]);
		await runBatch([attemptJob(hook, event)]);
		await runBatch([attemptJob(hook, event, 2, "scheduled")]);
		expect(await receivedBy(name)).toHaveLength(1);
	});

	it("drops a malformed message instead of failing the batch", async () => {
		const batch = createMessageBatch("edgehook-deliveries", [
			{ id: "bad", timestamp: Date.now(), attempts: 1, body: { nonsense: true } },
		]);
		const ctx = createExecutionContext();
		await worker.queue(batch, env);
		expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["bad"]);
	});
});
