import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { deliveryId } from "../../src/lib/ids";
import type { DeliveryJob } from "../../src/queue/messages";
import { schedulerFor } from "../../src/scheduler/client";
import {
	createWebhook,
	type ReceivedRequest,
	receivedBy,
	receiverPath,
	storeEventDirectly,
	uniqueName,
	waitFor,
} from "./helpers";

const SLOW_QUEUE = "edgehook-deliveries-slow";

function firstAttempt(event: { seq: number }, ...hooks: Record<string, unknown>[]): DeliveryJob {
	return {
		tenantId: "default",
		eventSeq: event.seq,
		targets: hooks.map((hook) => ({ endpointId: String(hook.id), attempt: 1 })),
		trigger: "initial",
	};
}

function slowBatch(jobs: DeliveryJob[], attempts = 1) {
	return createMessageBatch<DeliveryJob>(
		SLOW_QUEUE,
		jobs.map((body, index) => ({ id: `msg-${index}`, timestamp: new Date(), attempts, body })),
	);
}

async function runSlowBatch(jobs: DeliveryJob[], workerEnv: Env = env, attempts = 1) {
	const batch = slowBatch(jobs, attempts);
	await worker.queue(batch, workerEnv);
	return getQueueResult(batch, createExecutionContext());
}

async function newEvents(count: number, hook: Record<string, unknown>): Promise<{ seq: number; id: string }[]> {
	const events: { seq: number; id: string }[] = [];
	for (let index = 0; index < count; index++) events.push(await storeEventDirectly("default", "slow.test", [hook.id]));
	return events;
}

function peakInFlight(requests: readonly ReceivedRequest[]): number {
	return Math.max(0, ...requests.map((request) => request.inFlight));
}

async function deliveryRow(hook: Record<string, unknown>, event: { seq: number }) {
	return env.DB.prepare("SELECT status, attempt_count FROM delivery_log WHERE id = ?")
		.bind(deliveryId(String(hook.id), event.seq))
		.first<{ status: string; attempt_count: number }>();
}

/** The real database, except that every statement fails while `broken.now` is set, as when D1 is gone. */
function breakableD1(real: D1Database, broken: { now: boolean }): D1Database {
	const refuse = () => Promise.reject(new Error("D1_ERROR: the database went away"));
	return new Proxy(real, {
		get(target, property) {
			if (property === "batch") {
				return (statements: D1PreparedStatement[]) => (broken.now ? refuse() : target.batch(statements));
			}
			const value: unknown = Reflect.get(target, property, target);
			return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
		},
	});
}

describe("slow receivers", () => {
	it("keeps up to the endpoint's max_concurrency attempts in flight to a slow receiver, never more", async () => {
		for (const [setting, expected] of [
			[4, 4],
			[1, 1],
			// The default (10) is more than one invocation's six connections.
			[null, 6],
		] as const) {
			const name = uniqueName(`concurrent-${setting}`);
			const hook = await createWebhook({
				url: receiverPath("slow/500", name),
				events: ["*"],
				...(setting === null ? {} : { max_concurrency: setting }),
			});
			const events = await newEvents(setting === 1 ? 3 : 12, hook);
			await runSlowBatch(events.map((event) => firstAttempt(event, hook)));
			const requests = await receivedBy(name);
			expect(requests).toHaveLength(events.length);
			expect(peakInFlight(requests)).toBe(expected);
			for (const event of events) expect(await deliveryRow(hook, event)).toMatchObject({ status: "success" });
		}
	}, 30_000);

	it("holds the limit across consumer invocations running at once: the rest wait in the endpoint's scheduler", async () => {
		const name = uniqueName("leased");
		const hook = await createWebhook({ url: receiverPath("slow/800", name), events: ["*"], max_concurrency: 3 });
		const events = await newEvents(12, hook);
		const jobs = events.map((event) => firstAttempt(event, hook));
		await Promise.all([runSlowBatch(jobs.slice(0, 6)), runSlowBatch(jobs.slice(6))]);
		// The scheduler let them out as leases came back (through the real slow queue): all arrive, never more than 3 at once.
		const requests = await waitFor(async () => {
			const received = await receivedBy(name);
			return received.length >= events.length ? received : undefined;
		}, 20_000);
		expect(requests).toHaveLength(events.length);
		expect(peakInFlight(requests)).toBe(3);
		await waitFor(async () =>
			(await schedulerFor(env, "default", String(hook.id)).pending()).count === 0 ? true : undefined,
		);
	}, 30_000);

	it("stores each outcome as its attempt ends, not when the batch ends", async () => {
		const name = uniqueName("as-it-ends");
		const hook = await createWebhook({ url: `${receiverPath("slow/4000", name)}?fast=1`, events: ["*"] });
		const events = await newEvents(2, hook);
		const started = Date.now();
		const running = runSlowBatch(events.map((event) => firstAttempt(event, hook)));
		// One answer comes at once, the other after 4 s: the first is in the log while the second is still out.
		const statuses = await waitFor(async () => {
			const rows = await Promise.all(events.map((event) => deliveryRow(hook, event)));
			return rows.some((row) => row?.status === "success") ? rows : undefined;
		}, 3000);
		expect(Date.now() - started).toBeLessThan(4000);
		expect(statuses.filter((row) => row === null)).toHaveLength(1);
		const result = await running;
		expect(result.explicitAcks.sort()).toEqual(["msg-0", "msg-1"]);
	}, 15_000);

	it("repeats no finished attempt after a batch that fails midway", async () => {
		const promptName = uniqueName("finished");
		const slowName = uniqueName("unfinished");
		const prompt = await createWebhook({ url: receiverPath("ok", promptName), events: ["*"] });
		const slow = await createWebhook({ url: receiverPath("slow/1500", slowName), events: ["*"] });
		const alone = await storeEventDirectly("default", "slow.test", [prompt.id]);
		const both = await storeEventDirectly("default", "slow.test", [prompt.id, slow.id]);
		const broken = { now: false };
		const failing = { ...env, DB: breakableD1(env.DB, broken) };
		const batch = slowBatch([firstAttempt(alone, prompt), firstAttempt(both, prompt, slow)]);
		const running = worker.queue(batch, failing);
		// Both prompt attempts are recorded; then the database goes away before the slow one ends.
		await waitFor(async () => {
			const rows = await Promise.all([deliveryRow(prompt, alone), deliveryRow(prompt, both)]);
			return rows.every((row) => row?.status === "success") ? true : undefined;
		}, 1200);
		broken.now = true;
		await running;
		// The message whose attempts were all recorded was acked before the failure; the other goes back to the queue.
		const result = await getQueueResult(batch, createExecutionContext());
		expect(result.explicitAcks).toEqual(["msg-0"]);
		expect(result.retryMessages.map((message) => message.msgId)).toEqual(["msg-1"]);

		const redelivered = await runSlowBatch([firstAttempt(both, prompt, slow)], env, 2);
		expect(redelivered.explicitAcks).toEqual(["msg-0"]);
		// The prompt endpoint got each event once; the slow one, whose outcome was never stored, got it again.
		expect(await receivedBy(promptName)).toHaveLength(2);
		expect(await receivedBy(slowName)).toHaveLength(2);
		expect(await deliveryRow(prompt, both)).toEqual({ status: "success", attempt_count: 1 });
		expect(await deliveryRow(slow, both)).toEqual({ status: "success", attempt_count: 1 });
	}, 15_000);
});
