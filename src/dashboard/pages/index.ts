import type { Hono } from "hono";
import type { DashboardEnv } from "../context";
import { registerDeliveryPages } from "./deliveries";
import { registerEndpointPages } from "./endpoints";
import { registerEventTypePages } from "./event-types";
import { registerEventPages } from "./events";
import { registerTemplatePages } from "./templates";
import { registerTenantPages } from "./tenants";

/** Every page module adds its routes here; the shell (src/dashboard/index.tsx) has checked the session and tenant first. */
export function registerPages(dashboard: Hono<DashboardEnv>): void {
	registerTenantPages(dashboard);
	registerEndpointPages(dashboard);
	registerDeliveryPages(dashboard);
	registerEventPages(dashboard);
	registerEventTypePages(dashboard);
	registerTemplatePages(dashboard);
}
