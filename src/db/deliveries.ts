import { and, desc, eq, gte, inArray, lt, lte, type SQL } from "drizzle-orm";
import { chunk, IDS_PER_STATEMENT } from "../lib/chunk";
import type { Database } from "./client";
import { type DeliveryRow, deliveries, type EventRow, events } from "./schema";

/**
 * Marks as failed the pending deliveries whose retries were cancelled, e.g.
 * because their endpoint was deleted or answered 410.
 */
export async function failCancelledDeliveries(
	db: Database,
	tenantId: string,
	deliveryIds: readonly string[],
	reason: string,
): Promise<void> {
	const now = Date.now();
	for (const ids of chunk(deliveryIds, IDS_PER_STATEMENT)) {
		await db
			.update(deliveries)
			.set({ status: "failed", nextAttemptAt: null, error: reason, updatedAt: now })
			.where(and(eq(deliveries.tenantId, tenantId), inArray(deliveries.id, ids), eq(deliveries.status, "pending")));
	}
}

/**
 * One endpoint's deliveries in `[fromId, toId)` (or up to and including
 * `toId`), newest first, each with its event (null once retention removed
 * it). The event is found by its (tenant_id, id) unique index, one lookup
 * per delivery; a filter on the event's fields joins it in the same query.
 */
export async function endpointDeliveriesWithEvents(
	db: Database,
	tenantId: string,
	range: { fromId: string; toId: string; includeTo: boolean },
	where: SQL | undefined,
	limit: number,
): Promise<{ delivery: DeliveryRow; event: EventRow | null }[]> {
	const rows = await db
		.select()
		.from(deliveries)
		.leftJoin(events, and(eq(events.tenantId, deliveries.tenantId), eq(events.id, deliveries.eventId)))
		.where(
			and(
				gte(deliveries.id, range.fromId),
				range.includeTo ? lte(deliveries.id, range.toId) : lt(deliveries.id, range.toId),
				eq(deliveries.tenantId, tenantId),
				where,
			),
		)
		.orderBy(desc(deliveries.id))
		.limit(limit);
	return rows.map((row) => ({ delivery: row.deliveries, event: row.events }));
}
