import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, eq, gt } from "drizzle-orm";
import { type EventTypeRow, eventTypes } from "../../db/schema";
import { isOperationalEventType, OPERATIONAL_EVENT_TYPES } from "../../delivery/operational-events";
import { ApiError, notFound } from "../../lib/errors";
import { EventTypeName } from "../events/schemas";
import { createRouter, errorResponses, iso, jsonBody, jsonContent, PaginationQuery } from "../shared";

const EventTypeIn = z
	.strictObject({
		name: EventTypeName,
		description: z.string().max(1024).optional(),
		schema: z.record(z.string(), z.unknown()).optional().openapi({ description: "JSON Schema of the payload" }),
	})
	.openapi("EventTypeIn");

const EventTypeOut = z
	.object({
		name: z.string(),
		description: z.string(),
		schema: z.record(z.string(), z.unknown()).nullable(),
		built_in: z.boolean().openapi({ description: "An operational event type Edgehook sends itself; reserved" }),
		created_at: z.string().nullable(),
	})
	.openapi("EventTypeOut");

/** The operational event types, listed first in every tenant's catalog. */
const BUILT_IN_TYPES: z.infer<typeof EventTypeOut>[] = Object.entries(OPERATIONAL_EVENT_TYPES).map(
	([name, description]) => ({ name, description, schema: null, built_in: true, created_at: null }),
);

function eventTypeOut(row: EventTypeRow): z.infer<typeof EventTypeOut> {
	return {
		name: row.name,
		description: row.description,
		schema: row.schema === null ? null : (JSON.parse(row.schema) as Record<string, unknown>),
		built_in: false,
		created_at: iso(row.createdAt),
	};
}

const listRoute = createRoute({
	method: "get",
	path: "/v1/event-types",
	tags: ["Event types"],
	summary: "List the event type catalog",
	request: { query: PaginationQuery },
	responses: {
		200: jsonContent(
			z.object({ event_types: z.array(EventTypeOut), next_cursor: z.string().nullable() }).openapi("EventTypeList"),
			"Event types by name",
		),
		...errorResponses(401, 422),
	},
});

const createRouteConfig = createRoute({
	method: "post",
	path: "/v1/event-types",
	tags: ["Event types"],
	summary: "Add an event type to the catalog",
	request: { body: jsonBody(EventTypeIn) },
	responses: {
		201: jsonContent(EventTypeOut, "The event type"),
		...errorResponses(400, 401, 409, 415, 422),
	},
});

const deleteRoute = createRoute({
	method: "delete",
	path: "/v1/event-types/{name}",
	tags: ["Event types"],
	summary: "Remove an event type from the catalog",
	request: { params: z.object({ name: z.string().min(1).max(128) }) },
	responses: { 204: { description: "Removed" }, ...errorResponses(401, 404, 409) },
});

export const eventTypeRoutes = createRouter()
	.openapi(listRoute, async (c) => {
		const { limit, cursor } = c.req.valid("query");
		const rows = await c.var.db
			.select()
			.from(eventTypes)
			.where(and(eq(eventTypes.tenantId, c.var.tenantId), cursor ? gt(eventTypes.name, cursor) : undefined))
			.orderBy(asc(eventTypes.name))
			.limit(limit + 1);
		const page = rows.slice(0, limit);
		const last = page.at(-1);
		// The built-in types head the first page; they are few and not stored, so they take no part in paging.
		return c.json(
			{
				event_types: [...(cursor ? [] : BUILT_IN_TYPES), ...page.map(eventTypeOut)],
				next_cursor: rows.length > limit && last ? last.name : null,
			},
			200,
		);
	})
	.openapi(createRouteConfig, async (c) => {
		const input = c.req.valid("json");
		if (isOperationalEventType(input.name)) {
			throw new ApiError("conflict", `event type ${input.name} is built in: Edgehook sends it itself`);
		}
		const [row] = await c.var.db
			.insert(eventTypes)
			.values({
				tenantId: c.var.tenantId,
				name: input.name,
				description: input.description ?? "",
				schema: input.schema === undefined ? null : JSON.stringify(input.schema),
				createdAt: Date.now(),
			})
			.onConflictDoNothing()
			.returning();
		if (!row) throw new ApiError("conflict", `event type ${input.name} already exists`);
		return c.json(eventTypeOut(row), 201);
	})
	.openapi(deleteRoute, async (c) => {
		const { name } = c.req.valid("param");
		if (isOperationalEventType(name)) throw new ApiError("conflict", `event type ${name} is built in`);
		const removed = await c.var.db
			.delete(eventTypes)
			.where(and(eq(eventTypes.tenantId, c.var.tenantId), eq(eventTypes.name, name)))
			.returning({ name: eventTypes.name });
		if (removed.length === 0) throw notFound("event type", name);
		return c.body(null, 204);
	});
