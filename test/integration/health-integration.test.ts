import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sweep } from "../../src/reliability/sweeper";
import { schedulerFor } from "../../src/scheduler/client";
import { api, createWebhook, record, uniqueName } from "./helpers";

async function health(): Promise<Record<string, unknown>> {
	const response = await api("GET", "/v1/health");
	expect(response.status).toBe(200);
	return record(response.body);
}

function shards(body: Record<string, unknown>): Record<string, unknown>[] {
	return (body.shards as unknown[]).map(record);
}

describe("GET /v1/health", () => {
	it("is the admin key's alone", async () => {
		const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("health") } })).body);
		const key = record((await api("POST", `/v1/tenants/${tenant.id}/api-keys`, { body: { name: "k" } })).body);
		expect((await api("GET", "/v1/health", { auth: String(key.key) })).status).toBe(403);
		expect((await api("GET", "/v1/health", { auth: null })).status).toBe(401);
	});

	it("answers each queue's backlog, the backpressure bounds and, per database, the sweeper's last run", async () => {
		const before = await health();
		expect(before.queues).toEqual({
			deliveries: { backlog_messages: expect.any(Number), oldest_message_age_seconds: null },
			slow: { backlog_messages: expect.any(Number), oldest_message_age_seconds: null },
			dead_letter: { backlog_messages: expect.any(Number), oldest_message_age_seconds: null },
		});
		expect(before.backpressure).toEqual({
			max_backlog_age_seconds: 900,
			max_backlog_messages: 1_000_000,
			shedding: false,
		});
		// One report per database, in binding order.
		expect(shards(before).map((shard) => shard.database)).toEqual(["DB", "SHARD_2", "SHARD_3"]);
		// No sweep has run in this test's databases yet: that is a problem to report, for each.
		expect(before.status).toBe("degraded");
		for (const database of ["DB", "SHARD_2", "SHARD_3"]) {
			expect(before.problems).toContain(`the sweeper has never completed a run over ${database}`);
		}

		const sweptAt = Date.now();
		await sweep(env, sweptAt);
		const after = await health();
		expect(after.problems).toEqual([]);
		expect(after.status).toBe("ok");
		for (const shard of shards(after)) {
			expect(Date.parse(String(shard.sweeper_last_completed_at))).toBeGreaterThanOrEqual(sweptAt);
		}
	});

	it("lists the endpoints whose circuit is open, not those merely failing", async () => {
		const open = await createWebhook({ url: "https://example.com/open", events: ["*"] });
		const failing = await createWebhook({ url: "https://example.com/failing", events: ["*"] });
		const since = Date.now() - 60_000;
		await env.DB.prepare("UPDATE endpoints SET failing_since = ? WHERE id IN (?, ?)")
			.bind(since, open.id, failing.id)
			.run();
		const failure = (deliveryId: string) => ({
			deliveryId,
			ok: false,
			statusCode: 500,
			error: "HTTP 500",
			retry: null,
			settled: true,
			startedAt: Date.now(),
			pauseUntil: null,
		});
		const policy = { rateLimitPerSecond: null, ordered: false };
		// Five failures in a row open a circuit (CIRCUIT_FAILURE_THRESHOLD); one does not.
		await schedulerFor(env, "default", String(open.id)).report(
			"default",
			String(open.id),
			policy,
			["a", "b", "c", "d", "e"].map((id) => failure(`del_${id}`)),
		);
		await schedulerFor(env, "default", String(failing.id)).report("default", String(failing.id), policy, [
			failure("del_f"),
		]);

		const [shard] = shards(await health());
		expect(shard?.failing_endpoints).toBe(2);
		expect(shard?.open_circuits).toEqual([
			{
				tenant_id: "default",
				endpoint_id: open.id,
				state: "open",
				failing_since: new Date(since).toISOString(),
				next_probe_at: expect.any(String),
			},
		]);
	});
});
