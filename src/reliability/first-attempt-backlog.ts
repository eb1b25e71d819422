import { asc, gte, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { deliveriesWithIds } from "../db/delivery-log";
import { cleanedThroughSql } from "../db/event-reuse";
import { owedFirstAttemptColumns } from "../db/events";
import { deliveries, events } from "../db/schema";
import { deliveryId } from "../lib/ids";

/*
 * A shard's share of the backlog: how long its oldest event has waited for
 * a first attempt. The delivery queue is shared by every shard, so its
 * metrics cannot say which database the consumers are behind on; this is
 * read from the shard itself, for GET /v1/health.
 *
 * Events get their first attempts roughly in the order they were stored,
 * so "has its first attempt" holds for old events and not for the newest
 * ones, and the boundary is found by bisecting seqs: two point lookups per
 * step, about 25 steps for ten million events, instead of a scan. An event
 * delivered out of order (a paced or ordered endpoint, a slow batch, one
 * scheduled ahead, whose wait counts from its due time) can
 * move the boundary by a few events; the figure is an estimate, which is
 * what a monitor needs.
 */

/** Bisection steps at most: enough for 2^40 seqs, and a bound on one health check's queries. */
const MAX_STEPS = 40;

export interface FirstAttemptBacklog {
	/** How long the oldest event without a first attempt has waited; 0 when every event has one. Null for an empty shard. */
	oldestWaitingAgeSeconds: number | null;
	/** Events stored after it, itself included: an upper bound of those waiting (seqs can have gaps). */
	waitingEventsAtMost: number;
}

interface Probe {
	seq: number;
	/** Since when its first attempt is owed: its creation, or its due time when it was scheduled ahead. */
	owedSince: number;
	waiting: boolean;
}

/** The first event at or after `seq`, and whether it waits for its first attempt. */
async function probe(db: Database, seq: number, nowMs: number): Promise<Probe | null> {
	const [event] = await db
		.select(owedFirstAttemptColumns)
		.from(events)
		.where(gte(events.seq, seq))
		.orderBy(asc(events.seq))
		.limit(1);
	if (!event) return null;
	const [firstEndpoint] = JSON.parse(event.endpointIds) as string[];
	const owedSince = Math.max(event.createdAt, event.deliverAt ?? 0);
	// Fanned out to no one, or scheduled for later: nothing is owed yet.
	if (firstEndpoint === undefined || (event.deliverAt !== null && event.deliverAt > nowMs)) {
		return { seq: event.seq, owedSince, waiting: false };
	}
	const [delivery] = await db
		.select({ id: deliveries.id })
		.from(deliveriesWithIds([deliveryId(firstEndpoint, event.seq)]));
	return { seq: event.seq, owedSince, waiting: delivery === undefined };
}

export async function firstAttemptBacklog(db: Database, nowMs: number): Promise<FirstAttemptBacklog> {
	// Two subqueries: SQLite answers a lone min() or max() of the rowid with one lookup, but both in one
	// select with a scan of the whole table. Read next to one row of the table, so an empty table gives none.
	const [range] = await db
		.select({
			// Cleaned rows (src/db/event-reuse.ts) have lost their deliveries on purpose: the search starts above.
			low: sql<
				number | null
			>`(SELECT min(${events.seq}) FROM ${events} WHERE ${events.seq} > ${sql.raw(cleanedThroughSql)})`,
			high: sql<number | null>`(SELECT max(${events.seq}) FROM ${events})`,
		})
		.from(events)
		.limit(1);
	if (!range || range.low === null || range.high === null) {
		return { oldestWaitingAgeSeconds: null, waitingEventsAtMost: 0 };
	}
	const newest = await probe(db, range.high, nowMs);
	if (!newest?.waiting) return { oldestWaitingAgeSeconds: 0, waitingEventsAtMost: 0 };
	// Seqs in [low, high] are not known yet; those below low have their first attempt, `waiting` waits.
	let waiting = newest;
	let low = range.low;
	let high = newest.seq - 1;
	for (let step = 0; step < MAX_STEPS && low <= high; step++) {
		const middle = Math.floor((low + high) / 2);
		const found = await probe(db, middle, nowMs);
		if (!found || found.seq > high) {
			high = middle - 1;
		} else if (found.waiting) {
			waiting = found;
			high = found.seq - 1;
		} else {
			low = found.seq + 1;
		}
	}
	return {
		oldestWaitingAgeSeconds: Math.max(0, Math.round((nowMs - waiting.owedSince) / 1000)),
		waitingEventsAtMost: range.high - waiting.seq + 1,
	};
}
