/*
 * Expired events are not deleted one by one: D1 bills a deleted row as a
 * row written, so the delete of an expired event was a third of the rows
 * written for it (two to store it then, one to delete it). Retention removes an
 * expired event's deliveries and leaves its row "cleaned"; ingest then
 * stores a new event in that row (an upsert that moves it to a new seq: the
 * same rows written as an insert, and no delete later). Rows no ingest took
 * within UNUSED_CLEANED_KEPT_MS are deleted as before, so a shard whose
 * traffic fell does not keep expired events.
 *
 * Which rows are cleaned is kept in three rows of sweep_cursors, written by
 * retention once per page: every event at or below CLEANED_THROUGH, created
 * before CLEANED_BEFORE and not scheduled ahead, has lost its deliveries.
 * Events scheduled ahead (`deliver_at`) are never reused: retention deletes
 * them as it always did. REUSABLE_FROM is where the first cleaned row was at
 * retention's last run, so ingest does not read the scheduled events kept at
 * the head of the table each time.
 */

const CLEANED_THROUGH = "events_cleaned_through_seq";
const CLEANED_BEFORE = "events_cleaned_before_ms";
const REUSABLE_FROM = "events_reusable_from_seq";
/** The sweep_cursors rows of the mark: a database whose events are all deleted by hand starts again without them. */
export const CLEANED_MARK_CURSORS = [CLEANED_THROUGH, CLEANED_BEFORE, REUSABLE_FROM] as const;

/** How long a cleaned row waits for an ingest to reuse it before retention deletes it. */
export const UNUSED_CLEANED_KEPT_MS = 3_600_000;

/** Rows past the first reusable one that ingest reads at most for each event it stores. */
const REUSE_LOOKAHEAD = 16;

const cursor = (name: string) => `coalesce((SELECT value FROM sweep_cursors WHERE name = '${name}'), 0)`;

/** SQL for the highest seq the cleaned mark covers (0 before retention first ran). */
export const cleanedThroughSql = cursor(CLEANED_THROUGH);

/** SQL true when the event row `alias` has been cleaned by retention: its deliveries are gone. */
export function cleanedEventSql(alias: string): string {
	return `(${alias}.seq <= ${cursor(CLEANED_THROUGH)} AND ${alias}.deliver_at IS NULL AND ${alias}.created_at < ${cursor(CLEANED_BEFORE)})`;
}

/**
 * Up to `count` cleaned rows' seqs, oldest first, read from REUSABLE_FROM:
 * at most REUSE_LOOKAHEAD rows more than it returns (scheduled events kept
 * among them).
 */
function oldestCleanedSql(count: string): string {
	return `SELECT seq FROM (SELECT seq, deliver_at, created_at FROM events
		WHERE seq >= ${cursor(REUSABLE_FROM)} AND seq <= ${cursor(CLEANED_THROUGH)}
		ORDER BY seq LIMIT ${count} + ${REUSE_LOOKAHEAD})
	WHERE deliver_at IS NULL AND created_at < ${cursor(CLEANED_BEFORE)} LIMIT ${count}`;
}

/** The seq of the oldest cleaned row, or NULL when there is none to reuse. */
export const firstReusableSeqSql = `(${oldestCleanedSql("1")})`;

/** The seqs of up to `count` cleaned rows, oldest first, each with its place `n` (1, 2, …) for ingest to join its inputs on. */
export function reusableSeqsSql(count: string): string {
	return `SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM (${oldestCleanedSql(count)})`;
}

/**
 * The seq after which ingest gives new ones, from `newestSeq` (SQL text of
 * the highest stored, or NULL): that, or the mark when it is higher (every
 * event above the mark deleted).
 */
export function seqFloorSql(newestSeq: string): string {
	return `max(coalesce(${newestSeq}, 0), ${cursor(CLEANED_THROUGH)})`;
}

/**
 * The seq a reused row moves to: the one after the floor, read again for
 * each row of an upsert (correlated with `excluded`) rather than once a
 * statement, since each reused row raises it.
 */
export const nextSeqForEachRowSql = `(SELECT ${seqFloorSql("max(seq)")} + 1 FROM events WHERE excluded.tenant_id IS excluded.tenant_id)`;

export interface CleanedMark {
	throughSeq: number;
	beforeMs: number;
}

export function readCleanedMark(d1: D1Database): D1PreparedStatement {
	return d1.prepare(`SELECT ${cursor(CLEANED_THROUGH)} AS throughSeq, ${cursor(CLEANED_BEFORE)} AS beforeMs`);
}

/**
 * Records that every event after `afterSeq` up to `throughSeq`, created
 * before `beforeMs` and not scheduled ahead, is cleaned; the mark never goes
 * back. It does not move when an event in that range is younger: one stored
 * there after retention read its page (a purge removed every event above,
 * and the next rowid fell behind), whose deliveries the page did not take.
 * The next run then walks from the old mark and stops at that event.
 */
export function writeCleanedMark(d1: D1Database, afterSeq: number, mark: CleanedMark): D1PreparedStatement {
	return d1
		.prepare(
			`INSERT INTO sweep_cursors (name, value)
SELECT name, value FROM (SELECT '${CLEANED_THROUGH}' AS name, ?1 AS value UNION ALL SELECT '${CLEANED_BEFORE}', ?2)
WHERE NOT EXISTS (SELECT 1 FROM events WHERE seq > ?3 AND seq <= ?1 AND deliver_at IS NULL AND created_at >= ?2)
ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`,
		)
		.bind(mark.throughSeq, mark.beforeMs, afterSeq);
}

/**
 * Moves REUSABLE_FROM to the first cleaned row, and returns it. It reads
 * from where that was last time: the rows before it are scheduled events
 * kept for their schedule, which never become cleaned (cleaned rows only
 * appear behind the mark as it moves on).
 */
export function markFirstReusable(d1: D1Database): D1PreparedStatement {
	return d1.prepare(
		`INSERT INTO sweep_cursors (name, value)
SELECT '${REUSABLE_FROM}', coalesce(
	(SELECT min(e.seq) FROM events AS e WHERE e.seq >= ${cursor(REUSABLE_FROM)} AND ${cleanedEventSql("e")}),
	${cursor(CLEANED_THROUGH)} + 1)
ON CONFLICT (name) DO UPDATE SET value = excluded.value
RETURNING value`,
	);
}

/** Deletes those of `seqs` that are cleaned rows created before `createdBefore`: a row reused since has another seq. */
export function deleteCleaned(d1: D1Database, seqs: readonly number[], createdBefore: number): D1PreparedStatement {
	return d1
		.prepare(
			`DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?1)) AND ${cleanedEventSql("events")} AND created_at < ?2`,
		)
		.bind(JSON.stringify(seqs), createdBefore);
}

/** How many event rows a database holds, and how many of them are cleaned: what `npm run bench` reads to see rows reused. */
export function countEventRows(d1: D1Database): D1PreparedStatement {
	return d1.prepare(
		`SELECT (SELECT count(*) FROM events) AS stored, (SELECT count(*) FROM events AS e WHERE ${cleanedEventSql("e")}) AS cleaned`,
	);
}
