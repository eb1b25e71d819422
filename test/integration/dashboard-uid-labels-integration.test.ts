import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deliveryId } from "../../src/lib/ids";
import {
	ADMIN_KEY,
	api,
	dashboardSignIn,
	decodedHtml,
	fieldError,
	receiverPath,
	record,
	shardOf,
	uniqueName,
} from "./helpers";

/*
 * The endpoint's uid, routing labels and header style, the event's labels,
 * tags and scheduled time, and the tenant's uid and metadata, as the
 * dashboard shows and (for endpoints) edits them; forms are posted as a
 * browser posts them, with the session cookie and its CSRF token.
 */

const ORIGIN = "http://edgehook.test";

interface Session {
	cookie: string;
	csrf: string;
}

interface Page {
	status: number;
	location: string | null;
	text: string;
}

async function browse(session: Session, path: string, form?: Record<string, string | string[]>): Promise<Page> {
	const headers: Record<string, string> = { cookie: `edgehook_session=${session.cookie}`, origin: ORIGIN };
	let body: string | undefined;
	if (form) {
		const params = new URLSearchParams({ _csrf: session.csrf });
		for (const [name, value] of Object.entries(form)) {
			for (const item of Array.isArray(value) ? value : [value]) params.append(name, item);
		}
		body = params.toString();
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

/** The definition after `<dt>{term}</dt>` on a details list, as text. */
function detail(page: Page, term: string): string | null {
	const match = new RegExp(`<dt>${term}</dt><dd[^>]*>(.*?)</dd>`, "s").exec(page.text);
	return match?.[1] === undefined ? null : decodedHtml(match[1].replace(/<[^>]+>/g, ""));
}

interface Tenant {
	id: string;
	key: string;
	session: Session;
	path(rest: string): string;
}

async function signedInTenant(): Promise<Tenant> {
	const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("uid-labels-ui") } })).body);
	const id = String(tenant.id);
	const key = String(record((await api("POST", `/v1/tenants/${id}/api-keys`, { body: { name: "ui" } })).body).key);
	return { id, key, session: await dashboardSignIn(key), path: (rest) => `/dashboard/t/${id}${rest}` };
}

async function webhooksOf(tenant: Tenant): Promise<Record<string, unknown>[]> {
	const list = await api("GET", "/v1/webhooks", { auth: tenant.key });
	expect(list.status).toBe(200);
	return record(list.body).webhooks as Record<string, unknown>[];
}

/** The endpoint form as a browser posts it, every field present. */
function endpointForm(fields: Record<string, string>): Record<string, string> {
	return {
		channel: "webhook",
		url: receiverPath("ok", uniqueName("uid-labels")),
		to: "",
		transformation: "",
		events: "*",
		events_other: "",
		description: "",
		headers: "",
		retry_schedule: "",
		timeout_ms: "",
		rate_limit_per_second: "",
		max_concurrency: "",
		ordering: "unordered",
		uid: "",
		labels: "",
		header_style: "webhook",
		...fields,
	};
}

describe("endpoint uid, labels and header style in the dashboard", () => {
	it("offers the three fields, and stores what the form sets, read back through the API", async () => {
		const tenant = await signedInTenant();
		const form = await browse(tenant.session, tenant.path("/endpoints/new"));
		expect(form.status).toBe(200);
		expect(form.text).toMatch(/<input type="text" name="uid" value=""/);
		expect(form.text).toMatch(/<textarea name="labels"/);
		expect(form.text).toMatch(/<option value="webhook" selected/);
		expect(form.text).toContain('<option value="svix">');

		const created = await browse(
			tenant.session,
			tenant.path("/endpoints"),
			endpointForm({ uid: " customer-42.main ", labels: "project-7,\r\nteam:blue , ", header_style: "svix" }),
		);
		expect(created.status, created.text).toBe(201);
		const [stored] = await webhooksOf(tenant);
		expect(stored).toMatchObject({
			uid: "customer-42.main",
			labels: ["project-7", "team:blue"],
			header_style: "svix",
		});
		// The uid names the endpoint in the API's paths.
		expect((await api("GET", "/v1/webhooks/customer-42.main", { auth: tenant.key })).status).toBe(200);

		// Left empty, the three are the API's defaults: no uid, every label, webhook-* headers.
		const plain = await browse(tenant.session, tenant.path("/endpoints"), endpointForm({}));
		expect(plain.status, plain.text).toBe(201);
		const other = (await webhooksOf(tenant)).find((hook) => hook.id !== stored?.id);
		expect(other).toMatchObject({ uid: null, labels: null, header_style: "webhook" });
	});

	it("shows a taken uid and a bad label next to their fields, storing nothing", async () => {
		const tenant = await signedInTenant();
		const first = await browse(tenant.session, tenant.path("/endpoints"), endpointForm({ uid: "taken" }));
		expect(first.status, first.text).toBe(201);

		const taken = await browse(
			tenant.session,
			tenant.path("/endpoints"),
			endpointForm({ uid: "taken", labels: "kept-label", description: "second" }),
		);
		expect(taken.status).toBe(409);
		expect(fieldError(taken, "uid")).toContain("already has the uid taken");
		expect(taken.text).toMatch(/<input type="text" name="uid" value="taken"[^>]* aria-invalid="true"/);
		expect(taken.text).toContain("The endpoint was not saved.");
		// What was typed is still there to fix.
		expect(taken.text).toMatch(/<textarea name="labels"[^>]*>kept-label<\/textarea>/);
		expect(taken.text).toMatch(/<input type="text" name="description" value="second"/);

		const badLabel = await browse(tenant.session, tenant.path("/endpoints"), endpointForm({ labels: "good, not ok" }));
		expect(badLabel.status).toBe(422);
		expect(fieldError(badLabel, "labels")).toMatch(/^"not ok" must be /);
		expect(fieldError(badLabel, "uid")).toBeNull();

		const badUid = await browse(tenant.session, tenant.path("/endpoints"), endpointForm({ uid: "hook_mine" }));
		expect(badUid.status).toBe(422);
		expect(fieldError(badUid, "uid")).toContain("must not start with hook_");

		const stored = await webhooksOf(tenant);
		expect(stored).toHaveLength(1);
		expect(stored[0]).toMatchObject({ uid: "taken", description: "" });
	});

	it("edits and clears them, and refuses another endpoint's uid on an edit", async () => {
		const tenant = await signedInTenant();
		const url = receiverPath("ok", uniqueName("edit"));
		const a = record(
			(await api("POST", "/v1/webhooks", { auth: tenant.key, body: { url, events: ["*"], uid: "a-uid" } })).body,
		);
		const b = record(
			(
				await api("POST", "/v1/webhooks", {
					auth: tenant.key,
					body: { url, events: ["*"], uid: "b-uid", labels: ["x", "y"], header_style: "svix" },
				})
			).body,
		);

		// The edit form opens on what is stored.
		const edit = await browse(tenant.session, tenant.path(`/endpoints/${String(b.id)}/edit`));
		expect(edit.text).toMatch(/<input type="text" name="uid" value="b-uid"/);
		expect(edit.text).toMatch(/<textarea name="labels"[^>]*>x, y<\/textarea>/);
		expect(edit.text).toMatch(/<option value="svix" selected/);

		const refused = await browse(
			tenant.session,
			tenant.path(`/endpoints/${String(b.id)}/edit`),
			endpointForm({ url, uid: "a-uid", labels: "x, y", header_style: "svix" }),
		);
		expect(refused.status).toBe(409);
		expect(fieldError(refused, "uid")).toContain("already has the uid a-uid");
		expect((await api("GET", `/v1/webhooks/${String(b.id)}`, { auth: tenant.key })).body).toMatchObject({
			uid: "b-uid",
		});

		const saved = await browse(
			tenant.session,
			tenant.path(`/endpoints/${String(b.id)}/edit`),
			endpointForm({ url, uid: "", labels: "  ", header_style: "webhook" }),
		);
		expect(saved.status, saved.text).toBe(303);
		expect((await api("GET", `/v1/webhooks/${String(b.id)}`, { auth: tenant.key })).body).toMatchObject({
			uid: null,
			labels: null,
			header_style: "webhook",
		});

		// A post without the style (a page rendered before the field) keeps the stored one.
		await api("PATCH", `/v1/webhooks/${String(a.id)}`, { auth: tenant.key, body: { header_style: "svix" } });
		const { header_style: _omitted, ...withoutStyle } = endpointForm({ url, uid: "a-uid" });
		const kept = await browse(tenant.session, tenant.path(`/endpoints/${String(a.id)}/edit`), withoutStyle);
		expect(kept.status, kept.text).toBe(303);
		expect((await api("GET", `/v1/webhooks/${String(a.id)}`, { auth: tenant.key })).body).toMatchObject({
			uid: "a-uid",
			header_style: "svix",
		});

		// Nor do a uid and labels it lacks go: clearing them would break callers and widen the routing.
		await api("PATCH", `/v1/webhooks/${String(a.id)}`, { auth: tenant.key, body: { labels: ["kept"] } });
		const { uid: _noUid, labels: _noLabels, header_style: _noStyle, ...olderPage } = endpointForm({ url });
		const older = await browse(tenant.session, tenant.path(`/endpoints/${String(a.id)}/edit`), olderPage);
		expect(older.status, older.text).toBe(303);
		expect((await api("GET", `/v1/webhooks/${String(a.id)}`, { auth: tenant.key })).body).toMatchObject({
			uid: "a-uid",
			labels: ["kept"],
			header_style: "svix",
		});
	});

	it("shows them on the endpoint's page and its uid and labels in the list", async () => {
		const tenant = await signedInTenant();
		const url = receiverPath("ok", uniqueName("shown"));
		const labelled = record(
			(
				await api("POST", "/v1/webhooks", {
					auth: tenant.key,
					body: { url, events: ["*"], uid: "shown-uid", labels: ["project-7", "team:blue"], header_style: "svix" },
				})
			).body,
		);
		const plain = record((await api("POST", "/v1/webhooks", { auth: tenant.key, body: { url, events: ["*"] } })).body);

		const page = await browse(tenant.session, tenant.path(`/endpoints/${String(labelled.id)}`));
		expect(page.status).toBe(200);
		expect(detail(page, "UID")).toBe("shown-uid");
		expect(detail(page, "Labels")).toBe("project-7, team:blue (only events carrying one of them)");
		expect(detail(page, "Signature headers")).toBe("svix-id, svix-timestamp, svix-signature (Svix)");

		const plainPage = await browse(tenant.session, tenant.path(`/endpoints/${String(plain.id)}`));
		expect(detail(plainPage, "UID")).toBe("none");
		expect(detail(plainPage, "Labels")).toMatch(/^all events/);
		expect(detail(plainPage, "Signature headers")).toBe(
			"webhook-id, webhook-timestamp, webhook-signature (Standard Webhooks)",
		);

		const list = await browse(tenant.session, tenant.path("/endpoints"));
		expect(list.text).toContain("uid <code>shown-uid</code>");
		expect(list.text).toContain("labels <code>project-7</code>, <code>team:blue</code>");
	});
});

/** One tag's attributes; a bare one (`checked`) as "". */
function attributesOf(tag: string): Map<string, string> {
	const attributes = new Map<string, string>();
	for (const match of tag.matchAll(/([\w-]+)(?:="([^"]*)")?/g)) {
		const [, name, value] = match;
		if (name !== undefined) attributes.set(name, decodedHtml(value ?? ""));
	}
	return attributes;
}

/**
 * What a browser posts from the page's form to `action` as it stands, as
 * `browse` takes it (the CSRF token is added there): successful controls
 * only, so a control the page lacks is not posted at all.
 */
function formAsShown(page: Page, action: string): Record<string, string[]> {
	const form = new RegExp(`<form method="post" action="${action}"[^>]*>(.*?)</form>`, "s").exec(page.text)?.[1];
	expect(form, `no form posting to ${action}`).toBeDefined();
	const fields: Record<string, string[]> = {};
	const add = (name: string | undefined, value: string) => {
		if (name !== undefined && name !== "_csrf") fields[name] = [...(fields[name] ?? []), value];
	};
	for (const [, tag = ""] of (form ?? "").matchAll(/<input ([^>]*)>/g)) {
		const input = attributesOf(tag);
		const type = input.get("type");
		if ((type === "checkbox" || type === "radio") && !input.has("checked")) continue;
		add(input.get("name"), input.get("value") ?? (type === "checkbox" ? "on" : ""));
	}
	for (const [, tag = "", text = ""] of (form ?? "").matchAll(/<textarea ([^>]*)>(.*?)<\/textarea>/gs)) {
		add(attributesOf(tag).get("name"), decodedHtml(text));
	}
	for (const [, tag = "", body = ""] of (form ?? "").matchAll(/<select ([^>]*)>(.*?)<\/select>/gs)) {
		const options = [...body.matchAll(/<option ([^>]*)>/g)].map(([, option = ""]) => attributesOf(option));
		const chosen = options.find((option) => option.has("selected")) ?? options[0];
		add(attributesOf(tag).get("name"), chosen?.get("value") ?? "");
	}
	return fields;
}

describe("the endpoint form after a refused save", () => {
	/** The stored endpoint, through the API. */
	async function stored(tenant: Tenant, id: unknown): Promise<Record<string, unknown>> {
		return record((await api("GET", `/v1/webhooks/${String(id)}`, { auth: tenant.key })).body);
	}

	it("comes back with every field as posted, and saving it once corrected stores exactly that", async () => {
		const tenant = await signedInTenant();
		await api("POST", "/v1/event-types", { auth: tenant.key, body: { name: "order.paid" } });
		const hook = record(
			(await api("POST", "/v1/webhooks", { auth: tenant.key, body: { url: receiverPath("ok", "x"), events: ["*"] } }))
				.body,
		);
		const action = tenant.path(`/endpoints/${String(hook.id)}/edit`);
		const url = receiverPath("ok", uniqueName("as-posted"));
		const typed = endpointForm({
			url,
			events: "order.paid",
			events_other: "user.*",
			description: "as typed",
			headers: "X-Team: blue",
			retry_schedule: "soon",
			timeout_ms: "5000",
			rate_limit_per_second: "5",
			max_concurrency: "3",
			ordering: "ordered",
			uid: "typed-uid",
			labels: "project-7, team:blue",
			header_style: "svix",
		});
		const refused = await browse(tenant.session, action, typed);
		expect(refused.status).toBe(422);
		expect(fieldError(refused, "retry_schedule")).toContain("whole numbers");

		expect(refused.text).not.toContain("those it lacks are left as they are");
		const again = formAsShown(refused, action);
		expect(again).toEqual(Object.fromEntries(Object.entries(typed).map(([name, value]) => [name, [value]])));
		const saved = await browse(tenant.session, action, { ...again, retry_schedule: "60, 300" });
		expect(saved.status, saved.text).toBe(303);
		expect(await stored(tenant, hook.id)).toMatchObject({
			url,
			events: ["order.paid", "user.*"],
			description: "as typed",
			headers: { "X-Team": "blue" },
			retry_schedule: [60, 300],
			timeout_ms: 5000,
			rate_limit_per_second: 5,
			max_concurrency: 3,
			ordering: "ordered",
			uid: "typed-uid",
			labels: ["project-7", "team:blue"],
			header_style: "svix",
		});
	});

	it("keeps a checked event type that the form stopped offering after the page was opened", async () => {
		const tenant = await signedInTenant();
		await api("POST", "/v1/event-types", { auth: tenant.key, body: { name: "order.paid" } });
		const url = receiverPath("ok", uniqueName("no-longer-offered"));
		const hook = record(
			(await api("POST", "/v1/webhooks", { auth: tenant.key, body: { url, events: ["order.paid", "user.*"] } })).body,
		);
		const action = tenant.path(`/endpoints/${String(hook.id)}/edit`);
		const opened = formAsShown(await browse(tenant.session, action), action);
		expect(opened).toMatchObject({ events: ["order.paid"], events_other: ["user.*"] });

		// Removed from the catalog (and never sent, so not offered as a recent type) while the page was open.
		expect((await api("DELETE", "/v1/event-types/order.paid", { auth: tenant.key })).status).toBe(204);
		const refused = await browse(tenant.session, action, { ...opened, timeout_ms: "soon" });
		expect(refused.status).toBe(422);
		const again = formAsShown(refused, action);
		expect(again).toMatchObject({ events: ["order.paid"], events_other: ["user.*"] });
		const saved = await browse(tenant.session, action, { ...again, timeout_ms: "" });
		expect(saved.status, saved.text).toBe(303);
		expect(await stored(tenant, hook.id)).toMatchObject({ events: ["order.paid", "user.*"] });
	});

	it("still leaves the uid, labels and header style a page rendered before them did not post as stored", async () => {
		const tenant = await signedInTenant();
		const url = receiverPath("ok", uniqueName("older-page"));
		const hook = record(
			(
				await api("POST", "/v1/webhooks", {
					auth: tenant.key,
					body: { url, events: ["*"], uid: "kept-uid", labels: ["kept"], header_style: "svix" },
				})
			).body,
		);
		const action = tenant.path(`/endpoints/${String(hook.id)}/edit`);
		const { uid: _noUid, labels: _noLabels, header_style: _noStyle, ...olderPage } = endpointForm({ url });

		// Refused by the form (a schedule it cannot read) and by the API (a concurrency past its maximum).
		for (const [name, wrong, right] of [
			["retry_schedule", "soon", "60"],
			["max_concurrency", "1000", "4"],
		] as const) {
			const refused = await browse(tenant.session, action, { ...olderPage, [name]: wrong });
			expect(refused.status, refused.text).toBe(422);
			expect(fieldError(refused, name)).not.toBeNull();

			const again = formAsShown(refused, action);
			expect(again[name]).toEqual([wrong]);
			// Not offered empty: the page says the three are left as they are.
			expect(again).not.toHaveProperty("uid");
			expect(again).not.toHaveProperty("labels");
			expect(again).not.toHaveProperty("header_style");
			expect(refused.text).toContain("those it lacks are left as they are");
			const saved = await browse(tenant.session, action, { ...again, [name]: right });
			expect(saved.status, saved.text).toBe(303);
			expect(await stored(tenant, hook.id)).toMatchObject({
				uid: "kept-uid",
				labels: ["kept"],
				header_style: "svix",
			});
		}

		// A page that had the uid and labels but not the style: those two as typed, the style as stored.
		const { header_style: _none, ...beforeStyle } = endpointForm({ url, uid: "new-uid", labels: "" });
		const refused = await browse(tenant.session, action, { ...beforeStyle, timeout_ms: "soon" });
		expect(refused.status).toBe(422);
		const again = formAsShown(refused, action);
		expect(again).toMatchObject({ uid: ["new-uid"], labels: [""] });
		expect(again).not.toHaveProperty("header_style");
		const saved = await browse(tenant.session, action, { ...again, timeout_ms: "" });
		expect(saved.status, saved.text).toBe(303);
		expect(await stored(tenant, hook.id)).toMatchObject({ uid: "new-uid", labels: null, header_style: "svix" });
	});
});

describe("event labels, tags and schedule in the dashboard", () => {
	it("shows them on the event's page and in the events list", async () => {
		const tenant = await signedInTenant();
		const due = new Date(Date.now() + 2 * 24 * 60 * 60 * 1000);
		due.setUTCMilliseconds(0);
		const scheduled = record(
			(
				await api("POST", "/v1/events", {
					auth: tenant.key,
					body: {
						type: "shown.event",
						data: {},
						labels: ["project-7"],
						tags: ["user_1", "a/b#c"],
						deliver_at: due.toISOString(),
					},
				})
			).body,
		);
		const bare = record(
			(await api("POST", "/v1/events", { auth: tenant.key, body: { type: "shown.event", data: {} } })).body,
		);

		const page = await browse(tenant.session, tenant.path(`/events/${String(scheduled.id)}`));
		expect(page.status).toBe(200);
		expect(detail(page, "Labels")).toBe("project-7");
		expect(detail(page, "Tags")).toBe("user_1, a/b#c");
		expect(page.text).toContain(`<dt>Scheduled for</dt><dd><time datetime="${due.toISOString()}">`);

		const barePage = await browse(tenant.session, tenant.path(`/events/${String(bare.id)}`));
		expect(detail(barePage, "Labels")).toMatch(/^none/);
		expect(detail(barePage, "Tags")).toBe("none");
		expect(barePage.text).not.toContain("Scheduled for");

		const list = await browse(tenant.session, tenant.path("/events"));
		expect(list.text).toContain('<th scope="col">Labels and tags</th>');
		expect(list.text).toContain("<code>project-7</code>");
		expect(list.text).toContain("<code>a/b#c</code>");
		expect(list.text).toContain(`scheduled for <time datetime="${due.toISOString()}">`);
	});
});

describe("tenant uid and metadata in the dashboard", () => {
	it("shows the operator a tenant's uid and metadata, escaped, and the uid in the tenants list", async () => {
		const uid = uniqueName("acme");
		const created = await api("POST", "/v1/tenants", {
			body: { name: uniqueName("meta"), uid, metadata: { plan: "pro", note: "<b>bold</b>" } },
		});
		expect(created.status, JSON.stringify(created.body)).toBe(201);
		const id = String(record(created.body).id);
		const operator = await dashboardSignIn(ADMIN_KEY);

		const page = await browse(operator, `/dashboard/tenants/${id}`);
		expect(page.status).toBe(200);
		expect(detail(page, "UID")).toBe(uid);
		expect(page.text).toContain('<th scope="row" class="mono">plan</th><td class="mono">pro</td>');
		expect(page.text).toContain("&lt;b&gt;bold&lt;/b&gt;");
		expect(page.text).not.toContain("<b>bold</b>");

		const bare = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("bare") } })).body);
		const barePage = await browse(operator, `/dashboard/tenants/${String(bare.id)}`);
		expect(detail(barePage, "UID")).toBe("none");
		expect(detail(barePage, "Metadata")).toBe("none");

		// The list pages by creation; the uid shows on the row wherever it falls.
		let path: string | null = "/dashboard/tenants";
		let found = false;
		while (path !== null && !found) {
			const list = await browse(operator, path);
			found = list.text.includes(`uid <code>${uid}</code>`);
			const next = /<a href="([^"]+)">Next page<\/a>/.exec(list.text)?.[1];
			path = next === undefined ? null : decodedHtml(next);
		}
		expect(found).toBe(true);
	});
});

describe("the endpoint list", () => {
	it("reads each endpoint's figures from its newest 1,000 deliveries, and says so when there were more", async () => {
		const tenant = await signedInTenant();
		const created = await api("POST", "/v1/webhooks", {
			auth: tenant.key,
			body: { url: receiverPath("ok", uniqueName("list-stats")), events: ["list.stats"] },
		});
		expect(created.status).toBe(201);
		const endpointId = String(record(created.body).id);
		const shard = await shardOf(tenant.id);
		const now = Date.now();
		const rows = Array.from({ length: 1_200 }, (_, index) => [
			deliveryId(endpointId, 1_000_000 + index),
			now - 1_200 + index,
		]);
		await shard
			.prepare(
				`INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, attempt_count, attempts, created_at, updated_at)
				 SELECT value ->> 0, ?2, ?3, 'evt_list_' || (value ->> 0), 'list.stats', 'success', 1, '[]', value ->> 1, value ->> 1
				 FROM json_each(?1)`,
			)
			.bind(JSON.stringify(rows), tenant.id, endpointId)
			.run();

		const page = await browse(tenant.session, tenant.path("/endpoints"));
		expect(page.status).toBe(200);
		const row = decodedHtml(page.text.replace(/<[^>]+>/g, " ")).replace(/\s+/g, " ");
		expect(row).toContain("100 % of the last 1,000");
		expect(row).toContain("1000+");
	});
});
