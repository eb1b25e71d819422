import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { signBodyHex } from "../../src/delivery/signing";
import { api, createWebhook, receivedBy, receiverPath, record, uniqueName, waitFor } from "./helpers";

const URL_OK = "https://example.com/hooks";

describe("webhook endpoints", () => {
	it("creates with a generated secret, masks it on read and reveals it on /secret", async () => {
		const created = await createWebhook({ url: URL_OK, events: ["user.created", "project.*"], description: "main" });
		expect(created.id).toMatch(/^hook_[0-9a-z]{16}$/);
		expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
		expect(created).toMatchObject({
			url: URL_OK,
			events: ["user.created", "project.*"],
			active: true,
			description: "main",
		});

		const read = record((await api("GET", `/v1/webhooks/${created.id}`)).body);
		expect(read.secret).toBe(`****…${String(created.secret).slice(-4)}`);
		const secret = await api("GET", `/v1/webhooks/${created.id}/secret`);
		expect(secret.body).toEqual({ secret: created.secret });
	});

	it("keeps a given secret, custom headers, schedule and timeout", async () => {
		const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
		const created = await createWebhook({
			url: URL_OK,
			events: ["*"],
			secret,
			headers: { "X-Team": "billing" },
			retry_schedule: [5, 10],
			timeout_ms: 2500,
			active: false,
		});
		expect(created).toMatchObject({
			secret,
			headers: { "X-Team": "billing" },
			retry_schedule: [5, 10],
			timeout_ms: 2500,
			active: false,
		});
	});

	it("keeps max_concurrency, shows null for the default, and a PATCH sets or clears it", async () => {
		expect(await createWebhook({ url: URL_OK, events: ["*"] })).toMatchObject({ max_concurrency: null });
		const created = await createWebhook({ url: URL_OK, events: ["*"], max_concurrency: 100 });
		expect(created).toMatchObject({ max_concurrency: 100 });
		const set = await api("PATCH", `/v1/webhooks/${created.id}`, { body: { max_concurrency: 3 } });
		expect(record(set.body)).toMatchObject({ max_concurrency: 3 });
		const refused = await api("PATCH", `/v1/webhooks/${created.id}`, { body: { max_concurrency: 0 } });
		expect(refused.status).toBe(422);
		expect(record((await api("GET", `/v1/webhooks/${created.id}`)).body)).toMatchObject({ max_concurrency: 3 });
		const cleared = await api("PATCH", `/v1/webhooks/${created.id}`, { body: { max_concurrency: null } });
		expect(record(cleared.body)).toMatchObject({ max_concurrency: null });
	});

	it("lists with a cursor and updates and deletes", async () => {
		const first = await createWebhook({ url: URL_OK, events: ["a.b"] });
		await createWebhook({ url: URL_OK, events: ["a.b"] });
		const page = record((await api("GET", "/v1/webhooks?limit=1")).body);
		expect(page.webhooks).toHaveLength(1);
		expect(typeof page.next_cursor).toBe("string");
		const next = record((await api("GET", `/v1/webhooks?limit=1&cursor=${String(page.next_cursor)}`)).body);
		expect(next.webhooks).toHaveLength(1);
		expect(record((next.webhooks as unknown[])[0]).id).not.toBe(record((page.webhooks as unknown[])[0]).id);

		const patched = await api("PATCH", `/v1/webhooks/${first.id}`, { body: { events: ["c.*"], active: false } });
		expect(patched.status).toBe(200);
		expect(record(patched.body)).toMatchObject({ events: ["c.*"], active: false, url: URL_OK });

		const unknownField = await api("PATCH", `/v1/webhooks/${first.id}`, { body: { secret: "whsec_x", bogus: 1 } });
		expect(unknownField.status).toBe(422);
		expect((await api("DELETE", `/v1/webhooks/${first.id}`)).status).toBe(204);
		expect((await api("GET", `/v1/webhooks/${first.id}`)).status).toBe(404);
	});

	it.each([
		[{ url: "not a url", events: ["a"] }, "url"],
		[{ url: URL_OK, events: [] }, "events"],
		[{ url: URL_OK, events: ["bad filter!"] }, "events.0"],
		[{ url: URL_OK, events: ["a"], secret: "short" }, "secret"],
		[{ url: URL_OK, events: ["a"], headers: { "webhook-signature": "x" } }, "headers"],
		[{ url: URL_OK, events: ["a"], timeout_ms: 0 }, "timeout_ms"],
		[{ url: URL_OK, events: ["a"], retry_schedule: [-1] }, "retry_schedule.0"],
		[{ url: URL_OK, events: ["a"], max_concurrency: 0 }, "max_concurrency"],
		[{ url: URL_OK, events: ["a"], max_concurrency: 101 }, "max_concurrency"],
		[{ url: URL_OK, events: ["a"], max_concurrency: 2.5 }, "max_concurrency"],
		[{ url: URL_OK, events: ["a"], max_concurrency: "4" }, "max_concurrency"],
		[{ url: URL_OK, events: ["a"], unknown_field: 1 }, ""],
		[{ url: `https://example.com/${"x".repeat(2100)}`, events: ["a"] }, "url"],
		[{ events: ["a"] }, "url"],
	])("rejects %j naming the field, storing nothing", async (body, field) => {
		const before = await env.DB.prepare("SELECT count(*) AS n FROM endpoints").first<{ n: number }>();
		const response = await api("POST", "/v1/webhooks", { body });
		expect(response.status).toBe(422);
		const error = record(record(response.body).error);
		expect(error.code).toBe("validation_failed");
		const fields = (error.details as { field: string }[]).map((detail) => detail.field);
		if (field) expect(fields).toContain(field);
		const after = await env.DB.prepare("SELECT count(*) AS n FROM endpoints").first<{ n: number }>();
		expect(after?.n).toBe(before?.n);
	});

	it("answers 404 for unknown ids on every id route", async () => {
		for (const [method, path] of [
			["GET", "/v1/webhooks/hook_doesnotexist0000"],
			["GET", "/v1/webhooks/hook_doesnotexist0000/secret"],
			["PATCH", "/v1/webhooks/hook_doesnotexist0000"],
			["DELETE", "/v1/webhooks/hook_doesnotexist0000"],
			["GET", "/v1/webhooks/hook_doesnotexist0000/deliveries"],
			["POST", "/v1/webhooks/hook_doesnotexist0000/test"],
		] as const) {
			const response = await api(method, path, method === "PATCH" ? { body: { active: true } } : {});
			expect(response.status, `${method} ${path}`).toBe(404);
			expect(record(record(response.body).error).code).toBe("not_found");
		}
	});

	it("refuses a test send to a disabled endpoint", async () => {
		const created = await createWebhook({ url: URL_OK, events: ["a"], active: false });
		const response = await api("POST", `/v1/webhooks/${created.id}/test`);
		expect(response.status).toBe(409);
	});
});

describe("secret rotation", () => {
	it("replaces the secret, keeps the old one signing for the grace period, and delivers both signatures", async () => {
		const name = uniqueName("rotate");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["rotate.me"] });
		const oldSecret = String(hook.secret);
		const newSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
		const before = Date.now();
		const rotated = await api("POST", `/v1/webhooks/${hook.id}/rotate-secret`, {
			body: { secret: newSecret, grace_period_seconds: 600 },
		});
		expect(rotated.status).toBe(200);
		expect(record(rotated.body).secret).toBe(newSecret);
		const expiresAt = Date.parse(String(record(rotated.body).previous_secret_expires_at));
		expect(expiresAt).toBeGreaterThanOrEqual(before + 600_000);
		expect(expiresAt).toBeLessThan(before + 610_000);
		expect(record((await api("GET", `/v1/webhooks/${hook.id}/secret`)).body).secret).toBe(newSecret);

		expect((await api("POST", "/v1/events", { body: { type: "rotate.me", data: {} } })).status).toBe(202);
		const [request] = await waitFor(async () => {
			const requests = await receivedBy(name);
			return requests.length > 0 ? requests : undefined;
		});
		if (!request) throw new Error("nothing delivered");
		expect(request.headers["webhook-signature"]?.split(" ")).toHaveLength(2);
		for (const secret of [newSecret, oldSecret]) {
			expect(() => new Webhook(secret).verify(request.body, request.headers)).not.toThrow();
		}
		expect(request.headers["x-webhook-signature"]).toBe(await signBodyHex(newSecret, request.body, "sha256="));
	});

	it("generates a new secret when none is given and defaults the grace period to 24 h", async () => {
		const hook = await createWebhook({ url: URL_OK, events: ["a"] });
		const rotated = await api("POST", `/v1/webhooks/${hook.id}/rotate-secret`);
		expect(rotated.status).toBe(200);
		const body = record(rotated.body);
		expect(body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
		expect(body.secret).not.toBe(hook.secret);
		const hoursAhead = (Date.parse(String(body.previous_secret_expires_at)) - Date.now()) / 3_600_000;
		expect(hoursAhead).toBeGreaterThan(23.9);
		expect(hoursAhead).toBeLessThanOrEqual(24);
		const immediate = await api("POST", `/v1/webhooks/${hook.id}/rotate-secret`, { body: { grace_period_seconds: 0 } });
		expect(record(immediate.body).previous_secret_expires_at).toBeNull();
		for (const bad of [
			{ secret: "short" },
			{ grace_period_seconds: -1 },
			{ grace_period_seconds: 1e9 },
			{ extra: 1 },
		]) {
			expect((await api("POST", `/v1/webhooks/${hook.id}/rotate-secret`, { body: bad })).status).toBe(422);
		}
		expect((await api("POST", "/v1/webhooks/hook_doesnotexist0000/rotate-secret")).status).toBe(404);
	});
});
