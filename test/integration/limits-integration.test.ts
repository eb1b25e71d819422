import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_TENANT_LIMITS } from "../../src/tenants/limits";
import { ADMIN_KEY, api, dashboardSignIn, receiverPath, record, shardOf, uniqueName } from "./helpers";

/*
 * Per-tenant limits on endpoints, event types and templates: set by the
 * operator on the tenant, out of reach of the tenant's own keys, and checked
 * in the same statement that stores the row.
 */

interface Tenant {
	id: string;
	key: string;
}

/** A fresh tenant with the given limits (set through the API, as the operator would) and a key of its own. */
async function tenantWithLimits(limits?: Record<string, number>): Promise<Tenant> {
	const created = await api("POST", "/v1/tenants", { body: { name: uniqueName("limits"), limits } });
	expect(created.status, JSON.stringify(created.body)).toBe(201);
	const id = String(record(created.body).id);
	const key = await api("POST", `/v1/tenants/${id}/api-keys`, { body: { name: "backend" } });
	expect(key.status).toBe(201);
	return { id, key: String(record(key.body).key) };
}

async function rowCount(table: "endpoints" | "event_types" | "templates", tenantId: string): Promise<number> {
	const row = await (await shardOf(tenantId))
		.prepare(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = ?`)
		.bind(tenantId)
		.first<{ n: number }>();
	return row?.n ?? 0;
}

function createEndpoint(tenant: Tenant) {
	return api("POST", "/v1/webhooks", {
		auth: tenant.key,
		body: { url: receiverPath("ok", uniqueName("limited")), events: ["*"] },
	});
}

function putTemplate(tenant: Tenant, eventType: string, text: string) {
	return api("PUT", `/v1/templates/slack/${eventType}`, {
		auth: tenant.key,
		body: { expression: `{"text": "${text}"}` },
	});
}

/** The error of a refused create, checked to be the limit's: code, status, and a message naming limit and value. */
function expectLimitReached(response: { status: number; body: unknown }, name: string, value: number): void {
	expect(response.status, JSON.stringify(response.body)).toBe(409);
	const error = record(record(response.body).error);
	expect(error.code).toBe("limit_reached");
	expect(error.message).toContain(`limit of ${value} `);
	expect(error.message).toContain(name);
	expect(error.message).toContain("operator");
	expect(error.details).toEqual({ limit: name, value });
}

async function limitsOf(tenantId: string): Promise<unknown> {
	const tenant = await api("GET", `/v1/tenants/${tenantId}`);
	expect(tenant.status).toBe(200);
	return record(tenant.body).limits;
}

describe("tenant limits in the tenant API", () => {
	it("shows the defaults for a new tenant and for the built-in one", async () => {
		const tenant = await tenantWithLimits();
		expect(await limitsOf(tenant.id)).toEqual({ max_endpoints: 250, max_event_types: 500, max_templates: 200 });
		expect(await limitsOf("default")).toEqual(DEFAULT_TENANT_LIMITS);
	});

	it("changes the limits it names, puts null ones back to the default, and keeps them apart from the settings", async () => {
		const tenant = await tenantWithLimits({ max_endpoints: 7 });
		const patched = await api("PATCH", `/v1/tenants/${tenant.id}`, {
			body: { limits: { max_templates: 3 }, settings: { user_agent: "Limited/1.0" } },
		});
		expect(patched.status).toBe(200);
		expect(record(patched.body).limits).toEqual({ max_endpoints: 7, max_event_types: 500, max_templates: 3 });
		expect(record(patched.body).settings).toEqual({ user_agent: "Limited/1.0" });

		const settingsOnly = await api("PATCH", `/v1/tenants/${tenant.id}`, { body: { settings: { user_agent: null } } });
		expect(record(settingsOnly.body).limits).toEqual({ max_endpoints: 7, max_event_types: 500, max_templates: 3 });
		expect(record(settingsOnly.body).settings).toEqual({});

		const reset = await api("PATCH", `/v1/tenants/${tenant.id}`, { body: { limits: { max_endpoints: null } } });
		expect(record(reset.body).limits).toEqual({ max_endpoints: 250, max_event_types: 500, max_templates: 3 });
	});

	it.each([
		[{ max_endpoints: -1 }, "limits.max_endpoints"],
		[{ max_endpoints: 1.5 }, "limits.max_endpoints"],
		[{ max_endpoints: 10_001 }, "limits.max_endpoints"],
		[{ max_event_types: "10" }, "limits.max_event_types"],
		[{ max_templates: 1_001 }, "limits.max_templates"],
		[{ max_webhooks: 10 }, "limits.max_webhooks"],
	])("refuses limits %j naming %s, changing nothing", async (limits, field) => {
		const tenant = await tenantWithLimits({ max_endpoints: 5 });
		const response = await api("PATCH", `/v1/tenants/${tenant.id}`, { body: { limits } });
		expect(response.status).toBe(422);
		const error = record(record(response.body).error);
		expect((error.details as { field: string }[]).map((detail) => detail.field)).toContain(field);
		expect(await limitsOf(tenant.id)).toEqual({ ...DEFAULT_TENANT_LIMITS, max_endpoints: 5 });
	});

	it("cannot be changed by the tenant's own key", async () => {
		const tenant = await tenantWithLimits({ max_endpoints: 1 });
		for (const [method, path, body] of [
			["PATCH", `/v1/tenants/${tenant.id}`, { limits: { max_endpoints: 10_000 } }],
			["PATCH", `/v1/tenants/${tenant.id}`, { settings: { limits: { max_endpoints: 10_000 } } }],
			["POST", "/v1/tenants", { name: "escape", limits: { max_endpoints: 10_000 } }],
		] as const) {
			const response = await api(method, path, { auth: tenant.key, body });
			expect(response.status).toBe(403);
			expect(record(record(response.body).error).code).toBe("forbidden");
		}
		expect((await createEndpoint(tenant)).status).toBe(201);
		expectLimitReached(await createEndpoint(tenant), "max_endpoints", 1);
		expect(await limitsOf(tenant.id)).toEqual({ ...DEFAULT_TENANT_LIMITS, max_endpoints: 1 });
	});

	it("does not take limits inside the settings object, even from the admin key", async () => {
		const tenant = await tenantWithLimits();
		const response = await api("PATCH", `/v1/tenants/${tenant.id}`, {
			body: { settings: { limits: { max_endpoints: 10_000 } } },
		});
		expect(response.status).toBe(422);
		expect(await limitsOf(tenant.id)).toEqual(DEFAULT_TENANT_LIMITS);
	});
});

describe("endpoint limit", () => {
	it("refuses the endpoint past the limit, stores nothing, and takes it once the operator raises the limit", async () => {
		const tenant = await tenantWithLimits({ max_endpoints: 2 });
		expect((await createEndpoint(tenant)).status).toBe(201);
		expect((await createEndpoint(tenant)).status).toBe(201);
		expectLimitReached(await createEndpoint(tenant), "max_endpoints", 2);
		expect(await rowCount("endpoints", tenant.id)).toBe(2);

		const raised = await api("PATCH", `/v1/tenants/${tenant.id}`, { body: { limits: { max_endpoints: 3 } } });
		expect(raised.status).toBe(200);
		expect((await createEndpoint(tenant)).status).toBe(201);
		expectLimitReached(await createEndpoint(tenant), "max_endpoints", 3);
		expect(await rowCount("endpoints", tenant.id)).toBe(3);
	});

	it("counts each tenant's own endpoints only", async () => {
		const full = await tenantWithLimits({ max_endpoints: 1 });
		const other = await tenantWithLimits({ max_endpoints: 1 });
		expect((await createEndpoint(full)).status).toBe(201);
		expect((await createEndpoint(other)).status).toBe(201);
		expectLimitReached(await createEndpoint(full), "max_endpoints", 1);
	});

	it("lets the last place go to one of several concurrent creates only", async () => {
		const tenant = await tenantWithLimits({ max_endpoints: 3 });
		const answers = await Promise.all(Array.from({ length: 8 }, () => createEndpoint(tenant)));
		expect(answers.filter((answer) => answer.status === 201)).toHaveLength(3);
		for (const refused of answers.filter((answer) => answer.status !== 201)) {
			expectLimitReached(refused, "max_endpoints", 3);
		}
		expect(await rowCount("endpoints", tenant.id)).toBe(3);
	});

	it("keeps what exists when the limit is lowered below it, and refuses new ones", async () => {
		const tenant = await tenantWithLimits({ max_endpoints: 3 });
		for (let i = 0; i < 3; i++) expect((await createEndpoint(tenant)).status).toBe(201);
		await api("PATCH", `/v1/tenants/${tenant.id}`, { body: { limits: { max_endpoints: 1 } } });
		expectLimitReached(await createEndpoint(tenant), "max_endpoints", 1);
		const listed = await api("GET", "/v1/webhooks", { auth: tenant.key });
		expect(record(listed.body).webhooks).toHaveLength(3);
	});

	it("applies to the built-in tenant the admin key acts on without X-Tenant-Id", async () => {
		const before = await rowCount("endpoints", "default");
		await api("PATCH", "/v1/tenants/default", { body: { limits: { max_endpoints: before } } });
		try {
			const refused = await api("POST", "/v1/webhooks", {
				body: { url: receiverPath("ok", uniqueName("default")), events: ["*"] },
			});
			expectLimitReached(refused, "max_endpoints", before);
			expect(await rowCount("endpoints", "default")).toBe(before);
		} finally {
			await api("PATCH", "/v1/tenants/default", { body: { limits: { max_endpoints: null } } });
		}
		expect(await limitsOf("default")).toEqual(DEFAULT_TENANT_LIMITS);
	});
});

describe("event type limit", () => {
	it("refuses a new type past the limit, still edits the ones there, and takes it once raised", async () => {
		const tenant = await tenantWithLimits({ max_event_types: 1 });
		const first = await api("POST", "/v1/event-types", { auth: tenant.key, body: { name: "user.created" } });
		expect(first.status).toBe(201);
		const second = await api("POST", "/v1/event-types", { auth: tenant.key, body: { name: "user.deleted" } });
		expectLimitReached(second, "max_event_types", 1);
		expect(await rowCount("event_types", tenant.id)).toBe(1);

		// A taken name is still answered as taken at the limit, and the type there can still be changed.
		const again = await api("POST", "/v1/event-types", { auth: tenant.key, body: { name: "user.created" } });
		expect(again.status).toBe(409);
		expect(record(record(again.body).error).code).toBe("conflict");
		const edited = await api("PATCH", "/v1/event-types/user.created", {
			auth: tenant.key,
			body: { description: "A user signed up", example: { id: "u_1" } },
		});
		expect(edited.status).toBe(200);
		expect(record(edited.body).description).toBe("A user signed up");

		await api("PATCH", `/v1/tenants/${tenant.id}`, { body: { limits: { max_event_types: 2 } } });
		const raised = await api("POST", "/v1/event-types", { auth: tenant.key, body: { name: "user.deleted" } });
		expect(raised.status).toBe(201);
		expect(await rowCount("event_types", tenant.id)).toBe(2);
	});

	it("does not count the built-in types", async () => {
		const tenant = await tenantWithLimits({ max_event_types: 1 });
		expect((await api("POST", "/v1/event-types", { auth: tenant.key, body: { name: "a.b" } })).status).toBe(201);
		const list = await api("GET", "/v1/event-types", { auth: tenant.key });
		expect((record(list.body).event_types as unknown[]).length).toBeGreaterThan(1);
	});
});

describe("template limit", () => {
	it("refuses a new template past the limit, replaces an existing one at it, and takes it once raised", async () => {
		const tenant = await tenantWithLimits({ max_templates: 1 });
		expect((await putTemplate(tenant, "user.created", "v1")).status).toBe(200);
		expectLimitReached(await putTemplate(tenant, "user.deleted", "v1"), "max_templates", 1);
		expect(await rowCount("templates", tenant.id)).toBe(1);

		const replaced = await putTemplate(tenant, "user.created", "v2");
		expect(replaced.status, JSON.stringify(replaced.body)).toBe(200);
		expect(record(replaced.body).expression).toBe('{"text": "v2"}');
		expect(await rowCount("templates", tenant.id)).toBe(1);

		await api("PATCH", `/v1/tenants/${tenant.id}`, { body: { limits: { max_templates: 2 } } });
		expect((await putTemplate(tenant, "user.deleted", "v1")).status).toBe(200);
		expect(await rowCount("templates", tenant.id)).toBe(2);
	});

	it("with a limit of 0 allows none", async () => {
		const tenant = await tenantWithLimits({ max_templates: 0 });
		expectLimitReached(await putTemplate(tenant, "*", "v1"), "max_templates", 0);
		expect(await rowCount("templates", tenant.id)).toBe(0);
	});
});

const ORIGIN = "http://edgehook.test";
const COOKIE = "edgehook_session";

async function browse(
	session: { cookie: string; csrf: string },
	path: string,
	form?: Record<string, string>,
): Promise<{ status: number; location: string | null; text: string }> {
	const headers: Record<string, string> = { cookie: `${COOKIE}=${session.cookie}`, origin: ORIGIN };
	let body: string | undefined;
	if (form) {
		body = new URLSearchParams({ ...form, _csrf: session.csrf }).toString();
		headers["content-type"] = "application/x-www-form-urlencoded";
	}
	const response = await exports.default.fetch(`${ORIGIN}${path}`, {
		method: form ? "POST" : "GET",
		headers,
		body,
		redirect: "manual",
	});
	return { status: response.status, location: response.headers.get("location"), text: await response.text() };
}

describe("limits in the dashboard", () => {
	it("shows the operator a tenant's limits and saves new ones, an empty field meaning the default", async () => {
		const tenant = await tenantWithLimits({ max_event_types: 40 });
		const operator = await dashboardSignIn(ADMIN_KEY);
		const page = await browse(operator, `/dashboard/tenants/${tenant.id}`);
		expect(page.status).toBe(200);
		expect(page.text).toContain("Now: 250 endpoints, 40 event types, 200 templates.");
		expect(page.text).toMatch(/<input type="number" name="max_event_types" value="40"/);

		const saved = await browse(operator, `/dashboard/tenants/${tenant.id}/limits`, {
			max_endpoints: "12",
			max_event_types: "",
			max_templates: "200",
		});
		expect(saved.status, saved.text).toBe(303);
		expect(saved.location).toBe(`/dashboard/tenants/${tenant.id}?notice=limits_saved`);
		expect(await limitsOf(tenant.id)).toEqual({ max_endpoints: 12, max_event_types: 500, max_templates: 200 });

		const refused = await browse(operator, `/dashboard/tenants/${tenant.id}/limits`, {
			max_endpoints: "-3",
			max_event_types: "",
			max_templates: "",
		});
		expect(refused.status).toBe(422);
		expect(refused.text).toContain('<div class="field-error" id="max_endpoints-error">');
		expect(await limitsOf(tenant.id)).toEqual({ max_endpoints: 12, max_event_types: 500, max_templates: 200 });
	});

	it("tells a tenant at its endpoint limit why the endpoint form was refused", async () => {
		const tenant = await tenantWithLimits({ max_endpoints: 0 });
		const session = await dashboardSignIn(tenant.key);
		const page = await browse(session, `/dashboard/t/${tenant.id}/endpoints`, {
			channel: "webhook",
			url: receiverPath("ok", uniqueName("form")),
			to: "",
			transformation: "",
			events: "*",
			description: "",
			headers: "",
			retry_schedule: "",
			timeout_ms: "",
		});
		expect(page.status).toBe(409);
		expect(page.text).toContain("this tenant has reached its limit of 0 endpoints (max_endpoints)");
		expect(await rowCount("endpoints", tenant.id)).toBe(0);
	});
});
