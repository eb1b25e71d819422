import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deleteExpiredIdempotencyRecords } from "../../src/svix/idempotency";
import { api, record, tenantWithKey } from "./helpers";

/** The Svix face's shared behaviour, before any one operation: its error shapes and its public description. */
describe("Svix face (/api/v1)", () => {
	it("answers a missing token with Svix's error shape", async () => {
		const response = await api("GET", "/api/v1/app", { auth: null });
		expect(response.status).toBe(401);
		expect(response.body).toEqual({ code: "authentication_failed", detail: "send Authorization: Bearer <API key>" });
	});

	it("answers a wrong token with 401 authentication_failed", async () => {
		const response = await api("GET", "/api/v1/app", { auth: "not-a-key" });
		expect(response.status).toBe(401);
		expect(response.body).toMatchObject({ code: "authentication_failed" });
	});

	it("answers an unknown path with 404 not_found as {code, detail}", async () => {
		const response = await api("GET", "/api/v1/no-such-thing");
		expect(response.status).toBe(404);
		expect(response.body).toEqual({ code: "not_found", detail: "no such route" });
	});

	it("answers a body that is not JSON with a 422 on the body, typed value_error.jsondecode", async () => {
		const response = await api("POST", "/api/v1/app", {
			rawBody: "{not json",
			headers: { "content-type": "application/json" },
		});
		expect(response.status).toBe(422);
		const detail = (response.body as { detail: { loc: string[]; type: string }[] }).detail;
		expect(detail).toHaveLength(1);
		expect(detail[0]).toMatchObject({ loc: ["body"], type: "value_error.jsondecode" });
	});

	it("answers a body over the limit with 413 payload_too_large", async () => {
		const response = await api("POST", "/api/v1/app", {
			rawBody: JSON.stringify({ name: "x".repeat(300 * 1024) }),
			headers: { "content-type": "application/json" },
		});
		expect(response.status).toBe(413);
		expect(response.body).toMatchObject({ code: "payload_too_large" });
	});

	it("serves its OpenAPI description without a token", async () => {
		const response = await api("GET", "/api/v1/openapi.json", { auth: null });
		expect(response.status).toBe(200);
		expect(response.body).toMatchObject({ openapi: "3.1.0", info: { title: "Edgehook: Svix-compatible API" } });
	});

	it("leaves the native API's error shape alone", async () => {
		const response = await api("GET", "/v1/webhooks", { auth: null });
		expect(response.status).toBe(401);
		expect(response.body).toMatchObject({ error: { code: "unauthorized" } });
	});

	it("forgets idempotency records past their 12 hours at the daily retention, and keeps the rest", async () => {
		const now = Date.now();
		const insert = env.DB.prepare(
			"INSERT INTO idempotency_records (scope, key, request, status, body, expires_at) VALUES (?, ?, 'POST /api/v1/app', 201, '{}', ?)",
		);
		await env.DB.batch([
			insert.bind("retention-test", "expired-1", now - 1),
			insert.bind("retention-test", "expired-2", now - 60_000),
			insert.bind("retention-test", "live", now + 60_000),
		]);
		expect(await deleteExpiredIdempotencyRecords(env, now)).toBeGreaterThanOrEqual(2);
		const left = await env.DB.prepare("SELECT key FROM idempotency_records WHERE scope = 'retention-test'").all();
		expect(left.results).toEqual([{ key: "live" }]);
	});

	it("counts each request of the face once against a tenant key's budget, however many native calls it makes", async () => {
		const tenant = await tenantWithKey("svix-rate");
		const endpoint = record(
			(
				await api("POST", `/api/v1/app/${tenant.id}/endpoint`, {
					auth: tenant.key,
					body: { url: "https://example.com/r" },
				})
			).body,
		);
		const limit = Number(env.TEST_MANAGEMENT_LIMIT);
		let refused: Awaited<ReturnType<typeof api>> | undefined;
		let accepted = 0;
		// A header patch reads the endpoint and then writes it: two native calls, one request of the face.
		for (let i = 0; i < 2 * limit + 10 && !refused; i++) {
			const response = await api("PATCH", `/api/v1/app/${tenant.id}/endpoint/${endpoint.id}/headers`, {
				auth: tenant.key,
				body: { headers: { "x-count": String(i) } },
			});
			if (response.status === 429) refused = response;
			else if (response.status === 204) accepted++;
		}
		expect(refused?.body).toMatchObject({ code: "rate_limited" });
		expect(refused?.headers.get("retry-after")).toBe("10");
		expect(accepted).toBeGreaterThanOrEqual(limit - 2);
	});

	it("counts a message create against the key's event budget, as POST /v1/events", async () => {
		const tenant = await tenantWithKey("svix-rate");
		const limit = Number(env.TEST_INGEST_LIMIT);
		let accepted = 0;
		let refusedAt = -1;
		for (let i = 0; i < 2 * limit + 10 && refusedAt < 0; i++) {
			const response = await api("POST", `/api/v1/app/${tenant.id}/msg`, {
				auth: tenant.key,
				body: { eventType: "rate.test", payload: { i } },
			});
			if (response.status === 429) refusedAt = i;
			else if (response.status === 202) accepted++;
		}
		expect(refusedAt).toBeGreaterThanOrEqual(limit - 1);
		expect(accepted).toBeGreaterThanOrEqual(limit - 1);
		// The management budget is another one: still open.
		expect((await api("GET", `/api/v1/app/${tenant.id}/endpoint`, { auth: tenant.key })).status).toBe(200);
	});
});
