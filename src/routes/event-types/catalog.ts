import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, lt, sql } from "drizzle-orm";
import type { Principal } from "../../auth/authenticate";
import { type CatalogEventTypeRow, catalogEventTypes } from "../../db/schema";
import { controlDatabase } from "../../db/tenant-database";
import { isOperationalEventType } from "../../delivery/operational-events";
import { ApiError, notFound } from "../../lib/errors";
import { EventTypeName } from "../events/schemas";
import { createRouter, errorResponses, iso, jsonBody, jsonContent, PaginationQuery } from "../shared";

/*
 * The deployment's event type catalog (a Svix organisation's event types):
 * one list every tenant reads, kept in the control database and written
 * with the admin key only. Each tenant's own catalog (/v1/event-types) stays
 * beside it. An event type is archived rather than deleted unless asked:
 * archived ones leave the list but keep their name and description, and
 * creating one again brings it back.
 */

const tags = ["Event type catalog"];

export const Schemas = z
	.record(z.string(), z.unknown())
	.openapi({ description: "JSON Schemas of the payload by version (Svix `schemas`), as given", example: { "1": {} } });
export const GroupName = z
	.string()
	.min(1)
	.max(256)
	.openapi({ description: "A heading to group event types under", example: "user" });
const FeatureFlag = z
	.string()
	.min(1)
	.max(256)
	.regex(/^[a-zA-Z0-9\-_.]+$/, "must be letters, digits, -, _ or .");
export const FeatureFlags = z
	.array(FeatureFlag)
	.min(1)
	.max(10)
	.openapi({
		description: "Feature flags that show this event type, as given (Svix `featureFlags`)",
		example: ["beta"],
	});
export const Description = z.string().max(1024);

const CatalogEventTypeFields = {
	description: Description.optional().openapi({ description: "Default empty" }),
	archived: z.boolean().optional().openapi({ description: "Default false; an archived event type leaves the list" }),
	deprecated: z.boolean().optional().openapi({ description: "Default false" }),
	schemas: Schemas.nullable().optional(),
	group_name: GroupName.nullable().optional(),
	feature_flags: FeatureFlags.nullable().optional(),
};

const CatalogEventTypeIn = z
	.strictObject({ name: EventTypeName, ...CatalogEventTypeFields })
	.openapi("CatalogEventTypeIn");

/** A PUT's body: the whole event type but its name, which the path gives. */
const CatalogEventTypeUpsert = z.strictObject(CatalogEventTypeFields).openapi("CatalogEventTypeUpsert");

/** Fields named replace the stored ones; null clears schemas, group_name or feature_flags. */
const CatalogEventTypePatch = z.strictObject(CatalogEventTypeFields).openapi("CatalogEventTypePatch");

const CatalogEventTypeOut = z
	.object({
		name: z.string(),
		description: z.string(),
		archived: z.boolean(),
		deprecated: z.boolean(),
		schemas: z.record(z.string(), z.unknown()).nullable(),
		group_name: z.string().nullable(),
		feature_flags: z.array(z.string()).nullable(),
		created_at: z.string(),
		updated_at: z.string(),
	})
	.openapi("CatalogEventTypeOut");

type CatalogEventTypeFieldsIn = z.infer<typeof CatalogEventTypeUpsert>;

function parseJson<T>(json: string | null): T | null {
	return json === null ? null : (JSON.parse(json) as T);
}

function jsonOrNull(value: unknown): string | null {
	return value === null || value === undefined ? null : JSON.stringify(value);
}

function catalogEventTypeOut(row: CatalogEventTypeRow): z.infer<typeof CatalogEventTypeOut> {
	return {
		name: row.name,
		description: row.description,
		archived: row.archived,
		deprecated: row.deprecated,
		schemas: parseJson<Record<string, unknown>>(row.schemas),
		group_name: row.groupName,
		feature_flags: parseJson<string[]>(row.featureFlags),
		created_at: iso(row.createdAt),
		updated_at: iso(row.updatedAt),
	};
}

/** The whole row a create or PUT stores: what the body leaves out takes its default. */
function fullRow(name: string, input: CatalogEventTypeFieldsIn, nowMs: number): CatalogEventTypeRow {
	return {
		name,
		description: input.description ?? "",
		archived: input.archived ?? false,
		deprecated: input.deprecated ?? false,
		schemas: jsonOrNull(input.schemas),
		groupName: input.group_name ?? null,
		featureFlags: jsonOrNull(input.feature_flags),
		createdAt: nowMs,
		updatedAt: nowMs,
	};
}

/** Every column but the name and creation time, as a create or PUT replaces them. */
function replacedColumns(row: CatalogEventTypeRow) {
	return {
		description: row.description,
		archived: row.archived,
		deprecated: row.deprecated,
		schemas: row.schemas,
		groupName: row.groupName,
		featureFlags: row.featureFlags,
		updatedAt: row.updatedAt,
	};
}

function requireAdmin(principal: Principal): void {
	if (principal.kind !== "admin") {
		throw new ApiError("forbidden", "the deployment's event type catalog is changed with the admin key only");
	}
}

function refuseBuiltIn(name: string): void {
	if (isOperationalEventType(name)) {
		throw new ApiError("conflict", `event type ${name} is built in: Edgehook sends it itself`);
	}
}

const NameParam = z.object({ name: EventTypeName });

const listRoute = createRoute({
	method: "get",
	path: "/v1/catalog/event-types",
	tags,
	summary: "List the deployment's event type catalog (any key)",
	request: {
		query: PaginationQuery.extend({
			include_archived: z
				.enum(["true", "false"])
				.default("false")
				.transform((value) => value === "true")
				.openapi({ description: "List archived event types too" }),
			order: z.enum(["asc", "desc"]).default("asc").openapi({ description: "By name" }),
		}),
	},
	responses: {
		200: jsonContent(
			z
				.object({ event_types: z.array(CatalogEventTypeOut), next_cursor: z.string().nullable() })
				.openapi("CatalogEventTypeList"),
			"Event types by name",
		),
		...errorResponses(401, 422),
	},
});

const getRoute = createRoute({
	method: "get",
	path: "/v1/catalog/event-types/{name}",
	tags,
	summary: "Get an event type of the catalog, archived or not (any key)",
	request: { params: NameParam },
	responses: { 200: jsonContent(CatalogEventTypeOut, "The event type"), ...errorResponses(401, 404, 422) },
});

const createCatalogRoute = createRoute({
	method: "post",
	path: "/v1/catalog/event-types",
	tags,
	summary: "Add an event type to the deployment's catalog (admin key only)",
	description:
		"Creating an archived event type's name again replaces it and brings it back; a live one answers 409 `conflict`.",
	request: { body: jsonBody(CatalogEventTypeIn) },
	responses: { 201: jsonContent(CatalogEventTypeOut, "The event type"), ...errorResponses(400, 401, 409, 415, 422) },
});

const putRoute = createRoute({
	method: "put",
	path: "/v1/catalog/event-types/{name}",
	tags,
	summary: "Create or replace an event type of the catalog (admin key only)",
	description: "200 when it existed (archived or not), 201 when it was created. Fields left out take their defaults.",
	request: { params: NameParam, body: jsonBody(CatalogEventTypeUpsert) },
	responses: {
		200: jsonContent(CatalogEventTypeOut, "Replaced"),
		201: jsonContent(CatalogEventTypeOut, "Created"),
		...errorResponses(400, 401, 409, 415, 422),
	},
});

const patchRoute = createRoute({
	method: "patch",
	path: "/v1/catalog/event-types/{name}",
	tags,
	summary: "Change fields of an event type of the catalog (admin key only)",
	description: "Fields named replace the stored ones; `archived: false` brings an archived one back.",
	request: { params: NameParam, body: jsonBody(CatalogEventTypePatch) },
	responses: { 200: jsonContent(CatalogEventTypeOut, "The event type"), ...errorResponses(400, 401, 404, 415, 422) },
});

const deleteRoute = createRoute({
	method: "delete",
	path: "/v1/catalog/event-types/{name}",
	tags,
	summary: "Archive an event type of the catalog, or remove it with expunge=true (admin key only)",
	request: {
		params: NameParam,
		query: z.object({
			expunge: z
				.enum(["true", "false"])
				.default("false")
				.transform((value) => value === "true")
				.openapi({ description: "Delete the event type for good instead of archiving it" }),
		}),
	},
	responses: { 204: { description: "Archived or removed" }, ...errorResponses(401, 404, 422) },
});

export const catalogEventTypeRoutes = createRouter()
	.openapi(listRoute, async (c) => {
		const { limit, cursor, include_archived: includeArchived, order } = c.req.valid("query");
		const ascending = order === "asc";
		const after = ascending ? gt : lt;
		const rows = await controlDatabase(c.env)
			.select()
			.from(catalogEventTypes)
			.where(
				and(
					includeArchived ? undefined : eq(catalogEventTypes.archived, false),
					cursor ? after(catalogEventTypes.name, cursor) : undefined,
				),
			)
			.orderBy(ascending ? asc(catalogEventTypes.name) : desc(catalogEventTypes.name))
			.limit(limit + 1);
		const page = rows.slice(0, limit);
		const last = page.at(-1);
		return c.json(
			{ event_types: page.map(catalogEventTypeOut), next_cursor: rows.length > limit && last ? last.name : null },
			200,
		);
	})
	.openapi(getRoute, async (c) => {
		const { name } = c.req.valid("param");
		const [row] = await controlDatabase(c.env).select().from(catalogEventTypes).where(eq(catalogEventTypes.name, name));
		if (!row) throw notFound("event type", name);
		return c.json(catalogEventTypeOut(row), 200);
	})
	.openapi(createCatalogRoute, async (c) => {
		requireAdmin(c.var.principal);
		const { name, ...fields } = c.req.valid("json");
		refuseBuiltIn(name);
		const row = fullRow(name, fields, Date.now());
		// One statement: a live name stays as it is (nothing returned), an archived one is replaced and unarchived.
		const [stored] = await controlDatabase(c.env)
			.insert(catalogEventTypes)
			.values(row)
			.onConflictDoUpdate({
				target: catalogEventTypes.name,
				set: replacedColumns(row),
				setWhere: sql`${catalogEventTypes.archived} = 1`,
			})
			.returning();
		if (!stored) throw new ApiError("conflict", `event type ${name} already exists`);
		return c.json(catalogEventTypeOut(stored), 201);
	})
	.openapi(putRoute, async (c) => {
		requireAdmin(c.var.principal);
		const { name } = c.req.valid("param");
		refuseBuiltIn(name);
		const db = controlDatabase(c.env);
		const row = fullRow(name, c.req.valid("json"), Date.now());
		// Read first only to choose 200 or 201; the upsert itself is one statement.
		const [existed] = await db
			.select({ name: catalogEventTypes.name })
			.from(catalogEventTypes)
			.where(eq(catalogEventTypes.name, name));
		const [stored] = await db
			.insert(catalogEventTypes)
			.values(row)
			.onConflictDoUpdate({ target: catalogEventTypes.name, set: replacedColumns(row) })
			.returning();
		if (!stored) throw new ApiError("internal_error", "the event type was not stored");
		return existed ? c.json(catalogEventTypeOut(stored), 200) : c.json(catalogEventTypeOut(stored), 201);
	})
	.openapi(patchRoute, async (c) => {
		requireAdmin(c.var.principal);
		const { name } = c.req.valid("param");
		const patch = c.req.valid("json");
		const db = controlDatabase(c.env);
		const where = eq(catalogEventTypes.name, name);
		const changes = {
			description: patch.description,
			archived: patch.archived,
			deprecated: patch.deprecated,
			schemas: patch.schemas === undefined ? undefined : jsonOrNull(patch.schemas),
			groupName: patch.group_name,
			featureFlags: patch.feature_flags === undefined ? undefined : jsonOrNull(patch.feature_flags),
		};
		// drizzle refuses an UPDATE that sets nothing, so an empty patch only reads.
		const nothingToSet = Object.values(changes).every((value) => value === undefined);
		const [row] = nothingToSet
			? await db.select().from(catalogEventTypes).where(where)
			: await db
					.update(catalogEventTypes)
					.set({ ...changes, updatedAt: Date.now() })
					.where(where)
					.returning();
		if (!row) throw notFound("event type", name);
		return c.json(catalogEventTypeOut(row), 200);
	})
	.openapi(deleteRoute, async (c) => {
		requireAdmin(c.var.principal);
		const { name } = c.req.valid("param");
		const { expunge } = c.req.valid("query");
		const db = controlDatabase(c.env);
		const where = eq(catalogEventTypes.name, name);
		const touched = expunge
			? await db.delete(catalogEventTypes).where(where).returning({ name: catalogEventTypes.name })
			: await db
					.update(catalogEventTypes)
					.set({ archived: true, updatedAt: Date.now() })
					.where(where)
					.returning({ name: catalogEventTypes.name });
		if (touched.length === 0) throw notFound("event type", name);
		return c.body(null, 204);
	});
