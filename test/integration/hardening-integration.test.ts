import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { publicDeliveryId } from "../../src/lib/ids";
import {
	ADMIN_KEY,
	api,
	callWithSettings,
	createWebhook,
	receivedBy,
	receiverPath,
	record,
	runFirstAttempt,
	storeEventDirectly,
	uniqueName,
} from "./helpers";

async function count(table: string): Promise<number> {
	return (await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>())?.n ?? 0;
}

describe("validation errors", () => {
	it("name an unknown field and every other problem at once, in plain words", async () => {
		const response = await api("POST", "/v1/webhooks", {
			body: { url: "ftp://example.com/h", events: [], format: "xml" },
		});
		expect(response.status).toBe(422);
		const error = record(record(response.body).error);
		expect(error.details).toEqual(
			expect.arrayContaining([
				{ field: "format", message: 'unknown field "format"' },
				{ field: "events", message: "must name at least one event type (or * for every type)" },
				{ field: "url", message: "must be an http or https URL" },
			]),
		);
		expect(String(error.message)).toContain('unknown field "format"');
		expect(String(error.message)).toContain("events: must name at least one event type (or * for every type)");
		expect(String(error.message)).not.toMatch(/Invalid json|Unrecognized key/);
	});

	it("refuse bodies that are not UTF-8 or nest too deeply, storing nothing", async () => {
		const before = await count("events");
		const invalidUtf8 = new Uint8Array([
			...new TextEncoder().encode('{"type":"a","data":{"x":"'),
			0xff,
			0xfe,
			0x22,
			0x7d,
			0x7d,
		]);
		const response = await exports.default.fetch("http://edgehook.test/v1/events", {
			method: "POST",
			headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
			body: invalidUtf8,
		});
		expect(response.status).toBe(400);
		expect(await response.json()).toMatchObject({
			error: { code: "invalid_json", message: "the body is not valid UTF-8" },
		});

		const deep = `{"type":"a","data":${'{"a":'.repeat(100)}1${"}".repeat(100)}}`;
		const nested = await api("POST", "/v1/events", { rawBody: deep, headers: { "content-type": "application/json" } });
		expect(nested.status).toBe(400);
		expect(await count("events")).toBe(before);
	});
});

/** The worker's own fetch handler with the deployment set to production. */
function productionCall(method: string, path: string, body: unknown): Promise<{ status: number; body: unknown }> {
	return callWithSettings({ ENVIRONMENT: "production" }, method, path, body);
}

describe("target URLs in production", () => {
	it.each([
		["http://example.com/h", "must be an https URL"],
		["https://127.0.0.1/h", "must not target a loopback address (127.0.0.1)"],
		["https://2130706433/h", "must not target a loopback address (127.0.0.1)"],
		["https://[::ffff:127.0.0.1]/h", "must not target a loopback address (::ffff:7f00:1, which embeds 127.0.0.1)"],
		["https://10.0.0.1/h", "must not target a private address (10.0.0.1)"],
		["https://169.254.169.254/latest", "must not target a metadata-service address (169.254.169.254)"],
		["https://good.com@127.0.0.1/h", "must not contain a user name or password"],
		["https://localhost./h", "must not target a loopback host (localhost.)"],
	])("refuses %s on create and on update, storing nothing", async (url, message) => {
		const before = await count("endpoints");
		const created = await productionCall("POST", "/v1/webhooks", { url, events: ["a"] });
		expect(created.status).toBe(422);
		expect(record(record(created.body).error).details).toEqual([{ field: "url", message }]);
		expect(await count("endpoints")).toBe(before);

		const hook = await createWebhook({ url: "https://example.com/h", events: ["a"] });
		const patched = await productionCall("PATCH", `/v1/webhooks/${hook.id}`, { url });
		expect(patched.status).toBe(422);
		expect(record(record(patched.body).error).details).toEqual([{ field: "url", message }]);
		expect(record((await api("GET", `/v1/webhooks/${hook.id}`)).body).url).toBe("https://example.com/h");
	});

	it("accepts a public https URL", async () => {
		expect(
			(await productionCall("POST", "/v1/webhooks", { url: "https://hooks.example.com/in", events: ["a"] })).status,
		).toBe(201);
	});
});

describe("target URLs at send time", () => {
	it("re-checks a stored URL before each send and fails the attempt with the reason when it is no longer allowed", async () => {
		const name = uniqueName("blocked");
		// Allowed in development, where it was stored; refused once the deployment is production.
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["a"] });
		const event = await storeEventDirectly("default", "a", [hook.id]);
		expect(await runFirstAttempt("default", event, hook.id, { ...env, ENVIRONMENT: "production" })).toEqual(["m1"]);
		expect(await receivedBy(name)).toEqual([]);
		const delivery = record((await api("GET", `/v1/deliveries/${publicDeliveryId(String(hook.id), event.id)}`)).body);
		expect(delivery).toMatchObject({ status: "failed", attempt_count: 1, next_attempt_at: null });
		expect(String(delivery.error)).toBe("the endpoint URL is refused: url must be an https URL");
	});
});
