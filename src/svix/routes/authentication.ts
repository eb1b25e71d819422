import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { createSvixRouter, optionalJsonBody, type SvixEnv, svixErrors, svixJson } from "../router";
import { ApplicationIn, type ApplicationInBody, resolveOrCreateApp } from "./applications";

/*
 * App portal access is an Edgehook portal link (/v1/portal-links): a signed,
 * expiring URL that opens the tenant's portal in a browser. The token is the
 * link's last segment, the credential the URL carries.
 */

const tags = ["Authentication"];

/** Svix's default and bounds for `expiry`, in seconds: a week at most, an hour at least. */
const DEFAULT_EXPIRY_SECONDS = 7 * 24 * 60 * 60;
const MIN_EXPIRY_SECONDS = 60 * 60;

interface NativePortalLink {
	url: string;
	expires_at: string;
	read_only: boolean;
	tenant_id: string;
}

const AppPortalAccessIn = z
	.object({
		expiry: z
			.number()
			.int()
			.min(MIN_EXPIRY_SECONDS)
			.max(DEFAULT_EXPIRY_SECONDS)
			.nullable()
			.optional()
			.openapi({ description: `Seconds the link works; default ${DEFAULT_EXPIRY_SECONDS}` }),
		readOnly: z.boolean().nullable().optional().openapi({ description: "A portal that can browse but not change" }),
		application: ApplicationIn.optional().openapi({
			description: "Created when the path names no application; its uid must be the path's app_id",
		}),
		capabilities: z.unknown().optional().openapi({ description: "Accepted and ignored" }),
		featureFlags: z.unknown().optional().openapi({ description: "Accepted and ignored" }),
		sessionId: z.unknown().optional().openapi({ description: "Accepted and ignored" }),
	})
	.openapi("AppPortalAccessIn");

const AppPortalAccessOut = z
	.object({
		url: z.string().openapi({ example: "https://hooks.example.com/portal/eyJ0ZW5hbnQiOi….c2ln" }),
		token: z.string().openapi({ description: "The credential the URL carries" }),
	})
	.openapi("AppPortalAccessOut");

const AppPath = z.object({
	app_id: z.string().min(1).max(256).openapi({ description: "The application's id or uid" }),
});

async function portalAccess(
	c: Context<SvixEnv>,
	appId: string,
	expirySeconds: number,
	readOnly: boolean,
	application?: ApplicationInBody,
): Promise<z.infer<typeof AppPortalAccessOut>> {
	const tenantId = await resolveOrCreateApp(c, appId, application);
	const link = await c.var.native.call<NativePortalLink>({
		method: "POST",
		path: "/v1/portal-links",
		tenantId,
		body: { ttl_seconds: expirySeconds, read_only: readOnly },
	});
	const url = link.body.url;
	return { url, token: url.slice(url.lastIndexOf("/") + 1) };
}

const appPortalAccessRoute = createRoute({
	method: "post",
	path: "/api/v1/auth/app-portal-access/{app_id}",
	tags,
	summary: "A link that opens the application's portal",
	description:
		"The url opens Edgehook's portal of the application in a browser until `expiry`. When the path names no application, `application` (whose uid must be the path's) creates it first. `capabilities`, `featureFlags` and `sessionId` are accepted and ignored.",
	request: { params: AppPath, body: optionalJsonBody(AppPortalAccessIn) },
	responses: { 200: svixJson(AppPortalAccessOut, "The link"), ...svixErrors() },
});

const dashboardAccessRoute = createRoute({
	method: "post",
	path: "/api/v1/auth/dashboard-access/{app_id}",
	tags,
	summary: "A link that opens the application's portal (v1 name)",
	description: "As app-portal-access with its defaults.",
	request: { params: AppPath },
	responses: { 200: svixJson(AppPortalAccessOut, "The link"), ...svixErrors() },
});

export const authenticationRoutes = createSvixRouter()
	.openapi(appPortalAccessRoute, async (c) => {
		const body = c.req.valid("json") ?? {};
		const access = await portalAccess(
			c,
			c.req.valid("param").app_id,
			body.expiry ?? DEFAULT_EXPIRY_SECONDS,
			body.readOnly ?? false,
			body.application,
		);
		return c.json(access, 200);
	})
	.openapi(dashboardAccessRoute, async (c) => {
		return c.json(await portalAccess(c, c.req.valid("param").app_id, DEFAULT_EXPIRY_SECONDS, false), 200);
	});
