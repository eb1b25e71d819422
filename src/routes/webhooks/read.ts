import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, lt } from "drizzle-orm";
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
	request: {
		query: PaginationQuery.extend({
			order: z
				.enum(["asc", "desc"])
				.default("asc")
				.openapi({ description: "By id: asc (default) or desc; the cursor pages on in the same order" }),
		}),
	},
	responses: {
		200: jsonContent(
			z.object({ webhooks: z.array(EndpointOut), next_cursor: z.string().nullable() }).openapi("EndpointList"),
			"Endpoints in the order of their ids",
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
		const { limit, cursor, order } = c.req.valid("query");
		const after = order === "asc" ? gt : lt;
		const rows = await c.var.db
			.select()
			.from(endpoints)
			.where(and(eq(endpoints.tenantId, c.var.tenantId), cursor ? after(endpoints.id, cursor) : undefined))
			.orderBy(order === "asc" ? asc(endpoints.id) : desc(endpoints.id))
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
