import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import { adminKeyProblem } from "./auth/admin-key";
import { authenticate } from "./auth/authenticate";
import { internalCaller, readOnlyMay } from "./auth/internal";
import { authThrottled, clientAddress, countFailedAuth, enforceRateLimit, isAuthThrottled } from "./auth/rate-limit";
import { isDeploymentAdministration, tenantInScope } from "./auth/scope";
import { createDashboard } from "./dashboard";
import { shardDatabase } from "./db/tenant-database";
import { renderDocsPage } from "./docs";
import { readBodyWithin } from "./lib/body";
import { ApiError, errorBody, orUnavailable } from "./lib/errors";
import { meteringEnabled, readCounters, readDatabaseCounters, resetCounters } from "./lib/metering";
import { VERSION } from "./lib/version";
import { OPENAPI_CONFIG } from "./openapi";
import { deliveryRoutes } from "./routes/deliveries";
import { eventTypeRoutes } from "./routes/event-types";
import { eventRoutes } from "./routes/events";
import { MAX_BATCH_BODY_BYTES, MAX_EVENT_PAYLOAD_BYTES } from "./routes/events/schemas";
import { healthRoutes } from "./routes/health";
import { portalLinkRoutes } from "./routes/portal-links";
import { type AppEnv, createRouter } from "./routes/shared";
import { taskRoutes } from "./routes/tasks";
import { templateRoutes } from "./routes/templates";
import { tenantRoutes } from "./routes/tenants";
import { webhookRoutes } from "./routes/webhooks";

const DEFAULT_BODY_LIMIT = 256 * 1024;
/** Room for `type` and `id` around a payload of the full 256 KiB. */
const EVENT_BODY_LIMIT = MAX_EVENT_PAYLOAD_BYTES + 4 * 1024;

/**
 * Deeper JSON than any real payload needs; receivers that parse recursively
 * (Python's json among them) fail on very deep documents.
 */
export const MAX_JSON_DEPTH = 64;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

function decodeUtf8(bytes: Uint8Array): string | null {
	try {
		return strictUtf8.decode(bytes);
	} catch {
		return null;
	}
}

/** Whether brackets outside strings nest deeper than `limit`, found without parsing. */
export function nestingDepthExceeds(json: string, limit: number): boolean {
	let depth = 0;
	let inString = false;
	for (let index = 0; index < json.length; index++) {
		const char = json.charCodeAt(index);
		if (inString) {
			if (char === 0x5c) index++;
			else if (char === 0x22) inString = false;
		} else if (char === 0x22) inString = true;
		else if (char === 0x7b || char === 0x5b) {
			if (++depth > limit) return true;
		} else if (char === 0x7d || char === 0x5d) depth--;
	}
	return false;
}

/**
 * A caller's request id is echoed back and written to the logs, so only a
 * short, plain one is kept; anything else gets an id of our own.
 */
const PLAIN_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function acceptedRequestId(given: string | undefined): string {
	return given !== undefined && PLAIN_REQUEST_ID.test(given) ? given : crypto.randomUUID();
}

/** The largest body a route reads, and the 413's words for it: the limits the README states. */
function bodyLimitFor(path: string): { bytes: number; tooLarge: string } {
	if (path === "/v1/events/batch") {
		return {
			bytes: MAX_BATCH_BODY_BYTES,
			tooLarge: `the body is too large: a batch may be at most 2 MiB (${MAX_BATCH_BODY_BYTES} bytes)`,
		};
	}
	if (path === "/v1/events") {
		return {
			bytes: EVENT_BODY_LIMIT,
			tooLarge: `the event is too large: its data may be at most 256 KiB (${MAX_EVENT_PAYLOAD_BYTES} bytes), and this body is over ${EVENT_BODY_LIMIT} bytes, that much with room for its type and id`,
		};
	}
	return {
		bytes: DEFAULT_BODY_LIMIT,
		tooLarge: `the body is too large: a request body here may be at most 256 KiB (${DEFAULT_BODY_LIMIT} bytes)`,
	};
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

	const requireApiKey = createMiddleware<AppEnv>(async (c, next) => {
		const internal = internalCaller(c.req.raw);
		if (internal) {
			if (internal.readOnly && !readOnlyMay(c.req.method, c.req.path)) {
				throw new ApiError("forbidden", "this portal link is read-only");
			}
			c.set("principal", internal.principal);
			c.set("readOnly", internal.readOnly);
			return next();
		}
		c.set("readOnly", false);
		const authorization = c.req.header("authorization") ?? "";
		const match = /^Bearer\s+(.+)$/i.exec(authorization);
		if (!match?.[1]) throw new ApiError("unauthorized", "send Authorization: Bearer <API key>");
		const address = clientAddress(c.req.raw);
		if (isAuthThrottled(address)) throw authThrottled();
		const token = match[1].trim();
		const principal = await orUnavailable("the key store", () =>
			authenticate(c.env, token, (work) => c.executionCtx.waitUntil(work)),
		);
		if (!principal) {
			if (await countFailedAuth(c.env, address)) throw authThrottled();
			throw new ApiError("unauthorized", "the API key is not valid");
		}
		c.set("principal", principal);
		await next();
	});
	const requireAdminKey = createMiddleware<AppEnv>(async (c, next) => {
		if (c.var.principal.kind !== "admin") throw new ApiError("forbidden", "only the admin key may do this");
		await next();
	});

	app.use("/_bench/*", requireApiKey, requireAdminKey);
	app.get("/_bench/metrics", (c) => {
		if (!meteringEnabled(c.env)) throw new ApiError("not_found", "no such route");
		return c.json({ ...readCounters(), d1_by_database: readDatabaseCounters() });
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
		if (c.var.principal.kind === "tenant")
			// The dashboard's calls get a bucket of their own, so browsing its pages cannot starve the key's integration.
			await enforceRateLimit(
				c.env,
				internalCaller(c.req.raw) ? `dashboard:${c.var.principal.keyId}` : c.var.principal.keyId,
				c.req.method,
				c.req.path,
			);
		c.set("db", shardDatabase(c.env, shard));
		c.set("tenantId", tenantId);
		await next();
	});

	// Checked here rather than per route, so every route answers malformed,
	// oversized and non-JSON bodies the same way and before anything is stored.
	app.use("/v1/*", async (c, next) => {
		if (c.req.method !== "POST" && c.req.method !== "PATCH" && c.req.method !== "PUT") return next();
		const limit = bodyLimitFor(c.req.path);
		const body = await readBodyWithin(c.req.raw, limit.bytes);
		if ("tooLarge" in body) throw new ApiError("payload_too_large", limit.tooLarge);
		const bytes = body.bytes;
		// The stream is spent: the routes read the body again from these bytes.
		c.req.raw = new Request(c.req.raw, { body: bytes });
		if (bytes.byteLength === 0) return next();
		const contentType = c.req.header("content-type") ?? "";
		if (!/^application\/json\s*(;|$)/i.test(contentType)) {
			throw new ApiError("unsupported_media_type", "send the body as Content-Type: application/json");
		}
		const text = decodeUtf8(bytes);
		if (text === null) throw new ApiError("invalid_json", "the body is not valid UTF-8");
		if (nestingDepthExceeds(text, MAX_JSON_DEPTH)) {
			throw new ApiError("invalid_json", `the body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
		}
		try {
			JSON.parse(text);
		} catch (error) {
			throw new ApiError(
				"invalid_json",
				`the body is not valid JSON: ${error instanceof Error ? error.message : "parse error"}`,
			);
		}
		return next();
	});

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
		if (error instanceof ApiError) return c.json(errorBody(error), error.status, error.headers);
		if (error instanceof HTTPException && error.status < 500) {
			const code =
				error.status === 400 ? "invalid_json" : error.status === 415 ? "unsupported_media_type" : "invalid_request";
			const apiError = new ApiError(code, error.message || "the request could not be read");
			return c.json(errorBody(apiError), error.status);
		}
		console.error("unhandled error", c.get("requestId"), error);
		return c.json(errorBody(new ApiError("internal_error", "something went wrong on our side")), 500);
	});
	return app;
}

export type App = ReturnType<typeof createApp>;
export type { AppEnv };
