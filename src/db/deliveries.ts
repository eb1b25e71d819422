import { and, desc, eq, gte, inArray, lt, lte, type SQL } from "drizzle-orm";
import { chunk, IDS_PER_STATEMENT } from "../lib/chunk";
import { deliveryId, deliveryIdRange } from "../lib/ids";
import type { Database } from "./client";
import { seqWindow } from "./event-position";
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
	const { afterSeq, beforeSeq } = await seqWindow(db, window);
	return {
		from: afterSeq === null ? whole.from : deliveryId(endpointId, afterSeq + 1),
		to: beforeSeq === null ? whole.to : deliveryId(endpointId, beforeSeq),
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

/**
 * Like endpointDeliveriesWithEvents, but looking at no more than the newest
 * `scanAtMost` deliveries of `range`: a filter that few deliveries pass
 * stops there instead of reading the rest of the log. `goOnBelow` is the
 * delivery below which the log is still to be looked at: the last one
 * returned when `limit` were found, else the last one looked at when the
 * scan stopped at its bound; null when the range was read to its end.
 *
 * The deliveries looked at come from a subquery with that bound, which
 * SQLite runs as a co-routine: it stops when `limit` have passed. Where the
 * scan stopped takes one more statement, run only when it stopped short.
 * Between the two, new deliveries can enter the range (a first attempt
 * recorded) and move that place up; going on below the lowest delivery
 * returned as well keeps those above it from being returned twice.
 */
export async function scanEndpointDeliveries(
	db: Database,
	tenantId: string,
	range: IdRange,
	where: SQL | undefined,
	limit: number,
	scanAtMost: number,
): Promise<{
	rows: { delivery: DeliveryRow; event: EventRow | null }[];
	goOnBelow: Pick<DeliveryRow, "id" | "endpointId" | "eventId"> | null;
}> {
	// Named as the table, so that `where` (written against the table) reads the subquery's columns.
	const scanned = db
		.select()
		.from(deliveries)
		.where(and(idsIn(range), eq(deliveries.tenantId, tenantId)))
		.orderBy(desc(deliveries.id))
		.limit(scanAtMost)
		.as("deliveries");
	const found = await db
		.select()
		.from(scanned)
		.leftJoin(events, and(eq(events.tenantId, scanned.tenantId), eq(events.id, scanned.eventId)))
		.where(where)
		.orderBy(desc(scanned.id))
		.limit(limit);
	const rows = found.map((row) => ({ delivery: row.deliveries, event: row.events }));
	const lowest = rows.at(-1)?.delivery;
	if (rows.length === limit) return { rows, goOnBelow: lowest ?? null };
	const [stop] = await db
		.select({ id: deliveries.id, endpointId: deliveries.endpointId, eventId: deliveries.eventId })
		.from(deliveries)
		.where(and(idsIn(range), eq(deliveries.tenantId, tenantId)))
		.orderBy(desc(deliveries.id))
		.limit(1)
		.offset(scanAtMost - 1);
	if (!stop) return { rows, goOnBelow: null };
	return { rows, goOnBelow: lowest && lowest.id < stop.id ? lowest : stop };
}
