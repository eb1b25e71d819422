import { createHmac, randomBytes } from "node:crypto";
import { ApiException, BackgroundTaskStatus, BackgroundTaskType, type EndpointOut, Svix, Webhook } from "svix";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AcceptedEvent, bodyOf, call, expectStatus, uniqueSuffix } from "./support/api";
import { target } from "./support/context";
import { type ReceivedRequest, Receiver } from "./support/receiver";
import { createTenant, deleteTenant, type Tenant } from "./support/tenants";
import { done, notYet, waitFor } from "./support/wait";

/*
 * The official `svix` client (1.99.1) against the worker under wrangler dev:
 * endpoints, their secrets, headers, stats, sendExample, recover and its
 * background task, and errors as the client raises them. A receiver on
 * loopback verifies every delivery as a Svix receiver would: with svix's
 * Webhook and by hand from svix-signature.
 */

/** A secret as a platform moving from Svix would bring it: whsec_ + base64 of 24 bytes. */
function svixSecret(): string {
	return `whsec_${randomBytes(24).toString("base64")}`;
}

/** Verifies `request` by hand, as receivers that read svix-signature themselves do. */
function verifiesByHand(request: ReceivedRequest, secret: string): boolean {
	const key = Buffer.from(secret.slice("whsec_".length), "base64");
	const signed = `${request.headers["svix-id"]}.${request.headers["svix-timestamp"]}.${request.body}`;
	const expected = createHmac("sha256", key).update(signed).digest("base64");
	return (request.headers["svix-signature"] ?? "").split(" ").includes(`v1,${expected}`);
}

function requestWithSvixId(receiver: Receiver, id: string): Promise<ReceivedRequest> {
	return waitFor(`a request with svix-id ${id}`, () => {
		const found = receiver.requests.find((request) => request.headers["svix-id"] === id);
		return found === undefined ? notYet(`${receiver.requests.length} request(s)`) : done(found);
	});
}

/** The ApiException a call rejects with. */
async function apiError(call: Promise<unknown>): Promise<ApiException<unknown>> {
	const error = await call.then(
		() => undefined,
		(reason: unknown) => reason,
	);
	if (!(error instanceof ApiException)) throw new Error(`expected an ApiException, got ${String(error)}`);
	return error;
}

describe("Svix endpoints through the official svix client", () => {
	let svix: Svix;
	let tenant: Tenant;
	let receiver: Receiver;
	const secret = svixSecret();
	/** The secret that signs now: `secret` until the rotation test. */
	let currentSecret = secret;
	const uid = `billing-${uniqueSuffix()}`;
	let endpoint: EndpointOut;

	/** A native event for the application, as the messages of another part of the face would make. */
	async function sendEvent(type: string, data: Record<string, unknown>): Promise<AcceptedEvent> {
		const sent = await call("POST", "/v1/events", { json: { type, data }, headers: { "x-tenant-id": tenant.id } });
		return bodyOf<AcceptedEvent>(expectStatus(sent, 202));
	}

	beforeAll(async () => {
		svix = new Svix(target().adminKey, { serverUrl: target().baseUrl });
		tenant = await createTenant(`svix-endpoints-${uniqueSuffix()}`);
		receiver = await Receiver.start();
	});

	afterAll(async () => {
		await receiver.close();
		await deleteTenant(tenant.id);
	});

	it("creates an endpoint with a given whsec_ secret, and its deliveries verify with Webhook and by hand", async () => {
		endpoint = await svix.endpoint.create(tenant.id, {
			url: receiver.url,
			uid,
			description: "billing",
			filterTypes: ["invoice.paid", "invoice.sent"],
			secret,
			metadata: { team: "billing" },
		});
		expect(endpoint).toMatchObject({
			uid,
			url: receiver.url,
			description: "billing",
			filterTypes: ["invoice.paid", "invoice.sent"],
			disabled: false,
			metadata: { team: "billing" },
		});
		expect(endpoint.createdAt).toBeInstanceOf(Date);

		const event = await sendEvent("invoice.paid", { invoice: "inv_1", note: "Zoë 🚀" });
		const request = await requestWithSvixId(receiver, event.id);
		expect(request.headers["webhook-signature"]).toBeUndefined();
		expect(request.headers["svix-timestamp"]).toMatch(/^\d+$/);
		expect(() => new Webhook(secret).verify(request.body, request.headers)).not.toThrow();
		expect(verifiesByHand(request, secret)).toBe(true);
		expect(verifiesByHand(request, svixSecret())).toBe(false);
	});

	it("gets the endpoint by its uid", async () => {
		const got = await svix.endpoint.get(tenant.id, uid);
		expect(got.id).toBe(endpoint.id);
		expect(got.uid).toBe(uid);
	});

	it("lists every endpoint page by page until done", async () => {
		const more = await Promise.all(
			[1, 2].map((n) =>
				svix.endpoint.create(tenant.id, { url: `${receiver.url}?n=${n}`, filterTypes: ["nothing.here"] }),
			),
		);
		const ids: string[] = [];
		let iterator: string | null = null;
		for (let page = 0; page < 10; page++) {
			const listed = await svix.endpoint.list(tenant.id, { limit: 1, iterator });
			ids.push(...listed.data.map((entry) => entry.id));
			if (listed.done) break;
			iterator = listed.iterator;
		}
		expect(ids.sort()).toEqual([endpoint.id, ...more.map((entry) => entry.id)].sort());
		for (const entry of more) await svix.endpoint.delete(tenant.id, entry.id);
	});

	it("upserts with update: creates under a new uid, then updates the same endpoint", async () => {
		const upsertUid = `upsert-${uniqueSuffix()}`;
		const created = await svix.endpoint.update(tenant.id, upsertUid, {
			url: `${receiver.url}?upsert=1`,
			filterTypes: ["nothing.here"],
		});
		expect(created.uid).toBe(upsertUid);
		const updated = await svix.endpoint.update(tenant.id, upsertUid, {
			url: `${receiver.url}?upsert=2`,
			description: "second",
		});
		expect(updated).toMatchObject({ id: created.id, url: `${receiver.url}?upsert=2`, description: "second" });
		expect(updated.filterTypes).toBeUndefined();
		await svix.endpoint.delete(tenant.id, upsertUid);
	});

	it("patches with explicit nulls, clearing channels and the event type filter", async () => {
		const labelled = await svix.endpoint.patch(tenant.id, endpoint.id, { channels: ["eu", "project:7"] });
		expect(labelled.channels).toEqual(["eu", "project:7"]);
		expect(labelled.filterTypes).toEqual(["invoice.paid", "invoice.sent"]);
		const patched = await svix.endpoint.patch(tenant.id, endpoint.id, {
			channels: null,
			filterTypes: null,
			description: "patched",
		});
		expect(patched).toMatchObject({ id: endpoint.id, uid, description: "patched" });
		expect(patched.channels).toBeUndefined();
		expect(patched.filterTypes).toBeUndefined();
	});

	it("gets the secret, rotates to a new one, and the next delivery verifies with it", async () => {
		expect(await svix.endpoint.getSecret(tenant.id, endpoint.id)).toEqual({ key: secret });
		const rotated = svixSecret();
		await svix.endpoint.rotateSecret(tenant.id, endpoint.id, { key: rotated });
		currentSecret = rotated;
		expect((await svix.endpoint.getSecret(tenant.id, uid)).key).toBe(rotated);

		const event = await sendEvent("any.type", { after: "rotation" });
		const request = await requestWithSvixId(receiver, event.id);
		expect(() => new Webhook(rotated).verify(request.body, request.headers)).not.toThrow();
		expect(verifiesByHand(request, rotated)).toBe(true);
		// The old secret still signs during the grace period, so receivers can switch at leisure.
		expect(verifiesByHand(request, secret)).toBe(true);
	});

	it("sets, reads and patches headers, sent with the next delivery", async () => {
		await svix.endpoint.updateHeaders(tenant.id, endpoint.id, {
			headers: { "X-Team": "billing", Authorization: "Bearer s3cret" },
		});
		expect(await svix.endpoint.getHeaders(tenant.id, endpoint.id)).toEqual({
			headers: { "X-Team": "billing" },
			sensitive: ["Authorization"],
		});
		await svix.endpoint.patchHeaders(tenant.id, endpoint.id, {
			headers: { "X-Region": "eu" },
			deleteHeaders: ["X-Team"],
		});
		expect(await svix.endpoint.getHeaders(tenant.id, endpoint.id)).toEqual({
			headers: { "X-Region": "eu" },
			sensitive: ["Authorization"],
		});
		const event = await sendEvent("any.type", { with: "headers" });
		const request = await requestWithSvixId(receiver, event.id);
		expect(request.headers["x-region"]).toBe("eu");
		expect(request.headers.authorization).toBe("Bearer s3cret");
		expect(request.headers["x-team"]).toBeUndefined();
	});

	it("counts the deliveries in getStats", async () => {
		const stats = await waitFor("three successful deliveries in the stats", async () => {
			const got = await svix.endpoint.getStats(tenant.id, endpoint.id);
			return got.success >= 3 ? done(got) : notYet(got);
		});
		expect(stats).toEqual({ success: 3, pending: 0, sending: 0, fail: 0, canceled: 0 });
		const future = await svix.endpoint.getStats(tenant.id, endpoint.id, { since: new Date(Date.now() + 60_000) });
		expect(future.success).toBe(0);
	});

	it("sends an event type's example with sendExample", async () => {
		const created = await call("POST", "/v1/event-types", {
			json: { name: "invoice.sent", example: { invoice: "inv_example", total: 99 } },
			headers: { "x-tenant-id": tenant.id },
		});
		expectStatus(created, 201);
		const message = await svix.endpoint.sendExample(tenant.id, endpoint.id, { eventType: "invoice.sent" });
		expect(message).toMatchObject({ eventType: "invoice.sent", payload: { invoice: "inv_example", total: 99 } });
		const request = await requestWithSvixId(receiver, message.id);
		expect(JSON.parse(request.body)).toMatchObject({
			type: "invoice.sent",
			data: { invoice: "inv_example", total: 99 },
		});
		expect(() => new Webhook(currentSecret).verify(request.body, request.headers)).not.toThrow();
	});

	it("recovers failed messages as a background task that reaches finished", async () => {
		const failing = await Receiver.start();
		try {
			failing.respondWith(() => ({ status: 500, body: "down" }));
			const target = await svix.endpoint.create(tenant.id, { url: failing.url, filterTypes: ["recover.me"] });
			// One attempt and no retries, so the delivery fails at once (a native setting the Svix API has no field for).
			expectStatus(
				await call("PATCH", `/v1/webhooks/${target.id}`, {
					json: { retry_schedule: [] },
					headers: { "x-tenant-id": tenant.id },
				}),
				200,
			);
			const event = await sendEvent("recover.me", { attempt: "first" });
			await requestWithSvixId(failing, event.id);
			await waitFor("the delivery to fail", async () => {
				const stats = await svix.endpoint.getStats(tenant.id, target.id);
				return stats.fail === 1 ? done(stats) : notYet(stats);
			});

			failing.respondWith(() => ({ status: 200, body: "OK" }));
			const recovered = await svix.endpoint.recover(tenant.id, target.id, { since: new Date(Date.now() - 3600_000) });
			expect(recovered).toMatchObject({ status: "running", task: "endpoint.recover" });
			expect(recovered.updatedAt).toBeInstanceOf(Date);
			const task = await waitFor("the recover task to finish", async () => {
				const got = await svix.backgroundTask.get(recovered.id);
				return got.status === "finished" ? done(got) : notYet(got);
			});
			expect(task).toMatchObject({ id: recovered.id, task: "endpoint.recover", data: { messagesSent: 1 } });
			await waitFor("the re-sent delivery", () =>
				failing.requests.filter((request) => request.headers["svix-id"] === event.id).length === 2
					? done(true)
					: notYet(failing.requests.length),
			);
			const listed = await svix.backgroundTask.list({
				status: BackgroundTaskStatus.Finished,
				task: BackgroundTaskType.EndpointRecover,
				limit: 250,
			});
			expect(listed.data.map((entry) => entry.id)).toContain(recovered.id);
		} finally {
			await failing.close();
		}
	});

	it("answers a duplicate uid with 409, a bad field with 422 naming it, and a missing endpoint with 404, as ApiExceptions", async () => {
		const duplicate = await apiError(svix.endpoint.create(tenant.id, { url: receiver.url, uid }));
		expect(duplicate.code).toBe(409);
		expect(duplicate.body).toMatchObject({ code: "conflict" });

		const invalid = await apiError(svix.endpoint.create(tenant.id, { url: receiver.url, filterTypes: [] }));
		expect(invalid.code).toBe(422);
		const detail = (invalid.body as { detail: { loc: string[]; type: string }[] }).detail;
		expect(detail[0]).toMatchObject({ loc: ["body", "filterTypes"], type: "value_error" });

		const asymmetric = await apiError(
			svix.endpoint.create(tenant.id, { url: receiver.url, secret: "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }),
		);
		expect(asymmetric.code).toBe(422);
		expect((asymmetric.body as { detail: { loc: string[] }[] }).detail[0]?.loc).toEqual(["body", "secret"]);

		const missing = await apiError(svix.endpoint.get(tenant.id, "no-such-endpoint"));
		expect(missing.code).toBe(404);
		expect(missing.body).toMatchObject({ code: "not_found" });
	});

	it("deletes the endpoint, after which it is a 404", async () => {
		await svix.endpoint.delete(tenant.id, uid);
		const gone = await apiError(svix.endpoint.get(tenant.id, endpoint.id));
		expect(gone.code).toBe(404);
		const task = await apiError(svix.backgroundTask.get("task_doesnotexist000000"));
		expect(task.code).toBe(404);
	});
});
