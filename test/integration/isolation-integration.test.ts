import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import committed from "../../docs/openapi.json";
import { sweep } from "../../src/reliability/sweeper";
import {
	api,
	describedOperations,
	receivedBy,
	receiverPath,
	record,
	SHARDS,
	storedSeq,
	tenantSnapshot,
	tenantWithKey,
	uniqueName,
	waitFor,
} from "./helpers";

/**
 * The tenant isolation matrix, generated from the API description: every
 * operation whose path takes an id is called by tenant A (with A's own key,
 * and with the admin key scoped to A) on tenant B's ids. Tenant routes are
 * the admin key's alone, so A's key gets 403 there; everything else answers
 * 404, and B's data, retries and receiver stay exactly as they were. A new
 * route on an existing resource is covered without editing this file; a
 * new kind of id fails below until it gets a fixture.
 */

const operations = describedOperations(committed);
const withIds = operations.filter((operation) => operation.path.includes("{"));

/** What the matrix compares: the tenant's rows on every database. */
const snapshot = (tenantId: string) =>
	tenantSnapshot(tenantId, [
		"endpoints",
		"events",
		"event_blocks",
		"deliveries",
		"event_types",
		"api_keys",
		"templates",
		"tasks",
	]);

describe("tenant isolation matrix", () => {
	it("covers every operation that takes an id", () => {
		expect(withIds.length).toBeGreaterThanOrEqual(15);
	});

	// On one shard, B's ids are rows A's requests could reach; across shards, A's database has none of them.
	it.each([
		["on the same shard", "SHARD_2", "SHARD_2"],
		["on different shards", "DB", "SHARD_3"],
	])(
		"answers A's key and the admin key scoped to A with 404 (403 on tenant routes) on B's ids, changing nothing, %s",
		async (_where, shardA, shardB) => {
			const a = await tenantWithKey("isolation", shardA);
			const b = await tenantWithKey("isolation", shardB);
			const asB = { auth: b.key };
			const receiver = uniqueName("tenant-b");
			const hook = record(
				(await api("POST", "/v1/webhooks", { ...asB, body: { url: receiverPath("ok", receiver), events: ["*"] } }))
					.body,
			);
			expect((await api("POST", "/v1/event-types", { ...asB, body: { name: "b.only" } })).status).toBe(201);
			expect(
				(await api("PUT", "/v1/templates/slack/b.only", { ...asB, body: { expression: '{"text": type}' } })).status,
			).toBe(200);
			const event = record((await api("POST", "/v1/events", { ...asB, body: { type: "b.only", data: {} } })).body);
			const deliveries = await waitFor(async () => {
				const list = record((await api("GET", `/v1/webhooks/${hook.id}/deliveries`, asB)).body);
				const rows = list.deliveries as Record<string, unknown>[];
				return rows.length > 0 && rows[0]?.status === "success" ? rows : undefined;
			});
			const bKeys = record((await api("GET", `/v1/tenants/${b.id}/api-keys`)).body).api_keys as Record<
				string,
				unknown
			>[];
			const since = new Date(Date.now() - 60 * 60 * 1000).toISOString();
			const task = record((await api("POST", `/v1/webhooks/${hook.id}/recover`, { ...asB, body: { since } })).body);
			// Settled before the snapshot, so B's rows cannot change behind the matrix.
			await waitFor(async () =>
				record((await api("GET", `/v1/tasks/${task.id}`, asB)).body).status === "completed" ? true : undefined,
			);

			const idOf: Record<string, string> = {
				webhooks: String(hook.id),
				events: String(event.id),
				deliveries: String(deliveries[0]?.id),
				"event-types": "b.only",
				tenants: b.id,
				tasks: String(task.id),
				templates: "b.only",
			};
			const before = await snapshot(b.id);
			const receivedBefore = (await receivedBy(receiver)).length;

			const callers: { name: string; auth: string | undefined; headers: Record<string, string> }[] = [
				{ name: "A's key", auth: a.key, headers: {} },
				{ name: "admin key scoped to A", auth: undefined, headers: { "x-tenant-id": a.id } },
			];
			let calls = 0;
			for (const operation of withIds) {
				const resource = operation.path.split("/")[2] ?? "";
				// The deployment's event type catalog belongs to no tenant (test/integration/catalog-event-types-integration.test.ts).
				if (resource === "catalog") continue;
				const id = idOf[resource];
				if (id === undefined)
					throw new Error(`no fixture for ids of ${resource} (${operation.method} ${operation.path})`);
				const path = operation.path
					.replace(/\{(id|name|event_type)\}/, encodeURIComponent(id))
					.replace("{channel}", "slack")
					.replace("{key_id}", String(bKeys[0]?.id));
				for (const caller of callers) {
					const tenantRoute = resource === "tenants";
					// The admin key may manage any tenant by id: that is its job, not a leak.
					if (tenantRoute && caller.auth === undefined) continue;
					const response = await api(operation.method, path, {
						auth: caller.auth,
						headers: caller.headers,
						body: operation.bodyRequired ? {} : undefined,
					});
					calls++;
					// A PUT names a template in the caller's own tenant and reads nothing of B's: the empty body is refused.
					const expected = tenantRoute ? 403 : operation.method === "PUT" ? 422 : 404;
					expect(
						response.status,
						`${caller.name}: ${operation.method} ${path} answered ${response.status} ${JSON.stringify(response.body)}`,
					).toBe(expected);
				}
			}
			expect(calls).toBeGreaterThanOrEqual(withIds.length);
			console.log(`isolation matrix: ${withIds.length} operations with ids, ${calls} calls, 0 leaks`);
			expect(await snapshot(b.id)).toBe(before);
			expect((await receivedBy(receiver)).length).toBe(receivedBefore);
		},
	);
});

describe("tenants on shards", () => {
	it("keeps every row of a tenant's data on its own shard; the control database holds only its tenant row and keys", async () => {
		const tenant = await tenantWithKey("isolation", "SHARD_3");
		const as = { auth: tenant.key };
		const receiver = uniqueName("sharded");
		const hook = record(
			(await api("POST", "/v1/webhooks", { ...as, body: { url: receiverPath("ok", receiver), events: ["*"] } })).body,
		);
		expect((await api("POST", "/v1/event-types", { ...as, body: { name: "shard.probe" } })).status).toBe(201);
		expect(
			(await api("PUT", "/v1/templates/slack/shard.probe", { ...as, body: { expression: '{"text": type}' } })).status,
		).toBe(200);
		for (let i = 0; i < 3; i++) {
			expect((await api("POST", "/v1/events", { ...as, body: { type: "shard.probe", data: { i } } })).status).toBe(202);
		}
		await waitFor(async () => ((await receivedBy(receiver)).length === 3 ? true : undefined));
		const since = new Date(Date.now() - 60 * 60 * 1000).toISOString();
		expect((await api("POST", `/v1/webhooks/${hook.id}/recover`, { ...as, body: { since } })).status).toBe(202);

		const count = async (database: D1Database, table: string, column = "tenant_id") =>
			(
				await database
					.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${column} = ?`)
					.bind(tenant.id)
					.first<{ n: number }>()
			)?.n ?? 0;
		// Three first attempts that succeeded: packed (delivery_packs), read through the delivery_log view.
		const dataTables = ["endpoints", "events", "delivery_packs", "delivery_log", "event_types", "templates", "tasks"];
		await waitFor(async () => ((await count(SHARDS.SHARD_3 as D1Database, "delivery_log")) === 3 ? true : undefined));
		for (const table of dataTables) {
			expect(await count(SHARDS.SHARD_3 as D1Database, table), `${table} on SHARD_3`).toBeGreaterThan(0);
			for (const other of ["DB", "SHARD_2"]) {
				expect(await count(SHARDS[other] as D1Database, table), `${table} on ${other}`).toBe(0);
			}
		}
		// The control database: the tenant's row, with its placement, and its key.
		expect(await count(env.DB, "api_keys")).toBe(1);
		expect(await count(SHARDS.SHARD_3 as D1Database, "api_keys")).toBe(0);
		const placement = await env.DB.prepare("SELECT shard FROM tenants WHERE id = ?")
			.bind(tenant.id)
			.first<{ shard: string }>();
		expect(placement?.shard).toBe("SHARD_3");
		// Its shard keeps a copy of the row, which its deliveries read; the third database has none.
		expect(await count(SHARDS.SHARD_3 as D1Database, "tenants", "id")).toBe(1);
		expect(await count(SHARDS.SHARD_2 as D1Database, "tenants", "id")).toBe(0);
	});

	it("keeps the shard's copy of the tenant row in step with the control row through changes and deletion", async () => {
		const tenant = await tenantWithKey("isolation", "SHARD_2");
		const copy = async () =>
			(SHARDS.SHARD_2 as D1Database)
				.prepare("SELECT name, settings, deleted_at FROM tenants WHERE id = ?")
				.bind(tenant.id)
				.first<{ name: string; settings: string; deleted_at: number | null }>();
		const patched = await api("PATCH", `/v1/tenants/${tenant.id}`, {
			body: { name: "Renamed", settings: { signature_header: "X-Copied-Signature" } },
		});
		expect(patched.status).toBe(200);
		const afterPatch = await copy();
		expect(afterPatch?.name).toBe("Renamed");
		expect(JSON.parse(afterPatch?.settings ?? "{}")).toMatchObject({ signature_header: "X-Copied-Signature" });
		expect((await api("DELETE", `/v1/tenants/${tenant.id}`)).status).toBe(202);
		expect((await copy())?.deleted_at).toEqual(expect.any(Number));
		const control = await env.DB.prepare("SELECT deleted_at FROM tenants WHERE id = ?")
			.bind(tenant.id)
			.first<{ deleted_at: number | null }>();
		expect(control?.deleted_at).toBe((await copy())?.deleted_at);
	});

	it("brings a copy that missed its write in line on the sweeper's next run", async () => {
		const tenant = await tenantWithKey("isolation", "SHARD_3");
		// As if the copy write after a PATCH had failed and the client never retried: only the control row changed.
		const later = Date.now() + 1;
		await env.DB.prepare("UPDATE tenants SET settings = ?, updated_at = ? WHERE id = ?")
			.bind(JSON.stringify({ signature_header: "X-Repaired-Signature" }), later, tenant.id)
			.run();
		const copied = () =>
			(SHARDS.SHARD_3 as D1Database)
				.prepare("SELECT settings, updated_at FROM tenants WHERE id = ?")
				.bind(tenant.id)
				.first<{ settings: string; updated_at: number }>();
		expect((await copied())?.settings).not.toContain("X-Repaired-Signature");
		await sweep(env, Date.now());
		expect(await copied()).toEqual({
			settings: JSON.stringify({ signature_header: "X-Repaired-Signature" }),
			updated_at: later,
		});
	});

	it("places a new tenant on the shard with the fewest tenants, or where the operator says, and refuses an unknown one", async () => {
		const shardsNow = async () => {
			const rows = await env.DB.prepare(
				"SELECT shard, count(*) AS n FROM tenants WHERE deleted_at IS NULL GROUP BY shard",
			).all<{ shard: string; n: number }>();
			return new Map(rows.results.map((row) => [row.shard, row.n]));
		};
		const before = await shardsNow();
		const fewest = Math.min(...["DB", "SHARD_2", "SHARD_3"].map((shard) => before.get(shard) ?? 0));
		const created = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("placed") } })).body);
		expect(before.get(String(created.shard)) ?? 0).toBe(fewest);

		const chosen = record(
			(await api("POST", "/v1/tenants", { body: { name: uniqueName("chosen"), shard: "DB" } })).body,
		);
		expect(chosen.shard).toBe("DB");
		expect(record((await api("GET", `/v1/tenants/${chosen.id}`)).body).shard).toBe("DB");
		for (const shard of ["SHARD_9", "shard_2", "PRODUCTION_DB"]) {
			const refused = await api("POST", "/v1/tenants", { body: { name: uniqueName("nowhere"), shard } });
			expect(refused.status, shard).toBe(422);
			expect(JSON.stringify(refused.body), shard).toContain("shard");
		}
	});
});

describe("what a tenant sees of others", () => {
	/** Base32 digits as ids encode numbers (src/lib/ids.ts), so a sequence number would show in this form. */
	function fixedBase32(value: number): string {
		const alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
		let out = "";
		for (let remaining = value, place = 0; place < 10; place++, remaining = Math.floor(remaining / 32)) {
			out = alphabet[remaining % 32] + out;
		}
		return out;
	}

	it("is nothing: cursors and delivery ids carry no count of the deployment's events", async () => {
		const a = await tenantWithKey("isolation");
		const b = await tenantWithKey("isolation");
		const hook = record(
			(
				await api("POST", "/v1/webhooks", {
					auth: a.key,
					body: { url: receiverPath("ok", uniqueName("seen")), events: ["*"] },
				})
			).body,
		);
		const send = async (key: string) =>
			String(
				record((await api("POST", "/v1/events", { auth: key, body: { type: "volume.probe", data: {} } })).body).id,
			);
		const first = await send(a.key);
		for (let other = 0; other < 5; other++) await send(b.key);
		const second = await send(a.key);

		const listed = await api("GET", "/v1/events?type=volume.probe", { auth: a.key });
		expect(record(listed.body).next_cursor).toBe(second);
		const tested = record((await api("POST", `/v1/webhooks/${hook.id}/test`, { auth: a.key })).body);
		const seen: unknown[] = [listed.body, tested];
		for (const eventId of [first, second, String(tested.event_id)]) {
			const event = record((await api("GET", `/v1/events/${eventId}`, { auth: a.key })).body);
			const [delivery] = event.deliveries as { id: string }[];
			expect(delivery?.id).toBe(`del_${String(hook.id).slice("hook_".length)}_${eventId}`);
			seen.push(event, (await api("GET", `/v1/deliveries/${delivery?.id}`, { auth: a.key })).body);
		}
		// A delivery is listed once its first attempt is recorded.
		const log = await waitFor(async () => {
			const body = record((await api("GET", `/v1/webhooks/${hook.id}/deliveries`, { auth: a.key })).body);
			return (body.deliveries as unknown[]).length === 3 ? body : undefined;
		});
		seen.push(log);
		const text = JSON.stringify(seen);
		for (const eventId of [first, second]) {
			const seq = await storedSeq(eventId);
			expect(text).not.toContain(fixedBase32(seq));
			expect(text).not.toMatch(new RegExp(`"next_cursor":"?${seq}"?[,}]`));
		}
		// The list pages on with the public ids it gave.
		const page = record((await api("GET", `/v1/webhooks/${hook.id}/deliveries?limit=1`, { auth: a.key })).body);
		const rest = await api("GET", `/v1/webhooks/${hook.id}/deliveries?limit=5&cursor=${String(page.next_cursor)}`, {
			auth: a.key,
		});
		expect(rest.status).toBe(200);
		expect((record(rest.body).deliveries as unknown[]).length).toBe(2);
		// A number as the cursor would let a tenant bisect positions again: it is refused.
		const numeric = await api("GET", `/v1/events?cursor=${await storedSeq(first)}`, { auth: a.key });
		expect(numeric.status).toBe(400);
		expect(record(record(numeric.body).error).message).toContain("the cursor names no event of this tenant");
		// Another tenant's event id is no cursor either.
		const foreign = String(record((await api("GET", "/v1/events?limit=1", { auth: b.key })).body).next_cursor);
		expect((await api("GET", `/v1/events?cursor=${foreign}`, { auth: a.key })).status).toBe(400);
	});
});
