import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_KEY, api, callWithSettings, createWebhook, receiverPath, record, uniqueName } from "./helpers";

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

describe("failed authentication", () => {
	const limit = Number(env.TEST_AUTH_FAILURE_LIMIT);

	it("is throttled per address: past the limit even the right key waits, other addresses do not", async () => {
		const address = "198.51.100.7";
		for (let attempt = 0; attempt < limit; attempt++) {
			const wrong = await api("GET", "/v1/webhooks", {
				auth: `wrong-admin-key-${attempt}`,
				headers: { "cf-connecting-ip": address },
			});
			expect(wrong.status).toBe(401);
		}
		const over = await api("GET", "/v1/webhooks", { auth: "ehk_guess", headers: { "cf-connecting-ip": address } });
		expect(over.status).toBe(429);
		expect(over.headers.get("retry-after")).toBe("60");
		expect(record(record(over.body).error).message).toContain("too many failed sign-ins from this address");
		const rightKeyTooSoon = await api("GET", "/v1/webhooks", { headers: { "cf-connecting-ip": address } });
		expect(rightKeyTooSoon.status).toBe(429);
		expect((await api("GET", "/v1/webhooks", { headers: { "cf-connecting-ip": "198.51.100.8" } })).status).toBe(200);
	});

	it("counts wrong keys, not requests that carry none", async () => {
		const address = "198.51.100.9";
		for (let attempt = 0; attempt < limit + 5; attempt++) {
			const none = await api("GET", "/v1/webhooks", { auth: null, headers: { "cf-connecting-ip": address } });
			expect(none.status).toBe(401);
		}
		expect((await api("GET", "/v1/webhooks", { headers: { "cf-connecting-ip": address } })).status).toBe(200);
	});
});

describe("the admin key in production", () => {
	it.each([
		["missing", "", "ADMIN_API_KEY is not set"],
		["short", "short-admin-key", "ADMIN_API_KEY is 15 characters; production needs at least 32"],
		["the example's", "change-me-local-admin-key", "the example's value"],
	])("refuses to serve with a %s key, saying how to set one", async (_label, key, message) => {
		const response = await callWithSettings(
			{ ENVIRONMENT: "production", ADMIN_API_KEY: key },
			"GET",
			"/v1/webhooks",
			undefined,
		);
		expect(response.status).toBe(503);
		const error = record(record(response.body).error);
		expect(error.code).toBe("unavailable");
		expect(String(error.message)).toContain(message);
		expect(String(error.message)).toContain("wrangler secret put ADMIN_API_KEY");
	});

	it("serves with a key of 32 characters or more, and in development with any", async () => {
		const strong = "k".repeat(32);
		expect(
			(await callWithSettings({ ENVIRONMENT: "production", ADMIN_API_KEY: strong }, "GET", "/v1/webhooks", undefined))
				.status,
		).toBe(200);
		expect(
			(await callWithSettings({ ENVIRONMENT: "development", ADMIN_API_KEY: "short" }, "GET", "/v1/webhooks", undefined))
				.status,
		).toBe(200);
	});
});

describe("x-request-id", () => {
	it("echoes a short, plain id and replaces anything else with one of its own", async () => {
		const plain = await api("GET", "/healthz", { headers: { "x-request-id": "req_01:abc.DEF-9" } });
		expect(plain.headers.get("x-request-id")).toBe("req_01:abc.DEF-9");
		for (const given of ["x".repeat(60_000), "x".repeat(129), "has space", "<script>", "a\tb"]) {
			const replaced = (await api("GET", "/healthz", { headers: { "x-request-id": given } })).headers.get(
				"x-request-id",
			);
			expect(replaced).toMatch(/^[0-9a-f-]{36}$/);
		}
	});
});

describe("request bodies", () => {
	const CHUNK = new Uint8Array(64 * 1024).fill(0x20);

	/** A body with no Content-Length (sent chunked) of `total` bytes; `pulled` says how much of it was read. */
	function chunkedBody(total: number): { body: ReadableStream<Uint8Array>; pulled: () => number } {
		let sent = 0;
		const body = new ReadableStream<Uint8Array>(
			{
				pull(controller) {
					if (sent >= total) return controller.close();
					sent += CHUNK.byteLength;
					controller.enqueue(CHUNK);
				},
			},
			{ highWaterMark: 0 },
		);
		return { body, pulled: () => sent };
	}

	it.each([
		["/v1/webhooks", 256 * 1024],
		["/v1/events", 260 * 1024],
		["/v1/events/batch", 2 * 1024 * 1024],
	])("stop reading a chunked body to %s at its limit", async (path, limit) => {
		const before = await env.DB.prepare("SELECT count(*) AS n FROM events").first<{ n: number }>();
		const { body, pulled } = chunkedBody(90 * 1024 * 1024);
		const response = await exports.default.fetch(`http://edgehook.test${path}`, {
			method: "POST",
			headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
			body,
		});
		expect(response.status).toBe(413);
		expect(record(record(await response.json()).error).code).toBe("payload_too_large");
		// Reading stops within a little of the limit, however much more the client would send.
		expect(pulled()).toBeLessThan(limit + 2 * 1024 * 1024);
		const after = await env.DB.prepare("SELECT count(*) AS n FROM events").first<{ n: number }>();
		expect(after?.n).toBe(before?.n);
	});

	it("read a chunked body within the limit as usual", async () => {
		const json = new TextEncoder().encode(JSON.stringify({ type: "chunked.ok", data: { a: 1 } }));
		const body = new ReadableStream<Uint8Array>({
			start(controller) {
				controller.enqueue(json.slice(0, 10));
				controller.enqueue(json.slice(10));
				controller.close();
			},
		});
		const response = await exports.default.fetch("http://edgehook.test/v1/events", {
			method: "POST",
			headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
			body,
		});
		expect(response.status).toBe(202);
	});
});
