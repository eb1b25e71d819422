import { createRoute, z } from "@hono/zod-openapi";
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client";
import { createRouter, errorResponses, iso, jsonContent } from "../shared";

/** The most events of the tenant the answer looks at, newest first. */
export const RECENT_EVENTS_PER_TENANT = 1000;
/** The most events, of every tenant of the database, read to find them. */
export const RECENT_EVENTS_SCANNED = 10_000;

/**
 * The types of the tenant's latest events, newest first, with when each was
 * last sent. Costs at most RECENT_EVENTS_SCANNED rows read, whatever the
 * size of the log: a range of the events table's own key (its rowid, which
 * grows in the order events are accepted) read backwards from the newest,
 * stopping at the tenant's RECENT_EVENTS_PER_TENANT-th event or at the end of
 * the range. `NOT INDEXED` keeps SQLite off the (tenant_id, id) index, which
 * would read and sort every event the tenant has. No index is added for this:
 * one on (tenant_id, seq) would cost every event a row written and about 50
 * bytes (docs/SCALING.md) to save a few milliseconds on a dashboard page.
 * test/integration/event-types-recent-integration.test.ts checks the plan.
 */
export function recentEventTypesQuery(tenantId: string): SQL {
	return sql`SELECT type, max(created_at) AS last_seen FROM (
		SELECT type, created_at FROM events NOT INDEXED
		WHERE seq > (SELECT max(seq) FROM events) - ${RECENT_EVENTS_SCANNED} AND tenant_id = ${tenantId}
		ORDER BY seq DESC LIMIT ${RECENT_EVENTS_PER_TENANT}
	) GROUP BY type ORDER BY last_seen DESC, type`;
}

/** Whether `type` is among the tenant's recent event types, as GET /v1/recent-event-types lists them. */
export async function recentlyUsed(db: Database, tenantId: string, type: string): Promise<boolean> {
	const rows = await db.all<{ type: string }>(recentEventTypesQuery(tenantId));
	return rows.some((row) => row.type === type);
}

const RecentEventType = z
	.object({
		name: z.string().openapi({ example: "user.created" }),
		last_seen_at: z.string().openapi({ description: "When the latest event of this type was accepted" }),
	})
	.openapi("RecentEventType");

const recentRoute = createRoute({
	method: "get",
	path: "/v1/recent-event-types",
	tags: ["Event types"],
	summary: "List the types the tenant's recent events used, catalogued or not",
	description: `The distinct types of the tenant's latest ${RECENT_EVENTS_PER_TENANT.toLocaleString("en")} events among the database's latest ${RECENT_EVENTS_SCANNED.toLocaleString("en")} (of every tenant), the most recently used first. Meant for suggestions next to the catalog (GET /v1/event-types), which lists only the types someone added; a type sent rarely, or long ago, may be missing.`,
	responses: {
		200: jsonContent(
			z.object({ event_types: z.array(RecentEventType) }).openapi("RecentEventTypeList"),
			"Event types, the most recently used first",
		),
		...errorResponses(401),
	},
});

export const recentEventTypeRoutes = createRouter().openapi(recentRoute, async (c) => {
	const rows = await c.var.db.all<{ type: string; last_seen: number }>(recentEventTypesQuery(c.var.tenantId));
	return c.json({ event_types: rows.map((row) => ({ name: row.type, last_seen_at: iso(row.last_seen) })) }, 200);
});
