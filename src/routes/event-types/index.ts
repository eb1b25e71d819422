import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, eq, gt } from "drizzle-orm";
import { maskedEndpointAddress } from "../../channels/targets";
import type { Database } from "../../db/client";
import { rowWhere, tenantCountBelow } from "../../db/limited-insert";
import { type EventTypeRow, eventTypes } from "../../db/schema";
import {
	deliveryExhausted,
	type EndpointHealthFacts,
	endpointDisabled,
	endpointFailing,
	endpointRecovered,
	isOperationalEventType,
	OPERATIONAL_EVENT_TYPES,
	type OperationalEventType,
} from "../../delivery/operational-events";
import { ApiError, notFound } from "../../lib/errors";
import { limitReached, tenantLimits } from "../../tenants/limits";
import { EventTypeName } from "../events/schemas";
import { createRouter, errorResponses, iso, jsonBody, jsonContent, PaginationQuery } from "../shared";
import { catalogEventTypeRoutes } from "./catalog";
import { recentEventTypeRoutes } from "./recent";

const JsonSchemaObject = z.record(z.string(), z.unknown()).openapi({ description: "JSON Schema of the payload" });
const ExamplePayload = z
	.record(z.string(), z.unknown())
	.openapi({ description: "An example payload, sent by a test send of this type", example: { id: "user_123" } });

const EventTypeIn = z
	.strictObject({
		name: EventTypeName,
		description: z.string().max(1024).optional(),
		schema: JsonSchemaObject.optional(),
		example: ExamplePayload.optional(),
	})
	.openapi("EventTypeIn");

/** Fields named replace the stored ones; null clears schema or example. */
const EventTypePatch = z
	.strictObject({
		description: z.string().max(1024).optional(),
		schema: JsonSchemaObject.nullable().optional(),
		example: ExamplePayload.nullable().optional(),
	})
	.openapi("EventTypePatch");

const EventTypeOut = z
	.object({
		name: z.string(),
		description: z.string(),
		schema: z.record(z.string(), z.unknown()).nullable(),
		example: z
			.record(z.string(), z.unknown())
			.nullable()
			.openapi({ description: "An example payload; for built-in types, what Edgehook sends" }),
		built_in: z.boolean().openapi({ description: "An operational event type Edgehook sends itself; reserved" }),
		created_at: z.string().nullable(),
	})
	.openapi("EventTypeOut");

/*
 * The built-in examples come from the same builders that make the real
 * events, so they cannot drift from what Edgehook sends.
 */
const EXAMPLE_TIME = Date.parse("2026-01-15T10:00:00Z");
const EXAMPLE_FACTS: EndpointHealthFacts = {
	endpointId: "hook_3k9x2m7q1c8v4b6n",
	url: maskedEndpointAddress({ channel: "webhook", url: "https://example.com/webhooks/orders", recipients: null }),
	failuresInRow: 5,
	failingSince: EXAMPLE_TIME - 10 * 60 * 1000,
	lastStatusCode: 503,
	lastError: "HTTP 503",
};
const BUILT_IN_EXAMPLES: Record<OperationalEventType, Record<string, unknown>> = {
	"endpoint.failing": endpointFailing("", EXAMPLE_FACTS, { nextProbeAt: EXAMPLE_TIME + 60 * 1000, threshold: 5 }).data,
	"endpoint.recovered": endpointRecovered(
		"",
		{ ...EXAMPLE_FACTS, failuresInRow: 0, failingSince: null, lastStatusCode: 200, lastError: null },
		EXAMPLE_TIME - 5 * 60 * 1000,
		EXAMPLE_TIME,
	).data,
	"endpoint.disabled": endpointDisabled(
		"",
		{ ...EXAMPLE_FACTS, lastStatusCode: 410, lastError: "HTTP 410" },
		"the endpoint answered 410 Gone",
	).data,
	"delivery.exhausted": deliveryExhausted("", {
		deliveryId: "del_3k9x2m7q1c8v4b6n_evt_01jd5x0000k3m9x2q1c8v4b6n7",
		eventId: "evt_01jd5x0000k3m9x2q1c8v4b6n7",
		eventType: "user.created",
		endpointId: EXAMPLE_FACTS.endpointId,
		url: EXAMPLE_FACTS.url,
		attempts: 5,
		lastStatusCode: 503,
		lastError: "HTTP 503",
	}).data,
};

/** The operational event types, listed first in every tenant's catalog. */
const BUILT_IN_TYPES: z.infer<typeof EventTypeOut>[] = Object.entries(OPERATIONAL_EVENT_TYPES).map(
	([name, description]) => ({
		name,
		description,
		schema: null,
		example: isOperationalEventType(name) ? BUILT_IN_EXAMPLES[name] : null,
		built_in: true,
		created_at: null,
	}),
);

function parseObject(json: string | null): Record<string, unknown> | null {
	return json === null ? null : (JSON.parse(json) as Record<string, unknown>);
}

function eventTypeOut(row: EventTypeRow): z.infer<typeof EventTypeOut> {
	return {
		name: row.name,
		description: row.description,
		schema: parseObject(row.schema),
		example: parseObject(row.example),
		built_in: false,
		created_at: iso(row.createdAt),
	};
}

/** The stored example payload of a tenant's event type, or null when the type is not in its catalog. */
export async function catalogEntry(
	db: Database,
	tenantId: string,
	name: string,
): Promise<{ example: Record<string, unknown> | null } | null> {
	const [row] = await db
		.select({ example: eventTypes.example })
		.from(eventTypes)
		.where(and(eq(eventTypes.tenantId, tenantId), eq(eventTypes.name, name)));
	return row ? { example: parseObject(row.example) } : null;
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
	description:
		"409 `conflict` when the name is taken; 409 `limit_reached` when the catalog already holds the tenant's `max_event_types` (the built-in types do not count). Nothing is stored.",
	request: { body: jsonBody(EventTypeIn) },
	responses: {
		201: jsonContent(EventTypeOut, "The event type"),
		...errorResponses(400, 401, 409, 415, 422),
	},
});

const NameParam = z.object({ name: z.string().min(1).max(128) });

const patchRoute = createRoute({
	method: "patch",
	path: "/v1/event-types/{name}",
	tags: ["Event types"],
	summary: "Change an event type's description, schema or example",
	description: "Fields named replace the stored ones; `schema` or `example` set to null removes it.",
	request: { params: NameParam, body: jsonBody(EventTypePatch) },
	responses: {
		200: jsonContent(EventTypeOut, "The event type"),
		...errorResponses(400, 401, 404, 409, 415, 422),
	},
});

const deleteRoute = createRoute({
	method: "delete",
	path: "/v1/event-types/{name}",
	tags: ["Event types"],
	summary: "Remove an event type from the catalog",
	request: { params: NameParam },
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
		const { max_event_types: limit } = await tenantLimits(c.env, c.var.tenantId);
		// Counted inside the INSERT, so two creates at once cannot both take the last place.
		const [row] = await c.var.db
			.insert(eventTypes)
			.select(
				rowWhere(
					eventTypes,
					{
						tenantId: c.var.tenantId,
						name: input.name,
						description: input.description ?? "",
						schema: input.schema === undefined ? null : JSON.stringify(input.schema),
						example: input.example === undefined ? null : JSON.stringify(input.example),
						createdAt: Date.now(),
					},
					tenantCountBelow(eventTypes, eventTypes.tenantId, c.var.tenantId, limit),
				),
			)
			.onConflictDoNothing()
			.returning();
		if (!row) {
			// Nothing inserted: the name is taken (the answer even at the limit) or the catalog is full.
			if (await catalogEntry(c.var.db, c.var.tenantId, input.name)) {
				throw new ApiError("conflict", `event type ${input.name} already exists`);
			}
			throw limitReached("max_event_types", limit);
		}
		return c.json(eventTypeOut(row), 201);
	})
	.openapi(patchRoute, async (c) => {
		const { name } = c.req.valid("param");
		const patch = c.req.valid("json");
		if (isOperationalEventType(name)) throw new ApiError("conflict", `event type ${name} is built in`);
		const where = and(eq(eventTypes.tenantId, c.var.tenantId), eq(eventTypes.name, name));
		const changes = {
			description: patch.description,
			schema: patch.schema === undefined ? undefined : patch.schema === null ? null : JSON.stringify(patch.schema),
			example: patch.example === undefined ? undefined : patch.example === null ? null : JSON.stringify(patch.example),
		};
		// drizzle refuses an UPDATE that sets nothing, so an empty patch only reads.
		const nothingToSet = Object.values(changes).every((value) => value === undefined);
		const [row] = nothingToSet
			? await c.var.db.select().from(eventTypes).where(where)
			: await c.var.db.update(eventTypes).set(changes).where(where).returning();
		if (!row) throw notFound("event type", name);
		return c.json(eventTypeOut(row), 200);
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
	})
	.route("/", recentEventTypeRoutes)
	.route("/", catalogEventTypeRoutes);
