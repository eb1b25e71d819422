import { randomUUID } from "node:crypto";
import { ApiException, type ApplicationOut, Svix } from "svix";
import { afterAll, describe, expect, it } from "vitest";
import { target } from "./support/context";

/**
 * Applications, event types and app-portal access through the official
 * `svix` JavaScript client (1.99.1), pointed at the worker under `wrangler
 * dev` with `serverUrl`: the calls, answers and errors exactly as the SDK
 * makes and reads them.
 */

function svix(token = target().adminKey): Svix {
	return new Svix(token, { serverUrl: target().baseUrl });
}

function unique(label: string): string {
	return `${label}-${randomUUID().slice(0, 8)}`;
}

/** The ApiException a call fails with; fails the test when the call succeeds or throws something else. */
async function apiException(call: () => Promise<unknown>): Promise<ApiException<unknown>> {
	try {
		await call();
	} catch (error) {
		if (error instanceof ApiException) return error;
		throw error;
	}
	throw new Error("the call succeeded; an ApiException was expected");
}

function errorCode(error: ApiException<unknown>): unknown {
	return (error.body as { code?: unknown }).code;
}

describe("Svix SDK: applications", () => {
	const created: string[] = [];
	const client = svix();

	afterAll(async () => {
		for (const id of created) await client.application.delete(id).catch(() => undefined);
	});

	async function createApp(name: string, uid?: string): Promise<ApplicationOut> {
		const app = await client.application.create({ name, uid });
		created.push(app.id);
		return app;
	}

	it("creates with a uid, gets by uid, and getOrCreate answers the same application twice", async () => {
		const uid = unique("sdk-app");
		const app = await createApp("SDK app", uid);
		expect(app).toMatchObject({ name: "SDK app", uid, metadata: {} });
		expect(app.id).toMatch(/^ten_/);
		expect(app.createdAt).toBeInstanceOf(Date);
		expect(Number.isNaN(app.createdAt.getTime())).toBe(false);
		const byUid = await client.application.get(uid);
		expect(byUid.id).toBe(app.id);

		const gocUid = unique("sdk-goc");
		const first = await client.application.getOrCreate({ name: "Got or created", uid: gocUid });
		created.push(first.id);
		const second = await client.application.getOrCreate({ name: "Ignored name", uid: gocUid });
		expect(second.id).toBe(first.id);
		expect(second.name).toBe("Got or created");
	});

	it("lists every application to the end with a small limit", async () => {
		const mine = [await createApp("Listed 1"), await createApp("Listed 2"), await createApp("Listed 3")];
		const seen: string[] = [];
		let iterator: string | null = null;
		let pages = 0;
		for (;;) {
			const page = await client.application.list({ limit: 2, iterator });
			pages++;
			seen.push(...page.data.map((app) => app.id));
			if (page.done) break;
			iterator = page.iterator ?? null;
			expect(iterator).not.toBeNull();
		}
		expect(pages).toBeGreaterThan(1);
		expect(new Set(seen).size).toBe(seen.length);
		for (const app of mine) expect(seen).toContain(app.id);
	});

	it("updates (PUT upsert) and patches, null clearing the uid", async () => {
		const uid = unique("sdk-upsert");
		const upserted = await client.application.update(uid, {
			name: "Upserted",
			metadata: { plan: "pro" },
			throttleRate: 10,
		});
		created.push(upserted.id);
		expect(upserted).toMatchObject({ uid, name: "Upserted", metadata: { plan: "pro" }, throttleRate: 10 });
		const replaced = await client.application.update(uid, { name: "Replaced", metadata: { plan: "team" } });
		expect(replaced).toMatchObject({ id: upserted.id, uid, name: "Replaced", metadata: { plan: "team" } });

		const patched = await client.application.patch(uid, { name: "Patched" });
		expect(patched).toMatchObject({ id: upserted.id, name: "Patched", metadata: { plan: "team" } });
		const cleared = await client.application.patch(upserted.id, { uid: null });
		expect(cleared.uid ?? null).toBeNull();
		const gone = await apiException(() => client.application.get(uid));
		expect(gone.code).toBe(404);
	});

	it("deletes, after which the uid can be used again", async () => {
		const uid = unique("sdk-delete");
		const app = await createApp("Deleted", uid);
		await expect(client.application.delete(uid)).resolves.toBeUndefined();
		const missing = await apiException(() => client.application.get(app.id));
		expect(missing.code).toBe(404);
		expect(errorCode(missing)).toBe("not_found");
		const again = await createApp("Reborn", uid);
		expect(again.id).not.toBe(app.id);
	});

	it("answers a duplicate uid with an ApiException 409 conflict", async () => {
		const uid = unique("sdk-dup");
		await createApp("Original", uid);
		const duplicate = await apiException(() => client.application.create({ name: "Copy", uid }));
		expect(duplicate.code).toBe(409);
		expect(errorCode(duplicate)).toBe("conflict");
		expect(typeof (duplicate.body as { detail?: unknown }).detail).toBe("string");
	});

	it("answers an unknown application with an ApiException 404", async () => {
		const missing = await apiException(() => client.application.get(unique("nobody")));
		expect(missing.code).toBe(404);
		expect(missing.body).toMatchObject({ code: "not_found" });
	});

	it("answers a wrong token with an ApiException 401", async () => {
		const refused = await apiException(() => svix("not-an-edgehook-key").application.list());
		expect(refused.code).toBe(401);
		expect(errorCode(refused)).toBe("authentication_failed");
	});

	it("answers a bad uid with an ApiException 422 naming [body, uid]", async () => {
		const invalid = await apiException(() => client.application.create({ name: "Bad", uid: "no spaces allowed" }));
		expect(invalid.code).toBe(422);
		const detail = (invalid.body as { detail: { loc: string[]; msg: string; type: string }[] }).detail;
		expect(detail[0]?.loc).toEqual(["body", "uid"]);
		expect(detail[0]?.type).toBe("value_error");
	});

	it("replays a create under the same idempotency-key and creates another under a new one", async () => {
		const key = `e2e_${randomUUID()}`;
		const first = await client.application.create({ name: "Idempotent" }, { idempotencyKey: key });
		created.push(first.id);
		const second = await client.application.create({ name: "Idempotent" }, { idempotencyKey: key });
		expect(second).toEqual(first);

		// The SDK does not show headers: the same request by hand shows the replay.
		const raw = await fetch(`${target().baseUrl}/api/v1/app`, {
			method: "POST",
			headers: {
				authorization: `Bearer ${target().adminKey}`,
				"content-type": "application/json",
				"idempotency-key": key,
			},
			body: JSON.stringify({ name: "Idempotent" }),
		});
		expect(raw.status).toBe(201);
		expect(raw.headers.get("idempotent-replayed")).toBe("true");
		expect(((await raw.json()) as { id: string }).id).toBe(first.id);

		const other = await client.application.create({ name: "Idempotent" }, { idempotencyKey: `e2e_${randomUUID()}` });
		created.push(other.id);
		expect(other.id).not.toBe(first.id);
	});
});

describe("Svix SDK: event types", () => {
	const client = svix();

	function typeName(): string {
		return `sdk.${randomUUID().slice(0, 8)}`;
	}

	it("creates, gets, lists, patches, updates, archives and expunges", async () => {
		const name = typeName();
		const created = await client.eventType.create({
			name,
			description: "An order was placed",
			schemas: { "1": { type: "object" } },
			groupName: "orders",
			featureFlags: ["beta"],
		});
		expect(created).toMatchObject({
			name,
			description: "An order was placed",
			archived: false,
			deprecated: false,
			groupName: "orders",
			featureFlags: ["beta"],
		});
		expect(created.createdAt).toBeInstanceOf(Date);

		const got = await client.eventType.get(name);
		expect(got.schemas).toEqual({ "1": { type: "object" } });

		const names: string[] = [];
		let iterator: string | null = null;
		for (;;) {
			const page = await client.eventType.list({ limit: 2, iterator, withContent: false });
			names.push(...page.data.map((eventType) => eventType.name));
			for (const eventType of page.data) expect(eventType.schemas).toBeUndefined();
			if (page.done) break;
			iterator = page.iterator ?? null;
		}
		expect(names).toContain(name);

		const patched = await client.eventType.patch(name, { deprecated: true, groupName: null });
		expect(patched).toMatchObject({ deprecated: true, description: "An order was placed" });
		expect(patched.groupName ?? null).toBeNull();
		const updated = await client.eventType.update(name, { description: "Replaced" });
		expect(updated).toMatchObject({ description: "Replaced", deprecated: false });

		const duplicate = await apiException(() => client.eventType.create({ name, description: "again" }));
		expect(duplicate.code).toBe(409);
		expect(errorCode(duplicate)).toBe("event_type_exists");

		await client.eventType.delete(name);
		expect((await client.eventType.get(name)).archived).toBe(true);
		const live = await client.eventType.list({ limit: 250 });
		expect(live.data.map((eventType) => eventType.name)).not.toContain(name);
		const withArchived = await client.eventType.list({ limit: 250, includeArchived: true });
		expect(withArchived.data.map((eventType) => eventType.name)).toContain(name);
		const revived = await client.eventType.create({ name, description: "Back" });
		expect(revived.archived).toBe(false);

		await client.eventType.delete(name, { expunge: true });
		const gone = await apiException(() => client.eventType.get(name));
		expect(gone.code).toBe(404);
	});

	it("creates with update (PUT) when the name is new", async () => {
		const name = typeName();
		const created = await client.eventType.update(name, { description: "Made by PUT" });
		expect(created).toMatchObject({ name, description: "Made by PUT" });
		await client.eventType.delete(name, { expunge: true });
	});
});

describe("Svix SDK: app portal access", () => {
	const client = svix();

	it("returns a url that opens the application's portal in a browser", async () => {
		const app = await client.application.create({ name: "Portal", uid: unique("sdk-portal") });
		try {
			const access = await client.authentication.appPortalAccess(app.uid ?? app.id, {});
			expect(access.url.startsWith(`${target().baseUrl}/portal/`)).toBe(true);
			expect(access.url.endsWith(access.token)).toBe(true);

			// What a browser does: the link's page, its button (a same-origin post), then the portal itself.
			const landing = await fetch(access.url);
			expect(landing.status).toBe(200);
			expect(await landing.text()).toContain(`portal of tenant ${app.id}`);
			const opened = await fetch(access.url, {
				method: "POST",
				headers: { origin: target().baseUrl, "content-type": "application/x-www-form-urlencoded" },
				redirect: "manual",
			});
			expect(opened.status).toBe(303);
			const cookie = (opened.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
			const home = new URL(opened.headers.get("location") ?? "", target().baseUrl);
			// The portal opens on this tenant's endpoints.
			expect(home.pathname).toContain(app.id);
			expect(home.pathname.endsWith("/endpoints")).toBe(true);
			const portal = await fetch(home, { headers: { cookie }, redirect: "manual" });
			expect(portal.status).toBe(200);
			expect(await portal.text()).toContain("Endpoints");

			const dashboard = await client.authentication.dashboardAccess(app.id);
			expect((await fetch(dashboard.url)).status).toBe(200);
		} finally {
			await client.application.delete(app.id);
		}
	});
});
