import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { schedulerFor } from "../../src/scheduler/client";
import type { EndpointScheduler } from "../../src/scheduler/endpoint-scheduler";
import type { PaceState } from "../../src/scheduler/pace";
import { api, createWebhook, receivedBy, receiverPath, record, uniqueName, waitFor } from "./helpers";

/** The most requests that arrived within any one-second window. */
function busiestSecond(times: readonly number[]): number {
	const sorted = [...times].sort((a, b) => a - b);
	let most = 0;
	for (let start = 0; start < sorted.length; start++) {
		const from = sorted[start] ?? 0;
		let end = start;
		while (end < sorted.length && (sorted[end] ?? 0) - from < 1000) end++;
		most = Math.max(most, end - start);
	}
	return most;
}

async function sendBatch(type: string, count: number): Promise<string[]> {
	const sent = await api("POST", "/v1/events/batch", {
		body: { events: Array.from({ length: count }, (_, index) => ({ type, data: { index } })) },
	});
	expect(sent.status).toBe(202);
	return (record(sent.body).events as { id: string }[]).map((event) => event.id);
}

describe("pace", () => {
	it("delays deliveries above rate_limit_per_second, drops none, and never exceeds the limit in any second", async () => {
		const name = uniqueName("paced");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["paced.*"], rate_limit_per_second: 5 });
		expect(hook).toMatchObject({ rate_limit_per_second: 5, ordering: "unordered" });
		const ids = await sendBatch("paced.tick", 12);
		const requests = await waitFor(async () => {
			const seen = await receivedBy(name);
			return seen.length >= 12 ? seen : undefined;
		}, 15_000);
		expect(new Set(requests.map((request) => request.headers["webhook-id"]))).toEqual(new Set(ids));
		expect(busiestSecond(requests.map((request) => request.receivedAt))).toBeLessThanOrEqual(5);
		// Twelve at five a second take more than two seconds end to end.
		const times = requests.map((request) => request.receivedAt);
		expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(2000);
		const log = record((await api("GET", `/v1/webhooks/${hook.id}/deliveries?limit=50`)).body);
		await waitFor(async () => {
			const current = record((await api("GET", `/v1/webhooks/${hook.id}/deliveries?limit=50`)).body);
			const rows = current.deliveries as { status: string }[];
			return rows.length === 12 && rows.every((row) => row.status === "success") ? true : undefined;
		});
		expect(log.deliveries).toBeDefined();
	});

	it("pauses an endpoint until a 429's Retry-After, holding what comes meanwhile", async () => {
		const name = uniqueName("throttled");
		const hook = await createWebhook({
			url: `${receiverPath("status/429", name)}?retry_after=3`,
			events: ["throttle.*"],
		});
		await sendBatch("throttle.first", 1);
		await waitFor(async () => ((await receivedBy(name)).length === 1 ? true : undefined));
		const firstAt = (await receivedBy(name))[0]?.receivedAt ?? 0;
		const stub = schedulerFor(env, "default", String(hook.id));
		const pace = await waitFor(async () => {
			const state = await runInDurableObject(stub, (_instance: EndpointScheduler, storage) =>
				storage.storage.sql.exec<{ value: string }>("SELECT value FROM endpoint_state WHERE name = 'pace'").toArray(),
			);
			const [row] = state;
			return row ? (JSON.parse(row.value) as PaceState) : undefined;
		});
		expect(pace.pausedUntil).toBeGreaterThanOrEqual(firstAt + 2000);
		const [secondId] = await sendBatch("throttle.second", 1);
		const held = await waitFor(async () => {
			const detail = record((await api("GET", `/v1/events/${secondId}`)).body);
			const [delivery] = detail.deliveries as Record<string, unknown>[];
			const full = record((await api("GET", `/v1/deliveries/${delivery?.id}`)).body);
			return full.attempt_count === 0 && Date.parse(String(full.next_attempt_at)) > Date.now() ? full : undefined;
		});
		expect(Date.parse(String(held.next_attempt_at))).toBe(pace.pausedUntil);
		expect(await receivedBy(name)).toHaveLength(1);
	});
});

describe("ordered delivery", () => {
	it("sends an ordered endpoint's deliveries one at a time in ingest order, each after the previous settled", async () => {
		const name = uniqueName("ordered");
		const hook = await createWebhook({
			url: receiverPath("flaky/1", name),
			events: ["ordered.*"],
			ordering: "ordered",
			retry_schedule: [1],
		});
		expect(hook.ordering).toBe("ordered");
		const ids = await sendBatch("ordered.step", 4);
		const requests = await waitFor(async () => {
			const seen = await receivedBy(name);
			return seen.length >= 5 ? seen : undefined;
		}, 15_000);
		// The first fails once (flaky/1) and is retried a second later; nothing overtakes it.
		expect(requests.map((request) => request.headers["webhook-id"])).toEqual([ids[0], ...ids]);
		const gaps = requests.slice(1).map((request, index) => request.receivedAt - (requests[index]?.receivedAt ?? 0));
		expect(gaps[0]).toBeGreaterThanOrEqual(900);
		await waitFor(async () => {
			const log = record((await api("GET", `/v1/webhooks/${hook.id}/deliveries`)).body);
			const rows = log.deliveries as { status: string }[];
			return rows.length === 4 && rows.every((row) => row.status === "success") ? true : undefined;
		});
	});

	it("releases what waits in line when the endpoint stops being ordered", async () => {
		const name = uniqueName("unordered-later");
		const hook = await createWebhook({
			url: receiverPath("status/500", name),
			events: ["line.*"],
			ordering: "ordered",
			retry_schedule: [3600],
		});
		await sendBatch("line.step", 3);
		// The first failed and waits an hour for its retry, unsettled; the other two wait in line behind it.
		await waitFor(async () => ((await receivedBy(name)).length === 1 ? true : undefined));
		const stub = schedulerFor(env, "default", String(hook.id));
		await waitFor(async () => ((await stub.pending()).count === 3 ? true : undefined));
		await api("PATCH", `/v1/webhooks/${hook.id}`, { body: { ordering: "unordered" } });
		await waitFor(async () => ((await receivedBy(name)).length === 3 ? true : undefined));
	});
});
