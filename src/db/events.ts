import { and, eq, inArray } from "drizzle-orm";
import { chunk, IDS_PER_STATEMENT } from "../lib/chunk";
import { deliveryId } from "../lib/ids";
import type { Database } from "./client";
import { type DeliveryRow, deliveries, type EventRow, events } from "./schema";

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

/** The delivery rows of an event's fan-out; ids derive from endpoint and event, so these are point lookups. */
export async function deliveriesOfEvent(db: Database, event: EventRow): Promise<Map<string, DeliveryRow>> {
	const endpointIds = JSON.parse(event.endpointIds) as string[];
	const ids = endpointIds.map((endpointId) => deliveryId(endpointId, event.seq));
	const rows: DeliveryRow[] = [];
	for (const part of chunk(ids, IDS_PER_STATEMENT)) {
		rows.push(
			...(await db
				.select()
				.from(deliveries)
				.where(and(eq(deliveries.tenantId, event.tenantId), inArray(deliveries.id, part)))),
		);
	}
	return new Map(rows.map((row) => [row.endpointId, row]));
}
