import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, isNull, lt } from "drizzle-orm";
import { forgetApiKey } from "../../auth/authenticate";
import { apiKeys, type TenantRow, tenants } from "../../db/schema";
import {
	CONTROL_SHARD,
	chooseShard,
	controlDatabase,
	forgetTenantPlacement,
	shardDatabase,
	writeTenantCopy,
} from "../../db/tenant-database";
import {
	DEFAULT_TENANT_ID,
	endpointPresence,
	getTenantByRefOr404,
	getTenantOr404,
	insertTenantClaimingUid,
	markTenantDeleted,
	tenantIdOfUid,
	uidTaken,
	updateTenantClaimingUid,
} from "../../db/tenants";
import { ApiError } from "../../lib/errors";
import { groupBy } from "../../lib/group";
import { newTenantId } from "../../lib/ids";
import { patchedLimitOverrides, storedLimitOverrides, storedTenantSettings } from "../../tenants/limits";
import { startTenantPurge } from "../../tenants/purge";
import { createRouter, errorResponses, jsonBody, jsonContent, PaginationQuery } from "../shared";
import { patchedSettings, TenantIn, TenantOut, TenantPatch, TenantRef, tenantOut } from "./schemas";

const TenantListQuery = PaginationQuery.extend({
	order: z
		.enum(["asc", "desc"])
		.default("asc")
		.openapi({ description: "By id; the cursor pages on in the same order" }),
	exclude_without_endpoints: z
		.enum(["true", "false"])
		.default("false")
		.transform((value) => value === "true")
		.openapi({ description: "Leave out tenants that have no endpoint" }),
	exclude_with_disabled_endpoints: z
		.enum(["true", "false"])
		.default("false")
		.transform((value) => value === "true")
		.openapi({ description: "Leave out tenants that have a disabled endpoint" }),
});

/**
 * The tenants of a page that pass the endpoint filters, asking each shard
 * about its own tenants of the page only. A filtered page may be shorter
 * than the limit, or empty, while the cursor still pages on.
 */
async function withEndpointFilters(
	env: Env,
	page: TenantRow[],
	filters: { excludeWithoutEndpoints: boolean; excludeWithDisabled: boolean },
): Promise<TenantRow[]> {
	if (!filters.excludeWithoutEndpoints && !filters.excludeWithDisabled) return page;
	const byShard = groupBy(page, (row) => row.shard);
	const withEndpoints = new Set<string>();
	const withDisabled = new Set<string>();
	for (const [shard, rows] of byShard) {
		const presence = await endpointPresence(
			shardDatabase(env, shard),
			rows.map((row) => row.id),
		);
		for (const id of presence.withEndpoints) withEndpoints.add(id);
		for (const id of presence.withDisabled) withDisabled.add(id);
	}
	return page.filter(
		(row) =>
			!(filters.excludeWithoutEndpoints && !withEndpoints.has(row.id)) &&
			!(filters.excludeWithDisabled && withDisabled.has(row.id)),
	);
}

/**
 * Applies a PATCH to a live tenant: the control row first (with its uid
 * claim), then the shard's copy. Shared by /v1/tenants/{id} and /v1/tenant.
 */
export async function patchTenant(
	env: Env,
	existing: TenantRow,
	patch: z.infer<typeof TenantPatch>,
): Promise<TenantRow> {
	const control = controlDatabase(env);
	const uid = patch.uid === undefined ? existing.uid : patch.uid;
	// Read first so that the common case answers 409 with the uid named; the batch below is what decides.
	if (uid !== null && uid !== existing.uid && (await tenantIdOfUid(control, uid)) !== null) throw uidTaken(uid);
	const row = await updateTenantClaimingUid(control, existing, {
		name: patch.name ?? existing.name,
		uid,
		metadata: patch.metadata === undefined ? existing.metadata : JSON.stringify(patch.metadata),
		settings:
			patch.settings || patch.limits
				? storedTenantSettings(
						patchedSettings(existing.settings, patch.settings),
						patchedLimitOverrides(storedLimitOverrides(existing.settings), patch.limits),
					)
				: existing.settings,
		updatedAt: Date.now(),
	});
	if (!row) {
		await getTenantOr404(control, existing.id);
		throw uidTaken(uid ?? "");
	}
	await writeTenantCopy(env, row);
	return row;
}

const tags = ["Tenants"];

const createTenantRoute = createRoute({
	method: "post",
	path: "/v1/tenants",
	tags,
	summary: "Create a tenant (admin key only)",
	description:
		"`limits` left out are the defaults; only the admin key can change them, a tenant key cannot. 409 `conflict` when another live tenant has the `uid`; nothing is stored.",
	request: { body: jsonBody(TenantIn) },
	responses: { 201: jsonContent(TenantOut, "The tenant"), ...errorResponses(400, 401, 403, 409, 415, 422) },
});

const listTenantsRoute = createRoute({
	method: "get",
	path: "/v1/tenants",
	tags,
	summary: "List tenants (admin key only)",
	request: { query: TenantListQuery },
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
	summary: "Get a tenant by id or uid (admin key only)",
	request: { params: TenantRef },
	responses: { 200: jsonContent(TenantOut, "The tenant"), ...errorResponses(401, 403, 404) },
});

const patchTenantRoute = createRoute({
	method: "patch",
	path: "/v1/tenants/{id}",
	tags,
	summary: "Rename a tenant or change its uid, metadata, settings or limits (admin key only)",
	description:
		"`settings` and `limits` fields named here replace the current ones; a field set to null goes back to its default. A limit lowered below what the tenant already has keeps what exists and refuses new ones. `uid: null` frees the uid; a uid another live tenant has answers 409 `conflict` and changes nothing.",
	request: { params: TenantRef, body: jsonBody(TenantPatch) },
	responses: { 200: jsonContent(TenantOut, "The tenant"), ...errorResponses(400, 401, 403, 404, 409, 415, 422) },
});

const deleteTenantRoute = createRoute({
	method: "delete",
	path: "/v1/tenants/{id}",
	tags,
	summary: "Delete a tenant and all its data (admin key only)",
	description:
		"At once: the tenant answers 404, its keys stop working, its uid is free for another tenant and nothing more is delivered for it. Its rows are then removed in the background, in bounded slices.",
	request: { params: TenantRef },
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
		const control = controlDatabase(c.env);
		const uid = input.uid ?? null;
		// Checked before the shard's copy is written, so a taken uid usually leaves nothing behind.
		if (uid !== null && (await tenantIdOfUid(control, uid)) !== null) throw uidTaken(uid);
		const now = Date.now();
		const tenant: TenantRow = {
			id: newTenantId(),
			name: input.name,
			settings: storedTenantSettings(input.settings ?? {}, input.limits ?? {}),
			createdAt: now,
			updatedAt: now,
			deletedAt: null,
			shard: await chooseShard(c.env, input.shard),
			uid,
			metadata: JSON.stringify(input.metadata ?? {}),
		};
		// The shard's copy first: until the control row exists, nothing refers to it.
		await writeTenantCopy(c.env, tenant);
		const row = await insertTenantClaimingUid(control, tenant);
		if (!row) {
			// Another create took the uid in between: its copy would be the only trace of this one.
			if (tenant.shard !== CONTROL_SHARD)
				await shardDatabase(c.env, tenant.shard).delete(tenants).where(eq(tenants.id, tenant.id));
			throw uidTaken(uid ?? "");
		}
		forgetTenantPlacement(row.id);
		return c.json(tenantOut(row), 201);
	})
	.openapi(listTenantsRoute, async (c) => {
		const query = c.req.valid("query");
		const { limit, cursor, order } = query;
		const ascending = order === "asc";
		const after = ascending ? gt : lt;
		const rows = await controlDatabase(c.env)
			.select()
			.from(tenants)
			.where(and(isNull(tenants.deletedAt), cursor ? after(tenants.id, cursor) : undefined))
			.orderBy(ascending ? asc(tenants.id) : desc(tenants.id))
			.limit(limit + 1);
		const page = rows.slice(0, limit);
		const last = page.at(-1);
		const shown = await withEndpointFilters(c.env, page, {
			excludeWithoutEndpoints: query.exclude_without_endpoints,
			excludeWithDisabled: query.exclude_with_disabled_endpoints,
		});
		return c.json({ tenants: shown.map(tenantOut), next_cursor: rows.length > limit && last ? last.id : null }, 200);
	})
	.openapi(getTenantRoute, async (c) => {
		return c.json(tenantOut(await getTenantByRefOr404(controlDatabase(c.env), c.req.valid("param").id)), 200);
	})
	.openapi(patchTenantRoute, async (c) => {
		const existing = await getTenantByRefOr404(controlDatabase(c.env), c.req.valid("param").id);
		return c.json(tenantOut(await patchTenant(c.env, existing, c.req.valid("json"))), 200);
	})
	.openapi(deleteTenantRoute, async (c) => {
		const db = controlDatabase(c.env);
		const existing = await getTenantByRefOr404(db, c.req.valid("param").id);
		const id = existing.id;
		if (id === DEFAULT_TENANT_ID) throw new ApiError("conflict", "the built-in tenant default cannot be deleted");
		const now = Date.now();
		const revoked = await db.delete(apiKeys).where(eq(apiKeys.tenantId, id)).returning({ hash: apiKeys.hash });
		for (const { hash } of revoked) forgetApiKey(hash);
		await markTenantDeleted(db, existing, now);
		forgetTenantPlacement(id);
		// After the control row: a copy marked deleted while the tenant is still live would drop its deliveries.
		await writeTenantCopy(c.env, { ...existing, deletedAt: now, updatedAt: now, uid: null });
		await startTenantPurge(c.env, id);
		return c.json({ id, status: "deleting" as const }, 202);
	});
