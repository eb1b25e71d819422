import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, record, uniqueName } from "./helpers";

async function tenantKey(tenantId: string): Promise<string> {
	const created = await api("POST", `/v1/tenants/${tenantId}/api-keys`, { body: { name: "svix" } });
	return String(record(created.body).key);
}

async function createApp(body: Record<string, unknown>, query = ""): Promise<Record<string, unknown>> {
	const created = await api("POST", `/api/v1/app${query}`, { body });
	if (created.status !== 201) throw new Error(`app not created: ${created.status} ${JSON.stringify(created.body)}`);
	return record(created.body);
}

function typeName(): string {
	return `svix.${uniqueName("type").replace("-", "_")}`;
}

describe("Svix applications (/api/v1/app)", () => {
	it("creates an application that is a tenant, with uid, metadata and throttleRate in Svix's shape", async () => {
		const uid = uniqueName("app");
		const app = await createApp({ name: "Acme", uid, metadata: { plan: "pro" }, throttleRate: 20 });
		expect(app).toMatchObject({ name: "Acme", uid, metadata: { plan: "pro" }, throttleRate: 20, rateLimit: 20 });
		expect(String(app.id)).toMatch(/^ten_/);
		expect(new Date(String(app.createdAt)).getTime()).not.toBeNaN();
		expect(new Date(String(app.updatedAt)).getTime()).not.toBeNaN();
		// The same object through the native API.
		const native = record((await api("GET", `/v1/tenants/${String(app.id)}`)).body);
		expect(native).toMatchObject({ uid, metadata: { plan: "pro" }, settings: { throttle_rate: 20 } });
	});

	it("answers get_if_exists with the application of the uid (200), and a taken uid without it with 409 conflict", async () => {
		const uid = uniqueName("goc");
		const first = await api("POST", "/api/v1/app?get_if_exists=true", { body: { name: "First", uid } });
		expect(first.status).toBe(201);
		const second = await api("POST", "/api/v1/app?get_if_exists=true", { body: { name: "Second", uid } });
		expect(second.status).toBe(200);
		expect(record(second.body)).toMatchObject({ id: record(first.body).id, name: "First" });
		const duplicate = await api("POST", "/api/v1/app", { body: { name: "Third", uid } });
		expect(duplicate.status).toBe(409);
		expect(record(duplicate.body).code).toBe("conflict");
		expect(typeof record(duplicate.body).detail).toBe("string");
	});

	it("gets by id and by uid, and answers an unknown one with 404 not_found", async () => {
		const uid = uniqueName("get");
		const app = await createApp({ name: "Get me", uid });
		for (const ref of [String(app.id), uid]) {
			const got = await api("GET", `/api/v1/app/${ref}`);
			expect(got.status).toBe(200);
			expect(record(got.body).id).toBe(app.id);
		}
		const missing = await api("GET", `/api/v1/app/${uniqueName("nobody")}`);
		expect(missing.status).toBe(404);
		expect(record(missing.body).code).toBe("not_found");
		expect((await api("GET", "/api/v1/app/ten_doesnotexist")).status).toBe(404);
	});

	it("patches: fields left out stay, explicit null clears uid and throttleRate", async () => {
		const uid = uniqueName("patch");
		const app = await createApp({ name: "Patch", uid, throttleRate: 5, metadata: { a: "1" } });
		const renamed = await api("PATCH", `/api/v1/app/${uid}`, { body: { name: "Patched" } });
		expect(renamed.body).toMatchObject({ name: "Patched", uid, throttleRate: 5, metadata: { a: "1" } });
		const cleared = await api("PATCH", `/api/v1/app/${uid}`, { body: { uid: null, throttleRate: null } });
		expect(cleared.status).toBe(200);
		expect(cleared.body).toMatchObject({ id: app.id, uid: null, throttleRate: null, name: "Patched" });
		expect((await api("GET", `/api/v1/app/${uid}`)).status).toBe(404);
	});

	it("upserts with PUT: 201 creating (the path as uid), 200 replacing", async () => {
		const uid = uniqueName("put");
		const created = await api("PUT", `/api/v1/app/${uid}`, {
			body: { name: "Put", metadata: { x: "y" }, throttleRate: 9 },
		});
		expect(created.status).toBe(201);
		expect(created.body).toMatchObject({ uid, name: "Put", metadata: { x: "y" }, throttleRate: 9 });
		const replaced = await api("PUT", `/api/v1/app/${uid}`, { body: { name: "Put again" } });
		expect(replaced.status).toBe(200);
		// A replacement: what the body leaves out goes back to its default, but the path's uid stays.
		expect(replaced.body).toMatchObject({
			id: record(created.body).id,
			uid,
			name: "Put again",
			metadata: {},
			throttleRate: null,
		});
		const byId = await api("PUT", `/api/v1/app/${String(record(created.body).id)}`, { body: { name: "By id", uid } });
		expect(byId.status).toBe(200);
	});

	it("deletes with 204, after which the uid is free again", async () => {
		const uid = uniqueName("del");
		const app = await createApp({ name: "Delete", uid });
		const deleted = await api("DELETE", `/api/v1/app/${uid}`);
		expect(deleted.status).toBe(204);
		expect(deleted.body).toBe("");
		expect((await api("GET", `/api/v1/app/${String(app.id)}`)).status).toBe(404);
		const again = await createApp({ name: "Delete again", uid });
		expect(again.id).not.toBe(app.id);
	});

	it("lists every application to the end with a small limit, in either order", async () => {
		for (let index = 0; index < 3; index++) await createApp({ name: `Listed ${index}` });
		const ids: string[] = [];
		let iterator: string | null = null;
		let pages = 0;
		for (;;) {
			const query: string = iterator === null ? "" : `&iterator=${iterator}`;
			const page = record((await api("GET", `/api/v1/app?limit=2${query}`)).body);
			pages++;
			ids.push(...(page.data as { id: string }[]).map((app) => app.id));
			if (page.done === true) break;
			iterator = String(page.iterator);
		}
		const total = await env.DB.prepare("SELECT count(*) AS n FROM tenants WHERE deleted_at IS NULL").first<{
			n: number;
		}>();
		expect(ids).toHaveLength(total?.n ?? -1);
		expect(new Set(ids).size).toBe(ids.length);
		expect(ids).toEqual([...ids].sort());
		expect(pages).toBeGreaterThan(1);
		const descending = record((await api("GET", "/api/v1/app?limit=250&order=descending")).body).data as {
			id: string;
		}[];
		expect(descending.map((app) => app.id)).toEqual([...ids].reverse().slice(0, 250));
		expect((await api("GET", "/api/v1/app?limit=251")).status).toBe(422);
	});

	it("answers a bad uid with a 422 naming [body, uid], and stores nothing", async () => {
		const before = await env.DB.prepare("SELECT count(*) AS n FROM tenants").first<{ n: number }>();
		for (const uid of ["has space", "ten_prefixed", ""]) {
			const response = await api("POST", "/api/v1/app", { body: { name: "Bad", uid } });
			expect(response.status, uid).toBe(422);
			const detail = record(response.body).detail as { loc: string[]; type: string }[];
			expect(detail[0]?.loc).toEqual(["body", "uid"]);
			expect(detail[0]?.type).toBe("value_error");
		}
		const noName = await api("POST", "/api/v1/app", { body: { uid: "fine" } });
		expect((record(noName.body).detail as { loc: string[] }[])[0]?.loc).toEqual(["body", "name"]);
		const after = await env.DB.prepare("SELECT count(*) AS n FROM tenants").first<{ n: number }>();
		expect(after?.n).toBe(before?.n);
	});

	it("gives a tenant key its own application only: list and get/patch its own, 404 for others, 403 to create or delete", async () => {
		const own = await createApp({ name: "Own", uid: uniqueName("own") });
		const other = await createApp({ name: "Other", uid: uniqueName("other") });
		const key = await tenantKey(String(own.id));
		const list = record((await api("GET", "/api/v1/app", { auth: key })).body);
		expect(list).toMatchObject({ done: true, iterator: null });
		expect((list.data as { id: string }[]).map((app) => app.id)).toEqual([own.id]);
		expect((await api("GET", `/api/v1/app/${String(own.uid)}`, { auth: key })).status).toBe(200);
		const patched = await api("PATCH", `/api/v1/app/${String(own.id)}`, { auth: key, body: { name: "Mine" } });
		expect(patched.body).toMatchObject({ name: "Mine" });
		for (const ref of [String(other.id), String(other.uid)]) {
			expect((await api("GET", `/api/v1/app/${ref}`, { auth: key })).status).toBe(404);
			expect((await api("PATCH", `/api/v1/app/${ref}`, { auth: key, body: { name: "Stolen" } })).status).toBe(404);
			expect((await api("DELETE", `/api/v1/app/${ref}`, { auth: key })).status).toBe(404);
		}
		const create = await api("POST", "/api/v1/app", { auth: key, body: { name: "New" } });
		expect(create.status).toBe(403);
		expect(record(create.body).code).toBe("insufficient access");
		expect((await api("DELETE", `/api/v1/app/${String(own.id)}`, { auth: key })).status).toBe(403);
		expect(record((await api("GET", `/api/v1/app/${String(other.id)}`)).body).name).toBe("Other");
	});

	it("replays an application create under the same idempotency-key, and creates another under a new key", async () => {
		const key = `test_${crypto.randomUUID()}`;
		const body = { name: "Idempotent" };
		const first = await api("POST", "/api/v1/app", { body, headers: { "idempotency-key": key } });
		const second = await api("POST", "/api/v1/app", { body, headers: { "idempotency-key": key } });
		expect(first.status).toBe(201);
		expect(second.status).toBe(201);
		expect(second.body).toEqual(first.body);
		expect(second.headers.get("idempotent-replayed")).toBe("true");
		const third = await api("POST", "/api/v1/app", {
			body,
			headers: { "idempotency-key": `test_${crypto.randomUUID()}` },
		});
		expect(third.status).toBe(201);
		expect(record(third.body).id).not.toBe(record(first.body).id);
	});
});

describe("Svix event types (/api/v1/event-type)", () => {
	it("creates, gets, lists, patches, upserts, archives and expunges in Svix's shape", async () => {
		const name = typeName();
		const created = await api("POST", "/api/v1/event-type", {
			body: { name, description: "Made", schemas: { "1": { type: "object" } }, groupName: "g", featureFlag: "beta" },
		});
		expect(created.status).toBe(201);
		expect(created.body).toMatchObject({
			name,
			description: "Made",
			archived: false,
			deprecated: false,
			schemas: { "1": { type: "object" } },
			groupName: "g",
			featureFlags: ["beta"],
			featureFlag: "beta",
		});
		const duplicate = await api("POST", "/api/v1/event-type", { body: { name, description: "Again" } });
		expect(duplicate.status).toBe(409);
		expect(record(duplicate.body).code).toBe("event_type_exists");

		expect(record((await api("GET", `/api/v1/event-type/${name}`)).body).name).toBe(name);
		const withoutContent = record((await api("GET", "/api/v1/event-type?limit=250&with_content=false")).body);
		const listed = (withoutContent.data as Record<string, unknown>[]).find((type) => type.name === name);
		expect(listed).toBeDefined();
		expect(listed && "schemas" in listed).toBe(false);
		const withContent = record((await api("GET", "/api/v1/event-type?limit=250")).body);
		expect((withContent.data as Record<string, unknown>[]).find((type) => type.name === name)?.schemas).toEqual({
			"1": { type: "object" },
		});

		const patched = await api("PATCH", `/api/v1/event-type/${name}`, { body: { deprecated: true, groupName: null } });
		expect(patched.body).toMatchObject({ deprecated: true, groupName: null, description: "Made" });
		const replaced = await api("PUT", `/api/v1/event-type/${name}`, { body: { description: "Replaced" } });
		expect(replaced.status).toBe(200);
		expect(replaced.body).toMatchObject({ description: "Replaced", deprecated: false, featureFlags: null });
		const upserted = await api("PUT", `/api/v1/event-type/${typeName()}`, { body: { description: "New" } });
		expect(upserted.status).toBe(201);

		expect((await api("DELETE", `/api/v1/event-type/${name}`)).status).toBe(204);
		expect(record((await api("GET", `/api/v1/event-type/${name}`)).body).archived).toBe(true);
		const live = record((await api("GET", "/api/v1/event-type?limit=250")).body).data as { name: string }[];
		expect(live.map((type) => type.name)).not.toContain(name);
		const archivedToo = record((await api("GET", "/api/v1/event-type?limit=250&include_archived=true")).body).data as {
			name: string;
		}[];
		expect(archivedToo.map((type) => type.name)).toContain(name);
		const revived = await api("POST", "/api/v1/event-type", { body: { name, description: "Back" } });
		expect(revived.status).toBe(201);
		expect(revived.body).toMatchObject({ archived: false, description: "Back" });

		expect((await api("DELETE", `/api/v1/event-type/${name}?expunge=true`)).status).toBe(204);
		const gone = await api("GET", `/api/v1/event-type/${name}`);
		expect(gone.status).toBe(404);
		expect(record(gone.body).code).toBe("not_found");
	});

	it("pages by name to the end", async () => {
		for (let index = 0; index < 3; index++) {
			await api("POST", "/api/v1/event-type", { body: { name: typeName(), description: "" } });
		}
		const names: string[] = [];
		let iterator: string | null = null;
		for (;;) {
			const query: string = iterator === null ? "" : `&iterator=${iterator}`;
			const page = record((await api("GET", `/api/v1/event-type?limit=2${query}`)).body);
			names.push(...(page.data as { name: string }[]).map((type) => type.name));
			if (page.done === true) break;
			iterator = String(page.iterator);
		}
		expect(names.length).toBeGreaterThanOrEqual(3);
		expect(names).toEqual([...names].sort());
		expect(new Set(names).size).toBe(names.length);
	});

	it("is read by a tenant key and written by the admin key only", async () => {
		const name = typeName();
		await api("POST", "/api/v1/event-type", { body: { name, description: "" } });
		const tenant = record((await api("POST", "/v1/tenants", { body: { name: "Reader" } })).body);
		const key = await tenantKey(String(tenant.id));
		expect((await api("GET", `/api/v1/event-type/${name}`, { auth: key })).status).toBe(200);
		const write = await api("POST", "/api/v1/event-type", { auth: key, body: { name: typeName(), description: "" } });
		expect(write.status).toBe(403);
		expect(record(write.body).code).toBe("insufficient access");
	});

	it("answers a bad name and a bad field with 422 naming them", async () => {
		const badName = await api("POST", "/api/v1/event-type", { body: { name: "has space", description: "" } });
		expect((record(badName.body).detail as { loc: string[] }[])[0]?.loc).toEqual(["body", "name"]);
		const badGroup = await api("POST", "/api/v1/event-type", {
			body: { name: typeName(), description: "", groupName: "" },
		});
		expect((record(badGroup.body).detail as { loc: string[] }[])[0]?.loc).toEqual(["body", "groupName"]);
		const badFlag = await api("POST", "/api/v1/event-type", {
			body: { name: typeName(), description: "", featureFlags: ["no spaces"] },
		});
		expect(badFlag.status).toBe(422);
		expect((record(badFlag.body).detail as { loc: string[] }[])[0]?.loc.slice(0, 2)).toEqual(["body", "featureFlags"]);
	});
});

describe("Svix authentication (/api/v1/auth)", () => {
	it("answers app-portal-access with a url that opens the tenant's portal, and a token", async () => {
		const uid = uniqueName("portal");
		const app = await createApp({ name: "Portal", uid });
		const access = await api("POST", `/api/v1/auth/app-portal-access/${uid}`, {
			body: { expiry: 3600, readOnly: true },
		});
		expect(access.status).toBe(200);
		const { url, token } = record(access.body) as { url: string; token: string };
		expect(url).toBe(`http://edgehook.test/portal/${token}`);
		const page = await api("GET", new URL(url).pathname, { auth: null });
		expect(page.status).toBe(200);
		expect(String(page.body)).toContain(`read-only portal of tenant ${String(app.id)}`);

		const noBody = await api("POST", `/api/v1/auth/app-portal-access/${String(app.id)}`);
		expect(noBody.status).toBe(200);
		const dashboard = await api("POST", `/api/v1/auth/dashboard-access/${uid}`);
		expect(dashboard.status).toBe(200);
		expect(record(dashboard.body).url).toMatch(/^http:\/\/edgehook\.test\/portal\//);
	});

	it("refuses an expiry out of Svix's bounds, and an unknown application", async () => {
		const app = await createApp({ name: "Portal bounds" });
		for (const expiry of [60, 604801]) {
			const response = await api("POST", `/api/v1/auth/app-portal-access/${String(app.id)}`, { body: { expiry } });
			expect(response.status).toBe(422);
			expect((record(response.body).detail as { loc: string[] }[])[0]?.loc).toEqual(["body", "expiry"]);
		}
		expect((await api("POST", `/api/v1/auth/app-portal-access/${uniqueName("nobody")}`)).status).toBe(404);
	});

	it("creates the application named inline when the path names none, its uid being the path's", async () => {
		const uid = uniqueName("inline");
		const mismatch = await api("POST", `/api/v1/auth/app-portal-access/${uid}`, {
			body: { application: { name: "Inline", uid: uniqueName("other") } },
		});
		expect(mismatch.status).toBe(422);
		expect((record(mismatch.body).detail as { loc: string[] }[])[0]?.loc).toEqual(["body", "application", "uid"]);
		const missing = await api("POST", `/api/v1/auth/app-portal-access/${uid}`, {
			body: { application: { name: "Inline" } },
		});
		expect(missing.status).toBe(422);
		expect((await api("GET", `/api/v1/app/${uid}`)).status).toBe(404);

		const access = await api("POST", `/api/v1/auth/app-portal-access/${uid}`, {
			body: { application: { name: "Inline", uid, metadata: { from: "portal" } } },
		});
		expect(access.status).toBe(200);
		const app = record((await api("GET", `/api/v1/app/${uid}`)).body);
		expect(app).toMatchObject({ name: "Inline", uid, metadata: { from: "portal" } });
		expect(String(record(access.body).url)).toContain("/portal/");
		// Once it exists, the inline application is not used again.
		const again = await api("POST", `/api/v1/auth/app-portal-access/${uid}`, {
			body: { application: { name: "Renamed?", uid } },
		});
		expect(again.status).toBe(200);
		expect(record((await api("GET", `/api/v1/app/${uid}`)).body).name).toBe("Inline");
	});

	it("lets a tenant key open its own portal only", async () => {
		const own = await createApp({ name: "Own portal" });
		const other = await createApp({ name: "Other portal" });
		const key = await tenantKey(String(own.id));
		expect((await api("POST", `/api/v1/auth/app-portal-access/${String(own.id)}`, { auth: key })).status).toBe(200);
		expect((await api("POST", `/api/v1/auth/app-portal-access/${String(other.id)}`, { auth: key })).status).toBe(404);
	});
});

describe("Svix application list flags", () => {
	it("maps exclude_apps_with_no_endpoints and exclude_apps_with_disabled_endpoints, and accepts the Svix Play one", async () => {
		const empty = await createApp({ name: "Empty" });
		const withHook = await createApp({ name: "With hook" });
		const created = await api("POST", "/v1/webhooks", {
			body: { url: "https://example.com/hook", events: ["*"] },
			headers: { "x-tenant-id": String(withHook.id) },
		});
		expect(created.status).toBe(201);
		async function listed(query: string): Promise<unknown[]> {
			const ids: unknown[] = [];
			let iterator = "";
			for (;;) {
				const page = record((await api("GET", `/api/v1/app?limit=3${query}${iterator}`)).body);
				ids.push(...(page.data as { id: string }[]).map((app) => app.id));
				if (page.done === true) return ids;
				iterator = `&iterator=${String(page.iterator)}`;
			}
		}
		const all = await listed("&exclude_apps_with_svix_play_endpoints=true");
		expect(all).toContain(empty.id);
		const withEndpoints = await listed("&exclude_apps_with_no_endpoints=true");
		expect(withEndpoints).toContain(withHook.id);
		expect(withEndpoints).not.toContain(empty.id);
		expect(await listed("&exclude_apps_with_disabled_endpoints=true")).toContain(empty.id);
	});

	it("pages on past filtered pages that show nothing: the iterator is where the list goes on, not the last app shown", async () => {
		const withHook = await createApp({ name: "With hook" });
		for (let index = 0; index < 4; index++) await createApp({ name: `Empty ${index}` });
		const created = await api("POST", "/v1/webhooks", {
			body: { url: "https://example.com/hook", events: ["*"] },
			headers: { "x-tenant-id": String(withHook.id) },
		});
		expect(created.status).toBe(201);
		const ids: string[] = [];
		let emptyPages = 0;
		let iterator = "";
		for (let pages = 0; ; pages++) {
			expect(pages, "the list never ended").toBeLessThan(200);
			const page = record(
				(await api("GET", `/api/v1/app?limit=1&exclude_apps_with_no_endpoints=true${iterator}`)).body,
			);
			const data = page.data as { id: string }[];
			if (data.length === 0) emptyPages++;
			ids.push(...data.map((app) => app.id));
			if (page.done === true) break;
			expect(page.iterator).toEqual(expect.any(String));
			iterator = `&iterator=${String(page.iterator)}`;
		}
		expect(emptyPages).toBeGreaterThan(0);
		expect(ids).toContain(withHook.id);
		expect(new Set(ids).size).toBe(ids.length);
	});
});

describe("the face's description of these operations", () => {
	it("lists every application, event type and authentication operation in /api/v1/openapi.json", async () => {
		const document = record((await api("GET", "/api/v1/openapi.json", { auth: null })).body);
		const paths = record(document.paths);
		const operations = Object.entries(paths).flatMap(([path, item]) =>
			Object.keys(record(item)).map((method) => `${method.toUpperCase()} ${path}`),
		);
		expect(operations).toEqual(
			expect.arrayContaining([
				"GET /api/v1/app",
				"POST /api/v1/app",
				"GET /api/v1/app/{app_id}",
				"PUT /api/v1/app/{app_id}",
				"PATCH /api/v1/app/{app_id}",
				"DELETE /api/v1/app/{app_id}",
				"GET /api/v1/event-type",
				"POST /api/v1/event-type",
				"GET /api/v1/event-type/{event_type_name}",
				"PUT /api/v1/event-type/{event_type_name}",
				"PATCH /api/v1/event-type/{event_type_name}",
				"DELETE /api/v1/event-type/{event_type_name}",
				"POST /api/v1/auth/app-portal-access/{app_id}",
				"POST /api/v1/auth/dashboard-access/{app_id}",
			]),
		);
	});
});
