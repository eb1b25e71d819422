import { and, eq, isNull, type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { templateLookup } from "../channels/render";
import type { TemplatedChannel } from "../channels/targets";
import { openDatabase } from "../db/client";
import { deliveriesWithIds } from "../db/delivery-log";
import { cleanedEventSql } from "../db/event-reuse";
import { type DeliveryRow, deliveries, type EndpointRow, endpoints, events, tenants } from "../db/schema";
import { parseTenantSettings, type TenantSettings } from "../delivery/settings";
import { deliveryId } from "../lib/ids";
import type { DeliveryJob } from "./messages";

/** `column IN` the values of a JSON array bound as one parameter: any number of values, one bound parameter. */
function inJsonArray(column: SQLiteColumn, values: readonly (string | number)[]): SQL {
	return sql`${column} IN (SELECT value FROM json_each(${JSON.stringify(values)}))`;
}

/**
 * A tenant's templates as one JSON array of [channel, event type, expression],
 * on the first of its rows only (null on the others): a tenant comes back
 * once per endpoint of the batch, and its templates need reading once.
 */
const tenantTemplates = sql<string | null>`CASE WHEN row_number() OVER (PARTITION BY ${tenants.id}) = 1 THEN
	(SELECT json_group_array(json_array(t.channel, t.event_type, t.expression)) FROM templates t WHERE t.tenant_id = ${tenants.id})
	END`;

/**
 * Everything a batch needs from D1, read in one round trip of two
 * statements (three when statuses are read), whatever the batch holds: its
 * events, and its live tenants each with their templates and the batch's
 * endpoints of theirs (a tenant with none of them found still comes back,
 * once, so deliveries to deleted endpoints settle). Ids go in as one JSON
 * array each, so no list is split to stay under D1's bound parameters.
 * Delivery statuses are read for revisits (retries, resends), or for every
 * target when `allStatuses` is set; a first attempt has no row to read.
 */
export async function loadContext(d1: D1Database, jobs: readonly DeliveryJob[], allStatuses = false) {
	const db = openDatabase(d1);
	const eventSeqs = [...new Set(jobs.flatMap((job) => job.targets.map((target) => target.eventSeq ?? job.eventSeq)))];
	const tenantIds = [...new Set(jobs.map((job) => job.tenantId))];
	const endpointIds = new Set<string>();
	const revisitedDeliveryIds: string[] = [];
	for (const job of jobs) {
		for (const target of job.targets) {
			endpointIds.add(target.endpointId);
			if (allStatuses || job.trigger !== "initial")
				revisitedDeliveryIds.push(deliveryId(target.endpointId, target.eventSeq ?? job.eventSeq));
		}
	}

	// A cleaned event (src/db/event-reuse.ts) has expired: its late jobs send nothing, as for one deleted.
	const eventQuery = db
		.select()
		.from(events)
		.where(and(inJsonArray(events.seq, eventSeqs), sql.raw(`NOT ${cleanedEventSql("events")}`)));
	// Endpoint ids are random, so the id list can be shared by every tenant; the join keeps each to its own.
	// The tenant's id goes by another name: D1 returns rows keyed by column name, and the endpoint has an `id` too.
	const tenantQuery = db
		.select({
			id: sql<string>`${tenants.id}`.as("live_tenant_id"),
			settings: tenants.settings,
			templates: tenantTemplates,
			endpoint: endpoints,
		})
		.from(tenants)
		.leftJoin(endpoints, and(eq(endpoints.tenantId, tenants.id), inJsonArray(endpoints.id, [...endpointIds])))
		.where(and(inJsonArray(tenants.id, tenantIds), isNull(tenants.deletedAt)));
	const statusQuery =
		revisitedDeliveryIds.length === 0
			? undefined
			: db.select({ id: deliveries.id, status: deliveries.status }).from(deliveriesWithIds(revisitedDeliveryIds));
	const [eventRows, tenantRows, deliveryRows = []] = statusQuery
		? await db.batch([eventQuery, tenantQuery, statusQuery])
		: await db.batch([eventQuery, tenantQuery]);

	const tenantSettings = new Map<string, TenantSettings>();
	const endpointRows = new Map<string, EndpointRow>();
	const templateRows: TemplateRow[] = [];
	for (const row of tenantRows) {
		if (row.endpoint) endpointRows.set(`${row.endpoint.tenantId}/${row.endpoint.id}`, row.endpoint);
		if (!tenantSettings.has(row.id)) tenantSettings.set(row.id, parseTenantSettings(row.settings));
		if (row.templates === null) continue;
		for (const [channel, eventType, expression] of JSON.parse(row.templates) as [TemplatedChannel, string, string][])
			templateRows.push({ tenantId: row.id, channel, eventType, expression });
	}

	return {
		events: new Map(eventRows.map((row) => [row.seq, row])),
		endpoints: endpointRows,
		/** Live tenants only: a deleted tenant's jobs are dropped unsent. */
		tenantSettings,
		deliveryStatus: new Map<string, DeliveryRow["status"]>(deliveryRows.map((row) => [row.id, row.status])),
		templates: templateLookup(templateRows),
	};
}

type TemplateRow = Parameters<typeof templateLookup>[0][number];

export type BatchContext = Awaited<ReturnType<typeof loadContext>>;
