import { deletePacks } from "./db/delivery-log";
import { allTenantShards } from "./db/tenant-database";
import { chunk } from "./lib/chunk";
import { deliveryId } from "./lib/ids";

const DEFAULT_RETENTION_DAYS = 30;
/** Events one page reads and removes, with their deliveries, in one batch. */
const EVENTS_PER_PAGE = 500;
/**
 * Deliveries one page removes at most: a page of events with a large fan-out
 * ends early, so that one delete statement never holds D1's single writer
 * for long and its JSON of ids stays small.
 */
const DELIVERIES_PER_PAGE = 5_000;
/**
 * Pages one run removes per database at most. Retention runs every minute,
 * so this is the rate it keeps up with: 100 pages of 500 events a minute is
 * about 830 events a second per database, above what one database ingests
 * (docs/SCALING.md).
 */
const PAGES_PER_RUN = 100;
/** A run starts no page after this long, split evenly between the databases, so runs a minute apart do not pile up. */
const RUN_BUDGET_MS = 20_000;

export function retentionCutoffMs(env: { RETENTION_DAYS?: string }, nowMs: number): number {
	const days = Number(env.RETENTION_DAYS);
	const keepDays = Number.isFinite(days) && days > 0 ? days : DEFAULT_RETENTION_DAYS;
	return nowMs - keepDays * 24 * 3600 * 1000;
}

/*
 * Which events have expired, walked from the head of the table: an event's
 * seq is given in insertion order and its created_at is the time of that
 * insert, so the expired events come first and a run stops at the first one
 * that has not (created_at out of seq order by the isolates' clocks only
 * delays an event to a later run). The walk carries its position from page
 * to page, so each event is read once a run. An event scheduled ahead
 * (`deliver_at`) is kept until RETENTION_DAYS after it was due, so one
 * scheduled further ahead than the retention is not removed before it is
 * sent: it stays at the head while it is kept, and the walk's statement
 * passes over it without returning it, so however many are kept they cost a
 * run rows read in SQLite, not pages.
 *
 * Which deliveries go with them is known without searching: an event lists
 * the endpoints it fans out to, and a delivery's id is (endpoint, event
 * seq), so each is a point delete. Walking the deliveries table instead read
 * every delivery kept before the next expired one, since that table is in
 * endpoint order: tens of rows read per row removed, growing with the log.
 *
 * The deletes check the expiry again: between a page's read and its delete
 * another run may have removed those events and a new event taken a freed
 * seq (the rowid is max + 1, so seqs are given again once the newest events
 * are gone), and the new one must stay.
 */
const EVENTS_AFTER = `
SELECT seq, endpoint_ids AS endpointIds, created_at AS createdAt, deliver_at AS deliverAt
FROM events WHERE seq > ?1 AND (deliver_at IS NULL OR deliver_at < ?3 OR created_at >= ?3)
ORDER BY seq LIMIT ?2`;
const DELETE_DELIVERIES = "DELETE FROM deliveries WHERE id IN (SELECT value FROM json_each(?1)) AND created_at < ?2";
const DELETE_EVENTS = `DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?1))
	AND created_at < ?2 AND (deliver_at IS NULL OR deliver_at < ?2)`;

interface WalkedEvent {
	seq: number;
	endpointIds: string;
	createdAt: number;
	deliverAt: number | null;
}

interface Removed {
	events: number;
	/** Rows of `deliveries`. */
	deliveries: number;
	/** Rows of `delivery_packs`, each holding many deliveries. */
	packs: number;
}

/**
 * Removes events older than RETENTION_DAYS and their deliveries, on every
 * shard, in pages of one batch each (the event and its deliveries leave
 * together). Returns how many rows of each went. A run is bounded
 * (PAGES_PER_RUN, RUN_BUDGET_MS); what it leaves, the next run takes.
 */
export async function purgeExpired(env: Env, nowMs: number): Promise<Removed> {
	const removed: Removed = { events: 0, deliveries: 0, packs: 0 };
	const shards = allTenantShards(env);
	const cutoff = retentionCutoffMs(env, nowMs);
	const budgetPerShardMs = RUN_BUDGET_MS / Math.max(1, shards.length);
	let failure: unknown;
	for (const shard of shards) {
		// One database that fails keeps none of the others from being cleaned; the run still fails at the end.
		try {
			const fromOne = await purgeExpiredIn(shard.d1, cutoff, Date.now() + budgetPerShardMs);
			removed.events += fromOne.events;
			removed.deliveries += fromOne.deliveries;
			removed.packs += fromOne.packs;
		} catch (error) {
			console.error(`retention: ${shard.name} failed`, error);
			failure ??= error;
		}
	}
	if (failure !== undefined) throw failure;
	return removed;
}

async function purgeExpiredIn(d1: D1Database, cutoff: number, deadline: number): Promise<Removed> {
	const removed: Removed = { events: 0, deliveries: 0, packs: 0 };
	const walk = d1.prepare(EVENTS_AFTER);
	let after = 0;
	for (let page = 0; page < PAGES_PER_RUN && Date.now() < deadline; page++) {
		const { results } = await walk.bind(after, EVENTS_PER_PAGE, cutoff).all<WalkedEvent>();
		const seqs: number[] = [];
		const deliveryIds: string[] = [];
		/** Per endpoint, the highest expired event of the page: its packs named up to there may go. */
		const packsThrough = new Map<string, number>();
		let reachedUnexpired = false;
		let pageFull = false;
		for (const event of results) {
			if (event.createdAt >= cutoff) {
				reachedUnexpired = true;
				break;
			}
			if (event.deliverAt === null || event.deliverAt < cutoff) {
				const endpointIds = JSON.parse(event.endpointIds) as string[];
				if (seqs.length > 0 && deliveryIds.length + endpointIds.length > DELIVERIES_PER_PAGE) {
					pageFull = true;
					break;
				}
				seqs.push(event.seq);
				for (const endpointId of endpointIds) {
					deliveryIds.push(deliveryId(endpointId, event.seq));
					packsThrough.set(endpointId, event.seq);
				}
			}
			after = event.seq;
		}
		if (seqs.length > 0) {
			const outcome = await d1.batch([
				...chunk(deliveryIds, DELIVERIES_PER_PAGE).map((ids) =>
					d1.prepare(DELETE_DELIVERIES).bind(JSON.stringify(ids), cutoff),
				),
				deletePacks(
					d1,
					[...packsThrough].map(([endpointId, throughSeq]) => ({ endpointId, throughSeq })),
					cutoff,
				),
				d1.prepare(DELETE_EVENTS).bind(JSON.stringify(seqs), cutoff),
			]);
			removed.events += outcome.at(-1)?.meta.changes ?? 0;
			removed.deliveries += outcome.slice(0, -2).reduce((sum, result) => sum + result.meta.changes, 0);
			removed.packs += outcome.at(-2)?.meta.changes ?? 0;
		}
		if (reachedUnexpired || (!pageFull && results.length < EVENTS_PER_PAGE)) break;
	}
	return removed;
}
