import { requireApiKey } from "../auth/middleware";
import { enforceRateLimit } from "../auth/rate-limit";
import { ApiError, clientErrorOf } from "../lib/errors";
import { checkJsonBody } from "../lib/json-body";
import { bodyLimitFor } from "../routes/body-limits";
import { isSvixPath, svixErrorAnswer } from "./errors";
import { idempotentPosts } from "./idempotency";
import { type ApiFetch, NativeClient } from "./native";
import { SVIX_MESSAGE_CREATE_PATH } from "./paths";
import { createSvixRouter } from "./router";
import { applicationsRoutes } from "./routes/applications";
import { attemptsRoutes } from "./routes/attempts";
import { authenticationRoutes } from "./routes/authentication";
import { backgroundTasksRoutes } from "./routes/background-tasks";
import { endpointsRoutes } from "./routes/endpoints";
import { eventTypesRoutes } from "./routes/event-types";
import { messagesRoutes } from "./routes/messages";

/** The Svix face's OpenAPI description, served at /api/v1/openapi.json and written to docs/svix-openapi.json. */
export const SVIX_OPENAPI_CONFIG = {
	openapi: "3.1.0",
	info: {
		title: "Edgehook: Svix-compatible API",
		version: "1.0.0",
		description:
			"The subset of Svix's REST API that the official Svix SDKs call, answered by Edgehook. Point an SDK's `serverUrl` at the deployment and use an Edgehook key as the token. Each operation is a translation of the native /v1 API (docs/openapi.json).",
	},
	servers: [{ url: "/" }],
};

/**
 * The Svix-compatible API at /api/v1 (issue 17, ../shared/SVIX-API.md):
 * its own error shapes and paging, on top of the native routes, which it
 * calls in-process through `fetchApi`.
 */
export function createSvixFace(fetchApi: ApiFetch) {
	const face = createSvixRouter();
	// Public, as the native /openapi.json is: registered before the key check so that it never runs for it.
	face.get("/api/v1/openapi.json", (c) => c.json(face.getOpenAPI31Document(SVIX_OPENAPI_CONFIG)));
	face.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer" });
	face.use("/api/v1/*", async (c, next) => {
		// The worker's app chose the request id (src/app.ts) and passes it on in this header.
		c.set("requestId", c.req.header("x-request-id") ?? crypto.randomUUID());
		await next();
	});
	face.use("/api/v1/*", requireApiKey);
	// Counted here, once per request of the face: the native calls it makes spend nothing more.
	face.use("/api/v1/*", async (c, next) => {
		const principal = c.var.principal;
		if (principal.kind === "tenant") await enforceRateLimit(c.env, principal.keyId, c.req.method, c.req.path);
		await next();
	});
	face.use("/api/v1/*", async (c, next) => {
		c.set(
			"native",
			new NativeClient(fetchApi, c.env, c.executionCtx, c.var.principal, c.var.requestId, new URL(c.req.url).origin),
		);
		await next();
	});
	face.use("/api/v1/*", checkJsonBody(bodyLimitFor));
	face.use(
		"/api/v1/*",
		idempotentPosts((method, path) => method === "POST" && SVIX_MESSAGE_CREATE_PATH.test(path)),
	);
	face.route("/", applicationsRoutes);
	face.route("/", eventTypesRoutes);
	face.route("/", endpointsRoutes);
	face.route("/", messagesRoutes);
	face.route("/", attemptsRoutes);
	face.route("/", authenticationRoutes);
	face.route("/", backgroundTasksRoutes);

	face.notFound((c) => {
		const answer = svixErrorAnswer(new ApiError("not_found", "no such route"));
		return c.json(answer.body, answer.status);
	});
	face.onError((error, c) => {
		if (error instanceof ApiError) {
			const answer = svixErrorAnswer(error);
			return c.json(answer.body, answer.status, answer.headers);
		}
		const refusal = clientErrorOf(error);
		if (refusal) {
			const answer = svixErrorAnswer(refusal.apiError);
			return c.json(answer.body, answer.status, answer.headers);
		}
		console.error("unhandled error in the Svix face", c.get("requestId"), error);
		// Svix answers an internal error with an empty object.
		return c.json({}, 500);
	});
	return face;
}

export { isSvixPath };
