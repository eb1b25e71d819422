import { createRouter } from "../shared";
import { apiKeyRoutes } from "./api-keys";
import { ownTenantRoutes } from "./own";
import { tenantRoutes as tenantCrud } from "./tenants";

/** Everything under /v1/tenants (admin key only, src/app.ts), and /v1/tenant, any key's own tenant. */
export const tenantRoutes = createRouter().route("/", tenantCrud).route("/", apiKeyRoutes).route("/", ownTenantRoutes);
