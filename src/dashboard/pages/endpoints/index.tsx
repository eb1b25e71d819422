import type { Hono } from "hono";
import type { DashboardEnv } from "../../context";
import { registerDeliveryLog } from "./deliveries";
import { registerEndpointDetail } from "./detail";
import { registerEndpointForms } from "./form";
import { registerEndpointList } from "./list";
import { registerTaskPages } from "./tasks";

/** The tenant view's endpoint pages; the forms come first so `/endpoints/new` is not read as an endpoint id. */
export function registerEndpointPages(dashboard: Hono<DashboardEnv>): void {
	registerEndpointList(dashboard);
	registerEndpointForms(dashboard);
	registerDeliveryLog(dashboard);
	registerEndpointDetail(dashboard);
	registerTaskPages(dashboard);
}
