import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_KEY, api, dashboardSignIn, decodedHtml, fieldError, receiverPath, record, uniqueName } from "./helpers";

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
