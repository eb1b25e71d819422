import { createRoute } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { failCancelledDeliveries } from "../../db/deliveries";
import { getEndpointOr404 } from "../../db/endpoints";
import { endpoints } from "../../db/schema";
import { schedulerFor } from "../../scheduler/client";
import { createRouter, errorResponses, IdParam, jsonBody, jsonContent } from "../shared";
import { assertTargetUrl } from "./create";
import { EndpointOut, EndpointPatch, endpointOut } from "./schemas";

const patchRoute = createRoute({
	method: "patch",
	path: "/v1/webhooks/{id}",
	tags: ["Webhooks"],
	summary: "Update a webhook endpoint",
	request: { params: IdParam, body: jsonBody(EndpointPatch) },
	responses: { 200: jsonContent(EndpointOut, "The updated endpoint"), ...errorResponses(400, 401, 404, 415, 422) },
});

const deleteRoute = createRoute({
	method: "delete",
	path: "/v1/webhooks/{id}",
	tags: ["Webhooks"],
	summary: "Delete a webhook endpoint; its pending retries are cancelled",
	request: { params: IdParam },
	responses: { 204: { description: "Deleted" }, ...errorResponses(401, 404) },
});

export const updateWebhooks = createRouter()
	.openapi(patchRoute, async (c) => {
		const { id } = c.req.valid("param");
		const patch = c.req.valid("json");
		const existing = await getEndpointOr404(c.var.db, c.var.tenantId, id);
		if (patch.url !== undefined) assertTargetUrl(patch.url, c.env.ENVIRONMENT);
		const reactivated = patch.active === true && !existing.active;
		const [row] = await c.var.db
			.update(endpoints)
			.set({
				url: patch.url,
				events: patch.events && JSON.stringify(patch.events),
				active: patch.active,
				disabledReason: reactivated ? null : undefined,
				failingSince: reactivated ? null : undefined,
				description: patch.description,
				headers: patch.headers && JSON.stringify(patch.headers),
				metadata: patch.metadata && JSON.stringify(patch.metadata),
				retrySchedule:
					patch.retry_schedule === undefined ? undefined : patch.retry_schedule && JSON.stringify(patch.retry_schedule),
				timeoutMs: patch.timeout_ms,
				rateLimitPerSecond: patch.rate_limit_per_second,
				ordering: patch.ordering,
				updatedAt: Date.now(),
			})
			.where(and(eq(endpoints.tenantId, c.var.tenantId), eq(endpoints.id, id)))
			.returning();
		// Enabled again: its past failures no longer say anything about it.
		if (reactivated) await schedulerFor(c.env, c.var.tenantId, id).resetCircuit();
		// No longer ordered: what waited in line goes now.
		if (existing.ordering === "ordered" && patch.ordering === "unordered") {
			await schedulerFor(c.env, c.var.tenantId, id).releaseLine();
		}
		return c.json(endpointOut(row ?? existing, false), 200);
	})
	.openapi(deleteRoute, async (c) => {
		const { id } = c.req.valid("param");
		await getEndpointOr404(c.var.db, c.var.tenantId, id);
		await c.var.db.delete(endpoints).where(and(eq(endpoints.tenantId, c.var.tenantId), eq(endpoints.id, id)));
		const cancelled = await schedulerFor(c.env, c.var.tenantId, id).cancelAll();
		await failCancelledDeliveries(c.var.db, c.var.tenantId, cancelled, "the endpoint was deleted");
		return c.body(null, 204);
	});
