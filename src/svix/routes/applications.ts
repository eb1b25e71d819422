import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { isTenantIdShaped } from "../../db/tenants";
import { ApiError } from "../../lib/errors";
import { TenantMetadata, TenantName, TenantUid, ThrottleRate } from "../../routes/tenants/schemas";
import { resolveApp } from "../apps";
import { svixInvalid } from "../errors";
import { nativeOrder, pageBothWays, SvixListQuery, svixList, svixListSchema } from "../paging";
import { createSvixRouter, requiredJsonBody, type SvixEnv, svixErrors, svixJson } from "../router";

/*
 * Svix applications are Edgehook tenants: the id is the tenant id, `uid` is
 * the tenant's uid, `metadata` its metadata, and `throttleRate` the tenant
 * setting `throttle_rate` (v1 clients call it `rateLimit`). Every operation
 * calls /v1/tenants (admin key) or /v1/tenant (the caller's own tenant).
 */

const tags = ["Application"];

/** The native tenant, as /v1/tenants answers it. */
interface NativeTenant {
	id: string;
	name: string;
	uid: string | null;
	metadata: Record<string, string>;
	settings: { throttle_rate?: number };
	created_at: string;
	updated_at: string;
}

const ApplicationOut = z
	.object({
		id: z.string().openapi({ example: "ten_3k9x2m7q1c8v4b6n" }),
		name: z.string(),
		uid: z.string().nullable().optional(),
		metadata: z.record(z.string(), z.string()),
		throttleRate: z.number().int().nullable().optional(),
		rateLimit: z.number().int().nullable().optional().openapi({ description: "v1 name of throttleRate" }),
		createdAt: z.string(),
		updatedAt: z.string(),
	})
	.openapi("ApplicationOut");

export const ApplicationIn = z
	.object({
		name: TenantName,
		uid: TenantUid.nullable().optional(),
		throttleRate: ThrottleRate.nullable().optional(),
		rateLimit: ThrottleRate.nullable().optional().openapi({ description: "v1 name of throttleRate" }),
		metadata: TenantMetadata.optional(),
	})
	.openapi("ApplicationIn");

const ApplicationPatch = z
	.object({
		name: TenantName.optional(),
		uid: TenantUid.nullable().optional(),
		throttleRate: ThrottleRate.nullable().optional(),
		rateLimit: ThrottleRate.nullable().optional().openapi({ description: "v1 name of throttleRate" }),
		metadata: TenantMetadata.optional(),
	})
	.openapi("ApplicationPatch");

export type ApplicationInBody = z.infer<typeof ApplicationIn>;
type ApplicationPatchBody = z.infer<typeof ApplicationPatch>;

const AppPath = z.object({
	app_id: z.string().min(1).max(256).openapi({ description: "The application's id or uid" }),
});

const Flag = z
	.enum(["true", "false"])
	.optional()
	.transform((value) => value === "true");

function applicationOut(tenant: NativeTenant): z.infer<typeof ApplicationOut> {
	const throttleRate = tenant.settings.throttle_rate ?? null;
	return {
		id: tenant.id,
		name: tenant.name,
		uid: tenant.uid,
		metadata: tenant.metadata,
		throttleRate,
		rateLimit: throttleRate,
		createdAt: tenant.created_at,
		updatedAt: tenant.updated_at,
	};
}

/** The throttle rate a body sets: `throttleRate`, or v1's `rateLimit`; undefined when it names neither. */
function throttleRateOf(body: { throttleRate?: number | null; rateLimit?: number | null }): number | null | undefined {
	return body.throttleRate !== undefined ? body.throttleRate : body.rateLimit;
}

async function createTenant(c: Context<SvixEnv>, body: ApplicationInBody, uid: string | null) {
	const throttleRate = throttleRateOf(body);
	return c.var.native.call<NativeTenant>({
		method: "POST",
		path: "/v1/tenants",
		body: {
			name: body.name,
			uid: uid ?? undefined,
			metadata: body.metadata,
			settings: throttleRate === null || throttleRate === undefined ? undefined : { throttle_rate: throttleRate },
		},
	});
}

/** Changes the tenant through /v1/tenant, which takes the admin key (naming the tenant) and the tenant's own key alike. */
async function patchTenant(c: Context<SvixEnv>, tenantId: string, patch: Record<string, unknown>) {
	return c.var.native.call<NativeTenant>({ method: "PATCH", path: "/v1/tenant", tenantId, body: patch });
}

/**
 * The tenant `{app_id}` names. When there is none and the request carries
 * an inline `application` (app-portal access, message create), that
 * application is created first, as Svix does; its uid must be the path's.
 */
export async function resolveOrCreateApp(
	c: Context<SvixEnv>,
	appId: string,
	inline: ApplicationInBody | undefined,
): Promise<string> {
	try {
		return await resolveApp(c, appId);
	} catch (error) {
		if (inline === undefined || !(error instanceof ApiError && error.code === "not_found")) throw error;
	}
	if (inline.uid === undefined || inline.uid === null) {
		throw svixInvalid(
			["body", "application", "uid"],
			"must be given, and be the path's app_id, to create the application",
		);
	}
	if (inline.uid !== appId) {
		throw svixInvalid(["body", "application", "uid"], `must be the path's app_id (${appId}) to create the application`);
	}
	try {
		return (await createTenant(c, inline, inline.uid)).body.id;
	} catch (error) {
		// Created by a request racing this one: that application is the one meant.
		if (error instanceof ApiError && error.code === "conflict") return resolveApp(c, appId);
		throw error;
	}
}

function nativePatch(body: ApplicationPatchBody): Record<string, unknown> {
	const throttleRate = throttleRateOf(body);
	return {
		name: body.name,
		uid: body.uid,
		metadata: body.metadata,
		settings: throttleRate === undefined ? undefined : { throttle_rate: throttleRate },
	};
}

const listRoute = createRoute({
	method: "get",
	path: "/api/v1/app",
	tags,
	summary: "List applications",
	description:
		"By id, ascending unless `order=descending`. A tenant key sees its own application only. With an exclude_apps_* flag a page may hold fewer than `limit` applications (even none) before `done`; exclude_apps_with_svix_play_endpoints is accepted and ignored (Edgehook has no Svix Play).",
	request: {
		query: SvixListQuery.extend({
			exclude_apps_with_no_endpoints: Flag,
			exclude_apps_with_disabled_endpoints: Flag,
			exclude_apps_with_svix_play_endpoints: Flag,
		}),
	},
	responses: { 200: svixJson(svixListSchema(ApplicationOut, "ListResponseApplicationOut"), "A page"), ...svixErrors() },
});

const createAppRoute = createRoute({
	method: "post",
	path: "/api/v1/app",
	tags,
	summary: "Create an application",
	description:
		"409 when the uid is taken, unless `get_if_exists=true`, which answers 200 with the application of that uid. Admin key only.",
	request: {
		query: z.object({ get_if_exists: Flag }),
		body: requiredJsonBody(ApplicationIn),
	},
	responses: {
		200: svixJson(ApplicationOut, "The existing application of that uid (get_if_exists)"),
		201: svixJson(ApplicationOut, "Created"),
		...svixErrors(409),
	},
});

const getRoute = createRoute({
	method: "get",
	path: "/api/v1/app/{app_id}",
	tags,
	summary: "Get an application by id or uid",
	request: { params: AppPath },
	responses: { 200: svixJson(ApplicationOut, "The application"), ...svixErrors() },
});

const putRoute = createRoute({
	method: "put",
	path: "/api/v1/app/{app_id}",
	tags,
	summary: "Create or replace an application",
	description:
		"200 when the path names an application (by id or uid): its name, uid, metadata and throttleRate are replaced, and a uid left out keeps the one the path gives. 201 when it does not: a new application is created, with the path as its uid unless the body names one (creating takes the admin key).",
	request: { params: AppPath, body: requiredJsonBody(ApplicationIn) },
	responses: {
		200: svixJson(ApplicationOut, "Replaced"),
		201: svixJson(ApplicationOut, "Created"),
		...svixErrors(409),
	},
});

const patchRoute = createRoute({
	method: "patch",
	path: "/api/v1/app/{app_id}",
	tags,
	summary: "Change fields of an application",
	description: "Fields left out stay; null clears uid or throttleRate.",
	request: { params: AppPath, body: requiredJsonBody(ApplicationPatch) },
	responses: { 200: svixJson(ApplicationOut, "The application"), ...svixErrors(409) },
});

const deleteRoute = createRoute({
	method: "delete",
	path: "/api/v1/app/{app_id}",
	tags,
	summary: "Delete an application and all its data",
	description: "Its uid is free at once; its data is removed in the background. Admin key only.",
	request: { params: AppPath },
	responses: { 204: { description: "Deleted" }, ...svixErrors(409) },
});

export const applicationsRoutes = createSvixRouter()
	.openapi(listRoute, async (c) => {
		const query = c.req.valid("query");
		const { limit, iterator, order } = query;
		if (c.var.principal.kind === "tenant") {
			// A tenant key's list is its own application, one page long.
			const own = await c.var.native.call<NativeTenant>({ method: "GET", path: "/v1/tenant" });
			return c.json(svixList([applicationOut(own.body)], null), 200);
		}
		const list = await pageBothWays(
			iterator,
			nativeOrder(order) ?? "asc",
			async (direction, cursor) => {
				const page = await c.var.native.call<{ tenants: NativeTenant[]; next_cursor: string | null }>({
					method: "GET",
					path: "/v1/tenants",
					query: {
						limit,
						cursor,
						order: direction,
						exclude_without_endpoints: query.exclude_apps_with_no_endpoints,
						exclude_with_disabled_endpoints: query.exclude_apps_with_disabled_endpoints,
					},
				});
				return { items: page.body.tenants, more: page.body.next_cursor !== null, next: page.body.next_cursor };
			},
			(tenant) => tenant.id,
			applicationOut,
		);
		return c.json(list, 200);
	})
	.openapi(createAppRoute, async (c) => {
		const { get_if_exists: getIfExists } = c.req.valid("query");
		const body = c.req.valid("json");
		const uid = body.uid ?? null;
		if (getIfExists && uid !== null) {
			const existing = await c.var.native.attempt<NativeTenant>({
				method: "GET",
				path: `/v1/tenants/${encodeURIComponent(uid)}`,
			});
			if (!(existing instanceof ApiError)) return c.json(applicationOut(existing.body), 200);
			if (existing.code !== "not_found") throw existing;
		}
		try {
			const created = await createTenant(c, body, uid);
			return c.json(applicationOut(created.body), 201);
		} catch (error) {
			// Another create took the uid between the read and the create: with the flag, that one is the answer.
			if (!(getIfExists && uid !== null && error instanceof ApiError && error.code === "conflict")) throw error;
			const existing = await c.var.native.call<NativeTenant>({
				method: "GET",
				path: `/v1/tenants/${encodeURIComponent(uid)}`,
			});
			return c.json(applicationOut(existing.body), 200);
		}
	})
	.openapi(getRoute, async (c) => {
		const tenantId = await resolveApp(c, c.req.valid("param").app_id);
		const tenant = await c.var.native.call<NativeTenant>({ method: "GET", path: "/v1/tenant", tenantId });
		return c.json(applicationOut(tenant.body), 200);
	})
	.openapi(putRoute, async (c) => {
		const { app_id: appId } = c.req.valid("param");
		const body = c.req.valid("json");
		const pathUid = isTenantIdShaped(appId) ? null : appId;
		let tenantId: string | null = null;
		try {
			tenantId = await resolveApp(c, appId);
		} catch (error) {
			if (!(error instanceof ApiError && error.code === "not_found")) throw error;
		}
		const uid = body.uid !== undefined ? body.uid : pathUid;
		if (tenantId === null) {
			const created = await createTenant(c, body, uid);
			return c.json(applicationOut(created.body), 201);
		}
		const throttleRate = throttleRateOf(body);
		const replaced = await patchTenant(c, tenantId, {
			name: body.name,
			uid,
			metadata: body.metadata ?? {},
			settings: { throttle_rate: throttleRate ?? null },
		});
		return c.json(applicationOut(replaced.body), 200);
	})
	.openapi(patchRoute, async (c) => {
		const tenantId = await resolveApp(c, c.req.valid("param").app_id);
		const patched = await patchTenant(c, tenantId, nativePatch(c.req.valid("json")));
		return c.json(applicationOut(patched.body), 200);
	})
	.openapi(deleteRoute, async (c) => {
		const tenantId = await resolveApp(c, c.req.valid("param").app_id);
		await c.var.native.call({ method: "DELETE", path: `/v1/tenants/${encodeURIComponent(tenantId)}` });
		return c.body(null, 204);
	});
