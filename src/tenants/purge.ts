import { and, eq, inArray, isNotNull, lt } from "drizzle-orm";
import { KEY_CACHE_SECONDS } from "../auth/authenticate";
import { deletePacks } from "../db/delivery-log";
import { deleteTenantBlocksBelow, eventsOfBlocks, tenantBlocksWithin, tenantEventsOrder } from "../db/event-blocks";
import { deliveries, endpoints, eventBlocks, events, eventTypes, tasks, templates, tenants } from "../db/schema";
import { CONTROL_SHARD, controlDatabase, shardD1, shardDatabase } from "../db/tenant-database";
import { chunk, IDS_PER_STATEMENT } from "../lib/chunk";
import { deliveryId } from "../lib/ids";
import { schedulerFor } from "../scheduler/client";

/**
 * A deleted tenant's rows go in slices, one slice per queue message, so no
 * single invocation holds D1's one writer for long or runs out of time. Each
 * message does one slice and queues the next until nothing is left.
 */
export interface TenantPurgeJob {
	kind: "tenant_purge";
	tenantId: string;
}

export function isTenantPurgeJob(value: unknown): value is TenantPurgeJob {
	if (typeof value !== "object" || value === null) return false;
	const job = value as Record<string, unknown>;
	return job.kind === "tenant_purge" && typeof job.tenantId === "string";
}

/** Endpoints per slice: each costs one Durable Object call to drop its pending retries. */
const ENDPOINTS_PER_SLICE = 50;
/** Events per slice, each with the deliveries it was fanned out to. */
const EVENTS_PER_SLICE = 200;
const EVENT_TYPES_PER_SLICE = 500;
/**
 * The tenant row goes last, and not before every isolate has dropped its
 * cached keys: until then a cached key could still store an event.
 */
const FINAL_DELAY_MS = 2 * KEY_CACHE_SECONDS * 1000;
/** A purge whose last slice is older than this has lost its message; the cron queues it again. */
export const STALLED_PURGE_MS = 5 * 60 * 1000;

/** Removes one slice of the tenant's rows. Returns how long to wait before the next slice, or null when done. */
export async function purgeTenantSlice(env: Env, tenantId: string, nowMs: number): Promise<number | null> {
	const control = controlDatabase(env);
	const [tenant] = await control.select().from(tenants).where(eq(tenants.id, tenantId));
	if (!tenant || tenant.deletedAt === null) return null;
	const db = shardDatabase(env, tenant.shard);
	// The heartbeat tells the cron that this purge is still moving.
	await control.update(tenants).set({ updatedAt: nowMs }).where(eq(tenants.id, tenantId));

	const endpointRows = await db
		.select({ id: endpoints.id })
		.from(endpoints)
		.where(eq(endpoints.tenantId, tenantId))
		.limit(ENDPOINTS_PER_SLICE);
	if (endpointRows.length > 0) {
		const ids = endpointRows.map((row) => row.id);
		await Promise.all(ids.map((id) => schedulerFor(env, tenantId, id).cancelAll()));
		for (const part of chunk(ids, IDS_PER_STATEMENT)) {
			await db.delete(endpoints).where(and(eq(endpoints.tenantId, tenantId), inArray(endpoints.id, part)));
		}
		return 0;
	}

	// In seq order through the tenant's blocks: each slice starts where the last one ended.
	const eventRows = await db
		.select({ seq: events.seq, endpointIds: events.endpointIds })
		.from(eventBlocks)
		.innerJoin(events, eventsOfBlocks(null, null))
		.where(tenantBlocksWithin(tenantId, null, null))
		.orderBy(...tenantEventsOrder(false))
		.limit(EVENTS_PER_SLICE);
	if (eventRows.length > 0) {
		// A delivery's id is derived from its endpoint and event, so the deliveries are found without a scan.
		const deliveryIds = eventRows.flatMap((row) =>
			(JSON.parse(row.endpointIds) as string[]).map((endpointId) => deliveryId(endpointId, row.seq)),
		);
		for (const part of chunk(deliveryIds, IDS_PER_STATEMENT)) {
			await db.delete(deliveries).where(inArray(deliveries.id, part));
		}
		// Packs are named after their highest delivery, whose event is in this slice or an earlier one.
		const packsThrough = new Map<string, number>();
		for (const row of eventRows) {
			for (const endpointId of JSON.parse(row.endpointIds) as string[]) {
				packsThrough.set(endpointId, Math.max(row.seq, packsThrough.get(endpointId) ?? 0));
			}
		}
		await deletePacks(
			shardD1(env, tenant.shard),
			[...packsThrough].map(([endpointId, throughSeq]) => ({ endpointId, throughSeq })),
			Number.MAX_SAFE_INTEGER,
		).run();
		for (const part of chunk(
			eventRows.map((row) => row.seq),
			IDS_PER_STATEMENT,
		)) {
			await db.delete(events).where(inArray(events.seq, part));
		}
		const last = eventRows.at(-1);
		if (last) await deleteTenantBlocksBelow(db, tenantId, last.seq);
		return 0;
	}
	await deleteTenantBlocksBelow(db, tenantId, Number.MAX_SAFE_INTEGER);

	await db.delete(tasks).where(eq(tasks.tenantId, tenantId));
	// At most TENANT_LIMIT_CEILINGS.max_templates rows: one statement is a small slice.
	await db.delete(templates).where(eq(templates.tenantId, tenantId));
	const typeRows = await db
		.delete(eventTypes)
		.where(
			and(
				eq(eventTypes.tenantId, tenantId),
				inArray(
					eventTypes.name,
					db
						.select({ name: eventTypes.name })
						.from(eventTypes)
						.where(eq(eventTypes.tenantId, tenantId))
						.limit(EVENT_TYPES_PER_SLICE),
				),
			),
		)
		.returning({ name: eventTypes.name });
	if (typeRows.length > 0) return 0;

	const waitMs = tenant.deletedAt + FINAL_DELAY_MS - nowMs;
	if (waitMs > 0) return waitMs;
	// The shard's copy before the control row, which is what the cron finds a stalled purge by.
	if (tenant.shard !== CONTROL_SHARD) await db.delete(tenants).where(eq(tenants.id, tenantId));
	await control.delete(tenants).where(eq(tenants.id, tenantId));
	return null;
}

/** Runs one slice per message and queues the next one; a slice that fails is retried by the queue. */
export async function continueTenantPurges(env: Env, messages: readonly Message<unknown>[]): Promise<void> {
	const queue = env.DELIVERY_QUEUE as Queue<TenantPurgeJob>;
	for (const message of messages) {
		if (!isTenantPurgeJob(message.body)) continue;
		const { tenantId } = message.body;
		try {
			const waitMs = await purgeTenantSlice(env, tenantId, Date.now());
			if (waitMs !== null) {
				await queue.send({ kind: "tenant_purge", tenantId }, { delaySeconds: Math.ceil(waitMs / 1000) });
			}
			message.ack();
		} catch (error) {
			console.error("tenant purge slice failed", tenantId, error);
			message.retry({ delaySeconds: 10 });
		}
	}
}

/** Queues the first slice of a deleted tenant's purge. */
export async function startTenantPurge(env: Env, tenantId: string): Promise<void> {
	await (env.DELIVERY_QUEUE as Queue<TenantPurgeJob>).send({ kind: "tenant_purge", tenantId });
}

/** Queues again the purges whose message was lost (their heartbeat stopped). Run by the cron. */
export async function resumeStalledPurges(env: Env, nowMs: number): Promise<number> {
	const stalled = await controlDatabase(env)
		.select({ id: tenants.id })
		.from(tenants)
		.where(and(isNotNull(tenants.deletedAt), lt(tenants.updatedAt, nowMs - STALLED_PURGE_MS)));
	for (const { id } of stalled) await startTenantPurge(env, id);
	return stalled.length;
}
