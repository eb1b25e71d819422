import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../../lib/errors";
import { Description, FeatureFlags, GroupName, Schemas } from "../../routes/event-types/catalog";
import { EventTypeName } from "../../routes/events/schemas";
import { svixCoded } from "../errors";
import { nativeOrder, pageBothWays, SvixListQuery, svixListSchema } from "../paging";
import { createSvixRouter, requiredJsonBody, type SvixEnv, svixErrors, svixJson } from "../router";

/*
 * Svix event types are the deployment's catalog (/v1/catalog/event-types):
 * organisation wide, read by every key, written with the admin key.
 */

const tags = ["Event Type"];

interface NativeCatalogEventType {
	name: string;
	description: string;
	archived: boolean;
	deprecated: boolean;
	schemas: Record<string, unknown> | null;
	group_name: string | null;
	feature_flags: string[] | null;
	created_at: string;
	updated_at: string;
}

const RENAMES = { group_name: "groupName", feature_flags: "featureFlags" } as const;

const EventTypeOut = z
	.object({
		name: z.string(),
		description: z.string(),
		archived: z.boolean(),
		deprecated: z.boolean(),
		schemas: z.record(z.string(), z.unknown()).nullable().optional(),
		groupName: z.string().nullable(),
		featureFlags: z.array(z.string()).nullable(),
		featureFlag: z.string().nullable().openapi({ description: "Deprecated: the first of featureFlags" }),
		createdAt: z.string(),
		updatedAt: z.string(),
	})
	.openapi("EventTypeOut");

const FeatureFlag = z.string().min(1).max(256).openapi({ description: "Deprecated: one feature flag" });

const EventTypeFields = {
	archived: z.boolean().optional(),
	deprecated: z.boolean().optional(),
	schemas: Schemas.nullable().optional(),
	groupName: GroupName.nullable().optional(),
	featureFlags: FeatureFlags.nullable().optional(),
	featureFlag: FeatureFlag.nullable().optional(),
};

const EventTypeIn = z
	.object({ name: EventTypeName, description: Description, ...EventTypeFields })
	.openapi("EventTypeIn");
const EventTypeUpsertIn = z.object({ description: Description, ...EventTypeFields }).openapi("EventTypeUpsertIn");
const EventTypePatch = z.object({ description: Description.optional(), ...EventTypeFields }).openapi("EventTypePatch");

type EventTypeFieldsIn = z.infer<typeof EventTypePatch>;

const NamePath = z.object({ event_type_name: EventTypeName });

const Flag = z
	.enum(["true", "false"])
	.optional()
	.transform((value) => value === "true");

function eventTypeOut(native: NativeCatalogEventType, withContent = true): z.infer<typeof EventTypeOut> {
	return {
		name: native.name,
		description: native.description,
		archived: native.archived,
		deprecated: native.deprecated,
		...(withContent ? { schemas: native.schemas } : {}),
		groupName: native.group_name,
		featureFlags: native.feature_flags,
		featureFlag: native.feature_flags?.[0] ?? null,
		createdAt: native.created_at,
		updatedAt: native.updated_at,
	};
}

/** The native fields of a Svix body; `featureFlag` (one flag) stands in for `featureFlags` when that is left out. */
function nativeFields(body: EventTypeFieldsIn): Record<string, unknown> {
	const featureFlags =
		body.featureFlags !== undefined
			? body.featureFlags
			: body.featureFlag === undefined
				? undefined
				: body.featureFlag === null
					? null
					: [body.featureFlag];
	return {
		description: body.description,
		archived: body.archived,
		deprecated: body.deprecated,
		schemas: body.schemas,
		group_name: body.groupName,
		feature_flags: featureFlags,
	};
}

function catalogPath(name: string): string {
	return `/v1/catalog/event-types/${encodeURIComponent(name)}`;
}

/** A live duplicate answers Svix's own code for it. */
function asEventTypeExists(error: unknown): unknown {
	return error instanceof ApiError && error.code === "conflict"
		? svixCoded("conflict", "event_type_exists", error.message)
		: error;
}

async function callCatalog(c: Context<SvixEnv>, method: "POST" | "PUT" | "PATCH", path: string, body: unknown) {
	try {
		return await c.var.native.call<NativeCatalogEventType>({ method, path, body, renames: RENAMES });
	} catch (error) {
		throw asEventTypeExists(error);
	}
}

const listRoute = createRoute({
	method: "get",
	path: "/api/v1/event-type",
	tags,
	summary: "List event types",
	description: "By name; archived ones only with include_archived=true; with_content=false leaves schemas out.",
	request: {
		query: SvixListQuery.extend({
			include_archived: Flag,
			with_content: z
				.enum(["true", "false"])
				.optional()
				.transform((value) => value !== "false"),
		}),
	},
	responses: { 200: svixJson(svixListSchema(EventTypeOut, "ListResponseEventTypeOut"), "A page"), ...svixErrors() },
});

const createEventTypeRoute = createRoute({
	method: "post",
	path: "/api/v1/event-type",
	tags,
	summary: "Create an event type",
	description:
		"Creating an archived event type's name again replaces and unarchives it; a live one answers 409 `event_type_exists`. Admin key only.",
	request: { body: requiredJsonBody(EventTypeIn) },
	responses: { 201: svixJson(EventTypeOut, "Created"), ...svixErrors(409) },
});

const getRoute = createRoute({
	method: "get",
	path: "/api/v1/event-type/{event_type_name}",
	tags,
	summary: "Get an event type, archived or not",
	request: { params: NamePath },
	responses: { 200: svixJson(EventTypeOut, "The event type"), ...svixErrors() },
});

const putRoute = createRoute({
	method: "put",
	path: "/api/v1/event-type/{event_type_name}",
	tags,
	summary: "Create or replace an event type",
	description: "200 when it existed, 201 when it was created. Admin key only.",
	request: { params: NamePath, body: requiredJsonBody(EventTypeUpsertIn) },
	responses: { 200: svixJson(EventTypeOut, "Replaced"), 201: svixJson(EventTypeOut, "Created"), ...svixErrors(409) },
});

const patchRoute = createRoute({
	method: "patch",
	path: "/api/v1/event-type/{event_type_name}",
	tags,
	summary: "Change fields of an event type",
	description: "Fields left out stay; null clears schemas, groupName or featureFlags. Admin key only.",
	request: { params: NamePath, body: requiredJsonBody(EventTypePatch) },
	responses: { 200: svixJson(EventTypeOut, "The event type"), ...svixErrors() },
});

const deleteRoute = createRoute({
	method: "delete",
	path: "/api/v1/event-type/{event_type_name}",
	tags,
	summary: "Archive an event type, or delete it with expunge=true",
	description: "Admin key only.",
	request: { params: NamePath, query: z.object({ expunge: Flag }) },
	responses: { 204: { description: "Archived or deleted" }, ...svixErrors() },
});

export const eventTypesRoutes = createSvixRouter()
	.openapi(listRoute, async (c) => {
		const {
			limit,
			iterator,
			order,
			include_archived: includeArchived,
			with_content: withContent,
		} = c.req.valid("query");
		const list = await pageBothWays(
			iterator,
			nativeOrder(order) ?? "asc",
			async (direction, cursor) => {
				const page = await c.var.native.call<{ event_types: NativeCatalogEventType[]; next_cursor: string | null }>({
					method: "GET",
					path: "/v1/catalog/event-types",
					query: { limit, cursor, order: direction, include_archived: includeArchived },
				});
				return { items: page.body.event_types, more: page.body.next_cursor !== null };
			},
			(eventType) => eventType.name,
			(eventType) => eventTypeOut(eventType, withContent),
		);
		return c.json(list, 200);
	})
	.openapi(createEventTypeRoute, async (c) => {
		const { name, ...fields } = c.req.valid("json");
		const created = await callCatalog(c, "POST", "/v1/catalog/event-types", { name, ...nativeFields(fields) });
		return c.json(eventTypeOut(created.body), 201);
	})
	.openapi(getRoute, async (c) => {
		const eventType = await c.var.native.call<NativeCatalogEventType>({
			method: "GET",
			path: catalogPath(c.req.valid("param").event_type_name),
		});
		return c.json(eventTypeOut(eventType.body), 200);
	})
	.openapi(putRoute, async (c) => {
		const stored = await callCatalog(
			c,
			"PUT",
			catalogPath(c.req.valid("param").event_type_name),
			nativeFields(c.req.valid("json")),
		);
		return stored.status === 201 ? c.json(eventTypeOut(stored.body), 201) : c.json(eventTypeOut(stored.body), 200);
	})
	.openapi(patchRoute, async (c) => {
		const patched = await callCatalog(
			c,
			"PATCH",
			catalogPath(c.req.valid("param").event_type_name),
			nativeFields(c.req.valid("json")),
		);
		return c.json(eventTypeOut(patched.body), 200);
	})
	.openapi(deleteRoute, async (c) => {
		await c.var.native.call({
			method: "DELETE",
			path: catalogPath(c.req.valid("param").event_type_name),
			query: { expunge: c.req.valid("query").expunge },
		});
		return c.body(null, 204);
	});
