import { createRoute } from "@hono/zod-openapi";
import { controlDatabase } from "../../db/tenant-database";
import { getTenantOr404 } from "../../db/tenants";
import { createRouter, errorResponses, jsonBody, jsonContent } from "../shared";
import { OwnTenantPatch, TenantOut, tenantOut } from "./schemas";
import { patchTenant } from "./tenants";

/*
 * The tenant a request acts on, for any key: a tenant key reads and changes
 * its own tenant here (a Svix application token manages its own application),
 * while /v1/tenants stays the admin key's. Delivery settings and limits are
 * the operator's, so this PATCH takes only what a Svix application holds.
 */

const tags = ["Tenants"];

const getOwnRoute = createRoute({
	method: "get",
	path: "/v1/tenant",
	tags,
	summary: "Get the tenant the request acts on",
	description: "The key's own tenant; for the admin key, the one X-Tenant-Id names (`default` without it).",
	responses: { 200: jsonContent(TenantOut, "The tenant"), ...errorResponses(401, 404) },
});

const patchOwnRoute = createRoute({
	method: "patch",
	path: "/v1/tenant",
	tags,
	summary: "Rename the tenant the request acts on, or change its uid, metadata or throttle_rate",
	description:
		"As PATCH /v1/tenants/{id}, for what a Svix application holds: the other settings and the limits are changed there, with the admin key. 409 when the uid is taken.",
	request: { body: jsonBody(OwnTenantPatch) },
	responses: { 200: jsonContent(TenantOut, "The tenant"), ...errorResponses(400, 401, 404, 409, 415, 422) },
});

export const ownTenantRoutes = createRouter()
	.openapi(getOwnRoute, async (c) => {
		return c.json(tenantOut(await getTenantOr404(controlDatabase(c.env), c.var.tenantId)), 200);
	})
	.openapi(patchOwnRoute, async (c) => {
		const existing = await getTenantOr404(controlDatabase(c.env), c.var.tenantId);
		return c.json(tenantOut(await patchTenant(c.env, existing, c.req.valid("json"))), 200);
	});
