import { deletePacks } from "./db/delivery-log";
import { deleteEmptyBlocks } from "./db/event-blocks";
import {
	type CleanedMark,
	deleteCleaned,
	markFirstReusable,
	readCleanedMark,
	UNUSED_CLEANED_KEPT_MS,
	writeCleanedMark,
} from "./db/event-reuse";
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
 * Which events have expired, walked from where the last run stopped (the
 * cleaned mark of src/db/event-reuse.ts): an event's seq is given in
 * insertion order and its created_at is the time of that insert, so the
 * expired events come first and a run stops at the first one that has not.
 * An event scheduled ahead (`deliver_at`) is kept until RETENTION_DAYS after
 * it was due, so one scheduled further ahead than the retention is not
 * removed before it is sent: the walk's statement passes over it without
 * returning it, and once it expires it is found through the partial index
 * events_scheduled, behind the mark.
 *
 * Which deliveries go with them is known without searching: an event lists
 * the endpoints it fans out to, and a delivery's id is (endpoint, event
 * seq), so each is a point delete. Walking the deliveries table instead read
 * every delivery kept before the next expired one, since that table is in
 * endpoint order: tens of rows read per row removed, growing with the log.
 *
 * An expired event's row stays, cleaned, for ingest to store a new event in
 * (src/db/event-reuse.ts); rows no ingest took within UNUSED_CLEANED_KEPT_MS
 * are deleted. Events scheduled ahead are deleted with their deliveries.
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
/** Events scheduled ahead that the walk passed over while they were kept, and that have expired since. */
const SCHEDULED_EXPIRED_BEHIND = `
SELECT seq, endpoint_ids AS endpointIds, created_at AS createdAt, deliver_at AS deliverAt
FROM events WHERE deliver_at < ?3 AND seq <= ?1 AND created_at < ?3
ORDER BY deliver_at LIMIT ?2`;
/** Rows behind the mark in seq order, for the walk that deletes the cleaned ones no ingest reused. */
const ROWS_BEHIND = `
SELECT seq, created_at AS createdAt, deliver_at AS deliverAt
FROM events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3`;
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
	/** Event rows deleted: expired events scheduled ahead, and cleaned rows no ingest reused. */
	events: number;
	/** Expired events whose deliveries went and whose rows wait for ingest to reuse them. */
	cleaned: number;
	/** Rows of `deliveries`. */
	deliveries: number;
	/** Rows of `delivery_packs`, each holding many deliveries. */
	packs: number;
}

const emptyRemoved = (): Removed => ({ events: 0, cleaned: 0, deliveries: 0, packs: 0 });

function add(into: Removed, from: Removed): void {
	into.events += from.events;
	into.cleaned += from.cleaned;
	into.deliveries += from.deliveries;
	into.packs += from.packs;
}

/**
 * Runs `clean` on every shard in turn. One database that fails keeps none of
 * the others from being cleaned; the run still fails at the end, with the
 * first failure.
 */
async function cleanEveryShard(
	shards: readonly { name: string; d1: D1Database }[],
	clean: (d1: D1Database) => Promise<void>,
): Promise<void> {
	let failure: unknown;
	for (const shard of shards) {
		try {
			await clean(shard.d1);
		} catch (error) {
			console.error(`retention: ${shard.name} failed`, error);
			failure ??= error;
		}
	}
	if (failure !== undefined) throw failure;
}

/**
 * Deletes, on every shard, the rows of event_blocks whose seqs hold no event
 * any more (src/db/event-blocks.ts). Once a day: the statement reads the
 * whole table, and a block row that outlives its events costs a list only a
 * lookup. Returns how many went.
 */
export async function deleteEmptiedBlocks(env: Env): Promise<number> {
	let deleted = 0;
	await cleanEveryShard(allTenantShards(env), async (d1) => {
		deleted += (await deleteEmptyBlocks(d1).run()).meta.changes;
	});
	return deleted;
}

/**
 * Removes the deliveries of events older than RETENTION_DAYS on every
 * shard, in pages of one batch each, leaves the events' rows for ingest to
 * reuse, and deletes the rows left unused. Returns how many rows of each
 * went. A run is bounded (PAGES_PER_RUN, RUN_BUDGET_MS); what it leaves,
 * the next run takes.
 */
export async function purgeExpired(env: Env, nowMs: number): Promise<Removed> {
	const removed = emptyRemoved();
	const shards = allTenantShards(env);
	const cutoff = retentionCutoffMs(env, nowMs);
	const budgetPerShardMs = RUN_BUDGET_MS / Math.max(1, shards.length);
	await cleanEveryShard(shards, async (d1) => {
		add(removed, await purgeExpiredIn(d1, cutoff, Date.now() + budgetPerShardMs));
	});
	return removed;
}

/**
 * One page of expired events: the deliveries and packs of them all go, the
 * rows of those scheduled ahead go too, and the mark moves to `mark` in the
 * same batch, so no event counts as cleaned before its deliveries are gone.
 * Says whether the mark moved (writeCleanedMark).
 */
async function removePage(
	d1: D1Database,
	page: readonly WalkedEvent[],
	cutoff: number,
	mark: { after: number; to: CleanedMark } | undefined,
): Promise<{ removed: Removed; markMoved: boolean }> {
	const deliveryIds: string[] = [];
	/** Per endpoint, the highest expired event of the page: its packs named up to there may go. */
	const packsThrough = new Map<string, number>();
	for (const event of page) {
		for (const endpointId of JSON.parse(event.endpointIds) as string[]) {
			deliveryIds.push(deliveryId(endpointId, event.seq));
			packsThrough.set(endpointId, Math.max(event.seq, packsThrough.get(endpointId) ?? 0));
		}
	}
	const scheduled = page.filter((event) => event.deliverAt !== null).map((event) => event.seq);
	const deleteDeliveries = chunk(deliveryIds, DELIVERIES_PER_PAGE).map((ids) =>
		d1.prepare(DELETE_DELIVERIES).bind(JSON.stringify(ids), cutoff),
	);
	const outcome = await d1.batch([
		...deleteDeliveries,
		deletePacks(
			d1,
			[...packsThrough].map(([endpointId, throughSeq]) => ({ endpointId, throughSeq })),
			cutoff,
		),
		d1.prepare(DELETE_EVENTS).bind(JSON.stringify(scheduled), cutoff),
		...(mark ? [writeCleanedMark(d1, mark.after, mark.to)] : []),
	]);
	const deliveriesRemoved = outcome.slice(0, deleteDeliveries.length);
	const [packs, events, markWritten] = outcome.slice(deleteDeliveries.length);
	return {
		removed: {
			events: events?.meta.changes ?? 0,
			cleaned: page.length - scheduled.length,
			deliveries: deliveriesRemoved.reduce((sum, result) => sum + result.meta.changes, 0),
			packs: packs?.meta.changes ?? 0,
		},
		markMoved: (markWritten?.meta.changes ?? 0) > 0,
	};
}

/** The events of `results` up to the first unexpired one, in pages of at most DELIVERIES_PER_PAGE deliveries. */
function expiredPages(
	results: readonly WalkedEvent[],
	cutoff: number,
): { pages: WalkedEvent[][]; reachedUnexpired: boolean } {
	const pages: WalkedEvent[][] = [];
	let page: WalkedEvent[] = [];
	let deliveries = 0;
	for (const event of results) {
		if (event.createdAt >= cutoff) return { pages: page.length > 0 ? [...pages, page] : pages, reachedUnexpired: true };
		const fanOut = (JSON.parse(event.endpointIds) as string[]).length;
		if (page.length > 0 && deliveries + fanOut > DELIVERIES_PER_PAGE) {
			pages.push(page);
			page = [];
			deliveries = 0;
		}
		page.push(event);
		deliveries += fanOut;
	}
	return { pages: page.length > 0 ? [...pages, page] : pages, reachedUnexpired: false };
}

async function purgeExpiredIn(d1: D1Database, cutoff: number, deadline: number): Promise<Removed> {
	const removed = emptyRemoved();
	const previous = await readCleanedMark(d1).first<CleanedMark>();
	let through = previous?.throughSeq ?? 0;
	const walk = d1.prepare(EVENTS_AFTER);
	let pagesLeft = PAGES_PER_RUN;
	while (pagesLeft > 0 && Date.now() < deadline) {
		const { results } = await walk.bind(through, EVENTS_PER_PAGE, cutoff).all<WalkedEvent>();
		const { pages, reachedUnexpired } = expiredPages(results, cutoff);
		let markHeld = false;
		for (const page of pages) {
			const last = page.at(-1);
			if (!last) continue;
			const mark = { after: through, to: { throughSeq: last.seq, beforeMs: cutoff } };
			const { removed: fromPage, markMoved } = await removePage(d1, page, cutoff, mark);
			add(removed, fromPage);
			pagesLeft--;
			// An event stored behind the page since it was read holds the mark: the next run stops at it.
			markHeld = !markMoved;
			if (markHeld) break;
			through = last.seq;
		}
		if (markHeld || reachedUnexpired || results.length < EVENTS_PER_PAGE) break;
	}

	// Kept for their schedule when the walk passed them, expired since; few, as each run deletes them.
	const behind = await d1.prepare(SCHEDULED_EXPIRED_BEHIND).bind(through, EVENTS_PER_PAGE, cutoff).all<WalkedEvent>();
	for (const page of expiredPages(behind.results, cutoff).pages)
		add(removed, (await removePage(d1, page, cutoff, undefined)).removed);

	const firstReusable = (await markFirstReusable(d1).first<{ value: number }>())?.value ?? 0;
	removed.events += await deleteUnusedCleanedRows(
		d1,
		Math.max(0, firstReusable - 1),
		through,
		cutoff - UNUSED_CLEANED_KEPT_MS,
		deadline,
	);
	return removed;
}

/**
 * Deletes the cleaned rows created before `createdBefore`, which no ingest
 * reused in time, walking from the first cleaned row (after `from`);
 * created_at follows seq, so the walk stops at the first cleaned row that
 * is younger.
 */
async function deleteUnusedCleanedRows(
	d1: D1Database,
	from: number,
	through: number,
	createdBefore: number,
	deadline: number,
): Promise<number> {
	let deleted = 0;
	let after = from;
	const walk = d1.prepare(ROWS_BEHIND);
	for (let page = 0; page < PAGES_PER_RUN && Date.now() < deadline; page++) {
		const { results } = await walk.bind(after, through, EVENTS_PER_PAGE).all<Omit<WalkedEvent, "endpointIds">>();
		const unused: number[] = [];
		let reachedYounger = false;
		for (const row of results) {
			if (row.deliverAt !== null) continue;
			if (row.createdAt >= createdBefore) {
				reachedYounger = true;
				break;
			}
			unused.push(row.seq);
		}
		const last = results.at(-1);
		if (unused.length > 0) deleted += (await deleteCleaned(d1, unused, createdBefore).run()).meta.changes;
		if (reachedYounger || !last || results.length < EVENTS_PER_PAGE) break;
		after = last.seq;
	}
	return deleted;
}
