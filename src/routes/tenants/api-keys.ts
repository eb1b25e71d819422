import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, count, eq, gt } from "drizzle-orm";
import { generateApiKey } from "../../auth/api-keys";
import { forgetApiKey } from "../../auth/authenticate";
import { apiKeys } from "../../db/schema";
import { controlDatabase } from "../../db/tenant-database";
import { getTenantByRefOr404 } from "../../db/tenants";
import { ApiError, notFound } from "../../lib/errors";
import { newApiKeyId } from "../../lib/ids";
import { createRouter, errorResponses, jsonBody, jsonContent, PaginationQuery } from "../shared";
import { ApiKeyCreated, ApiKeyIn, ApiKeyOut, apiKeyOut, TenantRef } from "./schemas";

/** Keys per tenant; enough for a key per service and environment, and few enough to revoke in one statement. */
export const MAX_KEYS_PER_TENANT = 50;

const tags = ["Tenants"];

const createKeyRoute = createRoute({
	method: "post",
	path: "/v1/tenants/{id}/api-keys",
	tags,
	summary: "Create an API key for a tenant (admin key only)",
	description: "The answer holds the key in full; it is stored only as a hash and never shown again.",
	request: { params: TenantRef, body: jsonBody(ApiKeyIn) },
	responses: {
		201: jsonContent(ApiKeyCreated, "The key, in full this once"),
		...errorResponses(400, 401, 403, 404, 409, 415, 422),
	},
});

const listKeysRoute = createRoute({
	method: "get",
	path: "/v1/tenants/{id}/api-keys",
	tags,
	summary: "List a tenant's API keys, without key material (admin key only)",
	request: { params: TenantRef, query: PaginationQuery },
	responses: {
		200: jsonContent(
			z.object({ api_keys: z.array(ApiKeyOut), next_cursor: z.string().nullable() }).openapi("ApiKeyList"),
			"Keys in order of their ids",
		),
		...errorResponses(401, 403, 404, 422),
	},
});

const revokeKeyRoute = createRoute({
	method: "delete",
	path: "/v1/tenants/{id}/api-keys/{key_id}",
	tags,
	summary: "Revoke an API key (admin key only)",
	description: "The key stops working at once in this isolate and everywhere within 30 seconds.",
	request: { params: TenantRef.extend({ key_id: z.string().min(1).max(100) }) },
	responses: { 204: { description: "Revoked" }, ...errorResponses(401, 403, 404) },
});

export const apiKeyRoutes = createRouter()
	.openapi(createKeyRoute, async (c) => {
		const { name } = c.req.valid("json");
		const db = controlDatabase(c.env);
		const { id: tenantId } = await getTenantByRefOr404(db, c.req.valid("param").id);
		const [existing] = await db.select({ n: count() }).from(apiKeys).where(eq(apiKeys.tenantId, tenantId));
		if ((existing?.n ?? 0) >= MAX_KEYS_PER_TENANT) {
			throw new ApiError("conflict", `a tenant has at most ${MAX_KEYS_PER_TENANT} keys; revoke one first`);
		}
		const generated = await generateApiKey();
		const [row] = await db
			.insert(apiKeys)
			.values({
				tenantId,
				id: newApiKeyId(),
				name,
				prefix: generated.prefix,
				hash: generated.hash,
				createdAt: Date.now(),
			})
			.returning();
		if (!row) throw new ApiError("internal_error", "the key was not stored");
		return c.json({ ...apiKeyOut(row), key: generated.key }, 201);
	})
	.openapi(listKeysRoute, async (c) => {
		const { limit, cursor } = c.req.valid("query");
		const db = controlDatabase(c.env);
		const { id: tenantId } = await getTenantByRefOr404(db, c.req.valid("param").id);
		const rows = await db
			.select()
			.from(apiKeys)
			.where(and(eq(apiKeys.tenantId, tenantId), cursor ? gt(apiKeys.id, cursor) : undefined))
			.orderBy(asc(apiKeys.id))
			.limit(limit + 1);
		const page = rows.slice(0, limit);
		const last = page.at(-1);
		return c.json({ api_keys: page.map(apiKeyOut), next_cursor: rows.length > limit && last ? last.id : null }, 200);
	})
	.openapi(revokeKeyRoute, async (c) => {
		const { id: ref, key_id: keyId } = c.req.valid("param");
		const db = controlDatabase(c.env);
		const { id: tenantId } = await getTenantByRefOr404(db, ref);
		const [revoked] = await db
			.delete(apiKeys)
			.where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, keyId)))
			.returning({ hash: apiKeys.hash });
		if (!revoked) throw notFound("API key", keyId);
		forgetApiKey(revoked.hash);
		return c.body(null, 204);
	});
