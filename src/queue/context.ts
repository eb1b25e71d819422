import { and, eq, inArray, isNull } from "drizzle-orm";
import { templateLookup } from "../channels/render";
import { openDatabase } from "../db/client";
import { deliveries, type EndpointRow, type EventRow, endpoints, events, templates, tenants } from "../db/schema";
import { parseTenantSettings } from "../delivery/settings";
import { chunk, IDS_PER_STATEMENT } from "../lib/chunk";
import { deliveryId } from "../lib/ids";
import type { DeliveryJob } from "./messages";

/**
 * Everything a batch needs from D1, read in one round trip. Delivery statuses
 * are read for revisits (retries, resends), or for every target when
 * `allStatuses` is set; a first attempt has no row to read.
 */
export async function loadContext(d1: D1Database, jobs: readonly DeliveryJob[], allStatuses = false) {
	const db = openDatabase(d1);
	const eventSeqs = [...new Set(jobs.flatMap((job) => job.targets.map((target) => target.eventSeq ?? job.eventSeq)))];
	const tenantIds = [...new Set(jobs.map((job) => job.tenantId))];
	const endpointIdsByTenant = new Map<string, Set<string>>();
	const revisitedDeliveryIds: string[] = [];
	for (const job of jobs) {
		const ids = endpointIdsByTenant.get(job.tenantId) ?? new Set<string>();
		for (const target of job.targets) {
			ids.add(target.endpointId);
			if (allStatuses || job.trigger !== "initial")
				revisitedDeliveryIds.push(deliveryId(target.endpointId, target.eventSeq ?? job.eventSeq));
		}
		endpointIdsByTenant.set(job.tenantId, ids);
	}

	const eventQueries = chunk(eventSeqs, IDS_PER_STATEMENT).map((seqs) =>
		db.select().from(events).where(inArray(events.seq, seqs)),
	);
	const endpointQueries = [...endpointIdsByTenant].flatMap(([tenantId, ids]) =>
		chunk([...ids], IDS_PER_STATEMENT).map((part) =>
			db
				.select()
				.from(endpoints)
				.where(and(eq(endpoints.tenantId, tenantId), inArray(endpoints.id, part))),
		),
	);
	const tenantQuery = db
		.select({ id: tenants.id, settings: tenants.settings })
		.from(tenants)
		.where(and(inArray(tenants.id, tenantIds), isNull(tenants.deletedAt)));
	// Templates of the tenants in the batch; a tenant has a handful at most, and most have none.
	const templateQuery = db
		.select({
			tenantId: templates.tenantId,
			channel: templates.channel,
			eventType: templates.eventType,
			expression: templates.expression,
		})
		.from(templates)
		.where(inArray(templates.tenantId, tenantIds));
	const deliveryQueries = chunk(revisitedDeliveryIds, IDS_PER_STATEMENT).map((ids) =>
		db.select({ id: deliveries.id, status: deliveries.status }).from(deliveries).where(inArray(deliveries.id, ids)),
	);
	// One round trip for everything the batch needs to read.
	const results = await db.batch([tenantQuery, templateQuery, ...eventQueries, ...endpointQueries, ...deliveryQueries]);
	const [tenantRows, templateRows, ...rest] = results;
	const eventRows = rest.slice(0, eventQueries.length).flat() as EventRow[];
	const endpointRows = rest
		.slice(eventQueries.length, eventQueries.length + endpointQueries.length)
		.flat() as EndpointRow[];
	const deliveryRows = rest.slice(eventQueries.length + endpointQueries.length).flat() as {
		id: string;
		status: string;
	}[];

	return {
		events: new Map(eventRows.map((row) => [row.seq, row])),
		endpoints: new Map(endpointRows.map((row) => [`${row.tenantId}/${row.id}`, row])),
		/** Live tenants only: a deleted tenant's jobs are dropped unsent. */
		tenantSettings: new Map(tenantRows.map((row) => [row.id, parseTenantSettings(row.settings)])),
		deliveryStatus: new Map(deliveryRows.map((row) => [row.id, row.status])),
		templates: templateLookup(templateRows),
	};
}

export type BatchContext = Awaited<ReturnType<typeof loadContext>>;
