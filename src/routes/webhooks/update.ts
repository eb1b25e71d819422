import { createRoute } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { recipientsOf } from "../../channels/targets";
import { failCancelledDeliveries } from "../../db/deliveries";
import { getEndpointOr404, withUniqueUid } from "../../db/endpoints";
import { endpoints } from "../../db/schema";
import { schedulerFor } from "../../scheduler/client";
import { createRouter, errorResponses, IdParam, jsonBody, jsonContent } from "../shared";
import { EndpointOut, EndpointPatch, endpointOut } from "./schemas";
import { assertEndpointTarget } from "./target";

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
		const patch = c.req.valid("json");
		const existing = await getEndpointOr404(c.var.db, c.var.tenantId, c.req.valid("param").id);
		const id = existing.id;
		const channel = patch.channel ?? existing.channel;
		// A change of channel leaves the old channel's target behind rather than carrying it over.
		const channelChanged = channel !== existing.channel;
		const url = patch.url ?? (channelChanged || existing.channel === "email" ? null : existing.url);
		const to = patch.to ?? (channelChanged ? null : recipientsOf(existing));
		const targetTouched = patch.channel !== undefined || patch.url !== undefined || patch.to !== undefined;
		assertEndpointTarget(targetTouched ? { channel, url, to } : null, patch.transformation ?? null, {
			env: c.env,
			tenantId: c.var.tenantId,
		});
		const reactivated = patch.active === true && !existing.active;
		const [row] = await withUniqueUid(patch.uid, () =>
			c.var.db
				.update(endpoints)
				.set({
					url: targetTouched ? (url ?? "") : undefined,
					channel: patch.channel,
					recipients: targetTouched ? to && JSON.stringify(to) : undefined,
					transformation: patch.transformation,
					events: patch.events && JSON.stringify(patch.events),
					active: patch.active,
					disabledReason: reactivated ? null : undefined,
					failingSince: reactivated ? null : undefined,
					description: patch.description,
					headers: patch.headers && JSON.stringify(patch.headers),
					metadata: patch.metadata && JSON.stringify(patch.metadata),
					retrySchedule:
						patch.retry_schedule === undefined
							? undefined
							: patch.retry_schedule && JSON.stringify(patch.retry_schedule),
					timeoutMs: patch.timeout_ms,
					rateLimitPerSecond: patch.rate_limit_per_second,
					maxConcurrency: patch.max_concurrency,
					ordering: patch.ordering,
					uid: patch.uid,
					labels: patch.labels === undefined ? undefined : patch.labels && JSON.stringify(patch.labels),
					headerStyle: patch.header_style,
					updatedAt: Date.now(),
				})
				.where(and(eq(endpoints.tenantId, c.var.tenantId), eq(endpoints.id, id)))
				.returning(),
		);
		// Enabled again: its past failures no longer say anything about it.
		if (reactivated) await schedulerFor(c.env, c.var.tenantId, id).resetCircuit();
		// No longer ordered: what waited in line goes now.
		if (existing.ordering === "ordered" && patch.ordering === "unordered") {
			await schedulerFor(c.env, c.var.tenantId, id).releaseLine();
		}
		return c.json(endpointOut(row ?? existing, { revealSecret: false, hideCredentials: c.var.readOnly }), 200);
	})
	.openapi(deleteRoute, async (c) => {
		const { id } = await getEndpointOr404(c.var.db, c.var.tenantId, c.req.valid("param").id);
		await c.var.db.delete(endpoints).where(and(eq(endpoints.tenantId, c.var.tenantId), eq(endpoints.id, id)));
		const cancelled = await schedulerFor(c.env, c.var.tenantId, id).cancelAll();
		await failCancelledDeliveries(c.var.db, c.var.tenantId, cancelled, "the endpoint was deleted");
		return c.body(null, 204);
	});
