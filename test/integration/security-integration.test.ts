import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createWebhook, receiverPath, record, uniqueName } from "./helpers";

/** Every /v1 operation, with a body where it needs one; each must refuse a caller without the key. */
const OPERATIONS: [string, string, unknown?][] = [
	["GET", "/v1/webhooks"],
	["POST", "/v1/webhooks", { url: "https://example.com/h", events: ["a"] }],
	["GET", "/v1/webhooks/hook_x"],
	["PATCH", "/v1/webhooks/hook_x", { active: true }],
	["DELETE", "/v1/webhooks/hook_x"],
	["GET", "/v1/webhooks/hook_x/secret"],
	["GET", "/v1/webhooks/hook_x/deliveries"],
	["POST", "/v1/webhooks/hook_x/test"],
	["POST", "/v1/events", { type: "a", data: {} }],
	["POST", "/v1/events/batch", { events: [{ type: "a", data: {} }] }],
	["GET", "/v1/events"],
	["GET", "/v1/events/evt_x"],
	["GET", "/v1/deliveries/del_x"],
	["POST", "/v1/deliveries/del_x/retry"],
	["GET", "/v1/event-types"],
	["POST", "/v1/event-types", { name: "a.b" }],
	["DELETE", "/v1/event-types/a.b"],
];

describe("authentication", () => {
	it.each(OPERATIONS)("%s %s refuses a missing or wrong key with 401 JSON", async (method, path, body) => {
		for (const auth of [null, "wrong-key", ""]) {
			const response = await api(method, path, { body, auth });
			expect(response.status).toBe(401);
			expect(record(record(response.body).error).code).toBe("unauthorized");
		}
	});

	it("stores nothing for an unauthenticated event", async () => {
		const before = await env.DB.prepare("SELECT count(*) AS n FROM events").first<{ n: number }>();
		await api("POST", "/v1/events", { body: { type: "a", data: {} }, auth: "nope" });
		const after = await env.DB.prepare("SELECT count(*) AS n FROM events").first<{ n: number }>();
		expect(after?.n).toBe(before?.n);
	});
});

describe("tenancy", () => {
	it("answers 404 for an unknown X-Tenant-Id", async () => {
		const response = await api("GET", "/v1/webhooks", { headers: { "x-tenant-id": "ten_missing" } });
		expect(response.status).toBe(404);
	});

	it("never shows one tenant's data to another", async () => {
		await env.DB.prepare(
			"INSERT INTO tenants (id, name, settings, created_at) VALUES ('ten_other', 'Other', '{}', 0)",
		).run();
		const mine = await createWebhook({ url: receiverPath("ok", uniqueName("tenant")), events: ["a"] });
		const other = { "x-tenant-id": "ten_other" };
		expect((await api("GET", `/v1/webhooks/${mine.id}`, { headers: other })).status).toBe(404);
		expect((await api("GET", `/v1/webhooks/${mine.id}/secret`, { headers: other })).status).toBe(404);
		expect((await api("DELETE", `/v1/webhooks/${mine.id}`, { headers: other })).status).toBe(404);
		const list = record((await api("GET", "/v1/webhooks", { headers: other })).body);
		expect(list.webhooks).toEqual([]);

		const event = record((await api("POST", "/v1/events", { body: { type: "a", data: {} } })).body);
		expect((await api("GET", `/v1/events/${event.id}`, { headers: other })).status).toBe(404);
		// The same event id is free in another tenant: ids are scoped, not global.
		const reused = await api("POST", "/v1/events", {
			body: { type: "a", data: {}, id: String(event.id) },
			headers: other,
		});
		expect(reused.status).toBe(202);
	});
});
