import { and, desc, eq, getTableColumns, gte, inArray, lt, lte, type SQL, sql } from "drizzle-orm";
import { chunk, IDS_PER_STATEMENT } from "../lib/chunk";
import { deliveryEventSeqSql, deliveryId, deliveryIdRange } from "../lib/ids";
import type { Database } from "./client";
import {
	copyPackedToRows,
	type IdRange,
	type LogPosition,
	type LogQuery,
	readEndpointLog,
	rowsInRange,
} from "./delivery-log";
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
		// A pending delivery only in a pack is given its row first, which then wins over the packed copy.
		await copyPackedToRows(db.$client, ids).run();
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

function idsIn(range: IdRange): SQL | undefined {
	return and(
		gte(deliveries.id, range.fromId),
		range.includeTo ? lte(deliveries.id, range.toId) : lt(deliveries.id, range.toId),
	);
}

export interface LoggedDelivery {
	delivery: DeliveryRow;
	/** Null once retention removed it. */
	event: EventRow | null;
}

type LogItem = LoggedDelivery & { id: string };

const deliveryColumns = getTableColumns(deliveries);
const eventColumns = getTableColumns(events);

/**
 * The seq of a delivery's event, read from its stored id: a generated event
 * id has no index to join on. The join still checks the id, for a seq given
 * again to a later event after the delivery's own was removed.
 */
const DELIVERY_EVENT_SEQ = sql.raw(deliveryEventSeqSql(`"deliveries"."id"`));

/**
 * Reads a source of the log (the table, or packed deliveries: src/db/delivery-log.ts)
 * newest first, each delivery with its event, found by rowid from the seq its id ends
 * with: a filter on the event's fields joins it in the same query.
 */
function withEvents(db: Database, where: SQL | undefined): LogQuery<LogItem> {
	return async (source, limit) => {
		const rows = await db
			.select({ delivery: deliveryColumns, event: eventColumns })
			.from(source)
			.leftJoin(
				events,
				and(
					eq(events.seq, DELIVERY_EVENT_SEQ),
					eq(events.tenantId, deliveries.tenantId),
					eq(events.id, deliveries.eventId),
				),
			)
			.where(where)
			.orderBy(desc(deliveries.id))
			.limit(limit);
		return rows.map((row) => ({ id: row.delivery.id, delivery: row.delivery, event: row.event }));
	};
}

const positionOf = ({ delivery }: LoggedDelivery): LogPosition => delivery;

/**
 * One endpoint's deliveries in `range` that pass `where`, newest first, at
 * most `limit`, each with its event. `packs` false leaves out the packed
 * deliveries, for a filter none of them can pass.
 */
export async function endpointDeliveriesWithEvents(
	db: Database,
	tenantId: string,
	range: IdRange,
	where: SQL | undefined,
	limit: number,
	packs = true,
): Promise<LoggedDelivery[]> {
	const { items } = await readEndpointLog(db, tenantId, range, {
		limit,
		packs,
		query: withEvents(db, where),
		positionOf,
	});
	return items;
}

/**
 * Like endpointDeliveriesWithEvents, but looking at no more than the newest
 * `scanAtMost` rows of `range` and as many packed deliveries: a filter that
 * few deliveries pass stops there instead of reading the rest of the log.
 * `goOnBelow` is the delivery below which the log is still to be looked at:
 * the last one returned when `limit` were found, else where the reads
 * stopped; null when the range was read to its end.
 *
 * The rows looked at come from a subquery with that bound, which SQLite
 * runs as a co-routine: it stops when `limit` have passed. Where the scan
 * stopped takes one more statement, run only when it stopped short. Between
 * the two, new deliveries can enter the range (a first attempt recorded) and
 * move that place up; going on below the lowest delivery returned as well
 * keeps those above it from being returned twice.
 */
export async function scanEndpointDeliveries(
	db: Database,
	tenantId: string,
	range: IdRange,
	where: SQL | undefined,
	limit: number,
	scanAtMost: number,
): Promise<{ rows: LoggedDelivery[]; goOnBelow: LogPosition | null }> {
	const found = await withEvents(db, where)(rowsInRange(tenantId, range, scanAtMost), limit);
	const lowest = found.at(-1);
	let stop: LogPosition | null = lowest ? positionOf(lowest) : null;
	if (found.length < limit) {
		const [scanEnd] = await db
			.select({ id: deliveries.id, endpointId: deliveries.endpointId, eventId: deliveries.eventId })
			.from(deliveries)
			.where(and(idsIn(range), eq(deliveries.tenantId, tenantId)))
			.orderBy(desc(deliveries.id))
			.limit(1)
			.offset(scanAtMost - 1);
		stop = scanEnd ? (lowest && lowest.id < scanEnd.id ? positionOf(lowest) : scanEnd) : null;
	}
	const { items, goOnBelow } = await readEndpointLog(db, tenantId, range, {
		limit,
		packs: true,
		packsLookedAtMost: scanAtMost,
		fromTable: { items: found, stop },
		query: withEvents(db, where),
		positionOf,
	});
	const last = items.at(-1);
	return { rows: items, goOnBelow: items.length === limit && last ? positionOf(last) : goOnBelow };
}
