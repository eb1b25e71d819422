import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import type { DeliveryJob } from "../../src/queue/messages";
import { createWebhook, receivedBy, receiverPath, storeEventDirectly, uniqueName } from "./helpers";

/** DB, whose D1 batches fail from the `failFrom`-th on, as a dying invocation's last write would. */
function failingLateWrites(failFrom: number): D1Database {
	let batches = 0;
	return new Proxy(env.DB, {
		get(target, property) {
			if (property === "batch")
				return (statements: D1PreparedStatement[]) => {
					batches += 1;
					if (batches >= failFrom) return Promise.reject(new Error("D1 went away"));
					return target.batch(statements);
				};
			const value: unknown = Reflect.get(target, property);
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
}

async function runBatch(jobs: DeliveryJob[], attempts: number, workerEnv: Env) {
	const batch = createMessageBatch<DeliveryJob>(
		"edgehook-deliveries",
		jobs.map((body, index) => ({ id: `msg-${index}`, timestamp: new Date(), attempts, body })),
	);
	const ctx = createExecutionContext();
	await worker.queue(batch, workerEnv);
	return getQueueResult(batch, ctx);
}

describe("main-lane outcomes", () => {
	it("are written twenty at a time, so a batch that dies before its end sends again only what was not written", async () => {
		const name = uniqueName("midway");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["*"] });
		const events: { seq: number; id: string }[] = [];
		for (let index = 0; index < 30; index++) events.push(await storeEventDirectly("default", "midway.test", [hook.id]));
		// Three packed messages of ten deliveries each, as ingest sends a batch.
		const jobs: DeliveryJob[] = [0, 10, 20].map((start) => ({
			tenantId: "default",
			eventSeq: events[start]?.seq ?? 0,
			targets: events.slice(start, start + 10).map((event) => ({
				endpointId: String(hook.id),
				attempt: 1,
				eventSeq: event.seq,
			})),
			trigger: "initial",
		}));

		// The context read is the first D1 batch and the first twenty outcomes the second; the last write fails.
		const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
		const dying = await runBatch(jobs, 1, { ...env, DB: failingLateWrites(3) });
		error.mockRestore();
		expect(dying.retryMessages.map((message) => message.msgId).sort()).toEqual(["msg-0", "msg-1", "msg-2"]);
		expect(await receivedBy(name)).toHaveLength(30);
		const { results } = await env.DB.prepare(
			"SELECT count(*) AS n FROM delivery_log WHERE endpoint_id = ? AND status = 'success'",
		)
			.bind(hook.id)
			.all<{ n: number }>();
		expect(results[0]?.n).toBe(20);

		// Redelivered, the batch skips the twenty written and sends the ten that were not.
		await runBatch(jobs, 2, env);
		expect(await receivedBy(name)).toHaveLength(40);
		const after = await env.DB.prepare(
			"SELECT count(*) AS n FROM delivery_log WHERE endpoint_id = ? AND status = 'success' AND attempt_count = 1",
		)
			.bind(hook.id)
			.all<{ n: number }>();
		expect(after.results[0]?.n).toBe(30);
	});
});
