import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createPortalToken } from "../../src/dashboard/tokens";
import { ADMIN_KEY, api, record, uniqueName } from "./helpers";

const ORIGIN = "http://edgehook.test";
const COOKIE = "edgehook_session";

interface Page {
	status: number;
	headers: Headers;
	text: string;
}

async function browse(
	method: string,
	path: string,
	options: { cookie?: string; form?: Record<string, string>; origin?: string | null } = {},
): Promise<Page> {
	const headers: Record<string, string> = {};
	if (options.cookie) headers.cookie = `${COOKIE}=${options.cookie}`;
	if (options.origin !== null) headers.origin = options.origin ?? ORIGIN;
	let body: string | undefined;
	if (options.form) {
		body = new URLSearchParams(options.form).toString();
		headers["content-type"] = "application/x-www-form-urlencoded";
	}
	const response = await exports.default.fetch(`${ORIGIN}${path}`, { method, headers, body, redirect: "manual" });
	return { status: response.status, headers: response.headers, text: await response.text() };
}

function sessionCookie(page: Page): string {
	const match = new RegExp(`${COOKIE}=([^;]+)`).exec(page.headers.get("set-cookie") ?? "");
	if (!match?.[1]) throw new Error(`no session cookie in ${page.status} ${page.headers.get("set-cookie")}`);
	return match[1];
}

/** The CSRF token a session's forms carry, read from its cookie as the pages would render it. */
function csrfOf(cookie: string): string {
	const payload = cookie.split(".")[0] ?? "";
	const claims = JSON.parse(atob(payload.replaceAll("-", "+").replaceAll("_", "/"))) as { csrf: string };
	return claims.csrf;
}

async function signIn(apiKey: string): Promise<string> {
	const page = await browse("POST", "/dashboard/sign-in", { form: { api_key: apiKey } });
	expect(page.status).toBe(303);
	return sessionCookie(page);
}

async function tenantWithKey(): Promise<{ tenantId: string; keyId: string; key: string }> {
	const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("dash") } })).body);
	const created = record((await api("POST", `/v1/tenants/${tenant.id}/api-keys`, { body: { name: "ui" } })).body);
	return { tenantId: String(tenant.id), keyId: String(created.id), key: String(created.key) };
}

describe("dashboard sessions", () => {
	it("leads from / to the sign-in page, with strict headers", async () => {
		const root = await browse("GET", "/");
		expect(root.status).toBe(302);
		expect(root.headers.get("location")).toBe("/dashboard");
		const dashboard = await browse("GET", "/dashboard");
		expect(dashboard.headers.get("location")).toBe("/dashboard/sign-in");
		const signInPage = await browse("GET", "/dashboard/sign-in");
		expect(signInPage.status).toBe(200);
		expect(signInPage.text.startsWith("<!DOCTYPE html>")).toBe(true);
		expect(signInPage.text).toContain('<label for="field-api_key">API key</label>');
		const csp = signInPage.headers.get("content-security-policy") ?? "";
		expect(csp).toContain("script-src 'self'");
		expect(csp).toContain("frame-ancestors 'none'");
		expect(signInPage.headers.get("x-frame-options")).toBe("DENY");
		expect(signInPage.headers.get("cache-control")).toBe("no-store");
	});

	it("refuses a wrong key and a sign-in posted from another site", async () => {
		const wrong = await browse("POST", "/dashboard/sign-in", { form: { api_key: "ehk_not-a-real-key" } });
		expect(wrong.status).toBe(401);
		expect(wrong.text).toContain("That key is not valid");
		expect(wrong.headers.get("set-cookie")).toBeNull();
		const crossSite = await browse("POST", "/dashboard/sign-in", {
			form: { api_key: ADMIN_KEY },
			origin: "https://evil.example",
		});
		expect(crossSite.status).toBe(403);
		expect(crossSite.headers.get("set-cookie")).toBeNull();
	});

	it("signs the admin in with an HttpOnly, SameSite=Strict cookie that the API does not accept", async () => {
		const page = await browse("POST", "/dashboard/sign-in", { form: { api_key: ADMIN_KEY } });
		expect(page.status).toBe(303);
		expect(page.headers.get("location")).toBe("/dashboard/tenants");
		const setCookie = page.headers.get("set-cookie") ?? "";
		expect(setCookie).toContain("HttpOnly");
		expect(setCookie).toContain("SameSite=Strict");
		expect(setCookie).toMatch(/Expires=/);
		const cookie = sessionCookie(page);
		const apiWithCookie = await exports.default.fetch(`${ORIGIN}/v1/webhooks`, {
			headers: { cookie: `${COOKIE}=${cookie}` },
		});
		expect(apiWithCookie.status).toBe(401);
		expect((await browse("GET", "/dashboard", { cookie })).headers.get("location")).toBe("/dashboard/tenants");
	});

	it("treats a tampered cookie as no session", async () => {
		const cookie = await signIn(ADMIN_KEY);
		const [payload, signature] = cookie.split(".");
		const claims = JSON.parse(atob((payload ?? "").replaceAll("-", "+").replaceAll("_", "/"))) as Record<
			string,
			unknown
		>;
		const forged = btoa(JSON.stringify({ ...claims, role: "admin", exp: Date.now() + 1e9 }))
			.replaceAll("+", "-")
			.replaceAll("/", "_")
			.replace(/=+$/, "");
		const page = await browse("GET", "/dashboard/t/default/endpoints", { cookie: `${forged}.${signature}` });
		expect(page.status).toBe(302);
		expect(page.headers.get("location")).toBe("/dashboard/sign-in");
	});

	it("keeps a tenant's session to its own tenant, and ends it when its key is revoked", async () => {
		const a = await tenantWithKey();
		const b = await tenantWithKey();
		const cookie = await signIn(a.key);
		expect((await browse("GET", "/dashboard", { cookie })).headers.get("location")).toBe(
			`/dashboard/t/${a.tenantId}/endpoints`,
		);
		const other = await browse("GET", `/dashboard/t/${b.tenantId}/endpoints`, { cookie });
		expect(other.status).toBe(404);
		expect(other.text).not.toContain(b.tenantId);
		const operator = await browse("GET", "/dashboard/tenants", { cookie });
		expect(operator.status).toBe(404);

		expect((await api("DELETE", `/v1/tenants/${a.tenantId}/api-keys/${a.keyId}`)).status).toBe(204);
		const afterRevoke = await browse("GET", `/dashboard/t/${a.tenantId}/endpoints`, { cookie });
		expect(afterRevoke.status).toBe(302);
		expect(afterRevoke.headers.get("location")).toBe("/dashboard/sign-in");
	});

	it("refuses a form without the session's CSRF token, and accepts it with the token", async () => {
		const cookie = await signIn(ADMIN_KEY);
		const missing = await browse("POST", "/dashboard/sign-out", { cookie, form: {} });
		expect(missing.status).toBe(403);
		expect(missing.text).toContain("Form refused");
		const wrong = await browse("POST", "/dashboard/sign-out", { cookie, form: { _csrf: "x".repeat(22) } });
		expect(wrong.status).toBe(403);
		const otherSession = csrfOf(await signIn(ADMIN_KEY));
		expect((await browse("POST", "/dashboard/sign-out", { cookie, form: { _csrf: otherSession } })).status).toBe(403);
		const signOut = await browse("POST", "/dashboard/sign-out", { cookie, form: { _csrf: csrfOf(cookie) } });
		expect(signOut.status).toBe(303);
		expect(signOut.headers.get("set-cookie")).toMatch(new RegExp(`${COOKIE}=;`));
	});

	it("ends a session for good on sign-out: the same cookie replayed reads and saves nothing", async () => {
		const tenant = await tenantWithKey();
		for (const key of [ADMIN_KEY, tenant.key]) {
			const cookie = await signIn(key);
			const home = (await browse("GET", "/dashboard", { cookie })).headers.get("location") ?? "";
			expect((await browse("GET", home, { cookie })).status).toBe(200);
			expect((await browse("POST", "/dashboard/sign-out", { cookie, form: { _csrf: csrfOf(cookie) } })).status).toBe(
				303,
			);
			const replayedPage = await browse("GET", home, { cookie });
			expect(replayedPage.status).toBe(302);
			expect(replayedPage.headers.get("location")).toBe("/dashboard/sign-in");
			const replayedForm = await browse("POST", "/dashboard/sign-out", { cookie, form: { _csrf: csrfOf(cookie) } });
			expect(replayedForm.status).toBe(401);
		}
		// Another session of the same key is not signed out with it.
		const first = await signIn(ADMIN_KEY);
		const second = await signIn(ADMIN_KEY);
		await browse("POST", "/dashboard/sign-out", { cookie: first, form: { _csrf: csrfOf(first) } });
		expect((await browse("GET", "/dashboard/tenants", { cookie: second })).status).toBe(200);
	});

	it("throttles failed sign-ins per address, even the right key for a while", async () => {
		const address = "198.51.100.20";
		const limit = Number(env.TEST_AUTH_FAILURE_LIMIT);
		const attempt = (apiKey: string) =>
			exports.default.fetch(`${ORIGIN}/dashboard/sign-in`, {
				method: "POST",
				headers: {
					origin: ORIGIN,
					"cf-connecting-ip": address,
					"content-type": "application/x-www-form-urlencoded",
				},
				body: new URLSearchParams({ api_key: apiKey }).toString(),
				redirect: "manual",
			});
		for (let tries = 0; tries < limit; tries++) expect((await attempt(`wrong-${tries}`)).status).toBe(401);
		const throttled = await attempt("wrong-again");
		expect(throttled.status).toBe(429);
		expect(throttled.headers.get("retry-after")).toBe("60");
		expect(await throttled.text()).toContain("too many failed sign-ins from this address");
		const rightKey = await attempt(ADMIN_KEY);
		expect(rightKey.status).toBe(429);
		expect(rightKey.headers.get("set-cookie")).toBeNull();
	});
});

describe("the operator's pages", () => {
	it("offers the vendors' styles as presets by name, never as seeds, and a preset fills the form", async () => {
		const cookie = await signIn(ADMIN_KEY);
		const tenant = await tenantWithKey();
		const page = await browse("GET", `/dashboard/tenants/${tenant.tenantId}?preset=khaleeji`, { cookie });
		expect(page.status).toBe(200);
		expect(page.text).toContain("Choose a vendor&#39;s style…");
		expect(page.text).toContain("KhaleejiAPI style: X-Khaleeji-Signature");
		expect(page.text).toContain('value="X-Khaleeji-Signature"');
		expect(page.text).not.toMatch(/seed/i);
	});

	it("puts Send a test event near the top of an endpoint's page, before its details", async () => {
		const cookie = await signIn(ADMIN_KEY);
		const hook = record(
			(await api("POST", "/v1/webhooks", { body: { url: "https://example.com/first-test", events: ["*"] } })).body,
		);
		const page = await browse("GET", `/dashboard/t/default/endpoints/${hook.id}`, { cookie });
		expect(page.status).toBe(200);
		const test = page.text.indexOf('<h2 id="test-heading">Send a test event</h2>');
		expect(test).toBeGreaterThan(0);
		expect(test).toBeLessThan(page.text.indexOf("<h2>Details</h2>"));
	});
});

describe("dashboard robustness", () => {
	it("treats a malformed cookie or token as none, so the sign-in page still works", async () => {
		for (const garbage of ["A.A", "AAAAA.AB", "e30.A", "not-a-token", "a.b.c"]) {
			const page = await browse("GET", "/dashboard/sign-in", { cookie: garbage });
			expect(page.status, garbage).toBe(200);
			expect((await browse("GET", `/portal/${garbage}`)).status, garbage).toBe(410);
		}
	});
});

describe("portal links", () => {
	it("dies with the tenant key that made it", async () => {
		const a = await tenantWithKey();
		const made = await api("POST", "/v1/portal-links", { auth: a.key, body: { read_only: false } });
		expect(made.status).toBe(201);
		const path = new URL(String(record(made.body).url)).pathname;
		const opened = await browse("POST", path, { form: {} });
		expect(opened.status).toBe(303);
		const cookie = sessionCookie(opened);
		expect((await browse("GET", `/dashboard/t/${a.tenantId}/endpoints`, { cookie })).status).toBe(200);

		expect((await api("DELETE", `/v1/tenants/${a.tenantId}/api-keys/${a.keyId}`)).status).toBe(204);
		expect((await browse("GET", path)).status).toBe(410);
		const afterRevoke = await browse("GET", `/dashboard/t/${a.tenantId}/endpoints`, { cookie });
		expect(afterRevoke.headers.get("location")).toBe("/dashboard/sign-in");
	});

	it("never changes the session on following a link, whatever cookie arrives: a same-origin post does", async () => {
		const a = await tenantWithKey();
		const b = await tenantWithKey();
		const token = await createPortalToken(env, {
			tenantId: a.tenantId,
			keyId: null,
			readOnly: false,
			expiresAt: Date.now() + 60_000,
		});
		const otherPortal = await createPortalToken(env, {
			tenantId: b.tenantId,
			keyId: null,
			readOnly: false,
			expiresAt: Date.now() + 60_000,
		});
		const admin = await signIn(ADMIN_KEY);
		const portalB = sessionCookie(await browse("POST", `/portal/${otherPortal}`, { form: {} }));
		// A cross-site navigation arrives without the SameSite=Strict cookie: none, an operator's, another portal's.
		for (const cookie of [undefined, admin, portalB]) {
			const asked = await browse("GET", `/portal/${token}`, cookie === undefined ? {} : { cookie });
			expect(asked.status).toBe(200);
			expect(asked.text).toContain("Open the portal?");
			expect(asked.text).toContain(`portal of tenant ${a.tenantId}`);
			expect(asked.text).toContain(`<form method="post" action="/portal/${token}">`);
			expect(asked.headers.get("set-cookie")).toBeNull();
		}
		// Only a page of this origin can send the post that starts the session.
		const refused: Parameters<typeof browse>[2][] = [
			{ cookie: admin, form: {}, origin: "https://evil.example" },
			{ form: {}, origin: null },
		];
		for (const options of refused) {
			const page = await browse("POST", `/portal/${token}`, options);
			expect(page.status).toBe(403);
			expect(page.headers.get("set-cookie")).toBeNull();
		}
		const crossSiteFetch = await exports.default.fetch(`${ORIGIN}/portal/${token}`, {
			method: "POST",
			headers: { "sec-fetch-site": "cross-site", "content-type": "application/json" },
			body: "{}",
			redirect: "manual",
		});
		expect(crossSiteFetch.status).toBe(403);
		expect(crossSiteFetch.headers.get("set-cookie")).toBeNull();
		const sameOrigin = await exports.default.fetch(`${ORIGIN}/portal/${token}`, {
			method: "POST",
			headers: { "sec-fetch-site": "same-origin", "content-type": "application/x-www-form-urlencoded" },
			body: "",
			redirect: "manual",
		});
		expect(sameOrigin.status).toBe(303);
		const confirmed = await browse("POST", `/portal/${token}`, { cookie: admin, form: {} });
		expect(confirmed.status).toBe(303);
		expect(confirmed.headers.get("location")).toBe(`/dashboard/t/${a.tenantId}/endpoints`);
		expect(sessionCookie(confirmed)).not.toBe(admin);
	});

	it("opens a read-only view of one tenant that refuses every action", async () => {
		const a = await tenantWithKey();
		const b = await tenantWithKey();
		const token = await createPortalToken(env, {
			tenantId: a.tenantId,
			keyId: null,
			readOnly: true,
			expiresAt: Date.now() + 60_000,
		});
		const opened = await browse("POST", `/portal/${token}`, { form: {} });
		expect(opened.status).toBe(303);
		expect(opened.headers.get("location")).toBe(`/dashboard/t/${a.tenantId}/endpoints`);
		expect(opened.headers.get("referrer-policy")).toBe("no-referrer");
		// vitest.config.ts lets https://app.example.com frame the portal, so its cookie must reach a third-party frame.
		expect(opened.headers.get("content-security-policy")).toContain("frame-ancestors https://app.example.com");
		expect(opened.headers.get("x-frame-options")).toBeNull();
		const setCookie = opened.headers.get("set-cookie") ?? "";
		expect(setCookie).toContain("SameSite=None");
		expect(setCookie).toContain("Secure");
		expect(setCookie).toContain("Partitioned");
		const cookie = sessionCookie(opened);
		expect((await browse("GET", `/dashboard/t/${b.tenantId}/endpoints`, { cookie })).status).toBe(404);
		const action = await browse("POST", "/dashboard/sign-out", { cookie, form: { _csrf: csrfOf(cookie) } });
		expect(action.status).toBe(403);
		expect(action.text).toContain("read-only");
		// Credentials stay out of a read-only view: the endpoint's secret page answers 403.
		const endpoint = record(
			(
				await api("POST", "/v1/webhooks", {
					headers: { "x-tenant-id": a.tenantId },
					body: { url: "https://example.com/hook", events: ["*"] },
				})
			).body,
		);
		const endpointPage = await browse("GET", `/dashboard/t/${a.tenantId}/endpoints/${endpoint.id}`, { cookie });
		expect(endpointPage.status).toBe(200);
		expect(endpointPage.text).not.toContain("<form");
		expect(endpointPage.text).not.toContain("/secret");
		const secretPage = await browse("GET", `/dashboard/t/${a.tenantId}/endpoints/${endpoint.id}/secret`, { cookie });
		expect(secretPage.status).toBe(403);
		expect(secretPage.text).not.toContain(String(endpoint.secret));
		// It signs out with a link, having no forms.
		const signOut = await browse("GET", "/dashboard/sign-out", { cookie });
		expect(signOut.status).toBe(303);
		expect(signOut.headers.get("set-cookie")).toMatch(new RegExp(`${COOKIE}=;.*Partitioned`));
		const replayed = await browse("GET", `/dashboard/t/${a.tenantId}/endpoints`, { cookie });
		expect(replayed.headers.get("location")).toBe("/dashboard/sign-in");
	});

	it("answers 410 to an expired, forged or deleted tenant's link", async () => {
		const a = await tenantWithKey();
		const expired = await createPortalToken(env, {
			tenantId: a.tenantId,
			keyId: null,
			readOnly: false,
			expiresAt: Date.now() - 1,
		});
		const expiredPage = await browse("GET", `/portal/${expired}`);
		expect(expiredPage.status).toBe(410);
		expect(expiredPage.headers.get("set-cookie")).toBeNull();

		const valid = await createPortalToken(env, {
			tenantId: a.tenantId,
			keyId: null,
			readOnly: false,
			expiresAt: Date.now() + 60_000,
		});
		const forged = `${valid.slice(0, -2)}${valid.endsWith("AA") ? "BB" : "AA"}`;
		expect((await browse("GET", `/portal/${forged}`)).status).toBe(410);

		expect((await api("DELETE", `/v1/tenants/${a.tenantId}`)).status).toBe(202);
		expect((await browse("GET", `/portal/${valid}`)).status).toBe(410);
	});
});
