import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, gte, lt } from "drizzle-orm";
import { getEndpointOr404 } from "../../db/endpoints";
import { deliveries } from "../../db/schema";
import { ApiError } from "../../lib/errors";
import { deliveryId, deliveryIdRange } from "../../lib/ids";
import { DeliveryOut, DeliveryStatus, deliveryOut } from "../deliveries/schemas";
import { ingestContext, ingestEvents } from "../events/ingest";
import { createRouter, errorResponses, IdParam, jsonContent, PaginationQuery } from "../shared";

const deliveriesRoute = createRoute({
	method: "get",
	path: "/v1/webhooks/{id}/deliveries",
	tags: ["Webhooks"],
	summary: "The endpoint's delivery log, newest first",
	description: "A delivery appears here once its first attempt is recorded, normally milliseconds after the event.",
	request: { params: IdParam, query: PaginationQuery.extend({ status: DeliveryStatus.optional() }) },
	responses: {
		200: jsonContent(
			z.object({ deliveries: z.array(DeliveryOut), next_cursor: z.string().nullable() }).openapi("DeliveryList"),
			"Deliveries",
		),
		...errorResponses(401, 404, 422),
	},
});

const testRoute = createRoute({
	method: "post",
	path: "/v1/webhooks/{id}/test",
	tags: ["Webhooks"],
	summary: "Send a webhook.test event to this endpoint alone",
	request: { params: IdParam },
	responses: {
		202: jsonContent(
			z.object({ event_id: z.string(), delivery_id: z.string() }).openapi("TestAccepted"),
			"The test event is queued",
		),
		...errorResponses(401, 404, 409),
	},
});

export const webhookActivity = createRouter()
	.openapi(deliveriesRoute, async (c) => {
		const { id } = c.req.valid("param");
		const { limit, cursor, status } = c.req.valid("query");
		await getEndpointOr404(c.var.db, c.var.tenantId, id);
		const range = deliveryIdRange(id);
		const upperBound = cursor !== undefined && cursor > range.from && cursor < range.to ? cursor : range.to;
		const rows = await c.var.db
			.select()
			.from(deliveries)
			.where(
				and(
					gte(deliveries.id, range.from),
					lt(deliveries.id, upperBound),
					eq(deliveries.tenantId, c.var.tenantId),
					status ? eq(deliveries.status, status) : undefined,
				),
			)
			.orderBy(desc(deliveries.id))
			.limit(limit + 1);
		const page = rows.slice(0, limit);
		const last = page.at(-1);
		return c.json(
			{ deliveries: page.map(deliveryOut), next_cursor: rows.length > limit && last ? last.id : null },
			200,
		);
	})
	.openapi(testRoute, async (c) => {
		const { id } = c.req.valid("param");
		const endpoint = await getEndpointOr404(c.var.db, c.var.tenantId, id);
		if (!endpoint.active) throw new ApiError("conflict", "the endpoint is disabled; enable it before testing");
		const [result] = await ingestEvents(
			ingestContext(c.env, c.var.db, c.var.tenantId),
			[
				{
					type: "webhook.test",
					dataJson: JSON.stringify({ webhook_id: id, message: "This is a test event sent by Edgehook." }),
				},
			],
			id,
		);
		if (!result) throw new ApiError("internal_error", "the test event was not stored");
		return c.json({ event_id: result.event.id, delivery_id: deliveryId(id, result.seq) }, 202);
	});
