import { describe, expect, it } from "vitest";
import { api, receivedBy, receiverPath, record, uniqueName, waitFor } from "./helpers";

/*
 * The Svix face's endpoint operations (/api/v1/app/{app_id}/endpoint...),
 * recover and background tasks, over the native /v1/webhooks and /v1/tasks.
 * An application is a tenant, named here by its id.
 */

async function tenantWithKey(settings?: Record<string, unknown>): Promise<{ id: string; key: string }> {
	const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("svix-ep"), settings } })).body);
	const key = record((await api("POST", `/v1/tenants/${tenant.id}/api-keys`, { body: { name: "k" } })).body);
	return { id: String(tenant.id), key: String(key.key) };
}

function base(appId: string): string {
	return `/api/v1/app/${appId}/endpoint`;
}

interface FieldError {
	loc: string[];
	msg: string;
	type: string;
}

function locsOf(body: unknown): string[][] {
	return (record(body).detail as FieldError[]).map((detail) => detail.loc);
}

const SECRET_BODY = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

describe("Svix endpoint create and get", () => {
	it("creates an endpoint with every Svix field and answers 201 EndpointOut, stored as the native webhook", async () => {
		const app = await tenantWithKey();
		const uid = uniqueName("ep");
		const created = await api("POST", base(app.id), {
			auth: app.key,
			body: {
				url: "https://example.com/svix",
				description: "orders",
				uid,
				throttleRate: 5,
				disabled: true,
				eventTypes: ["order.created", "order.paid"],
				channels: ["project-1"],
				secret: `whsec_${SECRET_BODY}`,
				metadata: { team: "core" },
				headers: { "X-Team": "core" },
			},
		});
		expect(created.status).toBe(201);
		const out = record(created.body);
		expect(out).toMatchObject({
			uid,
			url: "https://example.com/svix",
			description: "orders",
			throttleRate: 5,
			disabled: true,
			eventTypes: ["order.created", "order.paid"],
			filterTypes: ["order.created", "order.paid"],
			channels: ["project-1"],
			metadata: { team: "core" },
		});
		expect(String(out.id)).toMatch(/^hook_/);
		expect(Number.isNaN(Date.parse(String(out.createdAt)))).toBe(false);
		expect(Number.isNaN(Date.parse(String(out.updatedAt)))).toBe(false);
		expect(out).not.toHaveProperty("secret");

		// The same object, by the same id, on the native API.
		const native = record((await api("GET", `/v1/webhooks/${out.id}`, { auth: app.key })).body);
		expect(native).toMatchObject({
			uid,
			events: ["order.created", "order.paid"],
			labels: ["project-1"],
			rate_limit_per_second: 5,
			active: false,
			header_style: "svix",
			headers: { "X-Team": "core" },
		});
		expect(record((await api("GET", `/v1/webhooks/${out.id}/secret`, { auth: app.key })).body).secret).toBe(
			`whsec_${SECRET_BODY}`,
		);
	});

	it("takes v1's filterTypes, a secret without its prefix, and every type when eventTypes is missing", async () => {
		const app = await tenantWithKey();
		const v1 = record(
			(
				await api("POST", base(app.id), {
					auth: app.key,
					body: { url: "https://example.com/a", filterTypes: ["a.b"], secret: SECRET_BODY, version: 1 },
				})
			).body,
		);
		expect(v1).toMatchObject({ eventTypes: ["a.b"], filterTypes: ["a.b"] });
		const secret = record((await api("GET", `${base(app.id)}/${v1.id}/secret`, { auth: app.key })).body);
		expect(secret).toEqual({ key: `whsec_${SECRET_BODY}` });

		const every = record(
			(await api("POST", base(app.id), { auth: app.key, body: { url: "https://example.com/b" } })).body,
		);
		expect(every).not.toHaveProperty("eventTypes");
		expect(every).not.toHaveProperty("channels");
		expect(every).toMatchObject({ disabled: false, description: "", metadata: {} });
		const native = record((await api("GET", `/v1/webhooks/${every.id}`, { auth: app.key })).body);
		expect(native.events).toEqual(["*"]);
	});

	it("gives the header style of the tenant setting svix_header_style to the endpoints it creates", async () => {
		const app = await tenantWithKey({ svix_header_style: "webhook" });
		const created = record(
			(await api("POST", base(app.id), { auth: app.key, body: { url: "https://example.com/a" } })).body,
		);
		const native = record((await api("GET", `/v1/webhooks/${created.id}`, { auth: app.key })).body);
		expect(native.header_style).toBe("webhook");
	});

	it("gets an endpoint by id and by uid, and answers 404 not_found for neither", async () => {
		const app = await tenantWithKey();
		const uid = uniqueName("by-uid");
		const created = record(
			(await api("POST", base(app.id), { auth: app.key, body: { url: "https://example.com/a", uid } })).body,
		);
		expect(record((await api("GET", `${base(app.id)}/${created.id}`, { auth: app.key })).body).uid).toBe(uid);
		expect(record((await api("GET", `${base(app.id)}/${uid}`, { auth: app.key })).body).id).toBe(created.id);
		const missing = await api("GET", `${base(app.id)}/nobody`, { auth: app.key });
		expect(missing.status).toBe(404);
		expect(record(missing.body).code).toBe("not_found");
	});

	it("answers 404 for another tenant's application and for its endpoint, and lets the admin key reach both", async () => {
		const mine = await tenantWithKey();
		const theirs = await tenantWithKey();
		const their = record(
			(await api("POST", base(theirs.id), { auth: theirs.key, body: { url: "https://example.com/a" } })).body,
		);
		const other = await api("GET", `${base(theirs.id)}/${their.id}`, { auth: mine.key });
		expect(other.status).toBe(404);
		expect(record(other.body).code).toBe("not_found");
		expect((await api("GET", `${base(mine.id)}/${their.id}`, { auth: mine.key })).status).toBe(404);
		expect((await api("GET", `${base(theirs.id)}/${their.id}`)).status).toBe(200);
	});

	it("answers 409 conflict for a uid the application already has, storing nothing", async () => {
		const app = await tenantWithKey();
		const uid = uniqueName("dup");
		expect(
			(await api("POST", base(app.id), { auth: app.key, body: { url: "https://example.com/a", uid } })).status,
		).toBe(201);
		const duplicate = await api("POST", base(app.id), { auth: app.key, body: { url: "https://example.com/b", uid } });
		expect(duplicate.status).toBe(409);
		expect(record(duplicate.body)).toMatchObject({ code: "conflict" });
		expect(record((await api("GET", base(app.id), { auth: app.key })).body).data).toHaveLength(1);
	});

	it("answers 422 naming each field in Svix's terms, storing nothing", async () => {
		const app = await tenantWithKey();
		const cases: [Record<string, unknown>, string[]][] = [
			[{}, ["body", "url"]],
			[{ url: "not a url" }, ["body", "url"]],
			[{ url: "https://example.com/a", eventTypes: [] }, ["body", "eventTypes"]],
			[{ url: "https://example.com/a", filterTypes: [] }, ["body", "filterTypes"]],
			[{ url: "https://example.com/a", channels: ["has space"] }, ["body", "channels", "0"]],
			[{ url: "https://example.com/a", throttleRate: 0 }, ["body", "throttleRate"]],
			[{ url: "https://example.com/a", uid: "a b" }, ["body", "uid"]],
			[{ url: "https://example.com/a", secret: "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }, ["body", "secret"]],
			[{ url: "https://example.com/a", secret: "short" }, ["body", "secret"]],
			[{ url: "https://example.com/a", headers: { "svix-id": "x" } }, ["body", "headers"]],
			[{ url: "https://example.com/a", disabled: "yes" }, ["body", "disabled"]],
		];
		for (const [body, loc] of cases) {
			const response = await api("POST", base(app.id), { auth: app.key, body });
			expect(response.status, JSON.stringify(body)).toBe(422);
			expect(locsOf(response.body), JSON.stringify(body)).toContainEqual(loc);
		}
		expect(record((await api("GET", base(app.id), { auth: app.key })).body).data).toEqual([]);
	});

	it("replays a create sent again with the same idempotency-key: one endpoint", async () => {
		const app = await tenantWithKey();
		const headers = { "idempotency-key": `auto_${crypto.randomUUID()}` };
		const first = await api("POST", base(app.id), { auth: app.key, headers, body: { url: "https://example.com/a" } });
		const again = await api("POST", base(app.id), { auth: app.key, headers, body: { url: "https://example.com/a" } });
		expect(again.status).toBe(201);
		expect(record(again.body).id).toBe(record(first.body).id);
		expect(record((await api("GET", base(app.id), { auth: app.key })).body).data).toHaveLength(1);
	});
});

describe("Svix endpoint list", () => {
	it("pages through every endpoint with limit and iterator, by id descending by default and ascending on request", async () => {
		const app = await tenantWithKey();
		for (let i = 0; i < 5; i++)
			await api("POST", base(app.id), { auth: app.key, body: { url: `https://example.com/${i}` } });
		const walk = async (order: string): Promise<string[]> => {
			const ids: string[] = [];
			let iterator: string | null = null;
			for (let pages = 0; pages < 10; pages++) {
				const query: string = `limit=2${order}${iterator === null ? "" : `&iterator=${iterator}`}`;
				const page = record((await api("GET", `${base(app.id)}?${query}`, { auth: app.key })).body);
				expect(page.data as unknown[]).not.toHaveLength(0);
				ids.push(...(page.data as { id: string }[]).map((endpoint) => endpoint.id));
				if (page.done === true) {
					// As Svix answers: the iterator is the page's last item, done or not.
					expect(page.iterator).toBe(ids[ids.length - 1]);
					return ids;
				}
				iterator = String(page.iterator);
			}
			throw new Error("the list never ended");
		};
		const descending = await walk("");
		expect(descending).toHaveLength(5);
		expect(descending).toEqual([...descending].sort().reverse());
		expect(await walk("&order=ascending")).toEqual([...descending].reverse());
		const tooMany = await api("GET", `${base(app.id)}?limit=251`, { auth: app.key });
		expect(tooMany.status).toBe(422);
		expect(locsOf(tooMany.body)).toEqual([["query", "limit"]]);
	});
});

describe("Svix endpoint upsert, patch and delete", () => {
	it("PUT creates an endpoint named by its path uid (201), then replaces its fields (200)", async () => {
		const app = await tenantWithKey();
		const uid = uniqueName("upsert");
		const created = await api("PUT", `${base(app.id)}/${uid}`, {
			auth: app.key,
			body: {
				url: "https://example.com/one",
				eventTypes: ["a.b"],
				channels: ["c"],
				throttleRate: 3,
				metadata: { k: "v" },
			},
		});
		expect(created.status).toBe(201);
		expect(record(created.body)).toMatchObject({ uid, url: "https://example.com/one", eventTypes: ["a.b"] });

		const updated = await api("PUT", `${base(app.id)}/${uid}`, {
			auth: app.key,
			body: { url: "https://example.com/two", description: "second" },
		});
		expect(updated.status).toBe(200);
		const out = record(updated.body);
		expect(out).toMatchObject({
			id: record(created.body).id,
			uid,
			url: "https://example.com/two",
			description: "second",
		});
		// A PUT replaces the endpoint: what the body leaves out goes back to its default.
		expect(out).not.toHaveProperty("eventTypes");
		expect(out).not.toHaveProperty("channels");
		expect(out).not.toHaveProperty("throttleRate");
		expect(out.metadata).toEqual({});
		expect(record((await api("GET", base(app.id), { auth: app.key })).body).data).toHaveLength(1);
	});

	it("PATCH changes only the fields given, and null clears eventTypes, channels, uid and throttleRate", async () => {
		const app = await tenantWithKey();
		const uid = uniqueName("patch");
		const created = record(
			(
				await api("POST", base(app.id), {
					auth: app.key,
					body: {
						url: "https://example.com/a",
						uid,
						eventTypes: ["a.b"],
						channels: ["c"],
						throttleRate: 9,
						description: "d",
					},
				})
			).body,
		);
		const disabled = await api("PATCH", `${base(app.id)}/${uid}`, { auth: app.key, body: { disabled: true } });
		expect(disabled.status).toBe(200);
		expect(record(disabled.body)).toMatchObject({
			disabled: true,
			description: "d",
			eventTypes: ["a.b"],
			throttleRate: 9,
		});

		const cleared = await api("PATCH", `${base(app.id)}/${uid}`, {
			auth: app.key,
			body: { eventTypes: null, channels: null, uid: null, throttleRate: null },
		});
		expect(cleared.status).toBe(200);
		const out = record(cleared.body);
		for (const field of ["eventTypes", "filterTypes", "channels", "uid", "throttleRate"])
			expect(out).not.toHaveProperty(field);
		expect(out).toMatchObject({ id: created.id, disabled: true, description: "d" });
		const native = record((await api("GET", `/v1/webhooks/${created.id}`, { auth: app.key })).body);
		expect(native).toMatchObject({ events: ["*"], labels: null, uid: null, rate_limit_per_second: null });

		const bad = await api("PATCH", `${base(app.id)}/${created.id}`, { auth: app.key, body: { eventTypes: [] } });
		expect(bad.status).toBe(422);
		expect(locsOf(bad.body)).toContainEqual(["body", "eventTypes"]);
	});

	it("PATCH with a secret replaces it", async () => {
		const app = await tenantWithKey();
		const created = record(
			(await api("POST", base(app.id), { auth: app.key, body: { url: "https://example.com/a" } })).body,
		);
		const patched = await api("PATCH", `${base(app.id)}/${created.id}`, {
			auth: app.key,
			body: { secret: SECRET_BODY },
		});
		expect(patched.status).toBe(200);
		const secret = record((await api("GET", `${base(app.id)}/${created.id}/secret`, { auth: app.key })).body);
		expect(secret.key).toBe(`whsec_${SECRET_BODY}`);
	});

	it("PATCH with a bad secret is a 422 on secret and changes nothing else", async () => {
		const app = await tenantWithKey();
		const created = record(
			(
				await api("POST", base(app.id), {
					auth: app.key,
					body: { url: "https://example.com/a", description: "before" },
				})
			).body,
		);
		const bad = await api("PATCH", `${base(app.id)}/${created.id}`, {
			auth: app.key,
			body: { description: "after", secret: "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
		});
		expect(bad.status).toBe(422);
		expect(locsOf(bad.body)).toEqual([["body", "secret"]]);
		expect(String((record(bad.body).detail as FieldError[])[0]?.msg)).toContain("asymmetric");
		expect(record((await api("GET", `${base(app.id)}/${created.id}`, { auth: app.key })).body).description).toBe(
			"before",
		);
	});

	it("DELETE answers 204 with no body, after which the endpoint is 404", async () => {
		const app = await tenantWithKey();
		const created = record(
			(await api("POST", base(app.id), { auth: app.key, body: { url: "https://example.com/a" } })).body,
		);
		const deleted = await api("DELETE", `${base(app.id)}/${created.id}`, { auth: app.key });
		expect(deleted.status).toBe(204);
		expect(deleted.body).toBe("");
		expect((await api("GET", `${base(app.id)}/${created.id}`, { auth: app.key })).status).toBe(404);
		expect((await api("DELETE", `${base(app.id)}/${created.id}`, { auth: app.key })).status).toBe(404);
	});
});

describe("Svix endpoint secret and headers", () => {
	it("rotates to a given key (204) or a generated one, the body optional", async () => {
		const app = await tenantWithKey();
		const created = record(
			(await api("POST", base(app.id), { auth: app.key, body: { url: "https://example.com/a" } })).body,
		);
		const path = `${base(app.id)}/${created.id}/secret`;
		const before = String(record((await api("GET", path, { auth: app.key })).body).key);
		expect(before).toMatch(/^whsec_/);

		const rotated = await api("POST", `${path}/rotate`, { auth: app.key, body: { key: `whsec_${SECRET_BODY}` } });
		expect(rotated.status).toBe(204);
		expect(record((await api("GET", path, { auth: app.key })).body).key).toBe(`whsec_${SECRET_BODY}`);

		const generated = await api("POST", `${path}/rotate`, { auth: app.key });
		expect(generated.status).toBe(204);
		const after = String(record((await api("GET", path, { auth: app.key })).body).key);
		expect(after).not.toBe(`whsec_${SECRET_BODY}`);
		expect(after).toMatch(/^whsec_/);

		const bad = await api("POST", `${path}/rotate`, {
			auth: app.key,
			body: { key: "whpk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
		});
		expect(bad.status).toBe(422);
		expect(locsOf(bad.body)).toEqual([["body", "key"]]);
	});

	it("gets, replaces and patches headers; credentials are named in sensitive; forbidden names are a 422", async () => {
		const app = await tenantWithKey();
		const created = record(
			(
				await api("POST", base(app.id), {
					auth: app.key,
					body: { url: "https://example.com/a", headers: { "X-Team": "core", Authorization: "Bearer s3cret" } },
				})
			).body,
		);
		const path = `${base(app.id)}/${created.id}/headers`;
		expect(record((await api("GET", path, { auth: app.key })).body)).toEqual({
			headers: { "X-Team": "core" },
			sensitive: ["Authorization"],
		});

		const set = await api("PUT", path, { auth: app.key, body: { headers: { "X-One": "1", "X-Two": "2" } } });
		expect(set.status).toBe(204);
		expect(record((await api("GET", path, { auth: app.key })).body)).toEqual({
			headers: { "X-One": "1", "X-Two": "2" },
			sensitive: [],
		});

		const patched = await api("PATCH", path, {
			auth: app.key,
			body: { headers: { "x-one": null, "X-Three": "3" }, deleteHeaders: ["X-TWO"] },
		});
		expect(patched.status).toBe(204);
		expect(record((await api("GET", path, { auth: app.key })).body)).toEqual({
			headers: { "X-Three": "3" },
			sensitive: [],
		});

		for (const name of ["content-type", "svix-signature", "user-agent"]) {
			const forbidden = await api("PATCH", path, { auth: app.key, body: { headers: { [name]: "x" } } });
			expect(forbidden.status, name).toBe(422);
			expect(locsOf(forbidden.body)).toContainEqual(["body", "headers"]);
		}
		expect(record((await api("GET", path, { auth: app.key })).body)).toEqual({
			headers: { "X-Three": "3" },
			sensitive: [],
		});
	});
});

describe("Svix endpoint stats, sendExample, recover and background tasks", () => {
	it("counts deliveries by Svix status after a delivery", async () => {
		const app = await tenantWithKey();
		const created = record(
			(
				await api("POST", base(app.id), {
					auth: app.key,
					body: { url: receiverPath("ok", uniqueName("stats")), eventTypes: ["stats.svix"] },
				})
			).body,
		);
		await api("POST", "/v1/events", { auth: app.key, body: { type: "stats.svix", data: {} } });
		const stats = await waitFor(async () => {
			const got = record((await api("GET", `${base(app.id)}/${created.id}/stats`, { auth: app.key })).body);
			return got.success === 1 ? got : undefined;
		}, 10_000);
		expect(stats).toEqual({ success: 1, pending: 0, sending: 0, fail: 0, canceled: 0 });
		const since = new Date(Date.now() + 60_000).toISOString();
		const later = record(
			(await api("GET", `${base(app.id)}/${created.id}/stats?since=${since}`, { auth: app.key })).body,
		);
		expect(later.success).toBe(0);
	}, 15_000);

	it("sends an event type's example to the endpoint alone and answers 202 MessageOut; an unknown type is a 422 on eventType", async () => {
		const app = await tenantWithKey();
		const name = uniqueName("example");
		await api("POST", "/v1/event-types", {
			auth: app.key,
			body: { name: "invoice.paid", example: { invoice: "inv_1", amount: 42 } },
		});
		const created = record(
			(
				await api("POST", base(app.id), {
					auth: app.key,
					body: { url: receiverPath("ok", name), eventTypes: ["other.type"] },
				})
			).body,
		);
		const sent = await api("POST", `${base(app.id)}/${created.id}/send-example`, {
			auth: app.key,
			body: { eventType: "invoice.paid" },
		});
		expect(sent.status).toBe(202);
		const message = record(sent.body);
		expect(message).toMatchObject({ eventType: "invoice.paid", payload: { invoice: "inv_1", amount: 42 } });
		expect(String(message.id)).toMatch(/^evt_/);
		const [request] = await waitFor(async () => {
			const received = await receivedBy(name);
			return received.length > 0 ? received : undefined;
		});
		expect(request?.headers["svix-id"]).toBe(message.id);

		const unknown = await api("POST", `${base(app.id)}/${created.id}/send-example`, {
			auth: app.key,
			body: { eventType: "no.such.type" },
		});
		expect(unknown.status).toBe(422);
		expect(locsOf(unknown.body)).toEqual([["body", "eventType"]]);
	});

	it("recovers as a background task that a tenant key and the admin key follow to finished", async () => {
		const app = await tenantWithKey();
		const other = await tenantWithKey();
		const created = record(
			(await api("POST", base(app.id), { auth: app.key, body: { url: receiverPath("ok", uniqueName("recover")) } }))
				.body,
		);
		const since = new Date(Date.now() - 3600_000).toISOString();
		const recovered = await api("POST", `${base(app.id)}/${created.id}/recover`, { auth: app.key, body: { since } });
		expect(recovered.status).toBe(202);
		const task = record(recovered.body);
		expect(task).toMatchObject({ status: "running", task: "endpoint.recover" });
		expect(Object.keys(task).sort()).toEqual(["id", "status", "task", "updatedAt"]);

		const finished = await waitFor(async () => {
			const got = record((await api("GET", `/api/v1/background-task/${task.id}`, { auth: app.key })).body);
			return got.status === "finished" ? got : undefined;
		}, 10_000);
		expect(finished).toMatchObject({ id: task.id, task: "endpoint.recover", data: { messagesSent: 0 } });

		// The admin key finds it by its id alone; another tenant's key does not.
		expect(record((await api("GET", `/api/v1/background-task/${task.id}`)).body).id).toBe(task.id);
		const hidden = await api("GET", `/api/v1/background-task/${task.id}`, { auth: other.key });
		expect(hidden.status).toBe(404);
		expect(record(hidden.body).code).toBe("not_found");

		const mine = record((await api("GET", "/api/v1/background-task?status=finished", { auth: app.key })).body);
		expect((mine.data as { id: string }[]).map((entry) => entry.id)).toEqual([task.id]);
		expect(mine.done).toBe(true);
		const running = record((await api("GET", "/api/v1/background-task?status=running", { auth: app.key })).body);
		expect(running.data).toEqual([]);
		const replays = record((await api("GET", "/api/v1/background-task?task=endpoint.replay", { auth: app.key })).body);
		expect(replays).toEqual({ data: [], iterator: null, done: true });
		expect(record((await api("GET", "/api/v1/background-task", { auth: other.key })).body).data).toEqual([]);

		const everyone: string[] = [];
		let iterator: string | null = null;
		do {
			const query: string = iterator === null ? "" : `&iterator=${iterator}`;
			const page = record((await api("GET", `/api/v1/background-task?limit=100${query}`)).body);
			everyone.push(...(page.data as { id: string }[]).map((entry) => entry.id));
			iterator = page.done === true ? null : String(page.iterator);
		} while (iterator !== null);
		expect(everyone).toContain(task.id);

		const bad = await api("GET", "/api/v1/background-task?status=done", { auth: app.key });
		expect(bad.status).toBe(422);
		expect(locsOf(bad.body)).toEqual([["query", "status"]]);
	}, 15_000);

	it("refuses a recover window that starts in the future with a 422 on since", async () => {
		const app = await tenantWithKey();
		const created = record(
			(await api("POST", base(app.id), { auth: app.key, body: { url: "https://example.com/a" } })).body,
		);
		const since = new Date(Date.now() + 3600_000).toISOString();
		const response = await api("POST", `${base(app.id)}/${created.id}/recover`, { auth: app.key, body: { since } });
		expect(response.status).toBe(422);
		expect(locsOf(response.body)).toContainEqual(["body", "since"]);
	});
});
