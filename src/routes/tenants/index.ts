import { createRouter } from "../shared";
import { apiKeyRoutes } from "./api-keys";
import { tenantRoutes as tenantCrud } from "./tenants";

/** Everything under /v1/tenants: admin key only (src/app.ts). */
export const tenantRoutes = createRouter().route("/", tenantCrud).route("/", apiKeyRoutes);
