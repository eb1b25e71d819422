import { and, eq, gte, inArray, isNull, lt, notExists, or } from "drizzle-orm";
import { type Database, openDatabase } from "./db/client";
import { deliveries, events } from "./db/schema";
import { allTenantShards } from "./db/tenant-database";

const DEFAULT_RETENTION_DAYS = 30;
/** Deletes go in slices, so one run never holds D1's single writer for long. */
const ROWS_PER_SLICE = 500;
const MAX_SLICES_PER_RUN = 200;

export function retentionCutoffMs(env: { RETENTION_DAYS?: string }, nowMs: number): number {
	const days = Number(env.RETENTION_DAYS);
	const keepDays = Number.isFinite(days) && days > 0 ? days : DEFAULT_RETENTION_DAYS;
	return nowMs - keepDays * 24 * 3600 * 1000;
}

/**
 * Removes events and deliveries older than RETENTION_DAYS. A delivery's
 * created_at is its event's, so an event and its deliveries leave together.
 * An event scheduled ahead (`deliver_at`) counts from its due time, not its
 * creation: it is kept, with its deliveries, until RETENTION_DAYS after it
 * was due, so one scheduled further ahead than the retention is not removed
 * before it is sent. Returns how many rows of each went.
 */
export async function purgeExpired(env: Env, nowMs: number): Promise<{ events: number; deliveries: number }> {
	const removed = { events: 0, deliveries: 0 };
	let failure: unknown;
	for (const shard of allTenantShards(env)) {
		// One database that fails keeps none of the others from being cleaned; the run still fails at the end.
		try {
			const fromOne = await purgeExpiredIn(openDatabase(shard.d1), retentionCutoffMs(env, nowMs));
			removed.events += fromOne.events;
			removed.deliveries += fromOne.deliveries;
		} catch (error) {
			console.error(`retention: ${shard.name} failed`, error);
			failure ??= error;
		}
	}
	if (failure !== undefined) throw failure;
	return removed;
}

async function purgeExpiredIn(db: Database, cutoff: number): Promise<{ events: number; deliveries: number }> {
	const removed = { events: 0, deliveries: 0 };
	for (let slice = 0; slice < MAX_SLICES_PER_RUN; slice++) {
		const expiredDeliveries = db
			.select({ id: deliveries.id })
			.from(deliveries)
			.where(
				and(
					lt(deliveries.createdAt, cutoff),
					// One point lookup on (tenant_id, id) per old delivery: scheduled events are few.
					notExists(
						db
							.select({ seq: events.seq })
							.from(events)
							.where(
								and(
									eq(events.tenantId, deliveries.tenantId),
									eq(events.id, deliveries.eventId),
									gte(events.deliverAt, cutoff),
								),
							),
					),
				),
			)
			.limit(ROWS_PER_SLICE);
		const gone = await db
			.delete(deliveries)
			.where(inArray(deliveries.id, expiredDeliveries))
			.returning({ id: deliveries.id });
		removed.deliveries += gone.length;
		if (gone.length < ROWS_PER_SLICE) break;
	}
	for (let slice = 0; slice < MAX_SLICES_PER_RUN; slice++) {
		const expiredEvents = db
			.select({ seq: events.seq })
			.from(events)
			.where(and(lt(events.createdAt, cutoff), or(isNull(events.deliverAt), lt(events.deliverAt, cutoff))))
			.limit(ROWS_PER_SLICE);
		const gone = await db.delete(events).where(inArray(events.seq, expiredEvents)).returning({ seq: events.seq });
		removed.events += gone.length;
		if (gone.length < ROWS_PER_SLICE) break;
	}
	return removed;
}
