import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { deliveryId, newTaskId, publicDeliveryId } from "../../src/lib/ids";
import {
	DELIVERIES_PER_SLICE,
	type RecoverJob,
	recoverSlice,
	resumeStalledRecovers,
	STALLED_RECOVER_MS,
} from "../../src/tasks/recover";
import { api, createWebhook, receivedBy, receiverPath, record, uniqueName, waitFor } from "./helpers";

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

function ago(ms: number): string {
	return new Date(Date.now() - ms).toISOString();
}

async function sendEvent(type: string): Promise<{ id: string }> {
	const event = record((await api("POST", "/v1/events", { body: { type, data: { at: Date.now() } } })).body);
	return { id: String(event.id) };
}

async function delivery(id: string): Promise<Record<string, unknown>> {
	return record((await api("GET", `/v1/deliveries/${id}`)).body);
}

/** Waits until every delivery has reached one of `statuses` and returns them. */
async function settled(ids: readonly string[], statuses: readonly string[]): Promise<Record<string, unknown>[]> {
	return waitFor(async () => {
		const rows = await Promise.all(ids.map(delivery));
		return rows.every((row) => statuses.includes(String(row.status))) ? rows : undefined;
	}, 10_000);
}

async function recover(hookId: unknown, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
	const response = await api("POST", `/v1/webhooks/${hookId}/recover`, { body });
	return { status: response.status, body: record(response.body) };
}

async function finished(taskId: unknown): Promise<Record<string, unknown>> {
	return waitFor(async () => {
		const task = record((await api("GET", `/v1/tasks/${taskId}`)).body);
		return task.status === "completed" || task.status === "failed" ? task : undefined;
	}, 10_000);
}

function fieldsOf(body: Record<string, unknown>): string[] {
	return (record(body.error).details as { field: string }[]).map((detail) => detail.field);
}

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

describe("recover", () => {
	it("re-sends every failed delivery of the window in the background, keeping each event's webhook-id", async () => {
		const name = uniqueName("recover");
		const type = `${name}.happened`;
		const hook = await createWebhook({ url: receiverPath("flaky/3", name), events: [type], retry_schedule: [] });
		const events = [];
		for (let i = 0; i < 3; i++) events.push(await sendEvent(type));
		const ids = events.map((event) => publicDeliveryId(String(hook.id), event.id));
		await settled(ids, ["failed"]);

		const since = ago(HOUR_MS);
		const created = await recover(hook.id, { since });
		expect(created.status).toBe(202);
		expect(created.body).toMatchObject({
			kind: "recover",
			endpoint_id: hook.id,
			since,
			total: 3,
			done: 0,
			error: null,
		});
		expect(String(created.body.id)).toMatch(/^task_/);
		expect(["queued", "running", "completed"]).toContain(created.body.status);
		expect(Date.parse(String(created.body.until))).toBeLessThanOrEqual(Date.now());

		const task = await finished(created.body.id);
		expect(task).toMatchObject({ id: created.body.id, status: "completed", total: 3, done: 3, error: null });

		const after = await settled(ids, ["success"]);
		for (const row of after) {
			expect(row.attempt_count).toBe(2);
			expect((row.attempts as { trigger: string }[]).map((attempt) => attempt.trigger)).toEqual(["initial", "manual"]);
		}
		const seen = (await receivedBy(name)).map((request) => request.headers["webhook-id"]);
		expect(seen).toHaveLength(6);
		for (const event of events) expect(seen.filter((id) => id === event.id)).toHaveLength(2);
	});

	it("leaves deliveries that did not fail alone", async () => {
		const name = uniqueName("recover-mixed");
		const type = `${name}.happened`;
		const hook = await createWebhook({ url: receiverPath("flaky/1", name), events: [type], retry_schedule: [] });
		const first = await sendEvent(type);
		const firstId = publicDeliveryId(String(hook.id), first.id);
		await settled([firstId], ["failed"]);
		const second = await sendEvent(type);
		const secondId = publicDeliveryId(String(hook.id), second.id);
		await settled([secondId], ["success"]);

		const created = await recover(hook.id, { since: ago(HOUR_MS) });
		expect(created.body.total).toBe(1);
		expect(await finished(created.body.id)).toMatchObject({ status: "completed", total: 1, done: 1 });
		const [recovered] = await settled([firstId], ["success"]);
		expect(recovered?.attempt_count).toBe(2);
		expect((await delivery(secondId)).attempt_count).toBe(1);
		const seen = (await receivedBy(name)).map((request) => request.headers["webhook-id"]);
		expect(seen.filter((id) => id === second.id)).toHaveLength(1);
	});

	it("re-sends only the deliveries of events created inside [since, until)", async () => {
		const name = uniqueName("recover-window");
		const type = `${name}.happened`;
		const hook = await createWebhook({ url: receiverPath("status/500", name), events: [type], retry_schedule: [] });
		const early = await sendEvent(type);
		const earlyId = publicDeliveryId(String(hook.id), early.id);
		await settled([earlyId], ["failed"]);
		// Timers let the clock move on, so the boundary falls strictly between the two events.
		await sleep(20);
		const boundary = new Date(Date.now()).toISOString();
		await sleep(20);
		const late = await sendEvent(type);
		const lateId = publicDeliveryId(String(hook.id), late.id);
		await settled([lateId], ["failed"]);

		const lateOnly = await recover(hook.id, { since: boundary });
		expect(lateOnly.body.total).toBe(1);
		expect(await finished(lateOnly.body.id)).toMatchObject({ status: "completed", done: 1 });
		await waitFor(async () => ((await delivery(lateId)).attempt_count === 2 ? true : undefined));
		expect((await delivery(earlyId)).attempt_count).toBe(1);

		const earlyOnly = await recover(hook.id, { since: ago(HOUR_MS), until: boundary });
		expect(earlyOnly.body).toMatchObject({ total: 1, until: boundary });
		expect(await finished(earlyOnly.body.id)).toMatchObject({ status: "completed", done: 1 });
		await waitFor(async () => ((await delivery(earlyId)).attempt_count === 2 ? true : undefined));
		expect((await delivery(lateId)).attempt_count).toBe(2);

		const seen = (await receivedBy(name)).map((request) => request.headers["webhook-id"]);
		expect(seen.filter((id) => id === early.id)).toHaveLength(2);
		expect(seen.filter((id) => id === late.id)).toHaveLength(2);
	});

	it("completes at once with nothing to do when the window holds no failures", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("recover-none")), events: ["none.*"] });
		const created = await recover(hook.id, { since: ago(DAY_MS) });
		expect(created.status).toBe(202);
		expect(created.body).toMatchObject({ total: 0, done: 0 });
		expect(await finished(created.body.id)).toMatchObject({ status: "completed", total: 0, done: 0, error: null });
	});

	it("refuses bad windows with a 422 naming the field", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("recover-bad")), events: ["bad.*"] });
		const hourAgo = ago(HOUR_MS);
		const cases: [unknown, string[]][] = [
			[{ since: ago(HOUR_MS), until: ago(2 * HOUR_MS) }, ["since"]],
			[{ since: hourAgo, until: hourAgo }, ["since"]],
			[{ since: ago(15 * DAY_MS) }, ["since"]],
			[{ since: ago(20 * DAY_MS), until: ago(5 * DAY_MS) }, ["since"]],
			[{ since: new Date(Date.now() + HOUR_MS).toISOString() }, ["since"]],
			[{ since: ago(HOUR_MS), until: new Date(Date.now() + 10 * 60 * 1000).toISOString() }, ["until"]],
			[{ since: "yesterday" }, ["since"]],
			[{ since: "2026-05-01" }, ["since"]],
			[{ since: "2026-05-01T00:00:00" }, ["since"]],
			[{ since: 1_700_000_000_000 }, ["since"]],
			[{ since: ago(HOUR_MS), until: "soon" }, ["until"]],
			[{}, ["since"]],
			[{ since: ago(HOUR_MS), channel: "x" }, ["channel"]],
		];
		for (const [body, fields] of cases) {
			const response = await recover(hook.id, body);
			expect(response.status, JSON.stringify(body)).toBe(422);
			expect(record(response.body.error).code).toBe("validation_failed");
			expect(fieldsOf(response.body), JSON.stringify(body)).toEqual(fields);
		}
		const notADate = await recover(hook.id, { since: "yesterday" });
		expect(record(notADate.body.error).message).toBe(
			"the request is not valid: since: must be an ISO 8601 date-time with a time zone, such as 2026-05-01T12:00:00Z",
		);
		const missing = await recover(hook.id, {});
		expect(record(missing.body.error).message).toBe("the request is not valid: since: is required");
		const tooWide = await recover(hook.id, { since: ago(15 * DAY_MS) });
		expect(record(tooWide.body.error).message).toBe(
			"the request is not valid: since: must be at most 14 days before now",
		);
		const unknown = await recover(hook.id, { since: ago(HOUR_MS), channel: "x" });
		expect(record(unknown.body.error).message).toBe('the request is not valid: unknown field "channel"');
	});

	it("accepts a window of exactly 14 days given with time zone offsets", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("recover-edge")), events: ["edge.*"] });
		const until = Date.now() - HOUR_MS;
		const offset = (ms: number) => new Date(ms + 2 * HOUR_MS).toISOString().replace("Z", "+02:00");
		const created = await recover(hook.id, { since: offset(until - 14 * DAY_MS), until: offset(until) });
		expect(created.status).toBe(202);
		expect(created.body).toMatchObject({
			since: new Date(until - 14 * DAY_MS).toISOString(),
			until: new Date(until).toISOString(),
		});
		await finished(created.body.id);
	});

	it("answers 404 for unknown endpoints and tasks, also to another tenant, and 409 for a disabled endpoint", async () => {
		const since = ago(HOUR_MS);
		const unknown = await recover("hook_0000000000000000", { since });
		expect(unknown.status).toBe(404);
		// The endpoint is looked up first: a bad body does not tell whether it exists.
		expect((await recover("hook_0000000000000000", {})).status).toBe(404);
		expect((await api("GET", "/v1/tasks/task_0000000000000000")).status).toBe(404);
		expect((await api("GET", "/v1/tasks/nope")).status).toBe(404);

		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("recover-off")), events: ["off.*"] });
		const created = await recover(hook.id, { since });
		expect(created.status).toBe(202);
		const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("other") } })).body);
		const key = record((await api("POST", `/v1/tenants/${tenant.id}/api-keys`, { body: { name: "k" } })).body);
		expect((await api("GET", `/v1/tasks/${created.body.id}`, { auth: String(key.key) })).status).toBe(404);
		expect(
			(await api("GET", `/v1/tasks/${created.body.id}`, { headers: { "x-tenant-id": String(tenant.id) } })).status,
		).toBe(404);

		expect((await api("PATCH", `/v1/webhooks/${hook.id}`, { body: { active: false } })).status).toBe(200);
		const disabled = await recover(hook.id, { since });
		expect(disabled.status).toBe(409);
		expect(record(disabled.body.error)).toMatchObject({ code: "conflict" });
		expect(String(record(disabled.body.error).message)).toContain("enable it");
	});

	it("ends a task as failed when its endpoint was deleted meanwhile", async () => {
		const taskId = newTaskId();
		const now = Date.now();
		await env.DB.prepare(
			"INSERT INTO tasks (tenant_id, id, kind, endpoint_id, status, params, total, done, cursor, error, created_at, updated_at) VALUES ('default', ?, 'recover', 'hook_gone000000000000', 'queued', ?, 5, 0, NULL, NULL, ?, ?)",
		)
			.bind(taskId, JSON.stringify({ since: now - HOUR_MS, until: now }), now, now)
			.run();
		expect(await recoverSlice(env, "default", taskId, Date.now())).toBe(false);
		expect(record((await api("GET", `/v1/tasks/${taskId}`)).body)).toMatchObject({
			status: "failed",
			error: "the endpoint was deleted",
			done: 0,
		});
	});

	it("moves in slices, newest first, resuming below its cursor, and a duplicate message does not fork the work", async () => {
		const name = uniqueName("recover-slices");
		const hook = await createWebhook({ url: receiverPath("status/500", name), events: ["slices.*"] });
		const hookId = String(hook.id);
		// Stored directly: a slice's worth of failed deliveries plus two, without sending anything.
		const now = Date.now();
		const count = DELIVERIES_PER_SLICE + 2;
		const statements = [];
		for (let i = 0; i < count; i++) {
			const seq = 9_000_000 + i;
			statements.push(
				env.DB.prepare(
					"INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, status_code, attempt_count, attempts, created_at, updated_at) VALUES (?, 'default', ?, ?, 'slices.test', 'failed', 500, 1, '[]', ?, ?)",
				).bind(deliveryId(hookId, seq), hookId, `evt_slices_${i}`, now - 1000, now - 1000),
			);
		}
		await env.DB.batch(statements);
		const taskId = newTaskId();
		await env.DB.prepare(
			"INSERT INTO tasks (tenant_id, id, kind, endpoint_id, status, params, total, done, cursor, error, created_at, updated_at) VALUES ('default', ?, 'recover', ?, 'queued', ?, ?, 0, NULL, NULL, ?, ?)",
		)
			.bind(taskId, hookId, JSON.stringify({ since: now - HOUR_MS, until: now }), count, now, now)
			.run();

		// No event rows exist, so the consumer drops these re-sends: this test looks at the task only.
		expect(await recoverSlice(env, "default", taskId, Date.now())).toBe(true);
		const running = record((await api("GET", `/v1/tasks/${taskId}`)).body);
		expect(running).toMatchObject({ status: "running", done: DELIVERIES_PER_SLICE, total: count });
		expect(await recoverSlice(env, "default", taskId, Date.now())).toBe(false);
		expect(record((await api("GET", `/v1/tasks/${taskId}`)).body)).toMatchObject({
			status: "completed",
			done: count,
			total: count,
		});
		// A message delivered once more after the end does nothing.
		expect(await recoverSlice(env, "default", taskId, Date.now())).toBe(false);
		expect(record((await api("GET", `/v1/tasks/${taskId}`)).body).done).toBe(count);

		const row = await env.DB.prepare("SELECT cursor FROM tasks WHERE id = ?").bind(taskId).first<{ cursor: string }>();
		// The log is walked newest first: the first slice stopped at the lowest of the hundred it re-sent, and the
		// second read down to the window's start from there.
		expect(row?.cursor).toBe(deliveryId(hookId, 9_000_000 + 2));
		expect(await receivedBy(name)).toEqual([]);
	});

	it("is queued again by the minute cron when its slice message was lost", async () => {
		const name = uniqueName("recover-stalled");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["stalled.*"] });
		const longAgo = Date.now() - STALLED_RECOVER_MS - 60_000;
		const taskId = newTaskId();
		await env.DB.prepare(
			"INSERT INTO tasks (tenant_id, id, kind, endpoint_id, status, params, total, done, cursor, error, created_at, updated_at) VALUES ('default', ?, 'recover', ?, 'queued', ?, 0, 0, NULL, NULL, ?, ?)",
		)
			.bind(taskId, hook.id, JSON.stringify({ since: longAgo - HOUR_MS, until: longAgo }), longAgo, longAgo)
			.run();
		expect(await resumeStalledRecovers(env, Date.now())).toBeGreaterThanOrEqual(1);
		expect(await finished(taskId)).toMatchObject({ status: "completed", total: 0, done: 0 });
		// A task that is moving is left alone.
		expect(await resumeStalledRecovers(env, Date.now())).toBe(0);
	});

	it("fails a task whose slice message was dead-lettered, and hands the rest of the batch on", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("recover-dlq")), events: ["dlq.*"] });
		const taskId = newTaskId();
		const now = Date.now();
		await env.DB.prepare(
			"INSERT INTO tasks (tenant_id, id, kind, endpoint_id, status, params, total, done, cursor, error, created_at, updated_at) VALUES ('default', ?, 'recover', ?, 'running', ?, 3, 1, NULL, 'D1 is down', ?, ?)",
		)
			.bind(taskId, String(hook.id), JSON.stringify({ since: now - HOUR_MS, until: now }), now, now)
			.run();
		const body: RecoverJob = { kind: "recover", tenantId: "default", taskId };
		const batch = createMessageBatch<unknown>("edgehook-deliveries-dlq", [
			{ id: "r1", timestamp: new Date(), attempts: 1, body },
			{ id: "j1", timestamp: new Date(), attempts: 1, body: { not: "a job" } },
		]);
		const ctx = createExecutionContext();
		await worker.queue(batch, env);
		expect((await getQueueResult(batch, ctx)).explicitAcks.sort()).toEqual(["j1", "r1"]);
		expect(record((await api("GET", `/v1/tasks/${taskId}`)).body)).toMatchObject({
			status: "failed",
			error: "stopped after its slices failed repeatedly; the last error: D1 is down",
		});
	});
});
