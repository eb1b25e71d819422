import { createRoute, z } from "@hono/zod-openapi";
import type { Database } from "../../db/client";
import { deliveriesByIds } from "../../db/delivery-log";
import { getEndpointOr404 } from "../../db/endpoints";
import { resolvePublicDeliveryId } from "../../db/events";
import type { DeliveryRow } from "../../db/schema";
import { ApiError, notFound } from "../../lib/errors";
import { type DeliveryJob, enqueueJobs } from "../../queue/messages";
import { createRouter, errorResponses, jsonContent } from "../shared";
import { attemptRoutes } from "./attempts";
import { deliveryRequestRoutes } from "./request";
import { DeliveryDetail, DeliveryIdParam, deliveryDetail, queuedDelivery } from "./schemas";

const getRoute = createRoute({
	method: "get",
	path: "/v1/deliveries/{id}",
	tags: ["Deliveries"],
	summary: "Get a delivery with all its attempts",
	request: { params: DeliveryIdParam },
	responses: { 200: jsonContent(DeliveryDetail, "The delivery"), ...errorResponses(401, 404) },
});

const retryRoute = createRoute({
	method: "post",
	path: "/v1/deliveries/{id}/retry",
	tags: ["Deliveries"],
	summary: "Send a delivery again now, whatever its status",
	description:
		"One extra attempt. A failed or successful delivery takes its new status from it; a delivery with a retry already scheduled keeps that schedule if this attempt fails. A skipped delivery goes through the endpoint's transformation again: if that still produces nothing, it stays skipped and no attempt is recorded.",
	request: { params: DeliveryIdParam },
	responses: {
		202: jsonContent(
			z.object({ id: z.string(), attempt: z.number().int() }).openapi("DeliveryRetryAccepted"),
			"The attempt is queued",
		),
		...errorResponses(401, 404, 409),
	},
});

/**
 * The delivery's row (or how it reads while its first attempt is still
 * queued) and its event's sequence number, read off the id; 404 otherwise.
 */
async function loadDelivery(
	db: Database,
	tenantId: string,
	id: string,
): Promise<{ row: DeliveryRow; eventSeq: number }> {
	const named = await resolvePublicDeliveryId(db, tenantId, id);
	if (!named) throw notFound("delivery", id);
	const [row] = await deliveriesByIds(db, [named.storedId], tenantId);
	if (row) return { row, eventSeq: named.event.seq };
	if ((JSON.parse(named.event.endpointIds) as string[]).includes(named.endpointId)) {
		return { row: queuedDelivery(named.event, named.endpointId), eventSeq: named.event.seq };
	}
	throw notFound("delivery", id);
}

export const deliveryRoutes = createRouter()
	.openapi(getRoute, async (c) => {
		const { row } = await loadDelivery(c.var.db, c.var.tenantId, c.req.valid("param").id);
		return c.json(deliveryDetail(row), 200);
	})
	.openapi(retryRoute, async (c) => {
		const { id } = c.req.valid("param");
		const { row, eventSeq } = await loadDelivery(c.var.db, c.var.tenantId, id);
		if (row.attemptCount === 0 && row.status === "pending") {
			throw new ApiError("conflict", "the first attempt of this delivery is still queued");
		}
		const endpoint = await getEndpointOr404(c.var.db, c.var.tenantId, row.endpointId);
		if (!endpoint.active) throw new ApiError("conflict", "the endpoint is disabled; enable it before retrying");
		const attempt = row.attemptCount + 1;
		const job: DeliveryJob = {
			tenantId: c.var.tenantId,
			eventSeq,
			targets: [{ endpointId: row.endpointId, attempt }],
			trigger: "manual",
		};
		await enqueueJobs(c.env.DELIVERY_QUEUE as Queue<DeliveryJob>, [job]);
		return c.json({ id, attempt }, 202);
	})
	.route("/", deliveryRequestRoutes)
	.route("/", attemptRoutes);
