import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import type { TenantRow } from "../../src/db/schema";
import { getTenantOr404, insertTenantClaimingUid, updateTenantClaimingUid } from "../../src/db/tenants";
import { api, record, SHARDS, uniqueName } from "./helpers";

async function createTenant(body: Record<string, unknown>): Promise<Record<string, unknown>> {
	const created = await api("POST", "/v1/tenants", { body });
	if (created.status !== 201) throw new Error(`tenant not created: ${created.status} ${JSON.stringify(created.body)}`);
	return record(created.body);
}

async function tenantKey(tenantId: string): Promise<string> {
	const created = await api("POST", `/v1/tenants/${tenantId}/api-keys`, { body: { name: "test" } });
	return String(record(created.body).key);
}

async function claimOf(uid: string): Promise<string | null> {
	const row = await env.DB.prepare("SELECT tenant_id FROM tenant_uids WHERE uid = ?")
		.bind(uid)
		.first<{ tenant_id: string }>();
	return row?.tenant_id ?? null;
}

describe("tenant uid and metadata", () => {
	it("creates a tenant with a uid and metadata, and reads, patches and deletes it by uid", async () => {
		const uid = uniqueName("acme");
		const tenant = await createTenant({ name: "Acme", uid, metadata: { plan: "pro" } });
		expect(tenant).toMatchObject({ uid, metadata: { plan: "pro" } });
		expect(await claimOf(uid)).toBe(tenant.id);

		const byUid = await api("GET", `/v1/tenants/${uid}`);
		expect(byUid.status).toBe(200);
		expect(record(byUid.body).id).toBe(tenant.id);

		const patched = await api("PATCH", `/v1/tenants/${uid}`, { body: { name: "Acme 2", metadata: { a: "b" } } });
		expect(patched.status).toBe(200);
		expect(patched.body).toMatchObject({ id: tenant.id, name: "Acme 2", uid, metadata: { a: "b" } });

		const deleted = await api("DELETE", `/v1/tenants/${uid}`);
		expect(deleted.status).toBe(202);
		expect(await claimOf(uid)).toBeNull();
		expect((await api("GET", `/v1/tenants/${uid}`)).status).toBe(404);
		expect((await api("GET", `/v1/tenants/${String(tenant.id)}`)).status).toBe(404);

		// Deleting frees the uid for a new tenant at once.
		const again = await createTenant({ name: "Acme again", uid });
		expect(again.id).not.toBe(tenant.id);
		expect(await claimOf(uid)).toBe(again.id);
	});

	it("refuses a taken uid with 409 and stores nothing, on create and on patch", async () => {
		const uid = uniqueName("taken");
		const first = await createTenant({ name: "First", uid });
		const before = await env.DB.prepare("SELECT count(*) AS n FROM tenants").first<{ n: number }>();
		const duplicate = await api("POST", "/v1/tenants", { body: { name: "Second", uid } });
		expect(duplicate.status).toBe(409);
		expect(duplicate.body).toMatchObject({ error: { code: "conflict" } });
		const after = await env.DB.prepare("SELECT count(*) AS n FROM tenants").first<{ n: number }>();
		expect(after?.n).toBe(before?.n);

		const other = await createTenant({ name: "Other", uid: uniqueName("other") });
		const stolen = await api("PATCH", `/v1/tenants/${String(other.id)}`, { body: { uid, name: "Renamed" } });
		expect(stolen.status).toBe(409);
		expect(await claimOf(uid)).toBe(first.id);
		// Nothing of the refused patch was kept, the old uid included.
		const otherNow = record((await api("GET", `/v1/tenants/${String(other.id)}`)).body);
		expect(otherNow).toMatchObject({ name: "Other", uid: other.uid });
		expect(await claimOf(String(other.uid))).toBe(other.id);
	});

	it("decides a uid race inside the batch: the loser stores no row and keeps no claim", async () => {
		// The routes read the claim first; these calls skip that read, as a create racing another would.
		const control = openDatabase(env.DB);
		const uid = uniqueName("race");
		const winner = await createTenant({ name: "Winner", uid });
		const now = Date.now();
		const loser: TenantRow = {
			id: `ten_${uniqueName("loser").replace("-", "")}`,
			name: "Loser",
			settings: "{}",
			createdAt: now,
			updatedAt: now,
			deletedAt: null,
			shard: "DB",
			uid,
			metadata: "{}",
		};
		expect(await insertTenantClaimingUid(control, loser)).toBeNull();
		expect(await env.DB.prepare("SELECT id FROM tenants WHERE id = ?").bind(loser.id).first()).toBeNull();
		expect(await claimOf(uid)).toBe(winner.id);

		const otherUid = uniqueName("other");
		const other = await getTenantOr404(control, String((await createTenant({ name: "Other", uid: otherUid })).id));
		const refused = await updateTenantClaimingUid(control, other, { ...other, name: "Changed", uid });
		expect(refused).toBeNull();
		expect(await getTenantOr404(control, other.id)).toMatchObject({ name: "Other", uid: otherUid });
		expect(await claimOf(otherUid)).toBe(other.id);
		expect(await claimOf(uid)).toBe(winner.id);
	});

	it("changes and clears a uid, releasing the old claim, and copies the row to its shard", async () => {
		const oldUid = uniqueName("old");
		const newUid = uniqueName("new");
		const tenant = await createTenant({ name: "Mover", uid: oldUid, shard: "SHARD_2" });
		const changed = await api("PATCH", `/v1/tenants/${String(tenant.id)}`, { body: { uid: newUid } });
		expect(changed.status).toBe(200);
		expect(record(changed.body).uid).toBe(newUid);
		expect(await claimOf(oldUid)).toBeNull();
		expect(await claimOf(newUid)).toBe(tenant.id);
		const copy = await SHARDS.SHARD_2?.prepare("SELECT uid, metadata FROM tenants WHERE id = ?")
			.bind(tenant.id)
			.first<{ uid: string | null; metadata: string }>();
		expect(copy).toEqual({ uid: newUid, metadata: "{}" });

		const cleared = await api("PATCH", `/v1/tenants/${newUid}`, { body: { uid: null } });
		expect(cleared.status).toBe(200);
		expect(record(cleared.body).uid).toBeNull();
		expect(await claimOf(newUid)).toBeNull();
		expect((await api("GET", `/v1/tenants/${newUid}`)).status).toBe(404);
	});

	it("validates uid and metadata", async () => {
		for (const uid of ["", "has space", "ten_looks_like_an_id", "default", "x".repeat(257)]) {
			const response = await api("POST", "/v1/tenants", { body: { name: "Bad", uid } });
			expect(response.status, uid).toBe(422);
			expect(JSON.stringify(response.body)).toContain("uid");
		}
		const metadata = await api("POST", "/v1/tenants", { body: { name: "Bad", metadata: { n: 1 } } });
		expect(metadata.status).toBe(422);
	});

	it("stores throttle_rate in settings and clears it with null", async () => {
		const tenant = await createTenant({ name: "Throttled", settings: { throttle_rate: 50 } });
		expect(record(tenant.settings).throttle_rate).toBe(50);
		const cleared = await api("PATCH", `/v1/tenants/${String(tenant.id)}`, {
			body: { settings: { throttle_rate: null } },
		});
		expect(record(record(cleared.body).settings).throttle_rate).toBeUndefined();
	});

	it("lists tenants in either order", async () => {
		await createTenant({ name: "One" });
		await createTenant({ name: "Two" });
		const ascending = record((await api("GET", "/v1/tenants?limit=250")).body).tenants as { id: string }[];
		const descending = record((await api("GET", "/v1/tenants?limit=250&order=desc")).body).tenants as {
			id: string;
		}[];
		expect(ascending.map((tenant) => tenant.id)).toEqual([...ascending.map((tenant) => tenant.id)].sort());
		expect(descending.map((tenant) => tenant.id)).toEqual([...descending.map((tenant) => tenant.id)].sort().reverse());
		const firstDown = descending[0]?.id ?? "";
		const next = record((await api("GET", `/v1/tenants?limit=1&order=desc&cursor=${firstDown}`)).body).tenants as {
			id: string;
		}[];
		expect(next[0]?.id).toBe(descending[1]?.id);
	});
});

describe("tenant sub-resources by uid", () => {
	it("creates, lists and revokes API keys and makes portal links for a tenant named by its uid", async () => {
		const uid = uniqueName("keys");
		const tenant = await createTenant({ name: "Keys by uid", uid });
		const created = await api("POST", `/v1/tenants/${uid}/api-keys`, { body: { name: "by uid" } });
		expect(created.status).toBe(201);
		const keyId = String(record(created.body).id);
		const list = record((await api("GET", `/v1/tenants/${uid}/api-keys`)).body).api_keys as { id: string }[];
		expect(list.map((key) => key.id)).toEqual([keyId]);
		// The key is the tenant's, whichever name created it.
		const own = await api("GET", "/v1/tenant", { auth: String(record(created.body).key) });
		expect(record(own.body).id).toBe(tenant.id);
		expect((await api("DELETE", `/v1/tenants/${uid}/api-keys/${keyId}`)).status).toBe(204);

		const link = await api("POST", `/v1/tenants/${uid}/portal-links`);
		expect(link.status).toBe(201);
		expect(record(link.body).tenant_id).toBe(tenant.id);
		expect((await api("POST", `/v1/tenants/${uniqueName("nobody")}/portal-links`)).status).toBe(404);
	});
});

describe("the tenant a request acts on (/v1/tenant)", () => {
	it("lets a tenant key read and change its own tenant, but not its limits", async () => {
		const tenant = await createTenant({ name: "Own", uid: uniqueName("own") });
		const key = await tenantKey(String(tenant.id));
		const read = await api("GET", "/v1/tenant", { auth: key });
		expect(read.status).toBe(200);
		expect(record(read.body).id).toBe(tenant.id);

		const uid = uniqueName("own-new");
		const patched = await api("PATCH", "/v1/tenant", { auth: key, body: { uid, metadata: { k: "v" } } });
		expect(patched.status).toBe(200);
		expect(patched.body).toMatchObject({ id: tenant.id, uid, metadata: { k: "v" } });

		const limits = await api("PATCH", "/v1/tenant", { auth: key, body: { limits: { max_endpoints: 1000 } } });
		expect(limits.status).toBe(422);
		// Delivery settings stay the operator's; throttle_rate, a Svix application's own, does not.
		const signing = await api("PATCH", "/v1/tenant", { auth: key, body: { settings: { signature_header: "X-Mine" } } });
		expect(signing.status).toBe(422);
		const throttle = await api("PATCH", "/v1/tenant", { auth: key, body: { settings: { throttle_rate: 7 } } });
		expect(record(record(throttle.body).settings).throttle_rate).toBe(7);
		// Still the admin key's alone.
		expect((await api("GET", `/v1/tenants/${String(tenant.id)}`, { auth: key })).status).toBe(403);
	});

	it("acts on the tenant X-Tenant-Id names for the admin key", async () => {
		const tenant = await createTenant({ name: "Named" });
		const read = await api("GET", "/v1/tenant", { headers: { "x-tenant-id": String(tenant.id) } });
		expect(record(read.body).id).toBe(tenant.id);
	});
});

describe("tenant list filters on endpoints", () => {
	it("leaves out tenants without endpoints, or with a disabled one, asking each tenant's own shard", async () => {
		const none = await createTenant({ name: "No endpoints", shard: "SHARD_2" });
		const live = await createTenant({ name: "Live endpoint", shard: "SHARD_3" });
		const disabled = await createTenant({ name: "Disabled endpoint", shard: "DB" });
		const hook = { url: "https://example.com/hook", events: ["*"] };
		for (const tenant of [live, disabled]) {
			const created = await api("POST", "/v1/webhooks", { body: hook, headers: { "x-tenant-id": String(tenant.id) } });
			expect(created.status).toBe(201);
			if (tenant === disabled) {
				const off = await api("PATCH", `/v1/webhooks/${String(record(created.body).id)}`, {
					body: { active: false },
					headers: { "x-tenant-id": String(tenant.id) },
				});
				expect(off.status).toBe(200);
			}
		}
		const ours = new Set([none.id, live.id, disabled.id]);
		async function listed(query: string): Promise<unknown[]> {
			const ids: unknown[] = [];
			let cursor = "";
			for (;;) {
				const page = record((await api("GET", `/v1/tenants?limit=2${query}${cursor}`)).body);
				ids.push(...(page.tenants as { id: string }[]).map((tenant) => tenant.id).filter((id) => ours.has(id)));
				if (page.next_cursor === null) return ids;
				cursor = `&cursor=${String(page.next_cursor)}`;
			}
		}
		expect((await listed("")).sort()).toEqual([...ours].sort());
		expect((await listed("&exclude_without_endpoints=true")).sort()).toEqual([live.id, disabled.id].sort());
		expect(await listed("&exclude_with_disabled_endpoints=true")).not.toContain(disabled.id);
		expect((await listed("&exclude_with_disabled_endpoints=true")).sort()).toEqual([none.id, live.id].sort());
		expect(await listed("&exclude_without_endpoints=true&exclude_with_disabled_endpoints=true")).toEqual([live.id]);
	});
});
