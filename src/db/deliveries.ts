import { and, desc, eq, gte, inArray, lt, lte, type SQL } from "drizzle-orm";
import { chunk, IDS_PER_STATEMENT } from "../lib/chunk";
import { deliveryId, deliveryIdRange } from "../lib/ids";
import type { Database } from "./client";
import { CREATED_AT_SKEW_MS, eventsAround } from "./event-position";
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
 * The part of an endpoint's log, `[from, to)` in delivery ids, that holds
 * its deliveries created in `[since, until)` (either end may be open). A
 * delivery's created_at is its event's and its id ends with its event's
 * seq, so the ends are found among the events (src/db/event-position.ts),
 * widened by the isolates' clock skew: the range may hold a little more than
 * the window, never less, and callers keep their filter on created_at.
 */
export async function endpointLogRange(
	db: Database,
	endpointId: string,
	window: { since?: number | undefined; until?: number | undefined },
): Promise<{ from: string; to: string }> {
	const whole = deliveryIdRange(endpointId);
	const [lower, upper] = await Promise.all([
		window.since === undefined ? null : eventsAround(db, window.since - CREATED_AT_SKEW_MS),
		window.until === undefined ? null : eventsAround(db, window.until + CREATED_AT_SKEW_MS),
	]);
	return {
		from: lower?.before ? deliveryId(endpointId, lower.before.seq + 1) : whole.from,
		to: upper?.atOrAfter ? deliveryId(endpointId, upper.atOrAfter.seq) : whole.to,
	};
}

/** A range of delivery ids: from `fromId` up to `toId`, which `includeTo` says whether it holds. */
export interface IdRange {
	fromId: string;
	toId: string;
	includeTo: boolean;
}

function idsIn(range: IdRange): SQL | undefined {
	return and(
		gte(deliveries.id, range.fromId),
		range.includeTo ? lte(deliveries.id, range.toId) : lt(deliveries.id, range.toId),
	);
}

/**
 * One endpoint's deliveries in `range`, newest first, each with its event
 * (null once retention removed it). The event is found by its (tenant_id, id)
 * unique index, one lookup per delivery; a filter on the event's fields joins
 * it in the same query.
 */
export async function endpointDeliveriesWithEvents(
	db: Database,
	tenantId: string,
	range: IdRange,
	where: SQL | undefined,
	limit: number,
): Promise<{ delivery: DeliveryRow; event: EventRow | null }[]> {
	const rows = await db
		.select()
		.from(deliveries)
		.leftJoin(events, and(eq(events.tenantId, deliveries.tenantId), eq(events.id, deliveries.eventId)))
		.where(and(idsIn(range), eq(deliveries.tenantId, tenantId), where))
		.orderBy(desc(deliveries.id))
		.limit(limit);
	return rows.map((row) => ({ delivery: row.deliveries, event: row.events }));
}
