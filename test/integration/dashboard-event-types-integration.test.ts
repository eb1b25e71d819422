import { env, exports } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import {
	RECENT_EVENTS_PER_TENANT,
	RECENT_EVENTS_SCANNED,
	recentEventTypesQuery,
} from "../../src/routes/event-types/recent";
import { api, dashboardSignIn, receiverPath, record, shardOf, uniqueName } from "./helpers";

/*
 * Event types that events used, offered next to the catalog: the API's
 * GET /v1/recent-event-types with its bounds and its query plan, test sends
 * of such a type, and the endpoint form and test-event list that offer them.
 */

const ORIGIN = "http://edgehook.test";

interface Tenant {
	id: string;
	key: string;
	cookie: string;
	csrf: string;
}

async function signedInTenant(shard?: string): Promise<Tenant> {
	const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("recent-types"), shard } })).body);
	const id = String(tenant.id);
	const key = String(record((await api("POST", `/v1/tenants/${id}/api-keys`, { body: { name: "ui" } })).body).key);
	return { id, key, ...(await dashboardSignIn(key)) };
}

async function page(tenant: Tenant, rest: string): Promise<string> {
	const response = await exports.default.fetch(`${ORIGIN}/dashboard/t/${tenant.id}${rest}`, {
		headers: { cookie: `edgehook_session=${tenant.cookie}` },
	});
	expect(response.status, rest).toBe(200);
	return response.text();
}

async function sendEvent(tenant: Tenant, type: string): Promise<void> {
	const sent = await api("POST", "/v1/events", { auth: tenant.key, body: { type, data: { n: 1 } } });
	expect(sent.status, JSON.stringify(sent.body)).toBe(202);
}

async function recentTypes(tenant: Tenant): Promise<{ name: string; last_seen_at: string }[]> {
	const listed = await api("GET", "/v1/recent-event-types", { auth: tenant.key });
	expect(listed.status, JSON.stringify(listed.body)).toBe(200);
	return record(listed.body).event_types as { name: string; last_seen_at: string }[];
}

async function addToCatalog(tenant: Tenant, name: string): Promise<void> {
	const added = await api("POST", "/v1/event-types", { auth: tenant.key, body: { name, example: { plan: "pro" } } });
	expect(added.status, JSON.stringify(added.body)).toBe(201);
}

/** Stores `count` events of one tenant and type at once, as ingest would have, without queueing anything. */
/** Stores events straight into the tenant's shard, as many as a test needs, without delivering them. */
async function storeEvents(tenantId: string, type: string, count: number): Promise<void> {
	await (await shardOf(tenantId))
		.prepare(
			`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at)
		SELECT ?, 'evt_bulk_' || ? || '_' || i, ?, '{}', '[]', ? FROM n`,
		)
		.bind(count, tenantId, crypto.randomUUID(), type, Date.now())
		.run();
}

describe("GET /v1/recent-event-types", () => {
	it("lists the types of the tenant's events, catalogued or not, the most recently used first, and no other tenant's", async () => {
		const tenant = await signedInTenant();
		const other = await signedInTenant();
		expect(await recentTypes(tenant)).toEqual([]);
		await addToCatalog(tenant, "invoice.paid");
		await sendEvent(tenant, "invoice.paid");
		await sendEvent(tenant, "order.shipped");
		await sendEvent(tenant, "order.shipped");
		await sendEvent(other, "secret.other_tenant");
		const types = await recentTypes(tenant);
		expect(types.map((type) => type.name)).toEqual(["order.shipped", "invoice.paid"]);
		for (const type of types) expect(Date.now() - Date.parse(type.last_seen_at)).toBeLessThan(60_000);
		expect((await recentTypes(other)).map((type) => type.name)).toEqual(["secret.other_tenant"]);
	});

	it(`looks at the tenant's latest ${RECENT_EVENTS_PER_TENANT} events only, within the database's latest ${RECENT_EVENTS_SCANNED}`, async () => {
		// The scan bound is per database: both tenants on one shard, so the busy one's events push the quiet one's out.
		const busy = await signedInTenant("SHARD_2");
		await sendEvent(busy, "busy.long_ago");
		await storeEvents(busy.id, "busy.lately", RECENT_EVENTS_PER_TENANT);
		expect((await recentTypes(busy)).map((type) => type.name)).toEqual(["busy.lately"]);

		const quiet = await signedInTenant("SHARD_2");
		await sendEvent(quiet, "quiet.once");
		await storeEvents(busy.id, "busy.lately", RECENT_EVENTS_SCANNED - 1);
		expect((await recentTypes(quiet)).map((type) => type.name)).toEqual(["quiet.once"]);
		await storeEvents(busy.id, "busy.lately", 1);
		expect(await recentTypes(quiet)).toEqual([]);
	});

	it("reads a range of the events table's rowid backwards, without the tenant index or a sort of the tenant's events", async () => {
		const plan = await openDatabase(env.DB).all<{ detail: string }>(
			sql`EXPLAIN QUERY PLAN ${recentEventTypesQuery("default")}`,
		);
		const details = plan.map((row) => row.detail);
		// The rows read: the rowid range above max(seq) - RECENT_EVENTS_SCANNED, newest first, and max(seq) itself.
		expect(details, details.join("\n")).toContain("SEARCH events USING INTEGER PRIMARY KEY (rowid>?)");
		expect(
			details.some((detail) => /^SEARCH events$/.test(detail) || detail.includes("MAX")),
			details.join("\n"),
		).toBe(true);
		expect(details.filter((detail) => /\bevents\b/.test(detail) && !detail.startsWith("SEARCH events"))).toEqual([]);
		expect(details.join("\n")).not.toContain("events_tenant_id_unique");
		// The only sorts are of the distinct types found, for GROUP BY and ORDER BY; none orders events by seq.
		expect(details.filter((detail) => detail.startsWith("USE TEMP B-TREE")).sort()).toEqual([
			"USE TEMP B-TREE FOR GROUP BY",
			"USE TEMP B-TREE FOR ORDER BY",
		]);
	});
});

describe("test sends of a type the tenant's events used", () => {
	it("sends a recently used type with {} and refuses a type neither catalogued nor used, storing nothing", async () => {
		const tenant = await signedInTenant();
		const created = await api("POST", "/v1/webhooks", {
			auth: tenant.key,
			body: { url: receiverPath("ok", uniqueName("recent-test")), events: ["*"] },
		});
		expect(created.status).toBe(201);
		const hook = String(record(created.body).id);
		await sendEvent(tenant, "order.shipped");

		const used = await api("POST", `/v1/webhooks/${hook}/test`, {
			auth: tenant.key,
			body: { event_type: "order.shipped" },
		});
		expect(used.status, JSON.stringify(used.body)).toBe(202);
		const event = await api("GET", `/v1/events/${String(record(used.body).event_id)}`, { auth: tenant.key });
		expect(record(event.body)).toMatchObject({ type: "order.shipped", data: {} });

		const before = await api("GET", "/v1/events?limit=250", { auth: tenant.key });
		const typo = await api("POST", `/v1/webhooks/${hook}/test`, {
			auth: tenant.key,
			body: { event_type: "order.shiped" },
		});
		expect(typo.status).toBe(422);
		expect(JSON.stringify(typo.body)).toContain("neither in the event type catalog nor the type of a recent event");
		const after = await api("GET", "/v1/events?limit=250", { auth: tenant.key });
		expect(record(after.body).events).toEqual(record(before.body).events);
	});
});

describe("the dashboard offers the types events used", () => {
	it("in the endpoint form: the catalog first, then the used types marked as not in it, checked when subscribed", async () => {
		const tenant = await signedInTenant();
		await addToCatalog(tenant, "invoice.paid");
		await sendEvent(tenant, "invoice.paid");
		await sendEvent(tenant, "order.shipped");

		const form = await page(tenant, "/endpoints/new");
		const offered = [...form.matchAll(/name="events" value="([^"]+)"/g)].map((match) => match[1]);
		expect(offered).toEqual([
			"*",
			"endpoint.failing",
			"endpoint.recovered",
			"endpoint.disabled",
			"delivery.exhausted",
			"invoice.paid",
			"order.shipped",
		]);
		expect(form).toMatch(
			/value="order\.shipped"\/><span><code>order\.shipped<\/code><span class="hint"> sent recently, not in the catalog<\/span>/,
		);
		expect(form).not.toMatch(
			/value="invoice\.paid"\/><span><code>invoice\.paid<\/code><span class="hint"> sent recently/,
		);

		const created = await api("POST", "/v1/webhooks", {
			auth: tenant.key,
			body: { url: receiverPath("ok", uniqueName("recent-form")), events: ["order.shipped", "user.*"] },
		});
		const hook = String(record(created.body).id);
		const edit = await page(tenant, `/endpoints/${hook}/edit`);
		expect(edit).toMatch(/<input type="checkbox" name="events" value="order\.shipped" checked=""\/>/);
		// Only what the form does not offer stays in the free field.
		expect(edit).toMatch(/<input type="text" name="events_other" value="user\.\*"/);
	});

	it("in the endpoint page's test-event list, and a test of such a type goes out", async () => {
		const tenant = await signedInTenant();
		await addToCatalog(tenant, "invoice.paid");
		await sendEvent(tenant, "order.shipped");
		const created = await api("POST", "/v1/webhooks", {
			auth: tenant.key,
			body: { url: receiverPath("ok", uniqueName("recent-page")), events: ["*"] },
		});
		const hook = String(record(created.body).id);

		const detail = await page(tenant, `/endpoints/${hook}`);
		const select = /<select name="event_type"[^>]*>([\s\S]*?)<\/select>/.exec(detail)?.[1] ?? "";
		const options = [...select.matchAll(/<option value="([^"]+)"[^>]*>([^<]+)<\/option>/g)].map((match) => [
			match[1],
			match[2],
		]);
		expect(options).toEqual([
			["webhook.test", "webhook.test"],
			["invoice.paid", "invoice.paid"],
			["order.shipped", "order.shipped (sent recently, not in the catalog)"],
		]);

		const sent = await exports.default.fetch(`${ORIGIN}/dashboard/t/${tenant.id}/endpoints/${hook}/test`, {
			method: "POST",
			headers: {
				cookie: `edgehook_session=${tenant.cookie}`,
				origin: ORIGIN,
				"content-type": "application/x-www-form-urlencoded",
			},
			body: new URLSearchParams({ event_type: "order.shipped", _csrf: tenant.csrf }).toString(),
			redirect: "manual",
		});
		expect(sent.status).toBe(303);
		expect(sent.headers.get("location")).toContain("notice=test_sent");
		const events = record((await api("GET", "/v1/events?order=desc&limit=1", { auth: tenant.key })).body);
		expect(events.events).toMatchObject([{ type: "order.shipped", data: {} }]);
	});
});
