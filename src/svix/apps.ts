import type { Context } from "hono";
import { controlDatabase, tenantShard } from "../db/tenant-database";
import { tenantIdOfUid as claimedBy, isTenantIdShaped } from "../db/tenants";
import { ApiError, notFound, orUnavailable } from "../lib/errors";
import type { SvixEnv } from "./router";

/** Whether a path value names a tenant by id rather than by uid: uids may not take the id prefix. */
export const isTenantId = isTenantIdShaped;

/** The live tenant that claims `uid`, or null. */
export function tenantIdOfUid(env: Env, uid: string): Promise<string | null> {
	return claimedBy(controlDatabase(env), uid);
}

/**
 * The tenant an `{app_id}` path value names, by id or by uid. A tenant key
 * reaches its own application only; any other answers 404, as the native
 * API answers for another tenant's objects, so a key learns nothing about
 * which applications exist.
 */
export async function resolveApp(c: Context<SvixEnv>, appIdOrUid: string): Promise<string> {
	const principal = c.var.principal;
	const tenantId = isTenantId(appIdOrUid)
		? appIdOrUid
		: await orUnavailable("the tenant directory", () => tenantIdOfUid(c.env, appIdOrUid));
	if (tenantId === null) throw notFound("application", appIdOrUid);
	if (principal.kind === "tenant" && principal.tenantId !== tenantId) throw notFound("application", appIdOrUid);
	try {
		await orUnavailable("the tenant directory", () => tenantShard(c.env, tenantId));
	} catch (error) {
		if (error instanceof ApiError && error.code === "not_found") throw notFound("application", appIdOrUid);
		throw error;
	}
	return tenantId;
}
