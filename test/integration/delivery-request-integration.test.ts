import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { publicDeliveryId } from "../../src/lib/ids";
import { api, receivedBy, receiverPath, record, uniqueName, waitFor } from "./helpers";

async function tenantWithKey(): Promise<{ id: string; key: string }> {
	const tenant = record(
		(
			await api("POST", "/v1/tenants", {
				body: { name: uniqueName("request"), settings: { signature_header: "X-Request-Signature" } },
			})
		).body,
	);
	const key = record((await api("POST", `/v1/tenants/${tenant.id}/api-keys`, { body: { name: "k" } })).body);
	return { id: String(tenant.id), key: String(key.key) };
}

/** A delivered event of a new tenant, and what its receiver got. */
async function deliveredEvent(auth: string) {
	const name = uniqueName("request");
	const hook = record(
		(
			await api("POST", "/v1/webhooks", {
				auth,
				body: { url: receiverPath("ok", name), events: ["req.test"], headers: { "X-Team": "blue" } },
			})
		).body,
	);
	const event = record(
		(await api("POST", "/v1/events", { auth, body: { type: "req.test", data: { n: 1, note: "déjà vu" } } })).body,
	);
	const id = publicDeliveryId(String(hook.id), String(event.id));
	await waitFor(async () =>
		record((await api("GET", `/v1/deliveries/${id}`, { auth })).body).status === "success" ? true : undefined,
	);
	const [received] = await receivedBy(name);
	if (!received) throw new Error("the receiver got nothing");
	const secret = String(record((await api("GET", `/v1/webhooks/${hook.id}/secret`, { auth })).body).secret);
	return { hook, event, id, received, secret };
}

describe("a delivery's request", () => {
	it("rebuilds the latest attempt's request, signed so that it verifies against the endpoint's secret", async () => {
		const tenant = await tenantWithKey();
		const { hook, event, id, received, secret } = await deliveredEvent(tenant.key);

		const answer = await api("GET", `/v1/deliveries/${id}/request`, { auth: tenant.key });
		expect(answer.status).toBe(200);
		const request = record(answer.body);
		const headers = record(request.headers) as Record<string, string>;
		expect(request.method).toBe("POST");
		expect(request.url).toBe(hook.url);
		expect(request.body).toBe(received.body);
		expect(JSON.parse(String(request.body))).toMatchObject({ id: event.id, type: "req.test", data: { n: 1 } });
		expect(headers).toMatchObject({ "webhook-id": event.id, "X-Team": "blue", "content-type": "application/json" });
		expect(headers["X-Request-Signature"]).toMatch(/^sha256=[0-9a-f]{64}$/);
		expect(() => new Webhook(secret).verify(String(request.body), headers)).not.toThrow();
		expect(String(request.note)).toContain("attempt 1");
		// The caveat is one sentence, not a paragraph.
		expect(String(request.note).match(/[.!?](\s|$)/g)).toHaveLength(1);

		// The attempt signed just before it started; both stamps fall in the same second but at a boundary.
		const sentAt = Number(received.headers["webhook-timestamp"]);
		const rebuiltAt = Number(headers["webhook-timestamp"]);
		expect(rebuiltAt - sentAt).toBeGreaterThanOrEqual(0);
		expect(rebuiltAt - sentAt).toBeLessThanOrEqual(1);
		if (rebuiltAt === sentAt) {
			expect(headers["webhook-signature"]).toBe(received.headers["webhook-signature"]);
			expect(headers["X-Request-Signature"]).toBe(received.headers["x-request-signature"]);
		}
	});

	it("answers 404 for another tenant's delivery, and for malformed and unknown ids", async () => {
		const a = await tenantWithKey();
		const b = await tenantWithKey();
		const { id } = await deliveredEvent(b.key);
		expect((await api("GET", `/v1/deliveries/${id}/request`, { auth: b.key })).status).toBe(200);
		expect((await api("GET", `/v1/deliveries/${id}/request`, { auth: a.key })).status).toBe(404);
		expect((await api("GET", `/v1/deliveries/${id}/request`, { headers: { "x-tenant-id": a.id } })).status).toBe(404);
		for (const other of ["nope", "del_0000000000000000000000000", "del_zzzzzzzzzzzzzzzz0000000001"]) {
			expect((await api("GET", `/v1/deliveries/${other}/request`, { auth: b.key })).status).toBe(404);
		}
	});
});
