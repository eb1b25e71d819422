import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, eq, gt, isNull } from "drizzle-orm";
import { forgetApiKey } from "../../auth/authenticate";
import { apiKeys, tenants } from "../../db/schema";
import { chooseShard, controlDatabase, forgetTenantPlacement, writeTenantCopy } from "../../db/tenant-database";
import { DEFAULT_TENANT_ID, getTenantOr404 } from "../../db/tenants";
import { ApiError, notFound } from "../../lib/errors";
import { newTenantId } from "../../lib/ids";
import { patchedLimitOverrides, storedLimitOverrides, storedTenantSettings } from "../../tenants/limits";
import { startTenantPurge } from "../../tenants/purge";
import { createRouter, errorResponses, IdParam, jsonBody, jsonContent, PaginationQuery } from "../shared";
import { patchedSettings, TenantIn, TenantOut, TenantPatch, tenantOut } from "./schemas";

const tags = ["Tenants"];

const createTenantRoute = createRoute({
	method: "post",
	path: "/v1/tenants",
	tags,
	summary: "Create a tenant (admin key only)",
	description: "`limits` left out are the defaults; only the admin key can change them, a tenant key cannot.",
	request: { body: jsonBody(TenantIn) },
	responses: { 201: jsonContent(TenantOut, "The tenant"), ...errorResponses(400, 401, 403, 415, 422) },
});

const listTenantsRoute = createRoute({
	method: "get",
	path: "/v1/tenants",
	tags,
	summary: "List tenants (admin key only)",
	request: { query: PaginationQuery },
	responses: {
		200: jsonContent(
			z.object({ tenants: z.array(TenantOut), next_cursor: z.string().nullable() }).openapi("TenantList"),
			"Tenants in order of their ids",
		),
		...errorResponses(401, 403, 422),
	},
});

const getTenantRoute = createRoute({
	method: "get",
	path: "/v1/tenants/{id}",
	tags,
	summary: "Get a tenant (admin key only)",
	request: { params: IdParam },
	responses: { 200: jsonContent(TenantOut, "The tenant"), ...errorResponses(401, 403, 404) },
});

const patchTenantRoute = createRoute({
	method: "patch",
	path: "/v1/tenants/{id}",
	tags,
	summary: "Rename a tenant or change its settings or limits (admin key only)",
	description:
		"`settings` and `limits` fields named here replace the current ones; a field set to null goes back to its default. A limit lowered below what the tenant already has keeps what exists and refuses new ones.",
	request: { params: IdParam, body: jsonBody(TenantPatch) },
	responses: { 200: jsonContent(TenantOut, "The tenant"), ...errorResponses(400, 401, 403, 404, 415, 422) },
});

const deleteTenantRoute = createRoute({
	method: "delete",
	path: "/v1/tenants/{id}",
	tags,
	summary: "Delete a tenant and all its data (admin key only)",
	description:
		"At once: the tenant answers 404, its keys stop working and nothing more is delivered for it. Its rows are then removed in the background, in bounded slices.",
	request: { params: IdParam },
	responses: {
		202: jsonContent(
			z.object({ id: z.string(), status: z.literal("deleting") }).openapi("TenantDeleted"),
			"Deleted; its data is being removed",
		),
		...errorResponses(401, 403, 404, 409),
	},
});

export const tenantRoutes = createRouter()
	.openapi(createTenantRoute, async (c) => {
		const input = c.req.valid("json");
		const now = Date.now();
		const tenant = {
			id: newTenantId(),
			name: input.name,
			settings: storedTenantSettings(input.settings ?? {}, input.limits ?? {}),
			createdAt: now,
			updatedAt: now,
			deletedAt: null,
			shard: await chooseShard(c.env, input.shard),
			uid: null,
			metadata: "{}",
		};
		// The shard's copy first: until the control row exists, nothing refers to it.
		await writeTenantCopy(c.env, tenant);
		const [row] = await controlDatabase(c.env).insert(tenants).values(tenant).returning();
		if (!row) throw new ApiError("internal_error", "the tenant was not stored");
		forgetTenantPlacement(row.id);
		return c.json(tenantOut(row), 201);
	})
	.openapi(listTenantsRoute, async (c) => {
		const { limit, cursor } = c.req.valid("query");
		const rows = await controlDatabase(c.env)
			.select()
			.from(tenants)
			.where(and(isNull(tenants.deletedAt), cursor ? gt(tenants.id, cursor) : undefined))
			.orderBy(asc(tenants.id))
			.limit(limit + 1);
		const page = rows.slice(0, limit);
		const last = page.at(-1);
		return c.json({ tenants: page.map(tenantOut), next_cursor: rows.length > limit && last ? last.id : null }, 200);
	})
	.openapi(getTenantRoute, async (c) => {
		return c.json(tenantOut(await getTenantOr404(controlDatabase(c.env), c.req.valid("param").id)), 200);
	})
	.openapi(patchTenantRoute, async (c) => {
		const { id } = c.req.valid("param");
		const patch = c.req.valid("json");
		const db = controlDatabase(c.env);
		const existing = await getTenantOr404(db, id);
		const changed = {
			...existing,
			name: patch.name ?? existing.name,
			settings:
				patch.settings || patch.limits
					? storedTenantSettings(
							patchedSettings(existing.settings, patch.settings),
							patchedLimitOverrides(storedLimitOverrides(existing.settings), patch.limits),
						)
					: existing.settings,
			updatedAt: Date.now(),
		};
		const [row] = await db
			.update(tenants)
			.set({ name: changed.name, settings: changed.settings, updatedAt: changed.updatedAt })
			.where(and(eq(tenants.id, id), isNull(tenants.deletedAt)))
			.returning();
		if (!row) throw notFound("tenant", id);
		await writeTenantCopy(c.env, row);
		return c.json(tenantOut(row), 200);
	})
	.openapi(deleteTenantRoute, async (c) => {
		const { id } = c.req.valid("param");
		if (id === DEFAULT_TENANT_ID) throw new ApiError("conflict", "the built-in tenant default cannot be deleted");
		const db = controlDatabase(c.env);
		const existing = await getTenantOr404(db, id);
		const now = Date.now();
		const revoked = await db.delete(apiKeys).where(eq(apiKeys.tenantId, id)).returning({ hash: apiKeys.hash });
		for (const { hash } of revoked) forgetApiKey(hash);
		await db.update(tenants).set({ deletedAt: now, updatedAt: now }).where(eq(tenants.id, id));
		forgetTenantPlacement(id);
		// After the control row: a copy marked deleted while the tenant is still live would drop its deliveries.
		await writeTenantCopy(c.env, { ...existing, deletedAt: now, updatedAt: now });
		await startTenantPurge(c.env, id);
		return c.json({ id, status: "deleting" as const }, 202);
	});
