import { createRoute } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { getEndpointOr404 } from "../../db/endpoints";
import type { EndpointRow } from "../../db/schema";
import { ApiError } from "../../lib/errors";
import { startRecover } from "../../tasks/recover";
import { type AppEnv, createRouter, errorResponses, IdParam, jsonBody, jsonContent } from "../shared";
import { RecoverIn, TaskOut, taskOut } from "../tasks/schemas";

/**
 * Looks the endpoint up before the body is validated, so another tenant's
 * endpoint id answers 404 whatever the body says, never a 422 that would
 * confirm the route only.
 */
const loadEndpoint = createMiddleware<{ Bindings: Env; Variables: AppEnv["Variables"] & { endpoint: EndpointRow } }>(
	async (c, next) => {
		c.set("endpoint", await getEndpointOr404(c.var.db, c.var.tenantId, c.req.param("id") ?? ""));
		await next();
	},
);

const route = createRoute({
	method: "post",
	path: "/v1/webhooks/{id}/recover",
	tags: ["Webhooks"],
	summary: "Re-send the endpoint's failed deliveries of a time window, in the background",
	description:
		"Every delivery of this endpoint that is `failed` and whose event was created in [`since`, `until`) gets one more attempt, each as a manual attempt keeping its event's `webhook-id`. The work runs in bounded slices; follow it with `GET /v1/tasks/{id}`. The window is at most 14 days.",
	middleware: [loadEndpoint] as const,
	request: { params: IdParam, body: jsonBody(RecoverIn) },
	responses: {
		202: jsonContent(TaskOut, "The recover task, queued"),
		...errorResponses(400, 401, 404, 409, 415, 422),
	},
});

export const recoverWebhook = createRouter().openapi(route, async (c) => {
	const input = c.req.valid("json");
	const endpoint = c.var.endpoint;
	if (!endpoint.active) throw new ApiError("conflict", "the endpoint is disabled; enable it before recovering");
	const now = Date.now();
	const task = await startRecover(
		c.var.db,
		c.env.DELIVERY_QUEUE,
		c.var.tenantId,
		endpoint.id,
		{ since: Date.parse(input.since), until: input.until === undefined ? now : Date.parse(input.until) },
		now,
	);
	return c.json(taskOut(task), 202);
});
