import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, eq, gt } from "drizzle-orm";
import { getEndpointOr404 } from "../../db/endpoints";
import { endpoints } from "../../db/schema";
import { schedulerFor } from "../../scheduler/client";
import { createRouter, errorResponses, IdParam, jsonContent, PaginationQuery } from "../shared";
import { circuitOut, EndpointOut, endpointOut } from "./schemas";

const listRoute = createRoute({
	method: "get",
	path: "/v1/webhooks",
	tags: ["Webhooks"],
	summary: "List webhook endpoints",
	request: { query: PaginationQuery },
	responses: {
		200: jsonContent(
			z.object({ webhooks: z.array(EndpointOut), next_cursor: z.string().nullable() }).openapi("EndpointList"),
			"Endpoints in creation order of their ids",
		),
		...errorResponses(401, 422),
	},
});

const getRoute = createRoute({
	method: "get",
	path: "/v1/webhooks/{id}",
	tags: ["Webhooks"],
	summary: "Get a webhook endpoint (secret masked) with its circuit breaker's state",
	request: { params: IdParam },
	responses: { 200: jsonContent(EndpointOut, "The endpoint"), ...errorResponses(401, 404) },
});

const secretRoute = createRoute({
	method: "get",
	path: "/v1/webhooks/{id}/secret",
	tags: ["Webhooks"],
	summary: "Reveal an endpoint's signing secret",
	request: { params: IdParam },
	responses: {
		200: jsonContent(z.object({ secret: z.string() }).openapi("EndpointSecret"), "The secret in full"),
		...errorResponses(401, 404),
	},
});

export const readWebhooks = createRouter()
	.openapi(listRoute, async (c) => {
		const { limit, cursor } = c.req.valid("query");
		const rows = await c.var.db
			.select()
			.from(endpoints)
			.where(and(eq(endpoints.tenantId, c.var.tenantId), cursor ? gt(endpoints.id, cursor) : undefined))
			.orderBy(asc(endpoints.id))
			.limit(limit + 1);
		const page = rows.slice(0, limit);
		const last = page.at(-1);
		return c.json(
			{
				webhooks: page.map((row) => endpointOut(row, { revealSecret: false, hideCredentials: c.var.readOnly })),
				next_cursor: rows.length > limit && last ? last.id : null,
			},
			200,
		);
	})
	.openapi(getRoute, async (c) => {
		const row = await getEndpointOr404(c.var.db, c.var.tenantId, c.req.valid("param").id);
		const circuit = await schedulerFor(c.env, c.var.tenantId, row.id).health();
		return c.json(
			{ ...endpointOut(row, { revealSecret: false, hideCredentials: c.var.readOnly }), circuit: circuitOut(circuit) },
			200,
		);
	})
	.openapi(secretRoute, async (c) => {
		const row = await getEndpointOr404(c.var.db, c.var.tenantId, c.req.valid("param").id);
		return c.json({ secret: row.secret }, 200);
	});
