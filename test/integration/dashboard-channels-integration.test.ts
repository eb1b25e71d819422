import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { EMAIL_NOT_ALLOWED } from "../../src/channels/email-send";
import { createPortalToken } from "../../src/dashboard/tokens";
import worker from "../../src/index";
import {
	api,
	dashboardSignIn,
	decodedHtml,
	fieldError,
	receiverPath,
	record,
	shardOf,
	uniqueName,
	waitFor,
} from "./helpers";

/*
 * The dashboard's pages for issue 9, driven as a browser would drive them
 * (session cookie, CSRF token, urlencoded forms): channels in the endpoint
 * form, the transformation try form, templates, skipped and email deliveries,
 * and a read-only portal that sees none of the new forms.
 */

const ORIGIN = "http://edgehook.test";
const COOKIE = "edgehook_session";

interface Page {
	status: number;
	location: string | null;
	text: string;
}

/** A page as the browser gets it; `settings` changes the deployment's for this request alone. */
async function browse(
	method: "GET" | "POST",
	path: string,
	cookie: string,
	form?: Record<string, string | string[]>,
	settings?: Partial<Env>,
): Promise<Page> {
	const headers: Record<string, string> = { cookie: `${COOKIE}=${cookie}`, origin: ORIGIN };
	let body: string | undefined;
	if (form) {
		const params = new URLSearchParams();
		for (const [name, value] of Object.entries(form)) {
			for (const item of Array.isArray(value) ? value : [value]) params.append(name, item);
		}
		params.set("_csrf", csrfOf(cookie));
		body = params.toString();
		headers["content-type"] = "application/x-www-form-urlencoded";
	}
	const response =
		settings === undefined
			? await exports.default.fetch(`${ORIGIN}${path}`, { method, headers, body, redirect: "manual" })
			: await worker.fetch(
					new Request(`${ORIGIN}${path}`, { method, headers, body }),
					{ ...env, ...settings },
					createExecutionContext(),
				);
	return { status: response.status, location: response.headers.get("location"), text: await response.text() };
}

function sessionCookie(setCookie: string | null): string {
	const match = new RegExp(`${COOKIE}=([^;]+)`).exec(setCookie ?? "");
	if (!match?.[1]) throw new Error(`no session cookie in ${setCookie}`);
	return match[1];
}

/** The CSRF token the session's forms carry, read from its cookie as the pages render it. */
function csrfOf(cookie: string): string {
	const payload = cookie.split(".")[0] ?? "";
	return (JSON.parse(atob(payload.replaceAll("-", "+").replaceAll("_", "/"))) as { csrf: string }).csrf;
}

/** The content of the textarea named `name`. */
function textarea(page: Page, name: string): string {
	const match = new RegExp(`<textarea[^>]* name="${name}"[^>]*>([^<]*)</textarea>`).exec(page.text);
	if (match?.[1] === undefined) throw new Error(`no textarea ${name} on the page`);
	return decodedHtml(match[1]);
}

/** The value of the text input named `name` (the delete buttons' hidden inputs share names with the form's). */
function inputValue(page: Page, name: string): string {
	const match = new RegExp(`<input type="text" name="${name}" value="([^"]*)"`).exec(page.text);
	if (match?.[1] === undefined) throw new Error(`no input ${name} with a value on the page`);
	return decodedHtml(match[1]);
}

/** The try form's answer: the pretty-printed body that would be sent. */
function trialOutput(page: Page): string | null {
	const match = /<div id="transformation-output"><h4>What would be sent<\/h4><pre>([^<]*)<\/pre>/.exec(page.text);
	return match?.[1] === undefined ? null : decodedHtml(match[1]);
}

interface Tenant {
	id: string;
	key: string;
	cookie: string;
	/** A dashboard page of this tenant's view. */
	path(rest: string): string;
}

/** A fresh tenant with a key, signed in to the dashboard with that key. */
async function signedInTenant(): Promise<Tenant> {
	const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("channels-ui") } })).body);
	const key = String(
		record((await api("POST", `/v1/tenants/${tenant.id}/api-keys`, { body: { name: "ui" } })).body).key,
	);
	const id = String(tenant.id);
	return { id, key, cookie: (await dashboardSignIn(key)).cookie, path: (rest) => `/dashboard/t/${id}${rest}` };
}

async function webhooksOf(tenant: Tenant): Promise<Record<string, unknown>[]> {
	const list = await api("GET", "/v1/webhooks", { auth: tenant.key });
	expect(list.status).toBe(200);
	return record(list.body).webhooks as Record<string, unknown>[];
}

async function createVia(tenant: Tenant, body: Record<string, unknown>): Promise<Record<string, unknown>> {
	const created = await api("POST", "/v1/webhooks", { auth: tenant.key, body });
	expect(created.status, JSON.stringify(created.body)).toBe(201);
	return record(created.body);
}

async function templatesOf(tenant: Tenant): Promise<Record<string, unknown>[]> {
	const list = await api("GET", "/v1/templates", { auth: tenant.key });
	expect(list.status).toBe(200);
	return record(list.body).templates as Record<string, unknown>[];
}

/** Posts an event and waits until its delivery to `endpointId` is no longer pending. */
async function settledDelivery(tenant: Tenant, endpointId: unknown, type: string, data: unknown) {
	const event = record((await api("POST", "/v1/events", { auth: tenant.key, body: { type, data } })).body);
	return waitFor(async () => {
		const list = record((await api("GET", `/v1/webhooks/${String(endpointId)}/deliveries`, { auth: tenant.key })).body)
			.deliveries as Record<string, unknown>[];
		const found = list.find((delivery) => delivery.event_id === event.id);
		return found && found.status !== "pending" ? found : undefined;
	}, 10_000);
}

const ENDPOINT_FORM = { events: "*", description: "", headers: "", retry_schedule: "", timeout_ms: "" };

describe("endpoint form channels", () => {
	it("offers the channel, To and transformation fields, each target hint naming its channels", async () => {
		const tenant = await signedInTenant();
		const page = await browse("GET", tenant.path("/endpoints/new"), tenant.cookie);
		expect(page.status).toBe(200);
		for (const channel of ["webhook", "slack", "discord", "email"]) {
			expect(page.text).toContain(`<option value="${channel}"`);
		}
		expect(page.text).toContain('<select name="channel" data-channel-select');
		expect(page.text).toContain('<label for="field-to">To</label>');
		expect(page.text).toContain('<label for="field-transformation">Transformation (JSONata)</label>');
		expect(page.text).toContain('data-label-slack="Slack incoming-webhook URL"');
		// Without the script every field shows, so nothing hidden may be required.
		expect(page.text).not.toMatch(/<input[^>]* name="url"[^>]* required/);
		expect(decodedHtml(page.text)).toContain("email uses To instead");
		expect(decodedHtml(page.text)).toContain("For the email channel only.");
	});

	it("creates a Slack and an email endpoint, and lists each with its channel and target", async () => {
		const tenant = await signedInTenant();
		const slackUrl = receiverPath("ok", uniqueName("slack-ui"));
		const slack = await browse("POST", tenant.path("/endpoints"), tenant.cookie, {
			...ENDPOINT_FORM,
			channel: "slack",
			url: slackUrl,
			to: "",
			transformation: "",
		});
		expect(slack.status, slack.text).toBe(201);
		expect(slack.text).toContain("The Slack endpoint for");
		// A form without the script sends every field: the URL left in it does not reach an email endpoint.
		const email = await browse("POST", tenant.path("/endpoints"), tenant.cookie, {
			...ENDPOINT_FORM,
			channel: "email",
			url: "https://left-over.example.com/hook",
			to: "ops@example.com,\r\nbilling@example.com",
			transformation: "",
		});
		expect(email.status, email.text).toBe(201);
		expect(email.text).not.toContain("Signing secret");

		const stored = await webhooksOf(tenant);
		const storedSlack = stored.find((hook) => hook.channel === "slack");
		const storedEmail = stored.find((hook) => hook.channel === "email");
		expect(storedSlack).toMatchObject({ url: slackUrl, to: null, transformation: null });
		expect(storedEmail).toMatchObject({ url: null, to: ["ops@example.com", "billing@example.com"] });

		const list = await browse("GET", tenant.path("/endpoints"), tenant.cookie);
		expect(list.text).toContain('<span class="badge channel-slack">Slack</span>');
		expect(list.text).toContain('<span class="badge channel-email">Email</span>');
		expect(list.text).toContain("ops@example.com, billing@example.com");
		expect(list.text).not.toContain("left-over.example.com");

		const emailPage = await browse("GET", tenant.path(`/endpoints/${String(storedEmail?.id)}`), tenant.cookie);
		expect(emailPage.text).toContain("<dt>To</dt>");
		expect(emailPage.text).toContain("<code>ops@example.com, billing@example.com</code>");
		// An email is not signed and has no request headers: no secret, no rotation, no custom headers.
		expect(emailPage.text).not.toContain("Signing secret");
		expect(emailPage.text).not.toContain("Rotate secret");
		expect(emailPage.text).not.toContain("Custom headers");
		const slackPage = await browse("GET", tenant.path(`/endpoints/${String(storedSlack?.id)}`), tenant.cookie);
		expect(slackPage.text).toContain("<dt>Slack URL</dt>");
		expect(slackPage.text).toContain("Rotate secret");

		// The edit form opens on the stored channel, its target and its label.
		const edit = await browse("GET", tenant.path(`/endpoints/${String(storedEmail?.id)}/edit`), tenant.cookie);
		expect(edit.text).toMatch(/<option value="email" selected/);
		expect(textarea(edit, "to")).toBe("ops@example.com\nbilling@example.com");
		const editSlack = await browse("GET", tenant.path(`/endpoints/${String(storedSlack?.id)}/edit`), tenant.cookie);
		expect(editSlack.text).toContain('<label for="field-url">Slack incoming-webhook URL</label>');
	});

	it("shows a bad address and a malformed transformation next to their fields, storing nothing", async () => {
		const tenant = await signedInTenant();
		const badAddress = await browse("POST", tenant.path("/endpoints"), tenant.cookie, {
			...ENDPOINT_FORM,
			channel: "email",
			url: "",
			to: "ops@example.com, not-an-address",
			transformation: "",
		});
		expect(badAddress.status).toBe(422);
		expect(fieldError(badAddress, "to")).toBe('"not-an-address" must be an email address');
		expect(badAddress.text).toMatch(/<textarea[^>]* name="to"[^>]* aria-invalid="true"/);
		expect(textarea(badAddress, "to")).toBe("ops@example.com, not-an-address");
		expect(badAddress.text).toMatch(/<option value="email" selected/);

		const malformed = '{"text": type & }';
		const badExpression = await browse("POST", tenant.path("/endpoints"), tenant.cookie, {
			...ENDPOINT_FORM,
			channel: "slack",
			url: receiverPath("ok", uniqueName("never")),
			to: "",
			transformation: malformed,
		});
		expect(badExpression.status).toBe(422);
		expect(fieldError(badExpression, "transformation")).toMatch(/at position \d+/);
		expect(fieldError(badExpression, "url")).toBeNull();
		expect(textarea(badExpression, "transformation")).toBe(malformed);
		const badChannel = await browse("POST", tenant.path("/endpoints"), tenant.cookie, {
			...ENDPOINT_FORM,
			channel: "fax",
			url: receiverPath("ok", uniqueName("never")),
			to: "",
			transformation: "",
		});
		expect(badChannel.status).toBe(422);
		expect(fieldError(badChannel, "channel")).toMatch(/^must be one of "webhook", "slack", "discord", "email"/);
		expect(await webhooksOf(tenant)).toEqual([]);

		// The same on an edit: the stored endpoint keeps its transformation.
		const hook = await createVia(tenant, {
			channel: "slack",
			url: receiverPath("ok", uniqueName("kept")),
			events: ["*"],
			transformation: '{"text": type}',
		});
		const refused = await browse("POST", tenant.path(`/endpoints/${String(hook.id)}/edit`), tenant.cookie, {
			...ENDPOINT_FORM,
			channel: "slack",
			url: String(hook.url),
			to: "",
			transformation: malformed,
		});
		expect(refused.status).toBe(422);
		expect(fieldError(refused, "transformation")).toMatch(/at position \d+/);
		expect((await webhooksOf(tenant))[0]?.transformation).toBe('{"text": type}');

		// Emptying the field clears it.
		const cleared = await browse("POST", tenant.path(`/endpoints/${String(hook.id)}/edit`), tenant.cookie, {
			...ENDPOINT_FORM,
			channel: "slack",
			url: String(hook.url),
			to: "",
			transformation: "  ",
		});
		expect(cleared.status).toBe(303);
		expect((await webhooksOf(tenant))[0]?.transformation).toBeNull();
	});
});

describe("try the transformation", () => {
	it("shows the body, a drop, or the expression's problem, starting from the endpoint's test event", async () => {
		const tenant = await signedInTenant();
		const hook = await createVia(tenant, {
			url: receiverPath("ok", uniqueName("try")),
			events: ["*"],
			transformation: '{"kind": type, "hook": data.webhook_id}',
		});
		const detail = await browse("GET", tenant.path(`/endpoints/${String(hook.id)}`), tenant.cookie);
		expect(detail.text).toContain("Try the transformation");
		expect(decodedHtml(detail.text)).toContain(
			'<pre id="saved-transformation">{"kind": type, "hook": data.webhook_id}</pre>',
		);
		const action = tenant.path(`/endpoints/${String(hook.id)}/transformation/test`);

		// The form's own defaults: the webhook.test event of this endpoint, through the saved expression.
		const defaults = {
			try_type: inputValue(detail, "try_type"),
			try_data: textarea(detail, "try_data"),
			try_transformation: textarea(detail, "try_transformation"),
		};
		expect(defaults.try_type).toBe("webhook.test");
		const saved = await browse("POST", action, tenant.cookie, defaults);
		expect(saved.status).toBe(200);
		expect(trialOutput(saved)).toBe(JSON.stringify({ kind: "webhook.test", hook: hook.id }, null, 2));

		const typed = await browse("POST", action, tenant.cookie, {
			try_type: "user.created",
			try_data: '{"email": "ada@example.com"}',
			try_transformation: '{"text": "New " & type & ": " & data.email}',
		});
		expect(typed.status).toBe(200);
		expect(trialOutput(typed)).toBe(JSON.stringify({ text: "New user.created: ada@example.com" }, null, 2));
		// What was tried stays in the form, next to its answer.
		expect(inputValue(typed, "try_type")).toBe("user.created");

		const dropped = await browse("POST", action, tenant.cookie, {
			try_type: "user.created",
			try_data: "{}",
			try_transformation: "data.missing",
		});
		expect(dropped.status).toBe(200);
		expect(dropped.text).toContain("Dropped: the delivery would be skipped");
		expect(trialOutput(dropped)).toBeNull();

		const broken = await browse("POST", action, tenant.cookie, {
			try_type: "user.created",
			try_data: "{}",
			try_transformation: '{"text": }',
		});
		expect(broken.status).toBe(422);
		expect(fieldError(broken, "try_transformation")).toMatch(/at position \d+/);
		expect(trialOutput(broken)).toBeNull();

		const notJson = await browse("POST", action, tenant.cookie, {
			try_type: "user.created",
			try_data: "{not json",
			try_transformation: "",
		});
		expect(notJson.status).toBe(422);
		expect(fieldError(notJson, "try_data")).toMatch(/^is not valid JSON/);
		// Trying saves nothing.
		expect((await webhooksOf(tenant))[0]?.transformation).toBe('{"kind": type, "hook": data.webhook_id}');
	});

	it("shows a Slack endpoint's built-in Block Kit message, and the tenant's template once there is one", async () => {
		const tenant = await signedInTenant();
		const hook = await createVia(tenant, {
			channel: "slack",
			url: receiverPath("ok", uniqueName("try-slack")),
			events: ["*"],
		});
		const detail = await browse("GET", tenant.path(`/endpoints/${String(hook.id)}`), tenant.cookie);
		expect(detail.text).toContain("your template for the event type, else the channel");
		const action = tenant.path(`/endpoints/${String(hook.id)}/transformation/test`);
		const form = { try_type: "webhook.test", try_data: textarea(detail, "try_data"), try_transformation: "" };
		const builtIn = record(JSON.parse(trialOutput(await browse("POST", action, tenant.cookie, form)) ?? "null"));
		expect(Array.isArray(builtIn.blocks)).toBe(true);

		const saved = await browse("POST", tenant.path("/templates"), tenant.cookie, {
			channel: "slack",
			event_type: "*",
			expression: '{"text": "Template: " & type}',
		});
		expect(saved.status).toBe(303);
		const templated = await browse("POST", action, tenant.cookie, form);
		expect(JSON.parse(trialOutput(templated) ?? "null")).toEqual({ text: "Template: webhook.test" });
	});
});

describe("templates page", () => {
	it("adds, replaces and deletes a tenant's templates, with the API's problems next to the fields", async () => {
		const tenant = await signedInTenant();
		const empty = await browse("GET", tenant.path("/templates"), tenant.cookie);
		expect(empty.status).toBe(200);
		expect(empty.text).toContain(`<a href="${tenant.path("/templates")}" aria-current="page">Templates</a>`);
		expect(empty.text).toContain("No templates: every channel uses its own layout.");

		const added = await browse("POST", tenant.path("/templates"), tenant.cookie, {
			channel: "discord",
			event_type: "*",
			expression: '{"content": type}',
		});
		expect(added.status).toBe(303);
		expect(added.location).toBe(`${tenant.path("/templates")}?notice=saved`);
		const typed = await browse("POST", tenant.path("/templates"), tenant.cookie, {
			channel: "email",
			event_type: "invoice.paid",
			expression: '{"subject": "Paid", "text": data.invoice}',
		});
		expect(typed.status).toBe(303);
		expect((await templatesOf(tenant)).map((t) => `${t.channel}/${t.event_type}`)).toEqual([
			"discord/*",
			"email/invoice.paid",
		]);

		// Saving the same channel and type replaces the expression.
		const replaced = await browse("POST", tenant.path("/templates"), tenant.cookie, {
			channel: "discord",
			event_type: "*",
			expression: '{"content": "v2 " & type}',
		});
		expect(replaced.status).toBe(303);
		const templates = await templatesOf(tenant);
		expect(templates).toHaveLength(2);
		expect(templates.find((t) => t.channel === "discord")?.expression).toBe('{"content": "v2 " & type}');

		const listed = await browse("GET", tenant.path("/templates?notice=saved"), tenant.cookie);
		expect(listed.text).toContain("Template saved.");
		expect(decodedHtml(listed.text)).toContain('<pre>{"content": "v2 " & type}</pre>');
		// Edit loads the template into the form.
		const editing = await browse("GET", tenant.path("/templates?channel=email&event_type=invoice.paid"), tenant.cookie);
		expect(textarea(editing, "expression")).toBe('{"subject": "Paid", "text": data.invoice}');
		expect(inputValue(editing, "event_type")).toBe("invoice.paid");

		const malformed = await browse("POST", tenant.path("/templates"), tenant.cookie, {
			channel: "slack",
			event_type: "user.created",
			expression: '{"text": ',
		});
		expect(malformed.status).toBe(422);
		expect(fieldError(malformed, "expression")).toMatch(/at position \d+/);
		expect(textarea(malformed, "expression")).toBe('{"text": ');
		const badType = await browse("POST", tenant.path("/templates"), tenant.cookie, {
			channel: "slack",
			event_type: "not a type",
			expression: '{"text": type}',
		});
		expect(badType.status).toBe(422);
		expect(fieldError(badType, "event_type")).toBe("must be an event type or * for every type");
		expect(await templatesOf(tenant)).toHaveLength(2);

		const deleted = await browse("POST", tenant.path("/templates/delete"), tenant.cookie, {
			channel: "discord",
			event_type: "*",
		});
		expect(deleted.status).toBe(303);
		expect(deleted.location).toBe(`${tenant.path("/templates")}?notice=deleted`);
		expect((await templatesOf(tenant)).map((t) => `${t.channel}/${t.event_type}`)).toEqual(["email/invoice.paid"]);
		const gone = await browse("POST", tenant.path("/templates/delete"), tenant.cookie, {
			channel: "discord",
			event_type: "*",
		});
		expect(gone.status).toBe(404);
		expect(gone.text).toContain("Not deleted:");
	});
});

describe("skipped and email deliveries", () => {
	it("shows a skipped delivery with its badge, no request and its count, and an email delivery without a request", async () => {
		const tenant = await signedInTenant();
		const dropping = await createVia(tenant, {
			url: receiverPath("ok", uniqueName("dropping")),
			events: ["*"],
			transformation: "data.missing",
		});
		const skipped = await settledDelivery(tenant, dropping.id, "order.created", { order: 1 });
		expect(skipped.status).toBe("skipped");

		const page = await browse("GET", tenant.path(`/deliveries/${String(skipped.id)}`), tenant.cookie);
		expect(page.status).toBe(200);
		expect(page.text).toContain('<span class="badge skipped">skipped</span>');
		expect(page.text).toContain("nothing was sent");
		expect(page.text).toContain("the delivery was skipped: the transformation produced nothing");
		expect(page.text).not.toContain("could not be rebuilt");

		const log = await browse(
			"GET",
			tenant.path(`/endpoints/${String(dropping.id)}/deliveries?status=skipped`),
			tenant.cookie,
		);
		expect(log.text).toMatch(/<option value="skipped" selected[^>]*>Skipped<\/option>/);
		expect(log.text).toContain(String(skipped.id));
		const detail = await browse("GET", tenant.path(`/endpoints/${String(dropping.id)}`), tenant.cookie);
		expect(detail.text).toMatch(/0 pending,\s*(<!-- -->)?\s*1 skipped/);

		const mail = await createVia(tenant, { channel: "email", to: ["ops@example.com"], events: ["*"] });
		const emailed = await settledDelivery(tenant, mail.id, "order.created", { order: 2 });
		const emailPage = await browse("GET", tenant.path(`/deliveries/${String(emailed.id)}`), tenant.cookie);
		expect(emailPage.status).toBe(200);
		expect(emailPage.text).toContain("an email delivery sends no HTTP request");
		expect(emailPage.text).not.toContain("could not be rebuilt");
	});
});

/** A read-only portal session on `tenant`, as a customer gets it by following the link. */
async function readOnlyPortal(tenant: Tenant): Promise<string> {
	const token = await createPortalToken(env, {
		tenantId: tenant.id,
		keyId: null,
		readOnly: true,
		expiresAt: Date.now() + 60_000,
	});
	// Following the link only offers a button; its same-origin post starts the session.
	const opened = await exports.default.fetch(`${ORIGIN}/portal/${token}`, {
		method: "POST",
		headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded" },
		redirect: "manual",
	});
	expect(opened.status).toBe(303);
	return sessionCookie(opened.headers.get("set-cookie"));
}

/** Random letters and digits, long enough that finding them on a page means the credential leaked. */
function credential(): string {
	return crypto.randomUUID().replaceAll("-", "");
}

describe("endpoint URLs in a read-only portal", () => {
	it("are masked on every page that shows an endpoint, a delivery or an event, and whole for a full session", async () => {
		const tenant = await signedInTenant();
		const slackToken = credential();
		// A Slack URL's token is the last segment of its path, as on hooks.slack.com/services/T…/B…/<token>.
		const slackUrl = `${receiverPath("ok", "services/T0ABC/B0DEF")}/${slackToken}`;
		const queryToken = credential();
		const tokenUrl = `${receiverPath("ok", uniqueName("query"))}?token=${queryToken}`;
		const slack = await createVia(tenant, { channel: "slack", url: slackUrl, events: ["*"] });
		const hook = await createVia(tenant, { url: tokenUrl, events: ["*"] });
		const slackDelivery = await settledDelivery(tenant, slack.id, "order.created", { order: 1 });
		const hookDelivery = await settledDelivery(tenant, hook.id, "order.paid", { order: 1 });
		expect([slackDelivery.status, hookDelivery.status]).toEqual(["success", "success"]);
		const receiver = new URL(slackUrl).origin;

		const portal = await readOnlyPortal(tenant);
		const pages = [
			"/endpoints",
			`/endpoints/${String(slack.id)}`,
			`/endpoints/${String(hook.id)}`,
			`/endpoints/${String(slack.id)}/deliveries`,
			`/endpoints/${String(hook.id)}/deliveries`,
			`/deliveries/${String(slackDelivery.id)}`,
			`/deliveries/${String(hookDelivery.id)}`,
			"/events",
			`/events/${String(slackDelivery.event_id)}`,
		];
		for (const page of pages) {
			const shown = await browse("GET", tenant.path(page), portal);
			expect(shown.status, page).toBe(200);
			expect(shown.text, page).not.toContain(slackToken);
			expect(shown.text, page).not.toContain(queryToken);
			expect(shown.text, page).not.toContain("services/T0ABC");
		}
		// What is left says where deliveries go: the host, and enough of the end to tell endpoints apart.
		const list = decodedHtml((await browse("GET", tenant.path("/endpoints"), portal)).text);
		expect(list).toContain(`${receiver}/…${slackToken.slice(-4)}`);
		expect(list).toContain(`${receiver}/…${queryToken.slice(-4)}`);

		const full = decodedHtml((await browse("GET", tenant.path("/endpoints"), tenant.cookie)).text);
		expect(full).toContain(slackUrl);
		expect(full).toContain(tokenUrl);
		const fullPage = decodedHtml(
			(await browse("GET", tenant.path(`/endpoints/${String(slack.id)}`), tenant.cookie)).text,
		);
		expect(fullPage).toContain(slackUrl);
	});

	it("are masked in an operational event stored before Edgehook masked them there", async () => {
		const tenant = await signedInTenant();
		const slackToken = credential();
		const slackUrl = `https://hooks.slack.com/services/T0ABC/B0DEF/${slackToken}`;
		const eventId = `evt_${uniqueName("old")}`;
		await (await shardOf(tenant.id))
			.prepare(
				"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at) VALUES (?, ?, 'endpoint.disabled', ?, '[]', ?)",
			)
			.bind(tenant.id, eventId, JSON.stringify({ endpoint_id: "hook_old", url: slackUrl, reason: "gone" }), Date.now())
			.run();

		const portal = await readOnlyPortal(tenant);
		for (const page of ["/events", `/events/${eventId}`]) {
			const shown = await browse("GET", tenant.path(page), portal);
			expect(shown.status, page).toBe(200);
			expect(shown.text, page).not.toContain(slackToken);
		}
		expect(decodedHtml((await browse("GET", tenant.path(`/events/${eventId}`), portal)).text)).toContain(
			`"url": "https://hooks.slack.com/…${slackToken.slice(-4)}"`,
		);
		// The tenant's own session reads its event log as it was stored.
		expect((await browse("GET", tenant.path(`/events/${eventId}`), tenant.cookie)).text).toContain(slackToken);
	});
});

describe("email in the endpoint form", () => {
	it("is not offered to a tenant that EMAIL_TENANTS leaves out, and is to one it names", async () => {
		const tenant = await signedInTenant();
		const left = await browse("GET", tenant.path("/endpoints/new"), tenant.cookie, undefined, {
			EMAIL_TENANTS: "default, ten_someone_else",
		});
		expect(left.status).toBe(200);
		expect(left.text).toContain('<option value="slack"');
		expect(left.text).not.toContain('<option value="email"');
		expect(left.text).not.toContain('<label for="field-to">To</label>');
		expect(decodedHtml(left.text)).not.toContain("email uses To instead");

		const named = await browse("GET", tenant.path("/endpoints/new"), tenant.cookie, undefined, {
			EMAIL_TENANTS: `default, ${tenant.id}`,
		});
		expect(named.text).toContain('<option value="email"');
		expect(named.text).toContain('<label for="field-to">To</label>');

		// A form sent anyway is refused with the reason next to the channel.
		const sent = await browse(
			"POST",
			tenant.path("/endpoints"),
			tenant.cookie,
			{ ...ENDPOINT_FORM, channel: "email", url: "", to: "ops@example.com", transformation: "" },
			{ EMAIL_TENANTS: "ten_someone_else" },
		);
		expect(sent.status).toBe(422);
		expect(fieldError(sent, "channel")).toBe(EMAIL_NOT_ALLOWED);
		expect(await webhooksOf(tenant)).toEqual([]);
	});
});

describe("read-only portal", () => {
	it("shows the transformation and the templates but no form to try, add or delete", async () => {
		const tenant = await signedInTenant();
		const hook = await createVia(tenant, {
			channel: "slack",
			url: receiverPath("ok", uniqueName("portal")),
			events: ["*"],
			transformation: '{"text": type}',
		});
		expect(
			(await api("PUT", "/v1/templates/slack/*", { auth: tenant.key, body: { expression: '{"text": "T"}' } })).status,
		).toBe(200);
		const cookie = await readOnlyPortal(tenant);

		const endpointPage = await browse("GET", tenant.path(`/endpoints/${String(hook.id)}`), cookie);
		expect(endpointPage.status).toBe(200);
		expect(decodedHtml(endpointPage.text)).toContain('<pre id="saved-transformation">{"text": type}</pre>');
		expect(endpointPage.text).not.toContain("<form");
		expect(endpointPage.text).not.toContain("Try the transformation");
		const templatesPage = await browse("GET", tenant.path("/templates"), cookie);
		expect(templatesPage.status).toBe(200);
		expect(decodedHtml(templatesPage.text)).toContain('<pre>{"text": "T"}</pre>');
		expect(templatesPage.text).not.toContain("<form");
		expect(templatesPage.text).not.toContain("Save template");
		expect(templatesPage.text).not.toContain(">Edit<");

		// A post made up by hand is refused as well.
		const tried = await browse("POST", tenant.path(`/endpoints/${String(hook.id)}/transformation/test`), cookie, {
			try_type: "webhook.test",
			try_data: "{}",
			try_transformation: "",
		});
		expect(tried.status).toBe(403);
		const deleted = await browse("POST", tenant.path("/templates/delete"), cookie, {
			channel: "slack",
			event_type: "*",
		});
		expect(deleted.status).toBe(403);
		expect(await templatesOf(tenant)).toHaveLength(1);
	});
});
