import { createRoute, z } from "@hono/zod-openapi";
import { publicBaseUrl } from "../../channels/render";
import { createPortalToken } from "../../dashboard/tokens";
import { controlDatabase } from "../../db/tenant-database";
import { DEFAULT_TENANT_ID, getTenantByRefOr404, getTenantOr404 } from "../../db/tenants";
import { ApiError } from "../../lib/errors";
import { createRouter, errorResponses, iso, jsonContent } from "../shared";
import { TenantRef } from "../tenants/schemas";

export const DEFAULT_TTL_SECONDS = 3600;
export const MAX_TTL_SECONDS = 7 * 24 * 60 * 60;

const PortalLinkIn = z
	.strictObject({
		ttl_seconds: z
			.number()
			.int()
			.min(60)
			.max(MAX_TTL_SECONDS)
			.optional()
			.openapi({ description: `How long the link works; default ${DEFAULT_TTL_SECONDS}`, example: 3600 }),
		read_only: z
			.boolean()
			.optional()
			.openapi({ description: "A read-only link can browse but not change anything; default false" }),
	})
	.openapi("PortalLinkIn");

const PortalLinkOut = z
	.object({
		url: z.string().openapi({ example: "https://hooks.example.com/portal/eyJ0ZW5hbnQiOi….c2ln" }),
		expires_at: z.string(),
		read_only: z.boolean(),
		tenant_id: z.string(),
	})
	.openapi("PortalLink");

// Optional, so `POST` with no body gives an hour-long read-write link.
const body = { required: false, content: { "application/json": { schema: PortalLinkIn } } };

const tenantLinkRoute = createRoute({
	method: "post",
	path: "/v1/tenants/{id}/portal-links",
	tags: ["Portal links"],
	summary: "Create a signed, expiring link into a tenant's dashboard (admin key only)",
	description:
		"Anyone holding the link sees that tenant's dashboard until it expires; nothing is stored, so a link cannot be revoked short of rotating ADMIN_API_KEY, which voids every link.",
	request: { params: TenantRef, body },
	responses: {
		201: jsonContent(PortalLinkOut, "The link"),
		...errorResponses(400, 401, 403, 404, 415, 422, 503),
	},
});

const ownLinkRoute = createRoute({
	method: "post",
	path: "/v1/portal-links",
	tags: ["Portal links"],
	summary: "Create a signed, expiring link into the dashboard of the tenant the request acts on",
	description:
		"The tenant is the key's own, or for the admin key the one X-Tenant-Id names (`default` without it). Anyone holding the link sees that tenant's dashboard until it expires.",
	request: { body },
	responses: {
		201: jsonContent(PortalLinkOut, "The link"),
		...errorResponses(400, 401, 404, 415, 422, 503),
	},
});

/** Where links point: the configured public URL, else the host the request came to. */
function baseUrl(env: Env, requestUrl: string): string {
	const configured = publicBaseUrl(env);
	return configured === "" ? new URL(requestUrl).origin : configured;
}

async function portalLink(
	env: Env,
	requestUrl: string,
	tenantId: string,
	keyId: string | null,
	input: z.infer<typeof PortalLinkIn>,
): Promise<z.infer<typeof PortalLinkOut>> {
	// `default` exists without a row, as in src/auth/scope.ts.
	if (tenantId !== DEFAULT_TENANT_ID) await getTenantOr404(controlDatabase(env), tenantId);
	if ((env.ADMIN_API_KEY ?? "") === "") {
		throw new ApiError("unavailable", "portal links are signed with ADMIN_API_KEY, which is not set");
	}
	const readOnly = input.read_only ?? false;
	const expiresAt = Date.now() + (input.ttl_seconds ?? DEFAULT_TTL_SECONDS) * 1000;
	const token = await createPortalToken(env, { tenantId, keyId, readOnly, expiresAt });
	return {
		url: `${baseUrl(env, requestUrl)}/portal/${token}`,
		expires_at: iso(expiresAt),
		read_only: readOnly,
		tenant_id: tenantId,
	};
}

export const portalLinkRoutes = createRouter()
	.openapi(tenantLinkRoute, async (c) => {
		const { id: tenantId } = await getTenantByRefOr404(controlDatabase(c.env), c.req.valid("param").id);
		const link = await portalLink(c.env, c.req.url, tenantId, null, c.req.valid("json"));
		return c.json(link, 201);
	})
	.openapi(ownLinkRoute, async (c) => {
		// A link made with a tenant key lives no longer than the key: a leaked key's revocation must reach its links too.
		const keyId = c.var.principal.kind === "tenant" ? c.var.principal.keyId : null;
		return c.json(await portalLink(c.env, c.req.url, c.var.tenantId, keyId, c.req.valid("json")), 201);
	});
