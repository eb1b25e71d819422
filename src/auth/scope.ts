import { tenantShard } from "../db/tenant-database";
import { DEFAULT_TENANT_ID } from "../db/tenants";
import { ApiError } from "../lib/errors";
import type { Principal } from "./authenticate";

/** The admin key's own routes, which act on no one tenant: /v1/tenants and everything under it, and /v1/health. */
export function isDeploymentAdministration(path: string): boolean {
	return path === "/v1/tenants" || path.startsWith("/v1/tenants/") || path === "/v1/health";
}

/**
 * The tenant a request acts on, and the shard its data is on. A tenant key
 * acts on its own tenant only: naming another in X-Tenant-Id is refused. The
 * admin key acts on the tenant X-Tenant-Id names, or on `default`. A tenant
 * that does not exist, or was deleted, answers 404.
 */
export async function tenantInScope(
	env: Env,
	principal: Principal,
	requested: string | undefined,
): Promise<{ tenantId: string; shard: string }> {
	if (principal.kind === "tenant") {
		if (requested !== undefined && requested !== principal.tenantId) {
			throw new ApiError("forbidden", "this API key belongs to another tenant than the one X-Tenant-Id names");
		}
		return { tenantId: principal.tenantId, shard: await tenantShard(env, principal.tenantId) };
	}
	const tenantId = requested ?? DEFAULT_TENANT_ID;
	return { tenantId, shard: await tenantShard(env, tenantId) };
}
