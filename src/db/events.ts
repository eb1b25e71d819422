import { and, eq, inArray, type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { deliveryId, parsePublicDeliveryId } from "../lib/ids";
import type { Database } from "./client";
import { deliveriesByIds } from "./delivery-log";
import { type DeliveryRow, type EventRow, events } from "./schema";

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
	const condition = "id" in where ? eq(events.id, where.id) : eq(events.seq, where.seq);
	const [row] = await db
		.select()
		.from(events)
		.where(and(eq(events.tenantId, tenantId), condition));
	return row;
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
