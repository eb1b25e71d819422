import { eq } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import { openDatabase } from "./db/client";
import { tenants } from "./db/schema";
import { renderDocsPage } from "./docs";
import { secretsEqual } from "./lib/auth";
import { ApiError, errorBody } from "./lib/errors";
import { meteringEnabled, readCounters, resetCounters } from "./lib/metering";
import { VERSION } from "./lib/version";
import { OPENAPI_CONFIG } from "./openapi";
import { deliveryRoutes } from "./routes/deliveries";
import { eventTypeRoutes } from "./routes/event-types";
import { eventRoutes } from "./routes/events";
import { MAX_BATCH_BODY_BYTES, MAX_EVENT_PAYLOAD_BYTES } from "./routes/events/schemas";
import { type AppEnv, createRouter } from "./routes/shared";
import { webhookRoutes } from "./routes/webhooks";

export const DEFAULT_TENANT_ID = "default";
const DEFAULT_BODY_LIMIT = 256 * 1024;
/** Room for `type` and `id` around a payload of the full 256 KiB. */
const EVENT_BODY_LIMIT = MAX_EVENT_PAYLOAD_BYTES + 4 * 1024;

function bodyLimitFor(path: string): number {
	if (path === "/v1/events/batch") return MAX_BATCH_BODY_BYTES;
	if (path === "/v1/events") return EVENT_BODY_LIMIT;
	return DEFAULT_BODY_LIMIT;
}

export function createApp() {
	const app = createRouter();

	app.use("*", async (c, next) => {
		c.set("requestId", c.req.header("x-request-id") ?? crypto.randomUUID());
		await next();
		c.header("x-request-id", c.get("requestId"));
	});

	app.get("/healthz", (c) => c.json({ status: "ok", version: VERSION }));
	app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer" });
	app.get("/openapi.json", (c) => c.json(app.getOpenAPI31Document(OPENAPI_CONFIG)));
	app.get("/docs", (c) => c.html(renderDocsPage(app.getOpenAPI31Document(OPENAPI_CONFIG))));

	const requireApiKey = createMiddleware<AppEnv>(async (c, next) => {
		const authorization = c.req.header("authorization") ?? "";
		const match = /^Bearer\s+(.+)$/i.exec(authorization);
		if (!match?.[1]) throw new ApiError("unauthorized", "send Authorization: Bearer <API key>");
		const adminKey = c.env.ADMIN_API_KEY ?? "";
		if (adminKey === "" || !(await secretsEqual(match[1].trim(), adminKey))) {
			throw new ApiError("unauthorized", "the API key is not valid");
		}
		await next();
	});

	app.use("/_bench/*", requireApiKey);
	app.get("/_bench/metrics", (c) => {
		if (!meteringEnabled(c.env)) throw new ApiError("not_found", "no such route");
		return c.json(readCounters());
	});
	app.post("/_bench/reset", (c) => {
		if (!meteringEnabled(c.env)) throw new ApiError("not_found", "no such route");
		resetCounters();
		return c.body(null, 204);
	});

	app.use("/v1/*", requireApiKey, async (c, next) => {
		const db = openDatabase(c.env.DB);
		const tenantId = c.req.header("x-tenant-id") ?? DEFAULT_TENANT_ID;
		if (tenantId !== DEFAULT_TENANT_ID) {
			const [tenant] = await db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, tenantId));
			if (!tenant) throw new ApiError("not_found", `tenant ${tenantId} was not found`);
		}
		c.set("db", db);
		c.set("tenantId", tenantId);
		await next();
	});

	// Checked here rather than per route, so every route answers malformed,
	// oversized and non-JSON bodies the same way and before anything is stored.
	app.use("/v1/*", async (c, next) => {
		if (c.req.method !== "POST" && c.req.method !== "PATCH" && c.req.method !== "PUT") return next();
		const limit = bodyLimitFor(c.req.path);
		const declared = Number(c.req.header("content-length"));
		if (Number.isFinite(declared) && declared > limit) {
			throw new ApiError("payload_too_large", `the body is ${declared} bytes; the limit here is ${limit}`);
		}
		const body = await c.req.text();
		if (body.length === 0) return next();
		const size = new TextEncoder().encode(body).byteLength;
		if (size > limit) throw new ApiError("payload_too_large", `the body is ${size} bytes; the limit here is ${limit}`);
		const contentType = c.req.header("content-type") ?? "";
		if (!/^application\/json\s*(;|$)/i.test(contentType)) {
			throw new ApiError("unsupported_media_type", "send the body as Content-Type: application/json");
		}
		try {
			// Parsed through Hono so the route's validator reuses this parse instead of repeating it.
			await c.req.json();
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

	app.notFound((c) => c.json(errorBody(new ApiError("not_found", "no such route")), 404));
	app.onError((error, c) => {
		if (error instanceof ApiError) return c.json(errorBody(error), error.status);
		if (error instanceof HTTPException && error.status < 500) {
			const code = error.status === 400 ? "invalid_json" : "invalid_request";
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
