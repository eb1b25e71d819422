import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signBodyHex } from "../../src/delivery/signing";
import { schedulerFor } from "../../src/scheduler/client";
import type { EndpointScheduler } from "../../src/scheduler/endpoint-scheduler";
import { purgeTenantSlice, resumeStalledPurges } from "../../src/tenants/purge";
import {
	api,
	countOnEveryShard,
	onEveryShard,
	receivedBy,
	receiverPath,
	record,
	runFirstAttempt,
	shardOf,
	storeEventDirectly,
	uniqueName,
	waitFor,
} from "./helpers";

async function createTenant(settings?: Record<string, unknown>): Promise<Record<string, unknown>> {
	const created = await api("POST", "/v1/tenants", { body: { name: uniqueName("tenant"), settings } });
	expect(created.status).toBe(201);
	return record(created.body);
}

async function createKey(tenantId: unknown): Promise<Record<string, unknown>> {
	const created = await api("POST", `/v1/tenants/${tenantId}/api-keys`, { body: { name: "backend" } });
	expect(created.status).toBe(201);
	return record(created.body);
}

const rowCount = countOnEveryShard;

describe("tenants", () => {
	it("creates, reads, lists, patches settings field by field, and validates them", async () => {
		const tenant = await createTenant({ signature_header: "X-Khaleeji-Signature", signature_prefix: "" });
		expect(tenant.id).toMatch(/^ten_[0-9a-z]{16}$/);
		expect(tenant.settings).toEqual({ signature_header: "X-Khaleeji-Signature", signature_prefix: "" });
		expect(record((await api("GET", `/v1/tenants/${tenant.id}`)).body).name).toBe(tenant.name);
		const listed = record((await api("GET", "/v1/tenants?limit=250")).body);
		expect((listed.tenants as Record<string, unknown>[]).map((row) => row.id)).toContain(tenant.id);

		const patched = await api("PATCH", `/v1/tenants/${tenant.id}`, {
			body: { settings: { signature_prefix: null, user_agent: "KYC-Webhooks/1.0", retry_schedule: [30, 300] } },
		});
		expect(patched.status).toBe(200);
		expect(record(patched.body).settings).toEqual({
			signature_header: "X-Khaleeji-Signature",
			user_agent: "KYC-Webhooks/1.0",
			retry_schedule: [30, 300],
		});
	});

	it.each([
		[{ signature_header: "webhook-signature" }, "settings.signature_header"],
		[{ signature_header: "User-Agent" }, "settings.signature_header"],
		[{ signature_header: "X Bad Header" }, "settings.signature_header"],
		[{ signature_prefix: "sha1=" }, "settings.signature_prefix"],
		[{ user_agent: "bad\r\nheader" }, "settings.user_agent"],
		[{ timeout_ms: 5 }, "settings.timeout_ms"],
		[{ retry_schedule: [-1] }, "settings.retry_schedule.0"],
		[{ colour: "blue" }, "settings.colour"],
	])("refuses settings %j naming %s, storing nothing", async (settings, field) => {
		const before = await rowCount("SELECT count(*) AS n FROM tenants");
		const response = await api("POST", "/v1/tenants", { body: { name: "x", settings } });
		expect(response.status).toBe(422);
		const error = record(record(response.body).error);
		expect((error.details as { field: string }[]).map((detail) => detail.field)).toContain(field);
		expect(await rowCount("SELECT count(*) AS n FROM tenants")).toBe(before);
	});

	it("signs and labels its deliveries with its own settings", async () => {
		const tenant = await createTenant({
			signature_header: "X-Khaleeji-Signature",
			signature_prefix: "",
			user_agent: "KYC-Webhooks/1.0",
		});
		const key = String((await createKey(tenant.id)).key);
		const name = uniqueName("settings");
		const hook = record(
			(await api("POST", "/v1/webhooks", { auth: key, body: { url: receiverPath("ok", name), events: ["a"] } })).body,
		);
		expect((await api("POST", "/v1/events", { auth: key, body: { type: "a", data: { n: 1 } } })).status).toBe(202);
		const [request] = await waitFor(async () => {
			const requests = await receivedBy(name);
			return requests.length > 0 ? requests : undefined;
		});
		if (!request) throw new Error("nothing delivered");
		expect(request.headers["x-khaleeji-signature"]).toBe(await signBodyHex(String(hook.secret), request.body, ""));
		expect(request.headers["x-webhook-signature"]).toBeUndefined();
		expect(request.headers["user-agent"]).toBe("KYC-Webhooks/1.0");
		expect(request.headers["x-webhook-id"]).toBe(request.headers["webhook-id"]);
	});

	it("refuses to delete the built-in tenant", async () => {
		expect((await api("DELETE", "/v1/tenants/default")).status).toBe(409);
	});
});

describe("API keys", () => {
	it("shows the key once, lists it by prefix, authenticates, and stops working once revoked", async () => {
		const tenant = await createTenant();
		const created = await createKey(tenant.id);
		const key = String(created.key);
		expect(key).toMatch(/^ehk_[A-Za-z0-9_-]{43}$/);
		expect(created.id).toMatch(/^key_/);
		expect(key.startsWith(String(created.prefix))).toBe(true);
		expect(created.last_used_at).toBeNull();
		const stored = await env.DB.prepare("SELECT * FROM api_keys WHERE id = ?").bind(created.id).first();
		expect(JSON.stringify(stored)).not.toContain(key.slice(4));

		const listed = record((await api("GET", `/v1/tenants/${tenant.id}/api-keys`)).body);
		const [entry] = listed.api_keys as Record<string, unknown>[];
		expect(entry).toMatchObject({ id: created.id, name: "backend", prefix: created.prefix });
		expect(JSON.stringify(listed)).not.toContain(key);

		const own = await api("GET", "/v1/webhooks", { auth: key });
		expect(own.status).toBe(200);
		const lastUsed = await waitFor(async () => {
			const row = await env.DB.prepare("SELECT last_used_at FROM api_keys WHERE id = ?")
				.bind(created.id)
				.first<{ last_used_at: number | null }>();
			return row?.last_used_at ?? undefined;
		});
		// A second request within the hour writes nothing.
		await api("GET", "/v1/webhooks", { auth: key });
		const again = await env.DB.prepare("SELECT last_used_at FROM api_keys WHERE id = ?")
			.bind(created.id)
			.first<{ last_used_at: number }>();
		expect(again?.last_used_at).toBe(lastUsed);

		expect((await api("DELETE", `/v1/tenants/${tenant.id}/api-keys/${created.id}`)).status).toBe(204);
		expect((await api("GET", "/v1/webhooks", { auth: key })).status).toBe(401);
		expect((await api("DELETE", `/v1/tenants/${tenant.id}/api-keys/${created.id}`)).status).toBe(404);
	});

	it("acts inside its own tenant only; tenant administration is the admin key's", async () => {
		const mine = await createTenant();
		const other = await createTenant();
		const key = String((await createKey(mine.id)).key);
		const hook = await api("POST", "/v1/webhooks", {
			auth: key,
			body: { url: receiverPath("ok", uniqueName("scoped")), events: ["a"] },
		});
		expect(hook.status).toBe(201);
		const stored = await (await shardOf(String(mine.id)))
			.prepare("SELECT tenant_id FROM endpoints WHERE id = ?")
			.bind(record(hook.body).id)
			.first<{ tenant_id: string }>();
		expect(stored?.tenant_id).toBe(mine.id);

		expect((await api("GET", "/v1/webhooks", { auth: key, headers: { "x-tenant-id": String(mine.id) } })).status).toBe(
			200,
		);
		const elsewhere = await api("GET", "/v1/webhooks", { auth: key, headers: { "x-tenant-id": String(other.id) } });
		expect(elsewhere.status).toBe(403);
		expect(record(record(elsewhere.body).error).code).toBe("forbidden");
		for (const [method, path] of [
			["GET", "/v1/tenants"],
			["POST", "/v1/tenants"],
			["GET", `/v1/tenants/${mine.id}`],
			["PATCH", `/v1/tenants/${mine.id}`],
			["DELETE", `/v1/tenants/${mine.id}`],
			["POST", `/v1/tenants/${mine.id}/api-keys`],
			["GET", `/v1/tenants/${mine.id}/api-keys`],
		] as const) {
			const response = await api(method, path, { auth: key, body: method === "GET" ? undefined : { name: "x" } });
			expect(response.status, `${method} ${path}`).toBe(403);
		}
		// The admin key reaches the same endpoint through X-Tenant-Id, and only there.
		const viaAdmin = await api("GET", `/v1/webhooks/${record(hook.body).id}`, {
			headers: { "x-tenant-id": String(mine.id) },
		});
		expect(viaAdmin.status).toBe(200);
		expect((await api("GET", `/v1/webhooks/${record(hook.body).id}`)).status).toBe(404);
	});

	it("refuses garbage and look-alike keys without touching another tenant", async () => {
		for (const token of ["ehk_", `ehk_${"A".repeat(43)}`, "x".repeat(5000), "TEST-ADMIN-KEY"]) {
			expect((await api("GET", "/v1/webhooks", { auth: token })).status).toBe(401);
		}
	});
});

describe("rate limits per key", () => {
	it("answers 429 with Retry-After once a tenant key passes its ingest limit; management keeps its own budget", async () => {
		const tenant = await createTenant();
		const key = String((await createKey(tenant.id)).key);
		const limit = Number(env.TEST_INGEST_LIMIT);
		const statuses: number[] = [];
		let refused: Awaited<ReturnType<typeof api>> | undefined;
		// Fixed 10 s windows: long enough to fill the next one if a window ends mid-loop.
		for (let i = 0; i < 2 * limit + 10 && !refused; i++) {
			const response = await api("POST", "/v1/events", { auth: key, body: { type: "a", data: { i } } });
			statuses.push(response.status);
			if (response.status === 429) refused = response;
		}
		if (!refused) throw new Error(`no 429 after ${statuses.length} events: ${statuses.join(",")}`);
		expect(statuses.filter((status) => status === 202).length).toBeGreaterThanOrEqual(limit - 1);
		expect(refused.headers.get("retry-after")).toBe("10");
		expect(record(record(refused.body).error).code).toBe("rate_limited");
		// Refused events are not stored.
		expect(await rowCount("SELECT count(*) AS n FROM events WHERE tenant_id = ?", tenant.id)).toBe(
			statuses.filter((status) => status === 202).length,
		);
		expect((await api("GET", "/v1/webhooks", { auth: key })).status).toBe(200);
	});

	it("limits management calls per key and leaves other keys alone", async () => {
		const tenant = await createTenant();
		const key = String((await createKey(tenant.id)).key);
		const otherKey = String((await createKey(tenant.id)).key);
		const limit = Number(env.TEST_MANAGEMENT_LIMIT);
		let refusedAt = -1;
		// The limiter counts in fixed 10 s windows: when one ends mid-loop the count starts again, so the loop
		// goes on long enough to fill the next window too.
		for (let i = 0; i < 2 * limit + 10 && refusedAt < 0; i++) {
			if ((await api("GET", "/v1/event-types", { auth: key })).status === 429) refusedAt = i;
		}
		expect(refusedAt).toBeGreaterThanOrEqual(limit - 1);
		expect((await api("GET", "/v1/event-types", { auth: otherKey })).status).toBe(200);
	});

	it("does not limit the admin key", async () => {
		const limit = Number(env.TEST_INGEST_LIMIT);
		for (let i = 0; i < limit + 5; i++) {
			expect((await api("POST", "/v1/events", { body: { type: "admin.unlimited", data: { i } } })).status).toBe(202);
		}
	});
});

describe("tenant deletion", () => {
	it("stops the tenant at once, then removes all its rows and pending retries in bounded slices", async () => {
		const tenant = await createTenant();
		const tenantId = String(tenant.id);
		const key = String((await createKey(tenantId)).key);
		const name = uniqueName("doomed");
		const hook = record(
			(
				await api("POST", "/v1/webhooks", {
					auth: key,
					body: { url: receiverPath("status/500", name), events: ["*"] },
				})
			).body,
		);
		expect((await api("POST", "/v1/event-types", { auth: key, body: { name: "order.paid" } })).status).toBe(201);
		for (let i = 0; i < 3; i++) {
			expect((await api("POST", "/v1/events", { auth: key, body: { type: "order.paid", data: { i } } })).status).toBe(
				202,
			);
		}
		// The failures leave retries waiting in the endpoint's scheduler.
		await waitFor(async () => ((await receivedBy(name)).length >= 3 ? true : undefined));
		const scheduler = schedulerFor(env, tenantId, String(hook.id));
		await waitFor(async () => ((await scheduler.pending()).count === 3 ? true : undefined));

		const deleted = await api("DELETE", `/v1/tenants/${tenantId}`);
		expect(deleted.status).toBe(202);
		expect(record(deleted.body)).toEqual({ id: tenantId, status: "deleting" });
		expect((await api("GET", `/v1/tenants/${tenantId}`)).status).toBe(404);
		expect((await api("GET", "/v1/webhooks", { auth: key })).status).toBe(401);
		expect((await api("GET", "/v1/webhooks", { headers: { "x-tenant-id": tenantId } })).status).toBe(404);
		expect((await api("DELETE", `/v1/tenants/${tenantId}`)).status).toBe(404);

		// Slices run from the queue; driving them here as well is harmless, and skips the final wait.
		let slices = 0;
		while ((await purgeTenantSlice(env, tenantId, Date.now() + 3_600_000)) !== null) slices++;
		expect(slices).toBeGreaterThanOrEqual(2);
		for (const table of [
			"endpoints",
			"events",
			"event_blocks",
			"deliveries",
			"event_types",
			"tasks",
			"api_keys",
			"tenants",
		]) {
			const column = table === "tenants" ? "id" : "tenant_id";
			expect(await rowCount(`SELECT count(*) AS n FROM ${table} WHERE ${column} = ?`, tenantId), table).toBe(0);
		}
		const pending = await runInDurableObject(scheduler, (instance: EndpointScheduler) => instance.pending());
		expect(pending.count).toBe(0);
	});

	it("drops queued deliveries of a deleted tenant unsent", async () => {
		const tenant = await createTenant();
		const name = uniqueName("after-delete");
		const hook = record(
			(
				await api("POST", "/v1/webhooks", {
					headers: { "x-tenant-id": String(tenant.id) },
					body: { url: receiverPath("ok", name), events: ["*"] },
				})
			).body,
		);
		const event = await storeEventDirectly(String(tenant.id), "a", [hook.id]);
		await onEveryShard("UPDATE tenants SET deleted_at = ? WHERE id = ?", Date.now(), tenant.id);
		expect(await runFirstAttempt(String(tenant.id), event, hook.id)).toEqual(["m1"]);
		expect(await receivedBy(name)).toEqual([]);
		expect(await rowCount("SELECT count(*) AS n FROM delivery_log WHERE tenant_id = ?", tenant.id)).toBe(0);
	});

	it("lets the cron queue again a purge whose slices stopped", async () => {
		const tenant = await createTenant();
		const longAgo = Date.now() - 3_600_000;
		await onEveryShard("UPDATE tenants SET deleted_at = ?, updated_at = ? WHERE id = ?", longAgo, longAgo, tenant.id);
		expect(await resumeStalledPurges(env, Date.now())).toBeGreaterThanOrEqual(1);
		await waitFor(async () =>
			(await rowCount("SELECT count(*) AS n FROM tenants WHERE id = ?", tenant.id)) === 0 ? true : undefined,
		);
	});
});
