import type { Hono } from "hono";
import type { DashboardEnv } from "../../context";

// In progress: the pages of this section are being written.
export function registerTenantPages(dashboard: Hono<DashboardEnv>): void {
	void dashboard;
}
