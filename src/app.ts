import { adminKeyProblem } from "./auth/admin-key";
import { internalCaller } from "./auth/internal";
import { requireAdminKey, requireApiKey } from "./auth/middleware";
import { enforceRateLimit } from "./auth/rate-limit";
import { isDeploymentAdministration, tenantInScope } from "./auth/scope";
import { createDashboard } from "./dashboard";
import { countEventRows } from "./db/event-reuse";
import { allTenantShards, shardDatabase } from "./db/tenant-database";
import { renderDocsPage } from "./docs";
import { ApiError, clientErrorOf, errorBody, orUnavailable } from "./lib/errors";
import { checkJsonBody } from "./lib/json-body";
import { meteringEnabled, readCounters, readDatabaseCounters, resetCounters } from "./lib/metering";
import { VERSION } from "./lib/version";
import { OPENAPI_CONFIG } from "./openapi";
import { bodyLimitFor } from "./routes/body-limits";
import { deliveryRoutes } from "./routes/deliveries";
import { eventTypeRoutes } from "./routes/event-types";
import { eventRoutes } from "./routes/events";
import { healthRoutes } from "./routes/health";
import { portalLinkRoutes } from "./routes/portal-links";
import { type AppEnv, createRouter } from "./routes/shared";
import { taskRoutes } from "./routes/tasks";
import { templateRoutes } from "./routes/templates";
import { tenantRoutes } from "./routes/tenants";
import { webhookRoutes } from "./routes/webhooks";
import { createSvixFace, isSvixPath } from "./svix";
import { svixErrorAnswer } from "./svix/errors";

export { MAX_JSON_DEPTH, nestingDepthExceeds } from "./lib/json-body";

/**
 * A caller's request id is echoed back and written to the logs, so only a
 * short, plain one is kept; anything else gets an id of our own.
 */
const PLAIN_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function acceptedRequestId(given: string | undefined): string {
	return given !== undefined && PLAIN_REQUEST_ID.test(given) ? given : crypto.randomUUID();
}

/**
 * The methods each route path answers, to tell a wrong method (405, with
 * Allow) from a path that does not exist (404). Middleware (method ALL) and
 * catch-all paths answer everything and are left out.
 */
function routeMethods(routes: readonly { path: string; method: string }[]): (path: string) => string[] {
	let compiled: { pattern: RegExp; method: string }[] | undefined;
	return (path) => {
		compiled ??= routes
			.filter((route) => route.method !== "ALL" && !route.path.includes("*"))
			.map((route) => ({
				pattern: new RegExp(
					`^${route.path
						.split("/")
						.map((segment) => (segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
						.join("/")}$`,
				),
				method: route.method,
			}));
		const methods = new Set(compiled.filter((route) => route.pattern.test(path)).map((route) => route.method));
		// Hono answers HEAD with a route's GET.
		if (methods.has("GET")) methods.add("HEAD");
		return [...methods].sort();
	};
}

/**
 * Whose rate limit a tenant key's request spends: the dashboard's in-process
 * calls have a bucket of their own, and the Svix face's are counted already
 * (null: nothing more to spend).
 */
function rateLimitBucketOf(request: Request, keyId: string): string | null {
	const internal = internalCaller(request);
	if (!internal) return keyId;
	return (internal.rateLimitBucket ?? "dashboard") === "dashboard" ? `dashboard:${keyId}` : null;
}

export function createApp() {
	const app = createRouter();

	app.use("*", async (c, next) => {
		c.set("requestId", acceptedRequestId(c.req.header("x-request-id")));
		await next();
		c.header("x-request-id", c.get("requestId"));
	});

	// A guessable admin key would open every tenant, so production refuses to serve with one rather than warn.
	app.use("*", async (c, next) => {
		const problem = adminKeyProblem(c.env);
		if (problem !== null) {
			console.error(`refusing requests: ${problem}`);
			throw new ApiError("unavailable", `this deployment is not configured: ${problem}`);
		}
		await next();
	});

	app.get("/healthz", (c) => c.json({ status: "ok", version: VERSION }));
	app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer" });
	app.get("/openapi.json", (c) => c.json(app.getOpenAPI31Document(OPENAPI_CONFIG)));
	app.get("/docs", (c) => c.html(renderDocsPage(app.getOpenAPI31Document(OPENAPI_CONFIG))));

	// The Svix-compatible face (src/svix) is an app of its own, with Svix's error shapes, over the routes below.
	const svixFace = createSvixFace((request, env, ctx) => app.fetch(request, env, ctx));
	app.all("/api/v1/*", (c) => {
		const headers = new Headers(c.req.raw.headers);
		headers.set("x-request-id", c.var.requestId);
		return svixFace.fetch(new Request(c.req.raw, { headers }), c.env, c.executionCtx);
	});

	app.use("/_bench/*", requireApiKey, requireAdminKey);
	app.get("/_bench/metrics", (c) => {
		if (!meteringEnabled(c.env)) throw new ApiError("not_found", "no such route");
		return c.json({ ...readCounters(), d1_by_database: readDatabaseCounters() });
	});
	app.get("/_bench/events", async (c) => {
		if (!meteringEnabled(c.env)) throw new ApiError("not_found", "no such route");
		const counts = await Promise.all(
			allTenantShards(c.env).map(async (shard) => [shard.name, await countEventRows(shard.d1).first()] as const),
		);
		return c.json(Object.fromEntries(counts));
	});
	app.post("/_bench/reset", (c) => {
		if (!meteringEnabled(c.env)) throw new ApiError("not_found", "no such route");
		resetCounters();
		return c.body(null, 204);
	});

	app.use("/v1/*", requireApiKey);
	app.use("/v1/tenants", requireAdminKey);
	app.use("/v1/tenants/*", requireAdminKey);
	app.use("/v1/health", requireAdminKey);
	app.use("/v1/*", async (c, next) => {
		if (isDeploymentAdministration(c.req.path)) return next();
		const { tenantId, shard } = await orUnavailable("the tenant directory", () =>
			tenantInScope(c.env, c.var.principal, c.req.header("x-tenant-id")),
		);
		const bucket = c.var.principal.kind === "tenant" ? rateLimitBucketOf(c.req.raw, c.var.principal.keyId) : null;
		// The dashboard's calls get a bucket of their own, so browsing its pages cannot starve the key's integration.
		if (bucket !== null) await enforceRateLimit(c.env, bucket, c.req.method, c.req.path);
		c.set("db", shardDatabase(c.env, shard));
		c.set("tenantId", tenantId);
		await next();
	});

	// Checked here rather than per route, so every route answers malformed,
	// oversized and non-JSON bodies the same way and before anything is stored.
	app.use("/v1/*", checkJsonBody(bodyLimitFor));

	app.route("/", webhookRoutes);
	app.route("/", eventRoutes);
	app.route("/", deliveryRoutes);
	app.route("/", eventTypeRoutes);
	app.route("/", templateRoutes);
	app.route("/", tenantRoutes);
	app.route("/", taskRoutes);
	app.route("/", portalLinkRoutes);
	app.route("/", healthRoutes);

	// The dashboard is a client of the routes above, called in-process through this same app.
	app.route(
		"/",
		createDashboard((request, env, ctx) => app.fetch(request, env, ctx)),
	);

	const methodsAt = routeMethods(app.routes);
	app.notFound((c) => {
		const allowed = methodsAt(c.req.path);
		// A route that takes this very method and still did not answer is not this path (a trailing slash, say).
		if (allowed.length === 0 || allowed.includes(c.req.method))
			return c.json(errorBody(new ApiError("not_found", "no such route")), 404);
		const error = new ApiError(
			"method_not_allowed",
			`${c.req.method} is not a method of ${c.req.path}; it takes ${allowed.join(", ")}`,
		);
		return c.json(errorBody(error), 405, { allow: allowed.join(", ") });
	});
	app.onError((error, c) => {
		if (error instanceof ApiError && isSvixPath(c.req.path)) {
			const answer = svixErrorAnswer(error);
			return c.json(answer.body, answer.status, answer.headers);
		}
		if (error instanceof ApiError) return c.json(errorBody(error), error.status, error.headers);
		const refusal = clientErrorOf(error);
		if (refusal) return c.json(errorBody(refusal.apiError), refusal.status);
		console.error("unhandled error", c.get("requestId"), error);
		return c.json(errorBody(new ApiError("internal_error", "something went wrong on our side")), 500);
	});
	return app;
}

export type App = ReturnType<typeof createApp>;
export type { AppEnv };
