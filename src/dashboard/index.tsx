import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { csrf } from "hono/csrf";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import { authenticate } from "../auth/authenticate";
import {
	AUTH_FAILURE_PERIOD_SECONDS,
	authThrottled,
	clientAddress,
	countFailedAuth,
	isAuthThrottled,
} from "../auth/rate-limit";
import { DEFAULT_TENANT_ID } from "../db/tenants";
import { type ApiFetch, apiFor } from "./api";
import { SCRIPT, STYLESHEET } from "./assets";
import { Field, Notice } from "./components";
import {
	type DashboardContext,
	type DashboardEnv,
	formOf,
	notFoundPage,
	render,
	single,
	TENANT_ROUTE,
} from "./context";
import { registerPages } from "./pages";
import { DASHBOARD, SIGN_IN, SIGN_OUT, tenantPath } from "./paths";
import { endSession, KEY_SESSION_SECONDS, readSession, type Session, startSession, stillValid } from "./session";
import { readPortalToken } from "./tokens";

const FORM_BODY_LIMIT = 64 * 1024;

/** Where a session lands after signing in: the operator on the tenants, anyone else on their endpoints. */
function homeOf(session: Session): string {
	return session.role === "admin" ? `${DASHBOARD}/tenants` : tenantPath(session.tenantId ?? "", "/endpoints");
}

/** Sources PORTAL_FRAME_ANCESTORS may list: origins and 'self'; anything else could bend the CSP header and is dropped. */
const FRAME_SOURCE = /^(https?:\/\/(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*(:\d{1,5})?|'self')$/i;

function frameAncestors(env: Env, session: Session | null, path: string): string {
	const allowed = (env.PORTAL_FRAME_ANCESTORS ?? "").split(/\s+/).filter((source) => FRAME_SOURCE.test(source));
	const portal = path.startsWith("/portal/") || session?.role === "portal";
	return portal && allowed.length > 0 ? allowed.join(" ") : "'none'";
}

/**
 * Strict headers on every dashboard answer: nothing loads from anywhere but
 * the worker, nothing frames the pages except, for the portal, the sites the
 * operator listed, and nothing is cached or leaks a portal token in a Referer.
 */
const securityHeaders = createMiddleware<DashboardEnv>(async (c, next) => {
	await next();
	const ancestors = frameAncestors(c.env, c.var.session ?? null, c.req.path);
	c.header(
		"content-security-policy",
		`default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors ${ancestors}`,
	);
	if (ancestors === "'none'") c.header("x-frame-options", "DENY");
	c.header("x-content-type-options", "nosniff");
	c.header("referrer-policy", "no-referrer");
	c.header("cache-control", "no-store");
	c.header("cross-origin-opener-policy", "same-origin");
});

function csrfTokenMatches(given: string, expected: string): boolean {
	const givenBytes = new TextEncoder().encode(given);
	const expectedBytes = new TextEncoder().encode(expected);
	return (
		given !== "" &&
		givenBytes.byteLength === expectedBytes.byteLength &&
		crypto.subtle.timingSafeEqual(givenBytes, expectedBytes)
	);
}

function SignInPage(props: { error?: string; apiKey?: string }) {
	return (
		<>
			{props.error ? <Notice kind="error">{props.error}</Notice> : null}
			<form method="post" action={SIGN_IN} class="stack">
				<Field
					label="API key"
					name="api_key"
					hint="The admin key (printed by npm start) or a tenant key (ehk_…)."
					errors={props.error ? { api_key: props.error } : {}}
				>
					{(described) => <input type="password" name="api_key" autocomplete="off" required autofocus {...described} />}
				</Field>
				<div>
					<button type="submit">Sign in</button>
				</div>
			</form>
		</>
	);
}

export function createDashboard(fetchApi: ApiFetch) {
	const dashboard = new Hono<DashboardEnv>();

	dashboard.get("/", (c) => c.redirect(DASHBOARD));
	dashboard.get(`${DASHBOARD}/assets/app.css`, (c) =>
		c.body(STYLESHEET, 200, { "content-type": "text/css; charset=utf-8", "cache-control": "public, max-age=300" }),
	);
	dashboard.get(`${DASHBOARD}/assets/app.js`, (c) =>
		c.body(SCRIPT, 200, {
			"content-type": "text/javascript; charset=utf-8",
			"cache-control": "public, max-age=300",
		}),
	);

	dashboard.use(`${DASHBOARD}/*`, securityHeaders);
	dashboard.use(DASHBOARD, securityHeaders);
	dashboard.use("/portal/*", securityHeaders);
	// Forms must come from the dashboard's own pages: the Origin check refuses
	// cross-site posts outright, and the session's token (below) refuses any
	// post that was not rendered for this session.
	dashboard.use(`${DASHBOARD}/*`, csrf());
	dashboard.use("/portal/*", csrf());
	for (const path of [`${DASHBOARD}/*`, "/portal/*"]) {
		dashboard.use(path, bodyLimit({ maxSize: FORM_BODY_LIMIT, onError: (c) => c.text("The form is too large.", 413) }));
	}

	const loadSession = createMiddleware<DashboardEnv>(async (c, next) => {
		const session = await readSession(c);
		if (session) c.set("session", session);
		await next();
	});
	dashboard.use(DASHBOARD, loadSession);
	dashboard.use(`${DASHBOARD}/*`, loadSession);

	dashboard.get(DASHBOARD, (c) => c.redirect(c.var.session ? homeOf(c.var.session) : SIGN_IN));

	dashboard.get(SIGN_IN, (c) => {
		if (c.var.session) return c.redirect(homeOf(c.var.session));
		return render(c, { title: "Sign in", children: <SignInPage /> });
	});
	dashboard.post(SIGN_IN, async (c) => {
		const address = clientAddress(c.req.raw);
		const throttled = () =>
			render(c, { title: "Sign in", children: <SignInPage error={authThrottled().message} /> }, 429, {
				"retry-after": String(AUTH_FAILURE_PERIOD_SECONDS),
			});
		if (isAuthThrottled(address)) return throttled();
		const apiKey = single(await formOf(c), "api_key").trim();
		const principal =
			apiKey === "" ? null : await authenticate(c.env, apiKey, (work) => c.executionCtx.waitUntil(work));
		if (!principal) {
			if (apiKey !== "" && (await countFailedAuth(c.env, address))) return throttled();
			return render(
				c,
				{ title: "Sign in", children: <SignInPage error="That key is not valid. Check it and try again." /> },
				401,
			);
		}
		const session = await startSession(
			c,
			principal.kind === "admin"
				? { role: "admin", tenantId: null, keyId: null, readOnly: false }
				: { role: "tenant", tenantId: principal.tenantId, keyId: principal.keyId, readOnly: false },
			Date.now() + KEY_SESSION_SECONDS * 1000,
		);
		return c.redirect(homeOf(session), 303);
	});

	// Everything below needs a session; a post must carry the session's own token.
	const requireSession = createMiddleware<DashboardEnv>(async (c, next) => {
		const session = c.var.session;
		if (!session) {
			if (c.req.method === "GET") return c.redirect(SIGN_IN);
			return render(c, { title: "Signed out", children: <p>Your session has ended. Sign in again.</p> }, 401);
		}
		// A read-only portal has no forms at all, so it signs out with a link. Being signed
		// out of a view that could do nothing anyway is all a forged link could achieve.
		if (c.req.method === "GET" && c.req.path === SIGN_OUT && session.readOnly) {
			await endSession(c, session);
			return c.redirect(SIGN_IN, 303);
		}
		if (c.req.method === "POST") {
			if (!csrfTokenMatches(single(await formOf(c), "_csrf"), session.csrf)) {
				return render(
					c,
					{
						title: "Form refused",
						children: (
							<Notice kind="error">
								The form was not sent from this session's page (its security token is missing or wrong). Reload the page
								and try again.
							</Notice>
						),
					},
					403,
				);
			}
			if (session.readOnly) {
				return render(c, { title: "Read-only", children: <p>This portal link is read-only.</p> }, 403);
			}
		}
		c.set("api", apiFor(fetchApi, c.env, c.executionCtx, new URL(c.req.url).origin, session, null));
		await next();
	});
	dashboard.use(`${DASHBOARD}/*`, async (c, next) => {
		if (c.req.path === SIGN_IN || c.req.path.startsWith(`${DASHBOARD}/assets/`)) return next();
		return requireSession(c, next);
	});

	dashboard.post(SIGN_OUT, async (c) => {
		await endSession(c, c.var.session);
		return c.redirect(SIGN_IN, 303);
	});

	// Operator pages: the admin key's alone; anyone else finds nothing there.
	dashboard.use(`${DASHBOARD}/tenants`, adminOnly);
	dashboard.use(`${DASHBOARD}/tenants/*`, adminOnly);

	// A tenant's view: its own tenant for a tenant or portal session, any live tenant for the operator.
	dashboard.use(`${TENANT_ROUTE}/*`, async (c, next) => {
		const session = c.var.session;
		const tenantId = c.req.param("tenantId") ?? "";
		if (session.role !== "admin" && session.tenantId !== tenantId) return notFoundPage(c);
		const api = apiFor(fetchApi, c.env, c.executionCtx, new URL(c.req.url).origin, session, tenantId);
		if (session.role === "admin" && tenantId !== DEFAULT_TENANT_ID) {
			const tenant = await c.var.api.get(`/v1/tenants/${encodeURIComponent(tenantId)}`);
			if (!tenant.ok) return notFoundPage(c);
		}
		c.set("tenantId", tenantId);
		c.set("api", api);
		await next();
	});

	registerPages(dashboard);

	const portalGrant = async (c: DashboardContext) => {
		const grant = await readPortalToken(c.env, c.req.param("token") ?? "");
		if (!grant) return null;
		const portal = { role: "portal" as const, tenantId: grant.tenantId, keyId: grant.keyId, readOnly: grant.readOnly };
		return (await stillValid(c.env, portal)) ? { grant, portal } : null;
	};
	const expiredLink = (c: DashboardContext) =>
		render(
			c,
			{ title: "Link expired", children: <p>This portal link has expired or is not valid. Ask for a new one.</p> },
			410,
		);

	/*
	 * Following a link never changes the session. A link reaches the browser
	 * from anywhere (another site can navigate to it), and a cross-site
	 * navigation arrives without the SameSite=Strict cookie, so this answer
	 * cannot even tell whether someone is signed in: it only offers a button.
	 * The session starts on the button's post, which only a page of this
	 * origin can send.
	 */
	dashboard.get("/portal/:token", async (c) => {
		const opened = await portalGrant(c);
		if (!opened) return expiredLink(c);
		const { grant } = opened;
		return render(c, {
			title: "Open the portal?",
			children: (
				<>
					<p>{`This link opens the ${grant.readOnly ? "read-only " : ""}portal of tenant ${grant.tenantId}.`}</p>
					<p>Opening it signs this browser out of any other Edgehook session it has.</p>
					<form method="post" action={c.req.path}>
						<button type="submit">Open the portal</button>
					</form>
				</>
			),
		});
	});
	dashboard.post("/portal/:token", async (c) => {
		// Checked here whatever the content type (Hono's csrf() only looks at form posts).
		if (!postedFromThisOrigin(c)) return crossSiteFormPage(c);
		const opened = await portalGrant(c);
		if (!opened) return expiredLink(c);
		const session = await startSession(c, opened.portal, opened.grant.expiresAt);
		// Straight on to the view, so the token leaves the address bar and history.
		return c.redirect(homeOf(session), 303);
	});

	dashboard.all(`${DASHBOARD}/*`, (c) => notFoundPage(c));
	dashboard.onError((error, c) => {
		// Hono's csrf middleware refuses a cross-site post with a 403 HTTPException.
		if (error instanceof HTTPException && error.status === 403) return crossSiteFormPage(c as DashboardContext);
		console.error("dashboard error", error);
		return render(
			c as DashboardContext,
			{ title: "Something went wrong", children: <p>Something went wrong on our side. Try again.</p> },
			500,
		);
	});
	return dashboard;
}

function crossSiteFormPage(c: DashboardContext) {
	return render(
		c,
		{ title: "Form refused", children: <Notice kind="error">Forms must be sent from this site's own pages.</Notice> },
		403,
	);
}

/** Whether a post came from a page of this origin, by the headers a browser sets and a page cannot. */
function postedFromThisOrigin(c: DashboardContext): boolean {
	const fetchSite = c.req.header("sec-fetch-site");
	if (fetchSite !== undefined) return fetchSite === "same-origin";
	return c.req.header("origin") === new URL(c.req.url).origin;
}

const adminOnly = createMiddleware<DashboardEnv>(async (c, next) => {
	if (c.var.session.role !== "admin") return notFoundPage(c);
	await next();
});
