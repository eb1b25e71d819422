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
	it("are written once an endpoint has twenty, so a batch that dies before its end sends again only what was not written", async () => {
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

	it("at fan-out 10, are written together at the batch's end: one pack per endpoint, not one per two events", async () => {
		const hooks = await Promise.all(
			Array.from({ length: 10 }, () => createWebhook({ url: receiverPath("ok", uniqueName("wide")), events: ["*"] })),
		);
		const endpointIds = hooks.map((hook) => String(hook.id));
		const jobs: DeliveryJob[] = [];
		for (let index = 0; index < 15; index++) {
			const event = await storeEventDirectly("default", "wide.test", endpointIds);
			jobs.push({
				tenantId: "default",
				eventSeq: event.seq,
				targets: endpointIds.map((endpointId) => ({ endpointId, attempt: 1 })),
				trigger: "initial",
			});
		}
		const result = await runBatch(jobs, 1, env);
		expect(result.explicitAcks).toHaveLength(15);
		const packsOf = async (endpointId: string) =>
			(await env.DB.prepare(
				"SELECT count(*) AS n, sum(json_array_length(deliveries)) AS held FROM delivery_packs WHERE endpoint_id = ?",
			)
				.bind(endpointId)
				.first<{ n: number; held: number }>()) ?? { n: 0, held: 0 };
		for (const endpointId of endpointIds) expect(await packsOf(endpointId)).toEqual({ n: 1, held: 15 });
	});
});
