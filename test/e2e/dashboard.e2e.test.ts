/**
 * The dashboard and the customer portal in a real browser: Debian's Chromium
 * driven by playwright-core against the worker under `wrangler dev`, with
 * real receivers on 127.0.0.1. Each scenario of issue 8 is one test. Every
 * page the browser opens is checked for Content Security Policy violations
 * and script errors (see afterEach). The README's screenshots are taken along
 * the way and written only with UPDATE_SCREENSHOTS=1.
 */

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Locator, Page } from "playwright-core";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
	bodyOf,
	call,
	type DeliverySummary,
	expectStatus,
	newSecret,
	summarize,
	uniqueSuffix,
	type Webhook,
} from "./support/api";
import { BrowserProfile, launchChromium, mintPortalToken, reloadUntil, screenshot, signIn } from "./support/browser";
import { target } from "./support/context";
import { type ReceivedRequest, Receiver } from "./support/receiver";
import { createTenant, createTenantApiKey, deleteTenant, type Tenant, TenantClient } from "./support/tenants";
import { done, notYet, type Poll, waitFor } from "./support/wait";

const SETTLE_MS = 20_000;

interface PortalLink {
	url: string;
	expires_at: string;
	read_only: boolean;
	tenant_id: string;
}

/** A tenant made through the API, with a key of its own to set things up and check them. */
interface TenantWithKey {
	tenant: Tenant;
	api: TenantClient;
	key: string;
}

function standardHeaders(request: ReceivedRequest): Record<string, string> {
	return {
		"webhook-id": request.headers["webhook-id"] ?? "",
		"webhook-timestamp": request.headers["webhook-timestamp"] ?? "",
		"webhook-signature": request.headers["webhook-signature"] ?? "",
	};
}

/** Whether `secret` verifies the request under the Standard Webhooks library. */
function verifies(secret: string, request: ReceivedRequest): boolean {
	try {
		new StandardWebhook(secret).verify(request.body, standardHeaders(request));
		return true;
	} catch {
		return false;
	}
}

/** The `/dashboard/t/:tenant/endpoints/:id` (or other) path segment after `marker`. */
function idAfter(path: string, marker: string): string {
	const match = new RegExp(`/${marker}/([^/?#]+)`).exec(path);
	if (!match?.[1]) throw new Error(`no ${marker} id in ${path}`);
	return decodeURIComponent(match[1]);
}

/** Clicks what submits a form and waits for the page it leads to (through any redirect). */
async function submit(page: Page, button: Locator): Promise<number> {
	const [response] = await Promise.all([
		page.waitForResponse((r) => r.request().method() === "POST" && r.request().resourceType() === "document"),
		button.click(),
	]);
	await page.waitForLoadState("load");
	return response.status();
}

describe("dashboard in a real browser", () => {
	const { baseUrl, adminKey } = target();
	let browser: Browser;
	const openProfiles: BrowserProfile[] = [];
	const receivers: Receiver[] = [];
	const tenants: string[] = [];

	beforeAll(async () => {
		browser = await launchChromium();
	});

	afterEach(async () => {
		const profiles = openProfiles.splice(0);
		const csp = profiles.flatMap((profile) => profile.cspViolations);
		const errors = profiles.flatMap((profile) => profile.scriptErrors);
		await Promise.all(profiles.map((profile) => profile.close()));
		expect(csp, "Content Security Policy violations reported by the browser").toEqual([]);
		expect(errors, "uncaught script errors in the pages").toEqual([]);
	});

	afterAll(async () => {
		await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
		// Deleting the tenants stops their retries, so later files' receivers hear nothing from them.
		await Promise.all(tenants.splice(0).map((id) => deleteTenant(id).catch(() => undefined)));
		await browser?.close();
	});

	/** A fresh browser profile (no cookies), closed and checked for CSP violations after the test. */
	async function freshProfile(): Promise<BrowserProfile> {
		const profile = await BrowserProfile.open(browser, baseUrl);
		openProfiles.push(profile);
		return profile;
	}

	/** A fresh profile signed in with `key` (the admin key or a tenant key). */
	async function signedIn(key: string): Promise<BrowserProfile> {
		const profile = await freshProfile();
		await profile.goto("/dashboard/sign-in");
		await signIn(profile.page, key);
		return profile;
	}

	async function receiver(): Promise<Receiver> {
		const started = await Receiver.start();
		receivers.push(started);
		return started;
	}

	async function tenantWithKey(label: string): Promise<TenantWithKey> {
		const tenant = await createTenant(`${label} ${uniqueSuffix()}`);
		tenants.push(tenant.id);
		const { key } = await createTenantApiKey(tenant.id, "dashboard e2e");
		return { tenant, api: new TenantClient(key), key };
	}

	async function webhooksOf(api: TenantClient): Promise<Webhook[]> {
		return bodyOf<{ webhooks: Webhook[] }>(expectStatus(await api.call("GET", "/v1/webhooks"), 200)).webhooks;
	}

	/** Sends an event with the tenant's key and waits until its delivery to `webhookId` is `status`. */
	async function sendAndSettle(
		api: TenantClient,
		webhookId: string,
		type: string,
		data: Record<string, unknown>,
		status: DeliverySummary["status"],
	): Promise<DeliverySummary> {
		const event = bodyOf<{ id: string }>(
			expectStatus(await api.call("POST", "/v1/events", { json: { type, data } }), 202),
		);
		return api.waitForDelivery(webhookId, event.id, (d) => d.status === status, status, SETTLE_MS);
	}

	/** Presses Tab until `reached` (at most 15 times): the path a user without a mouse takes. */
	async function tabTo(page: Page, reached: () => Promise<boolean>, what: string): Promise<void> {
		for (let presses = 0; presses < 15; presses++) {
			if (await reached()) return;
			await page.keyboard.press("Tab");
		}
		throw new Error(`Tab never reached ${what}`);
	}

	it("leads from / to the sign-in page, which works with the keyboard alone", async () => {
		const browserProfile = await freshProfile();
		const { page } = browserProfile;
		const response = await browserProfile.goto("/");
		expect(response.status()).toBe(200);
		expect(browserProfile.path()).toBe("/dashboard/sign-in");
		expect(await browserProfile.heading()).toBe("Sign in");
		await screenshot(page, "sign-in");

		const onKeyField = async () => (await page.locator(":focus").getAttribute("name")) === "api_key";
		// A wrong key, typed and sent with the keyboard: refused on the page.
		await tabTo(page, onKeyField, "the API key field");
		await page.keyboard.type("not-a-key");
		const [refused] = await Promise.all([
			page.waitForResponse((r) => r.request().method() === "POST"),
			page.keyboard.press("Enter"),
		]);
		expect(refused.status()).toBe(401);
		await page.waitForLoadState("load");
		expect(await page.getByRole("alert").first().textContent()).toContain("not valid");

		// The right key, typed and submitted with Tab and Enter only.
		await tabTo(page, onKeyField, "the API key field");
		await page.keyboard.press("ControlOrMeta+A");
		await page.keyboard.type(adminKey);
		await tabTo(
			page,
			async () => (await page.locator(":focus").textContent())?.trim() === "Sign in",
			"the Sign in button",
		);
		await Promise.all([page.waitForURL("**/dashboard/tenants"), page.keyboard.press("Enter")]);
		expect(await browserProfile.heading()).toBe("Tenants");
	});

	it("seed 000's flow: tenant, event types, endpoint, copied secret, test event delivered and verified", async () => {
		const hook = await receiver();
		const admin = await signedIn(adminKey);
		const { page } = admin;
		expect(admin.path()).toBe("/dashboard/tenants");

		// Dashboard → a tenant of one's own.
		// Tenant names need not be unique; this one reads well in the screenshots.
		const tenantName = "Acme Payments";
		await page.getByLabel("Name", { exact: true }).fill(tenantName);
		expect(await submit(page, page.getByRole("button", { name: "Create tenant" }))).toBe(303);
		const tenantId = idAfter(admin.path(), "tenants");
		tenants.push(tenantId);
		expect(await admin.heading()).toBe(`Tenant ${tenantName}`);
		await page.getByRole("link", { name: "Open tenant view" }).first().click();
		await page.waitForURL(`**/dashboard/t/${tenantId}/endpoints`);
		expect(await admin.heading()).toBe("Endpoints");

		// The catalog: two event types with examples, from the Event types page.
		await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Event types" }).click();
		await page.waitForURL(`**/dashboard/t/${tenantId}/event-types`);
		const types = [
			{
				name: "invoice.paid",
				description: "An invoice was paid in full",
				example: { invoice: "inv_1001", amount: 4200 },
			},
			{
				name: "invoice.failed",
				description: "A payment attempt failed",
				example: { invoice: "inv_1002", reason: "card_declined" },
			},
		];
		for (const type of types) {
			await page.getByLabel("Name", { exact: true }).fill(type.name);
			await page.getByLabel("Description", { exact: true }).fill(type.description);
			await page.getByLabel("Example payload (JSON)").fill(JSON.stringify(type.example, null, 2));
			expect(await submit(page, page.getByRole("button", { name: "Add event type" }))).toBe(303);
			await page.locator("tbody tr").filter({ hasText: type.name }).waitFor();
		}
		const catalog = bodyOf<{ event_types: Array<{ name: string; example: unknown }> }>(
			expectStatus(await call("GET", "/v1/event-types?limit=250", { headers: { "x-tenant-id": tenantId } }), 200),
		).event_types;
		for (const type of types) {
			expect(catalog.find((entry) => entry.name === type.name)?.example).toEqual(type.example);
		}

		// The backend already sends a type nobody put in the catalog.
		expectStatus(
			await call("POST", "/v1/events", {
				json: { type: "customer.created", data: { customer: "cus_1" } },
				headers: { "x-tenant-id": tenantId },
			}),
			202,
		);

		// Settings → Webhooks → add endpoint, select events, save.
		await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Endpoints" }).click();
		await page.getByRole("link", { name: "Add endpoint" }).first().click();
		expect(await admin.heading()).toBe("Add endpoint");
		// The catalog's types first, then the one events used, marked as not in the catalog.
		const offered = await Promise.all(
			(await page.locator('input[name="events"]').all()).map((box) => box.getAttribute("value")),
		);
		expect(offered.slice(-3)).toEqual(["invoice.failed", "invoice.paid", "customer.created"]);
		await page.getByRole("checkbox", { name: "customer.created sent recently, not in the catalog" }).waitFor();
		await page.getByLabel("URL", { exact: true }).fill(hook.url);
		for (const type of types) await page.getByRole("checkbox", { name: type.name }).check();
		await page.getByLabel("Description", { exact: true }).fill("Billing service");
		expect(await submit(page, page.getByRole("button", { name: "Save endpoint" }))).toBe(201);
		expect(await admin.heading()).toBe("Endpoint created");

		// Copy the secret with the page's own button, and read it back from the clipboard.
		const shown = await page.locator("#endpoint-secret").inputValue();
		expect(shown).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
		await page.getByRole("button", { name: "Copy" }).click();
		await page.getByRole("button", { name: "Copied" }).waitFor({ timeout: 5_000 });
		const copied = await page.evaluate(() => navigator.clipboard.readText());
		expect(copied).toBe(shown);
		// The receiver accepts only requests signed with the copied secret.
		hook.respondWith((request) =>
			verifies(copied, request) ? { status: 200, body: "ok" } : { status: 401, body: "bad signature" },
		);

		await page.getByRole("link", { name: "Open the endpoint page" }).click();
		const endpointId = idAfter(admin.path(), "endpoints");
		const endpoint = bodyOf<Webhook & { description: string }>(
			expectStatus(
				await call("GET", `/v1/webhooks/${encodeURIComponent(endpointId)}`, { headers: { "x-tenant-id": tenantId } }),
				200,
			),
		);
		expect(endpoint.url).toBe(hook.url);
		expect([...endpoint.events].sort()).toEqual(types.map((type) => type.name).sort());
		expect(endpoint.description).toBe("Billing service");
		// Masked on the endpoint page: whsec_… and the last four characters.
		await page.getByText(`whsec_…${copied.slice(-4)}`, { exact: true }).waitFor();
		expect(await page.content()).not.toContain(copied);

		// The test-event list offers the catalog's types, then the one events used.
		expect(await page.getByLabel("Event type", { exact: true }).locator("option").allTextContents()).toEqual([
			"webhook.test",
			"invoice.failed",
			"invoice.paid",
			"customer.created (sent recently, not in the catalog)",
		]);

		// Send a test event of a chosen type, with its example payload.
		await page.getByLabel("Event type", { exact: true }).selectOption("invoice.paid");
		expect(await submit(page, page.getByRole("button", { name: "Send test event" }))).toBe(303);
		await page.getByRole("status").filter({ hasText: "Test event sent" }).waitFor();
		const [request] = await hook.waitForRequests(1, SETTLE_MS);
		if (request === undefined) throw new Error("no request reached the receiver");
		expect(verifies(copied, request), "the copied secret verifies the test event's signature").toBe(true);
		expect(verifies(newSecret(), request)).toBe(false);
		const envelope = JSON.parse(request.body) as { type: string; data: unknown };
		expect(envelope.type).toBe("invoice.paid");
		expect(envelope.data).toEqual(types[0]?.example);

		// …and see it succeed in the delivery log.
		await page.getByRole("link", { name: "Delivery log" }).click();
		expect(await admin.heading()).toBe("Delivery log");
		const row = page.locator("tbody tr").filter({ hasText: "invoice.paid" });
		await reloadUntil(page, row.locator(".badge"), "the test delivery to show success", {
			accept: (text) => text === "success",
		});
		expect(await row.count()).toBe(1);
		expect((await row.locator("td").nth(4).textContent())?.trim()).toBe("200");

		// A second endpoint whose receiver refuses its signature, so the list and charts show a failure too.
		const other = bodyOf<Webhook>(
			expectStatus(
				await call("POST", "/v1/webhooks", {
					json: { url: hook.url, events: ["invoice.failed"], description: "Analytics", retry_schedule: [] },
					headers: { "x-tenant-id": tenantId },
				}),
				201,
			),
		);
		const event = bodyOf<{ id: string }>(
			expectStatus(
				await call("POST", "/v1/events", {
					json: { type: "invoice.failed", data: types[1]?.example },
					headers: { "x-tenant-id": tenantId },
				}),
				202,
			),
		);
		const settled = (webhookId: string, status: string) =>
			waitFor(
				`${event.id} to be ${status} at ${webhookId}`,
				async (): Promise<Poll<true>> => {
					const response = expectStatus(
						await call("GET", `/v1/webhooks/${webhookId}/deliveries`, { headers: { "x-tenant-id": tenantId } }),
						200,
					);
					const found = bodyOf<{ deliveries: DeliverySummary[] }>(response).deliveries.find(
						(delivery) => delivery.event_id === event.id,
					);
					return found?.status === status ? done(true) : notYet(found);
				},
				{ timeoutMs: SETTLE_MS, intervalMs: 250 },
			);
		await settled(endpointId, "success");
		await settled(other.id, "failed");

		// The main pages, for the README, now that they hold data.
		await row.getByRole("link").click();
		expect(await admin.heading()).toBe("Delivery");
		await page.getByText("Exactly the bytes that were signed.").waitFor();
		await screenshot(page, "delivery");
		await page.getByRole("link", { name: request.headers["webhook-id"] ?? "?" }).click();
		expect(await admin.heading()).toBe("Event");
		expect(await page.locator("main pre").first().textContent()).toBe(JSON.stringify(types[0]?.example, null, 2));
		await screenshot(page, "event");
		await admin.goto(`/dashboard/t/${tenantId}/endpoints/${endpointId}`);
		// Scrolled to the figures and the chart of the last 24 hours.
		await page.locator("main svg").first().waitFor();
		await page.getByRole("heading", { name: "Last 24 hours" }).evaluate((heading) => {
			heading.scrollIntoView({ block: "start" });
		});
		await screenshot(page, "endpoint");
		await admin.goto(`/dashboard/t/${tenantId}/endpoints`);
		expect(await page.locator("tbody tr").filter({ hasText: hook.url }).count()).toBe(2);
		expect(
			(await page.locator("tbody tr").filter({ hasText: "Analytics" }).locator("td").nth(3).textContent())?.trim(),
		).toBe("0 %");
		await screenshot(page, "endpoints");
		await admin.goto(`/dashboard/t/${tenantId}/event-types`);
		await screenshot(page, "event-types");
		await admin.goto("/dashboard/tenants");
		await screenshot(page, "tenants");
	});

	it("shows a failed delivery with the receiver's answer, and a retry from the page succeeds", async () => {
		const hook = await receiver();
		const marker = `E2E-BOOM-${uniqueSuffix()}`;
		hook.respondWith(() => ({ status: 500, body: `database unavailable: ${marker}` }));
		const { tenant, api } = await tenantWithKey("Failing");
		const webhook = await api.createWebhook({ url: hook.url, events: ["order.created"], retry_schedule: [] });
		const failed = await sendAndSettle(api, webhook.id, "order.created", { order: 7 }, "failed");

		const admin = await signedIn(adminKey);
		const { page } = admin;
		await admin.goto(`/dashboard/t/${tenant.id}/deliveries/${failed.id}`);
		expect(await admin.heading()).toBe("Delivery");
		expect((await page.locator(".badge").first().textContent())?.trim()).toBe("failed");
		const attempts = page.locator("table").first().locator("tbody tr");
		expect(await attempts.count()).toBe(1);
		expect((await attempts.first().locator("td").nth(4).textContent())?.trim()).toBe("500");
		expect(await attempts.first().locator("td").nth(6).textContent()).toContain(`database unavailable: ${marker}`);

		// Fix the receiver, retry from the page: the page reloads itself until the new attempt is recorded.
		hook.respondWith(() => ({ status: 200, body: "fixed" }));
		expect(await submit(page, page.getByRole("button", { name: "Retry" }))).toBe(303);
		await page.getByRole("status").filter({ hasText: "Retry queued" }).waitFor();
		await reloadUntil(page, page.locator(".badge").first(), "the retried delivery to show success", {
			accept: (text) => text === "success",
		});
		expect(await attempts.count()).toBe(2);
		expect((await attempts.nth(1).locator("td").nth(4).textContent())?.trim()).toBe("200");
		const detail = await api.getDelivery(failed.id);
		expect(detail.status).toBe("success");
		expect(detail.attempts.map((attempt) => attempt.status_code)).toEqual([500, 200]);
		expect(hook.requestsFor(failed.event_id)).toHaveLength(2);
	});

	it("rotates the secret from the endpoint page; during the grace period both secrets verify", async () => {
		const hook = await receiver();
		const { tenant, api } = await tenantWithKey("Rotation");
		const oldSecret = newSecret();
		const webhook = await api.createWebhook({ url: hook.url, events: ["user.*"], secret: oldSecret });

		const admin = await signedIn(adminKey);
		const { page } = admin;
		await admin.goto(`/dashboard/t/${tenant.id}/endpoints/${webhook.id}`);
		await page.getByText(`whsec_…${oldSecret.slice(-4)}`, { exact: true }).waitFor();
		await page.getByLabel("Grace period (hours)").fill("1");
		const rotatedAt = Date.now();
		expect(await submit(page, page.getByRole("button", { name: "Rotate secret" }))).toBe(200);
		expect(await admin.heading()).toBe("Secret rotated");
		const newShown = await page.locator("#endpoint-secret").inputValue();
		expect(newShown).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
		expect(newShown).not.toBe(oldSecret);
		const until = await page.locator("main time").first().getAttribute("datetime");
		expect(Math.abs(Date.parse(until ?? "") - (rotatedAt + 3_600_000))).toBeLessThan(60_000);

		// What the API now holds is what the page showed.
		const revealed = bodyOf<{ secret: string }>(
			expectStatus(await api.call("GET", `/v1/webhooks/${webhook.id}/secret`), 200),
		);
		expect(revealed.secret).toBe(newShown);
		await page.getByRole("link", { name: "Back to the endpoint" }).click();
		await page.getByText(`whsec_…${newShown.slice(-4)}`, { exact: true }).waitFor();

		const delivery = await sendAndSettle(api, webhook.id, "user.updated", { user: "u_1" }, "success");
		const [request] = hook.requestsFor(delivery.event_id);
		if (request === undefined) throw new Error(`the receiver got nothing for ${delivery.event_id}`);
		expect((request.headers["webhook-signature"] ?? "").split(" ")).toHaveLength(2);
		expect(verifies(newShown, request), "the new secret verifies").toBe(true);
		expect(verifies(oldSecret, request), "the old secret still verifies during the grace period").toBe(true);
		expect(verifies(newSecret(), request)).toBe(false);
	});

	it("recovers failed deliveries from the endpoint page, with the task's progress", async () => {
		const hook = await receiver();
		hook.respondWith(() => ({ status: 503, body: "down for maintenance" }));
		const { tenant, api } = await tenantWithKey("Recover");
		const webhook = await api.createWebhook({ url: hook.url, events: ["outage.*"], retry_schedule: [] });
		const failed: DeliverySummary[] = [];
		for (let n = 0; n < 3; n++) failed.push(await sendAndSettle(api, webhook.id, "outage.order", { n }, "failed"));
		hook.respondWith(() => ({ status: 200, body: "back" }));

		const admin = await signedIn(adminKey);
		const { page } = admin;
		await admin.goto(`/dashboard/t/${tenant.id}/endpoints/${webhook.id}`);
		// The form's default window (the last 24 h) holds the outage.
		expect(await submit(page, page.getByRole("button", { name: "Recover" }))).toBe(303);
		expect(admin.path()).toMatch(new RegExp(`^/dashboard/t/${tenant.id}/tasks/task_`));
		expect(await admin.heading()).toBe("Recover");
		// The task page reloads itself while the task runs; wait for it to say so.
		await waitFor(
			"the task page to show the recover completed",
			async (): Promise<Poll<true>> => {
				const progress = ((await page.locator("#task-progress").textContent()) ?? "").trim();
				const status = ((await page.locator(".badge").first().textContent()) ?? "").trim();
				return status === "completed" && progress === "3 of 3 re-sent" ? done(true) : notYet({ status, progress });
			},
			{ timeoutMs: SETTLE_MS, intervalMs: 250 },
		);
		for (const delivery of failed) {
			const settled = await api.waitForDelivery(
				webhook.id,
				delivery.event_id,
				(d) => d.status === "success",
				"success",
			);
			expect(settled.id).toBe(delivery.id);
			expect(hook.requestsFor(delivery.event_id)).toHaveLength(2);
		}
	});

	it("a portal link opens the tenant's view and stops working when it expires", async () => {
		const { tenant, api } = await tenantWithKey("Portal");
		await api.createWebhook({ url: "http://127.0.0.1:9/unused", events: ["portal.seen"], description: "Portal check" });

		// The operator creates the link on the tenant's page.
		const admin = await signedIn(adminKey);
		await admin.goto(`/dashboard/tenants/${tenant.id}`);
		await admin.page.getByLabel("Valid for (minutes)").fill("1");
		const linkStatus = await submit(admin.page, admin.page.getByRole("button", { name: "Create portal link" }));
		expect(linkStatus).toBe(201);
		const url = await admin.page.locator("#portal-link").inputValue();
		expect(url.startsWith(`${baseUrl}/portal/`)).toBe(true);
		const expires = await admin.page.locator("main time").first().getAttribute("datetime");
		expect(Math.abs(Date.parse(expires ?? "") - (Date.now() + 60_000))).toBeLessThan(15_000);

		// Opened by the customer in a browser of their own: the tenant's view, and nothing else.
		const customer = await freshProfile();
		await customer.openPortal(url);
		expect(customer.path()).toBe(`/dashboard/t/${tenant.id}/endpoints`);
		expect(await customer.heading()).toBe("Endpoints");
		await customer.page.getByText("Portal check").waitFor();
		expect(await customer.page.locator("header .who").textContent()).toContain("Portal");
		expect((await customer.goto("/dashboard/tenants")).status()).toBe(404);

		// The API issues nothing shorter than 60 s: a 3 s link signed the same way (test/e2e/support/browser.ts,
		// mintPortalToken) shows expiry without waiting a minute.
		const expiresAt = Date.now() + 3_000;
		const token = await mintPortalToken(adminKey, { tenant: tenant.id, ro: false, exp: expiresAt });
		const shortLived = await freshProfile();
		await shortLived.openPortal(`/portal/${token}`);
		expect(shortLived.path()).toBe(`/dashboard/t/${tenant.id}/endpoints`);
		expect(await shortLived.heading()).toBe("Endpoints");
		await waitFor(
			"the short link's expiry",
			(): Poll<true> => (Date.now() > expiresAt + 250 ? done(true) : notYet(`${expiresAt - Date.now()} ms left`)),
			{ timeoutMs: 10_000, intervalMs: 100 },
		);
		const gone = await shortLived.goto(`/portal/${token}`);
		expect(gone.status()).toBe(410);
		expect(await shortLived.heading()).toBe("Link expired");
		// The session the link started ended with it.
		await shortLived.goto(`/dashboard/t/${tenant.id}/endpoints`);
		expect(shortLived.path()).toBe("/dashboard/sign-in");
		// A link whose signature does not match is refused the same way.
		const tampered = await freshProfile();
		const forged = await mintPortalToken(`${adminKey}x`, { tenant: tenant.id, ro: false, exp: Date.now() + 60_000 });
		expect((await tampered.goto(`/portal/${forged}`)).status()).toBe(410);
	});

	it("a portal link opened from another site leaves the operator's session alone and only offers a button", async () => {
		const { tenant } = await tenantWithKey("Lure");
		const token = await mintPortalToken(adminKey, { tenant: tenant.id, ro: false, exp: Date.now() + 60_000 });
		const portalUrl = `${baseUrl}/portal/${token}`;
		// Another site: localhost is not the same site as 127.0.0.1, so the SameSite=Strict cookie stays home.
		const lure = createServer((_request, response) => {
			response.writeHead(200, { "content-type": "text/html" });
			response.end(`<!DOCTYPE html><script>location.href = ${JSON.stringify(portalUrl)};</script>`);
		});
		await new Promise<void>((resolve) => lure.listen(0, "127.0.0.1", resolve));
		try {
			const { port } = lure.address() as AddressInfo;
			const victim = await signedIn(adminKey);
			await Promise.all([
				victim.page.waitForURL((shown) => shown.pathname.startsWith("/portal/"), { waitUntil: "load" }),
				victim.page.goto(`http://localhost:${port}/`),
			]);
			expect(await victim.heading()).toBe("Open the portal?");
			expect(await victim.page.getByText(`portal of tenant ${tenant.id}`).count()).toBe(1);
			// Still the operator: the link changed nothing by being followed.
			await victim.goto("/dashboard/tenants");
			expect(victim.path()).toBe("/dashboard/tenants");
			expect(await victim.heading()).toBe("Tenants");
		} finally {
			await new Promise((resolve) => lure.close(resolve));
		}
	});

	it("a read-only portal link shows the tenant's pages with no form at all", async () => {
		const hook = await receiver();
		const { tenant, api } = await tenantWithKey("Read-only");
		const webhook = await api.createWebhook({ url: hook.url, events: ["report.ready"] });
		const delivery = await sendAndSettle(api, webhook.id, "report.ready", { report: 1 }, "success");
		const link = bodyOf<PortalLink>(
			expectStatus(
				await call("POST", `/v1/tenants/${tenant.id}/portal-links`, { json: { ttl_seconds: 600, read_only: true } }),
				201,
			),
		);
		expect(link.read_only).toBe(true);

		const portal = await freshProfile();
		const { page } = portal;
		await portal.openPortal(link.url);
		expect(portal.path()).toBe(`/dashboard/t/${tenant.id}/endpoints`);
		expect(await page.locator("header .who").textContent()).toContain("read-only");
		const pages = [
			`/dashboard/t/${tenant.id}/endpoints`,
			`/dashboard/t/${tenant.id}/endpoints/${webhook.id}`,
			`/dashboard/t/${tenant.id}/deliveries/${delivery.id}`,
			`/dashboard/t/${tenant.id}/templates`,
		];
		for (const path of pages) {
			expect((await portal.goto(path)).status(), path).toBe(200);
			expect(await page.locator("main").count(), path).toBe(1);
			expect(await page.locator("form").count(), `forms on ${path}`).toBe(0);
			expect(await page.getByRole("button").count(), `buttons on ${path}`).toBe(0);
		}
		// The pages are there, only without their actions, and the endpoint's URL shows its host alone.
		await portal.goto(pages[1] ?? "");
		const { protocol, host } = new URL(hook.url);
		await page.getByText(`${protocol}//${host}/…`).first().waitFor();
		expect(await page.content()).not.toContain(hook.url);
		expect((await portal.goto(`/dashboard/t/${tenant.id}/endpoints/new`)).status()).toBe(403);
	});

	it("a tenant's session gets 404 on another tenant's pages", async () => {
		const a = await tenantWithKey("Tenant A");
		const b = await tenantWithKey("Tenant B");
		const webhookA = await a.api.createWebhook({ url: "http://127.0.0.1:9/a", events: ["a.thing"] });
		const webhookB = await b.api.createWebhook({ url: "http://127.0.0.1:9/b", events: ["b.thing"] });

		const session = await signedIn(a.key);
		expect(session.path()).toBe(`/dashboard/t/${a.tenant.id}/endpoints`);
		expect(await session.heading()).toBe("Endpoints");
		await session.page.getByText(webhookA.url).waitFor();
		expect((await session.goto(`/dashboard/t/${a.tenant.id}/endpoints/${webhookA.id}`)).status()).toBe(200);

		for (const path of [
			`/dashboard/t/${b.tenant.id}/endpoints`,
			`/dashboard/t/${b.tenant.id}/endpoints/${webhookB.id}`,
			// B's endpoint named under A's own tenant is not found either.
			`/dashboard/t/${a.tenant.id}/endpoints/${webhookB.id}`,
			"/dashboard/tenants",
		]) {
			const response = await session.goto(path);
			expect(response.status(), path).toBe(404);
			expect(await session.heading(), path).toBe("Not found");
			expect(await session.page.content(), path).not.toContain(webhookB.url);
		}
	});

	it("refuses a form posted without its CSRF token, and nothing changes", async () => {
		const hook = await receiver();
		const { tenant, api } = await tenantWithKey("CSRF");
		const session = await signedIn(adminKey);
		const { page } = session;
		await session.goto(`/dashboard/t/${tenant.id}/endpoints/new`);
		await page.getByLabel("URL", { exact: true }).fill(hook.url);
		await page.getByRole("checkbox", { name: /All event types/ }).check();
		const form = page.locator("form").filter({ has: page.getByRole("button", { name: "Save endpoint" }) });
		expect(await form.locator('input[name="_csrf"]').count()).toBe(1);
		await form.evaluate((element) => {
			element.querySelector('input[name="_csrf"]')?.remove();
		});
		expect(await submit(page, page.getByRole("button", { name: "Save endpoint" }))).toBe(403);
		expect(await session.heading()).toBe("Form refused");
		const after = await api.call("GET", "/v1/webhooks");
		expect(bodyOf<{ webhooks: unknown[] }>(expectStatus(after, 200)).webhooks, summarize(after)).toEqual([]);

		// The same form with its token goes through: the refusal was the token's doing.
		await session.goto(`/dashboard/t/${tenant.id}/endpoints/new`);
		await page.getByLabel("URL", { exact: true }).fill(hook.url);
		await page.getByRole("checkbox", { name: /All event types/ }).check();
		expect(await submit(page, page.getByRole("button", { name: "Save endpoint" }))).toBe(201);
		expect((await webhooksOf(api)).map((webhook) => webhook.url)).toEqual([hook.url]);
	});

	it("adds a Slack endpoint from the form; its test event arrives as a Block Kit message and succeeds in the log", async () => {
		// In development a Slack endpoint may point anywhere allowed, so a loopback receiver stands in for Slack.
		const slack = await receiver();
		const { tenant, api, key } = await tenantWithKey("Slack channel");
		const session = await signedIn(key);
		const { page } = session;
		await session.goto(`/dashboard/t/${tenant.id}/endpoints/new`);

		// The script shows the chosen channel's field alone, under that channel's label.
		await page.getByLabel("Channel", { exact: true }).selectOption("slack");
		await page.getByLabel("Slack incoming-webhook URL").fill(slack.url);
		expect(await page.getByLabel("To", { exact: true }).isHidden()).toBe(true);
		await page.getByLabel("Channel", { exact: true }).selectOption("email");
		expect(await page.getByLabel("To", { exact: true }).isVisible()).toBe(true);
		expect(await page.locator('input[name="url"]').isHidden()).toBe(true);
		await page.getByLabel("Channel", { exact: true }).selectOption("slack");
		await page.getByRole("checkbox", { name: /All event types/ }).check();
		expect(await submit(page, page.getByRole("button", { name: "Save endpoint" }))).toBe(201);
		expect(await session.heading()).toBe("Endpoint created");
		await page.getByText("The Slack endpoint for").waitFor();
		const [stored] = await webhooksOf(api);
		expect(stored).toMatchObject({ channel: "slack", url: slack.url });

		await page.getByRole("link", { name: "Open the endpoint page" }).click();
		await page.waitForURL(`**/dashboard/t/${tenant.id}/endpoints/*`);
		await page.locator(".badge.channel-slack").first().waitFor();
		expect(await page.getByLabel("Event type", { exact: true }).inputValue()).toBe("webhook.test");
		expect(await submit(page, page.getByRole("button", { name: "Send test event" }))).toBe(303);
		await page.getByRole("status").filter({ hasText: "Test event sent" }).waitFor();

		const [request] = await slack.waitForRequests(1, SETTLE_MS);
		if (request === undefined) throw new Error("no message reached the Slack stand-in");
		const message = JSON.parse(request.body) as { blocks?: unknown; text?: unknown };
		expect(Array.isArray(message.blocks), request.body).toBe(true);
		expect(JSON.stringify(message.blocks)).toContain("webhook.test");
		expect(typeof message.text).toBe("string");

		await page.getByRole("link", { name: "Delivery log" }).click();
		expect(await session.heading()).toBe("Delivery log");
		const row = page.locator("tbody tr").filter({ hasText: "webhook.test" });
		await reloadUntil(page, row.locator(".badge"), "the Slack delivery to show success", {
			accept: (text) => text === "success",
		});
		expect(await row.count()).toBe(1);
		expect((await row.locator("td").nth(4).textContent())?.trim()).toBe("200");
	});

	it("sets an endpoint's uid, labels and Svix headers from the form; a taken uid is refused at its field", async () => {
		const hook = await receiver();
		const { tenant, api, key } = await tenantWithKey("Labels");
		const session = await signedIn(key);
		const { page } = session;
		const fillForm = async (uid: string) => {
			await session.goto(`/dashboard/t/${tenant.id}/endpoints/new`);
			await page.getByLabel("URL", { exact: true }).fill(hook.url);
			await page.getByRole("checkbox", { name: /All event types/ }).check();
			await page.getByLabel("UID", { exact: true }).fill(uid);
			await page.getByLabel("Labels", { exact: true }).fill("project-7\nteam-blue");
			await page.getByLabel("Signature headers", { exact: true }).selectOption("svix");
		};
		await fillForm("billing-main");
		expect(await submit(page, page.getByRole("button", { name: "Save endpoint" }))).toBe(201);
		const secret = await page.locator("#endpoint-secret").inputValue();
		hook.respondWith((request) => {
			// Svix's header names carry the Standard Webhooks values, so the library verifies them renamed.
			const renamed: ReceivedRequest = {
				...request,
				headers: {
					"webhook-id": request.headers["svix-id"] ?? "",
					"webhook-timestamp": request.headers["svix-timestamp"] ?? "",
					"webhook-signature": request.headers["svix-signature"] ?? "",
				},
			};
			const svixOnly = request.headers["webhook-signature"] === undefined;
			return svixOnly && verifies(secret, renamed) ? { status: 200, body: "ok" } : { status: 401, body: "bad" };
		});

		// The same uid again: the form comes back with the API's words at the field, and nothing is stored.
		await fillForm("billing-main");
		expect(await submit(page, page.getByRole("button", { name: "Save endpoint" }))).toBe(409);
		expect(await page.locator("#uid-error").textContent()).toContain("already has the uid billing-main");
		expect(await page.getByLabel("UID", { exact: true }).getAttribute("aria-invalid")).toBe("true");
		const stored = await webhooksOf(api);
		expect(stored).toHaveLength(1);
		expect(stored[0]).toMatchObject({
			uid: "billing-main",
			labels: ["project-7", "team-blue"],
			header_style: "svix",
		});
		const endpointId = stored[0]?.id ?? "";

		// A labelled event reaches it, signed under svix-* names; one without labels does not.
		const unlabelled = bodyOf<{ id: string }>(
			expectStatus(await api.call("POST", "/v1/events", { json: { type: "invoice.paid", data: {} } }), 202),
		);
		const labelled = bodyOf<{ id: string }>(
			expectStatus(
				await api.call("POST", "/v1/events", { json: { type: "invoice.paid", data: {}, labels: ["team-blue"] } }),
				202,
			),
		);
		await api.waitForDelivery(endpointId, labelled.id, (d) => d.status === "success", "success", SETTLE_MS);
		const unlabelledDetail = bodyOf<{ deliveries: unknown[] }>(
			expectStatus(await api.call("GET", `/v1/events/${unlabelled.id}`), 200),
		);
		expect(unlabelledDetail.deliveries).toEqual([]);

		await session.goto(`/dashboard/t/${tenant.id}/endpoints/${endpointId}`);
		const details = page.locator("dl.details");
		await details.getByText("billing-main", { exact: true }).waitFor();
		expect(await details.textContent()).toContain("project-7, team-blue (only events carrying one of them)");
		expect(await details.textContent()).toContain("svix-id, svix-timestamp, svix-signature (Svix)");

		await session.goto(`/dashboard/t/${tenant.id}/events/${labelled.id}`);
		await page.locator("dl.details").getByText("team-blue", { exact: true }).waitFor();
	});
});
