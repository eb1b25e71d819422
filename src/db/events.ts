import { and, eq, getTableColumns, gt, inArray, lte, type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { chunk, IDS_PER_STATEMENT } from "../lib/chunk";
import { deliveryId, generatedEventTime, parsePublicDeliveryId } from "../lib/ids";
import type { Database } from "./client";
import { deliveriesByIds } from "./delivery-log";
import { eventsOfBlocks, tenantBlocksWithin } from "./event-blocks";
import { newestSeqBefore, seqWindow } from "./event-position";
import { type DeliveryRow, type EventRow, eventBlocks, events } from "./schema";

/**
 * What the sweeper and the backlog probe read of an event to know which
 * first attempts it owes: its fan-out and since when they are due.
 */
export const owedFirstAttemptColumns = {
	seq: events.seq,
	tenantId: events.tenantId,
	createdAt: events.createdAt,
	endpointIds: events.endpointIds,
	deliverAt: events.deliverAt,
};

export async function findEvent(
	db: Database,
	tenantId: string,
	where: { id: string } | { seq: number },
): Promise<EventRow | undefined> {
	if ("id" in where) return (await findEventsByIds(db, tenantId, [where.id]))[0];
	const [row] = await db
		.select()
		.from(events)
		.where(and(eq(events.tenantId, tenantId), eq(events.seq, where.seq)));
	return row;
}

/** The condition under which events_given_id holds an event, written as the index's own so SQLite uses it. */
const GIVEN_ID = sql`${events.idGiven} IS NOT 0`;
const GENERATED_ID = sql`${events.idGiven} = 0`;

/**
 * A tenant's events with these ids, each once. An id the sender gave, or
 * any id stored before migration 0012, is in events_given_id. An id
 * Edgehook generated is not indexed: it leads with its event's created_at,
 * and the events created in that millisecond are the seqs after the newest
 * event created before it, up to the newest created before the next
 * millisecond, two bisections in the statement that reads them. That is
 * exact for the events this version stores, but where an event stored by a
 * version before 0012 was stamped out of seq order nearby, it can miss;
 * with `widen`, the tenant's events within CREATED_AT_SKEW_MS of the time
 * are then read through its blocks (src/db/event-blocks.ts), so an id that
 * names no event costs that read. Without it, such an event (only the
 * seconds around an upgrade hold any) is not found.
 */
export async function findEventsByIds(
	db: Database,
	tenantId: string,
	ids: readonly string[],
	widen = true,
): Promise<EventRow[]> {
	const distinct = [...new Set(ids)];
	const generated = distinct.flatMap((id) => {
		const createdAt = generatedEventTime(id);
		return createdAt === null ? [] : [{ id, createdAt }];
	});
	const found = new Map<number, EventRow>();
	const keep = (rows: readonly EventRow[]) => {
		for (const row of rows) found.set(row.seq, row);
	};
	const ofTenant = (...conditions: (SQL | undefined)[]) =>
		db
			.select()
			.from(events)
			.where(and(eq(events.tenantId, tenantId), ...conditions));
	const [first, ...rest] = [
		...chunk(distinct, IDS_PER_STATEMENT).map((part) => ofTenant(inArray(events.id, part), GIVEN_ID)),
		...generated.map(({ id, createdAt }) =>
			ofTenant(
				eq(events.id, id),
				GENERATED_ID,
				gt(events.seq, newestSeqBefore(createdAt)),
				lte(events.seq, newestSeqBefore(createdAt + 1)),
			),
		),
	];
	if (!first) return [];
	for (const rows of (await db.batch([first, ...rest])) as EventRow[][]) keep(rows);

	const foundIds = new Set([...found.values()].map((row) => row.id));
	const missed = widen ? generated.filter(({ id }) => !foundIds.has(id)) : [];
	// Each miss's window first, then the queries: a drizzle query returned from an async function is run.
	const windows = await Promise.all(
		missed.map(async ({ id, createdAt }) => ({
			id,
			...(await seqWindow(db, { since: createdAt, until: createdAt + 1 })),
		})),
	);
	// Through the tenant's blocks, so a tenant that shares its database does not read every tenant's window.
	const [firstWidened, ...restWidened] = windows.map(({ id, afterSeq, beforeSeq }) =>
		db
			.select(getTableColumns(events))
			.from(eventBlocks)
			.innerJoin(events, eventsOfBlocks(afterSeq, beforeSeq))
			.where(and(tenantBlocksWithin(tenantId, afterSeq, beforeSeq), eq(events.id, id), GENERATED_ID)),
	);
	if (firstWidened) for (const rows of (await db.batch([firstWidened, ...restWidened])) as EventRow[][]) keep(rows);
	return [...found.values()];
}

/**
 * What a public delivery id (src/lib/ids.ts) names: its event, when the
 * tenant has it, and the id the delivery is stored under. Whether the event
 * fanned out to that endpoint is the caller's to check.
 */
export async function resolvePublicDeliveryId(
	db: Database,
	tenantId: string,
	publicId: string,
): Promise<{ event: EventRow; endpointId: string; storedId: string } | null> {
	const parsed = parsePublicDeliveryId(publicId);
	if (!parsed) return null;
	const event = await findEvent(db, tenantId, { id: parsed.eventId });
	if (!event) return null;
	return { event, endpointId: parsed.endpointId, storedId: deliveryId(parsed.endpointId, event.seq) };
}

/** The delivery rows of an event's fan-out; ids derive from endpoint and event, so these are point lookups. */
export async function deliveriesOfEvent(db: Database, event: EventRow): Promise<Map<string, DeliveryRow>> {
	const endpointIds = JSON.parse(event.endpointIds) as string[];
	const ids = endpointIds.map((endpointId) => deliveryId(endpointId, event.seq));
	const rows = await deliveriesByIds(db, ids, event.tenantId);
	return new Map(rows.map((row) => [row.endpointId, row]));
}

/** What the lists of deliveries and attempts may ask of a delivery's event. */
export interface EventFilters {
	/** Only events of these types. */
	eventTypes?: readonly string[] | undefined;
	/** Only events with this tag. */
	tag?: string | undefined;
	/** Only events carrying this routing label (Svix `channel`). */
	label?: string | undefined;
}

/** Whether the JSON array in `column` lists `value`. */
export function listsValue(column: SQLiteColumn, value: string): SQL {
	return sql`EXISTS (SELECT 1 FROM json_each(${column}) WHERE value = ${value})`;
}

/** The conditions `filters` put on the events table, or undefined when there are none. */
export function eventFilterConditions(filters: EventFilters): SQL | undefined {
	return and(
		filters.eventTypes === undefined || filters.eventTypes.length === 0
			? undefined
			: inArray(events.type, [...filters.eventTypes]),
		filters.tag === undefined ? undefined : listsValue(events.tags, filters.tag),
		filters.label === undefined ? undefined : listsValue(events.labels, filters.label),
	);
}

/** Whether an event (already read) passes `filters`, for lists that hold their event in hand. */
export function eventPasses(event: EventRow, filters: EventFilters): boolean {
	const listed = (text: string | null, value: string) =>
		text !== null && (JSON.parse(text) as string[]).includes(value);
	if (filters.eventTypes !== undefined && filters.eventTypes.length > 0 && !filters.eventTypes.includes(event.type))
		return false;
	if (filters.tag !== undefined && !listed(event.tags, filters.tag)) return false;
	if (filters.label !== undefined && !listed(event.labels, filters.label)) return false;
	return true;
}
