import { type SQL, sql } from "drizzle-orm";
import type { Database } from "./client";

/*
 * A database's events have no index on created_at, yet their seq is given in
 * insertion order and their created_at is the time of that insert, so the
 * seq order is the time order up to the clocks of the isolates that stamped
 * them (and exactly for the events this version stores: since migration
 * 0012 its ingest never stamps an event before the newest one stored).
 * Where a time falls among the events is found by bisecting the seqs, a
 * point lookup by rowid each: about 25 for tens of millions of events,
 * instead of reading every event in between. The lookups run in one
 * statement (a recursive query), so finding a time costs one round trip.
 */

/** An event as the bisection finds it. */
export interface EventPosition {
	seq: number;
	tenantId: string;
	createdAt: number;
}

/**
 * How far apart the created_at of two events may be from their seq order:
 * the isolates' clocks, plus the time between taking `now` and the insert
 * committing, which grows while D1 is busy. Callers turning a time into a
 * seq widen it by this much and keep their exact filter on created_at.
 */
export const CREATED_AT_SKEW_MS = 60_000;

/**
 * A recursive CTE, `name(known, high, probe)`, that bisects the seqs for
 * the newest event created before `atMs`: its row with `known >= high`
 * holds it in `known` (`knownBefore` when no event past that one is older).
 * Each step costs one lookup by rowid, the next probe being written over
 * these expressions rather than the columns they make.
 */
function bisection(name: string, atMs: number, knownBefore: number): SQL {
	/** The first seq of (known, high] a step looks at: the middle, rounded up. */
	const middleOf = (known: SQL, high: SQL) => sql`((${known} + ${high} + 2) >> 1)`;
	/** The first event from that middle on: its seq when it is within high and older than atMs, else -1 (or null). */
	const probeOf = (known: SQL, high: SQL) => sql`(SELECT CASE WHEN seq <= ${high} AND created_at < ${atMs} THEN seq
		ELSE -1 END FROM events WHERE seq >= ${middleOf(known, high)} ORDER BY seq LIMIT 1)`;
	// A step's row carries the probe of its (known, high); the next row applies it: an event older than atMs
	// becomes the newest known, else nothing in [middle, high] is and high comes down.
	const known = sql`max(known, coalesce(probe, -1))`;
	const high = sql`CASE WHEN coalesce(probe, -1) >= 0 THEN high ELSE ${middleOf(sql`known`, sql`high`)} - 1 END`;
	return sql`${sql.identifier(name)}(known, high, probe) AS (
		SELECT known, high, ${probeOf(sql`known`, sql`high`)}
		FROM (SELECT CAST(${knownBefore} AS INTEGER) AS known, coalesce((SELECT max(seq) FROM events), 0) AS high)
		UNION ALL
		SELECT ${known}, ${high}, ${probeOf(known, high)} FROM ${sql.identifier(name)} WHERE known < high
	)`;
}

/**
 * The seq of the newest event created before `atMs`, as a scalar subquery
 * (0 when there is none), found by bisection: exact where created_at does
 * not go back in seq order, as it does not among the events this version
 * stores.
 */
export function newestSeqBefore(atMs: number): SQL {
	return sql`(WITH RECURSIVE ${bisection("before_time", atMs, 0)}
		SELECT known FROM before_time WHERE known >= high)`;
}

/**
 * The events on either side of `atMs`: `before`, the newest event created
 * before it, and `atOrAfter`, the first event after that one, if it was
 * created at or after `atMs`. Each is a row the bisection read and checked,
 * so an event of either side is never misplaced; which one is found relies on
 * created_at following seq, so a caller that turns them into seq bounds
 * widens the time by CREATED_AT_SKEW_MS first. `knownBefore` is a seq already
 * known to be before `atMs`, where the search starts.
 */
export async function eventsAround(
	db: Database,
	atMs: number,
	knownBefore = 0,
): Promise<{ before: EventPosition | null; atOrAfter: EventPosition | null }> {
	const [found] = await db.all<{
		olderSeq: number | null;
		olderTenantId: string | null;
		olderCreatedAt: number | null;
		newerSeq: number | null;
		newerTenantId: string | null;
		newerCreatedAt: number | null;
	}>(sql`
		WITH RECURSIVE ${bisection("bisection", atMs, knownBefore)}
		SELECT older.seq AS olderSeq, older.tenant_id AS olderTenantId, older.created_at AS olderCreatedAt,
			newer.seq AS newerSeq, newer.tenant_id AS newerTenantId, newer.created_at AS newerCreatedAt
		FROM bisection
		LEFT JOIN events older ON older.seq = bisection.known AND older.created_at < ${atMs}
		LEFT JOIN events newer ON newer.seq = (SELECT seq FROM events WHERE seq > bisection.known ORDER BY seq LIMIT 1)
			AND newer.created_at >= ${atMs}
		WHERE bisection.known >= bisection.high`);
	return {
		before: positionOf(found?.olderSeq, found?.olderTenantId, found?.olderCreatedAt),
		atOrAfter: positionOf(found?.newerSeq, found?.newerTenantId, found?.newerCreatedAt),
	};
}

function positionOf(
	seq: number | null | undefined,
	tenantId: string | null | undefined,
	createdAt: number | null | undefined,
): EventPosition | null {
	// A side the bisection found no event for comes back as NULLs from its LEFT JOIN.
	return seq == null || tenantId == null || createdAt == null ? null : { seq, tenantId, createdAt };
}

/**
 * Seq bounds of the events created in the window [since, until): each of
 * them has afterSeq < seq < beforeSeq, a side given no time being open
 * (null). The bounds hold for events stamped up to CREATED_AT_SKEW_MS out of
 * seq order; a caller keeps its exact filter on created_at.
 */
export async function seqWindow(
	db: Database,
	window: { since?: number | undefined; until?: number | undefined },
): Promise<{ afterSeq: number | null; beforeSeq: number | null }> {
	const [lower, upper] = await Promise.all([
		window.since === undefined ? null : eventsAround(db, window.since - CREATED_AT_SKEW_MS),
		window.until === undefined ? null : eventsAround(db, window.until + CREATED_AT_SKEW_MS),
	]);
	return { afterSeq: lower?.before?.seq ?? null, beforeSeq: upper?.atOrAfter?.seq ?? null };
}
