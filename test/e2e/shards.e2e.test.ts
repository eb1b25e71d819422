/**
 * Shards under `wrangler dev`: the suite's worker runs with three D1
 * databases (global-setup.ts). A tenant on each one gets its events
 * delivered, signed and retried, and the health view reports each database.
 */
import { Webhook as StandardWebhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bodyOf, call, expectStatus, uniqueSuffix } from "./support/api";
import { type Receiver, startReceivers } from "./support/receiver";
import { createTenantApiKey, deleteTenant, TenantClient } from "./support/tenants";

const SHARDS = ["DB", "SHARD_2", "SHARD_3"] as const;

describe("shards", () => {
	let receivers: Receiver[] = [];
	const tenants: string[] = [];

	beforeAll(async () => {
		receivers = await startReceivers(SHARDS.length);
	});

	afterAll(async () => {
		await Promise.all(receivers.map((receiver) => receiver.close()));
		for (const id of tenants) await deleteTenant(id);
	});

	it("reports every database in GET /v1/health", async () => {
		const health = bodyOf<{ shards: { database: string }[] }>(expectStatus(await call("GET", "/v1/health"), 200));
		expect(health.shards.map((shard) => shard.database)).toEqual([...SHARDS]);
	});

	it.each(SHARDS.map((shard, index) => [shard, index] as const))(
		"delivers, signs and retries the events of a tenant placed on %s",
		async (shard, index) => {
			const receiver = receivers[index];
			if (receiver === undefined) throw new Error("receivers did not start");
			const tenant = bodyOf<{ id: string; shard: string }>(
				expectStatus(
					await call("POST", "/v1/tenants", { json: { name: `on-${shard}-${uniqueSuffix()}`, shard } }),
					201,
				),
			);
			tenants.push(tenant.id);
			expect(tenant.shard).toBe(shard);
			const client = new TenantClient((await createTenantApiKey(tenant.id)).key);
			// The first attempt fails, so the retry goes through this shard's scheduler and log as well.
			let answered = 0;
			receiver.respondWith(() => (answered++ === 0 ? { status: 503, body: "busy" } : { status: 200, body: "OK" }));
			const hook = await client.createWebhook({ url: receiver.url, events: ["shard.probe"] });
			const sent = bodyOf<{ id: string }>(
				expectStatus(await client.call("POST", "/v1/events", { json: { type: "shard.probe", data: { shard } } }), 202),
			);
			const [, retried] = await receiver.waitForRequests(2, 20_000);
			if (retried === undefined) throw new Error("no retry arrived");
			const verified = new StandardWebhook(hook.secret).verify(retried.body, retried.headers) as { data: unknown };
			expect(verified.data).toEqual({ shard });
			const delivery = await client.waitForSettled(hook.id, sent.id);
			expect(delivery.status).toBe("success");
			expect(delivery.attempts).toBe(2);
		},
	);
});
