import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { deliveryId } from "../../src/lib/ids";
import type { DeliveryJob } from "../../src/queue/messages";
import { ADMIN_KEY, api, createWebhook, receivedBy, receiverPath, record, uniqueName } from "./helpers";

async function count(table: string): Promise<number> {
	return (await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>())?.n ?? 0;
}

describe("validation errors", () => {
	it("name an unknown field and every other problem at once, in plain words", async () => {
		const response = await api("POST", "/v1/webhooks", {
			body: { url: "ftp://example.com/h", events: [], channel: "sms" },
		});
		expect(response.status).toBe(422);
		const error = record(record(response.body).error);
		expect(error.details).toEqual(
			expect.arrayContaining([
				{ field: "channel", message: 'unknown field "channel"' },
				{ field: "events", message: "must have at least 1 item" },
				{ field: "url", message: "must be an http or https URL" },
			]),
		);
		expect(String(error.message)).toContain('unknown field "channel"');
		expect(String(error.message)).toContain("events: must have at least 1 item");
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

describe("target URLs at send time", () => {
	it("re-checks a stored URL before each send and fails the attempt with the reason when it is no longer allowed", async () => {
		const name = uniqueName("blocked");
		// Allowed in development, where it was stored; refused once the deployment is production.
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["a"] });
		const event = await env.DB.prepare(
			"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at) VALUES ('default', ?, 'a', '{}', ?, ?) RETURNING seq",
		)
			.bind(`evt_${name}`, JSON.stringify([hook.id]), Date.now())
			.first<{ seq: number }>();
		const job: DeliveryJob = {
			tenantId: "default",
			eventSeq: Number(event?.seq),
			targets: [{ endpointId: String(hook.id), attempt: 1 }],
			trigger: "initial",
		};
		const batch = createMessageBatch<DeliveryJob>("edgehook-deliveries", [
			{ id: "m1", timestamp: new Date(), attempts: 1, body: job },
		]);
		const ctx = createExecutionContext();
		await worker.queue(batch, { ...env, ENVIRONMENT: "production" });
		expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["m1"]);
		expect(await receivedBy(name)).toEqual([]);
		const delivery = record(
			(await api("GET", `/v1/deliveries/${deliveryId(String(hook.id), Number(event?.seq))}`)).body,
		);
		expect(delivery).toMatchObject({ status: "failed", attempt_count: 1, next_attempt_at: null });
		expect(String(delivery.error)).toBe("the endpoint URL is refused: url must be an https URL");
	});
});
