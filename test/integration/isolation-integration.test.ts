import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import committed from "../../docs/openapi.json";
import { api, receivedBy, receiverPath, record, storedSeq, uniqueName, waitFor } from "./helpers";

/**
 * The tenant isolation matrix, generated from the API description: every
 * operation whose path takes an id is called by tenant A (with A's own key,
 * and with the admin key scoped to A) on tenant B's ids. Tenant routes are
 * the admin key's alone, so A's key gets 403 there; everything else answers
 * 404, and B's data, retries and receiver stay exactly as they were. A new
 * route on an existing resource is covered without editing this file; a
 * new kind of id fails below until it gets a fixture.
 */

interface Operation {
	method: string;
	path: string;
	bodyRequired: boolean;
}

const operations: Operation[] = Object.entries(committed.paths).flatMap(([path, item]) =>
	Object.entries(item as Record<string, { requestBody?: { required?: boolean } }>).map(([method, operation]) => ({
		method: method.toUpperCase(),
		path,
		bodyRequired: operation.requestBody?.required === true,
	})),
);
const withIds = operations.filter((operation) => operation.path.includes("{"));

async function tenantWithKey(): Promise<{ id: string; key: string }> {
	const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("isolation") } })).body);
	const key = record((await api("POST", `/v1/tenants/${tenant.id}/api-keys`, { body: { name: "k" } })).body);
	return { id: String(tenant.id), key: String(key.key) };
}

async function snapshot(tenantId: string): Promise<string> {
	const tables = ["endpoints", "events", "deliveries", "event_types", "api_keys", "templates"];
	const rows = await env.DB.batch([
		...tables.map((table) => env.DB.prepare(`SELECT * FROM ${table} WHERE tenant_id = ? ORDER BY 1, 2`).bind(tenantId)),
		env.DB.prepare("SELECT * FROM tenants WHERE id = ?").bind(tenantId),
	]);
	return JSON.stringify(rows.map((result) => result.results));
}

describe("tenant isolation matrix", () => {
	it("covers every operation that takes an id", () => {
		expect(withIds.length).toBeGreaterThanOrEqual(15);
	});

	it("answers A's key and the admin key scoped to A with 404 (403 on tenant routes) on B's ids, changing nothing", async () => {
		const a = await tenantWithKey();
		const b = await tenantWithKey();
		const asB = { auth: b.key };
		const receiver = uniqueName("tenant-b");
		const hook = record(
			(await api("POST", "/v1/webhooks", { ...asB, body: { url: receiverPath("ok", receiver), events: ["*"] } })).body,
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
		const bKeys = record((await api("GET", `/v1/tenants/${b.id}/api-keys`)).body).api_keys as Record<string, unknown>[];
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
		const a = await tenantWithKey();
		const b = await tenantWithKey();
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
