import { controlDatabase } from "../db/tenant-database";
import { DEFAULT_TENANT_ID, getTenantOr404 } from "../db/tenants";
import { ApiError } from "../lib/errors";
import type { Principal } from "./authenticate";

/** The admin key's own routes, which act on no one tenant: /v1/tenants and everything under it, and /v1/health. */
export function isDeploymentAdministration(path: string): boolean {
	return path === "/v1/tenants" || path.startsWith("/v1/tenants/") || path === "/v1/health";
}

/**
 * The tenant a request acts on. A tenant key acts on its own tenant only:
 * naming another in X-Tenant-Id is refused. The admin key acts on the tenant
 * X-Tenant-Id names, or on `default`.
 */
export async function tenantInScope(env: Env, principal: Principal, requested: string | undefined): Promise<string> {
	if (principal.kind === "tenant") {
		if (requested !== undefined && requested !== principal.tenantId) {
			throw new ApiError("forbidden", "this API key belongs to another tenant than the one X-Tenant-Id names");
		}
		return principal.tenantId;
	}
	const tenantId = requested ?? DEFAULT_TENANT_ID;
	if (tenantId !== DEFAULT_TENANT_ID) await getTenantOr404(controlDatabase(env), tenantId);
	return tenantId;
}
