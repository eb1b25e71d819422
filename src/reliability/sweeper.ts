import { and, asc, desc, eq, gt, gte, inArray, isNotNull, isNull, lt, lte, or, sql } from "drizzle-orm";
import { type Database, openDatabase } from "../db/client";
import { deliveriesWithIds, IDS_PER_LOOKUP } from "../db/delivery-log";
import { eventsAround } from "../db/event-position";
import { cleanedThroughSql } from "../db/event-reuse";
import { owedFirstAttemptColumns } from "../db/events";
import { deliveries, events, sweepCursors, tenants } from "../db/schema";
import { allTenantShards, repairTenantCopies, shardDatabase, shardNames } from "../db/tenant-database";
import { chunk, IDS_PER_STATEMENT } from "../lib/chunk";
import { groupBy } from "../lib/group";
import { deliveryId, parseDeliveryId } from "../lib/ids";
import {
	type DeliveryJob,
	enqueueJobs,
	MAX_QUEUE_DELAY_SECONDS,
	MESSAGES_PER_SEND,
	packedJobs,
	TARGETS_PER_JOB,
} from "../queue/messages";
import { findStuckInPacks, pushPackedRetries } from "./packed-retries";

/*
 * The sweeper, run by the every-minute cron, so that nothing accepted is lost:
 *
 * 1. Events whose fan-out never reached a first attempt. Ingest stores the
 *    event and then queues its jobs; a worker that dies between the two, or a
 *    local queue that loses its in-memory messages when `wrangler dev` is
 *    killed, leaves an event with no delivery rows. The sweeper walks the
 *    events in seq order behind a per-database cursor and queues a first
 *    attempt for every (event, endpoint) pair that still has no delivery row.
 * 2. Retries left pending past their due time: a scheduler alarm or a queue
 *    message that was lost. They are queued again and their next_attempt_at
 *    pushed forward, so the next minute's run leaves them alone while queued.
 *    Packed ones are found through their packs (./packed-retries.ts).
 *
 * 3. Scheduled events (`deliver_at`). Ingest queues those due within the
 *    queue's longest delay (12 hours) with that delay; the sweeper queues
 *    the others, with the delay left, once they come within it. An event
 *    whose time came SWEEP_AFTER_SECONDS ago and that still has endpoints
 *    without a delivery row lost its delayed message, and is queued now.
 *    Both walk the partial index events_scheduled behind a cursor each, so
 *    events sent at once cost them nothing, and the walk of step 1 passes
 *    scheduled events over rather than take them for lost before their time.
 *
 * Work is only "lost" once it is overdue by SWEEP_AFTER_SECONDS. Deliveries
 * are at least once: an attempt that was merely slow in a queue may be sent a
 * second time by the sweeper. Receivers dedupe on `webhook-id`, which is the
 * event id on every attempt.
 */

const DEFAULT_SWEEP_AFTER_SECONDS = 180;
/**
 * Below this the sweeper would race work still legitimately in flight: a
 * queue batch that failed is retried after 5 s, several times, before its
 * first attempt is recorded.
 */
const MIN_SWEEP_AFTER_SECONDS = 30;
/** Above this, lost work waits too long for its first attempt. */
const MAX_SWEEP_AFTER_SECONDS = 300;

/** Events read per statement; a page costs two D1 round trips when nothing is missing. */
const EVENTS_PER_PAGE = 500;
/**
 * Events looked at per database per run, so a run stays short (the cron
 * fires every minute) once a backlog builds up, e.g. on the first run over an
 * existing database; the next run resumes at the cursor. It is also the
 * sweeper's pace: above about 80 events a second, sustained, the cursor falls
 * behind and catches up when traffic drops.
 */
const MAX_EVENTS_PER_RUN = 5000;
/**
 * (event, endpoint) pairs looked up per database per run: with large fan-outs
 * the delivery lookups, not the events, are the work. This many is about 220
 * statements, well inside D1's 1000 queries per invocation even if each
 * statement of a batch counts as one. An event's pairs are never split, so a
 * run takes at least one event.
 */
const MAX_PAIRS_PER_RUN = 20_000;
/** Events per sweep slice: a slice's lookups stay far inside one invocation's D1 query allowance. */
const SLICE_EVENTS = 500;
/** Times a dead-lettered slice is sent back to the main queue before it is given up and logged. */
const SLICE_REQUEUES = 10;
/** (event, endpoint) pairs one slice message looks up, about 20 statements; the rest goes on as a new slice. */
const MAX_PAIRS_PER_SLICE = 2000;
/**
 * Stuck retries queued again per database per run: a backlog left by an
 * outage drains over a few minutes instead of in one long invocation and one
 * burst of attempts against the endpoints that were failing.
 */
const STUCK_RETRIES_PER_RUN = 500;
/**
 * Slack on the clocks of the isolates that stamp created_at, when telling an
 * event the cursor already passed from a newer one that reused its seq.
 */
const SEQ_REUSE_SLACK_MS = 60_000;

/** The cursor rows: the last seq looked at, and that event's created_at. */
const CURSOR_SEQ = "events";
const CURSOR_CREATED_AT = "events_created_at";

/** Scheduled events looked at per database per run, by each of the two walks. */
const SCHEDULED_PER_RUN = 500;
/**
 * Pages of SCHEDULED_PER_RUN each scheduled walk reads per database per run:
 * 10,000 events a minute. A bulk scheduled for one time comes within the
 * queue's delay all at once, nearly 12 hours before it is due, and is queued
 * at that pace long before then.
 */
const SCHEDULED_PAGES_PER_RUN = 20;
/** How far inside the queue's longest delay the sweeper queues a scheduled event, so its delay never exceeds it. */
const SCHEDULE_MARGIN_MS = 10 * 60_000;

export interface SweepCounts {
	eventsScanned: number;
	/** Scheduled events queued with the delay left to their time. */
	scheduledReleased: number;
	/** First attempts of scheduled events whose time came and went with nothing sent. */
	scheduledRequeued: number;
	/** Slices of a backlog larger than one run's bound, handed to the consumers. */
	sweepSlicesQueued: number;
	firstAttemptsRequeued: number;
	stuckRetriesRequeued: number;
}

/** SWEEP_AFTER_SECONDS, defaulted when missing or not a number, and clamped to 30..300. */
export function sweepAfterSeconds(env: { SWEEP_AFTER_SECONDS?: string }): number {
	const raw = env.SWEEP_AFTER_SECONDS?.trim() ?? "";
	const seconds = Number(raw);
	if (raw === "" || !Number.isFinite(seconds)) return DEFAULT_SWEEP_AFTER_SECONDS;
	return Math.min(MAX_SWEEP_AFTER_SECONDS, Math.max(MIN_SWEEP_AFTER_SECONDS, Math.round(seconds)));
}

/**
 * One sweep of every tenant database. A step that fails (the queue refusing
 * a send, D1 unavailable) is logged and retried by the next run: the cursor
 * only moves past events whose jobs were accepted.
 */
export async function sweep(env: Env, nowMs: number): Promise<SweepCounts> {
	const afterMs = sweepAfterSeconds(env) * 1000;
	const cutoffMs = nowMs - afterMs;
	const queue = env.DELIVERY_QUEUE as Queue<DeliveryJob>;
	const counts: SweepCounts = {
		eventsScanned: 0,
		sweepSlicesQueued: 0,
		firstAttemptsRequeued: 0,
		stuckRetriesRequeued: 0,
		scheduledReleased: 0,
		scheduledRequeued: 0,
	};
	for (const shard of allTenantShards(env)) {
		const db = openDatabase(shard.d1);
		// Liveness from the shard's own copies of its tenants' rows: no control read per event or tenant.
		const tenantLiveness = new Map<string, boolean>();
		let completed = true;
		try {
			const found = await sweepFirstAttempts(db, shard.name, queue, cutoffMs, tenantLiveness);
			counts.eventsScanned += found.eventsScanned;
			counts.sweepSlicesQueued += found.slicesQueued;
			counts.firstAttemptsRequeued += found.requeued;
		} catch (error) {
			completed = false;
			console.error("sweep: looking for lost first attempts failed", error);
		}
		try {
			counts.scheduledReleased += await releaseScheduledEvents(db, queue, nowMs, tenantLiveness);
			counts.scheduledRequeued += await requeueLostScheduledEvents(db, queue, cutoffMs, tenantLiveness);
		} catch (error) {
			completed = false;
			console.error("sweep: releasing scheduled events failed", error);
		}
		try {
			counts.stuckRetriesRequeued += await sweepStuckRetries(db, queue, cutoffMs, nowMs + afterMs, tenantLiveness);
		} catch (error) {
			completed = false;
			console.error("sweep: looking for stuck retries failed", error);
		}
		try {
			await repairTenantCopies(env, shard.name, nowMs);
		} catch (error) {
			completed = false;
			console.error("sweep: bringing tenant copies in line failed", error);
		}
		if (completed) await noteSweepCompleted(db, Date.now());
	}
	return counts;
}

/** When the sweeper last got through a database, for GET /v1/health: one row written per minute. */
const CURSOR_LAST_COMPLETED = "last_completed_at";

async function noteSweepCompleted(db: Database, atMs: number): Promise<void> {
	try {
		await db
			.insert(sweepCursors)
			.values({ name: CURSOR_LAST_COMPLETED, value: atMs })
			.onConflictDoUpdate({ target: sweepCursors.name, set: { value: sql`excluded.value` } });
	} catch (error) {
		console.error("sweep: could not record its run", error);
	}
}

/** When the sweeper last completed a run over `db` (ms), or null if it never has. */
export async function lastSweepCompletedAt(db: Database): Promise<number | null> {
	const [row] = await db
		.select({ value: sweepCursors.value })
		.from(sweepCursors)
		.where(eq(sweepCursors.name, CURSOR_LAST_COMPLETED));
	return row?.value ?? null;
}

interface ScannedEvent {
	seq: number;
	tenantId: string;
	createdAt: number;
	endpointIds: string[];
}

/** Where a scan of the events stops: the run's bounds, and either the cutoff or the end of a slice. */
interface ScanBounds {
	maxEvents: number;
	maxPairs: number;
	/** The first event created at or after this ends the scan (the cron's run). */
	cutoffMs?: number;
	/** The last seq to look at (a slice). */
	untilSeq?: number;
	/**
	 * Events created at or after this are passed over rather than ending the
	 * scan (a slice): one that reused a seq inside the slice's range after a
	 * purge is not overdue yet, and the cron's cursor finds it later.
	 */
	skipFromMs?: number;
}

interface ScanResult {
	eventsScanned: number;
	requeued: number;
	/** The last event looked at, if any. */
	last: ScannedEvent | undefined;
	/** Whether the scan reached the cutoff or the end of its range, rather than a bound. */
	finished: boolean;
}

/**
 * Walks the events after `afterSeq` in seq order and queues a first attempt
 * for every (event, endpoint) pair with no delivery row. `onQueued` runs
 * after each page whose jobs the queue accepted, so the cron's cursor moves
 * only past events whose jobs were sent.
 */
async function scanForLostFirstAttempts(
	db: Database,
	queue: Queue<DeliveryJob>,
	afterSeq: number,
	bounds: ScanBounds,
	tenantLiveness: Map<string, boolean>,
	onQueued: (last: ScannedEvent, sentJobs: boolean) => Promise<void>,
): Promise<ScanResult> {
	let cursor = afterSeq;
	let last: ScannedEvent | undefined;
	let eventsScanned = 0;
	let requeued = 0;
	let pairs = 0;
	while (eventsScanned < bounds.maxEvents && pairs < bounds.maxPairs) {
		const limit = Math.min(EVENTS_PER_PAGE, bounds.maxEvents - eventsScanned);
		const page = await db
			.select(owedFirstAttemptColumns)
			.from(events)
			.where(
				and(
					// Not behind the cleaned mark: those rows lost their deliveries to retention, not to a failure
					// (src/db/event-reuse.ts). One bound, so that SQLite seeks to it rather than filtering up to it.
					gt(events.seq, sql`max(${cursor}, ${sql.raw(cleanedThroughSql)})`),
					bounds.untilSeq === undefined ? undefined : lte(events.seq, bounds.untilSeq),
				),
			)
			.orderBy(asc(events.seq))
			.limit(limit);
		const due: ScannedEvent[] = [];
		/** The last event this page got past, queued or passed over. */
		let passed: ScannedEvent | undefined;
		// seq follows commit order, so the first event newer than the cutoff ends the scan: those after it are newer still.
		let finished = page.length < limit;
		let bounded = false;
		for (const row of page) {
			if (bounds.cutoffMs !== undefined && row.createdAt >= bounds.cutoffMs) {
				finished = true;
				break;
			}
			const endpointIds = JSON.parse(row.endpointIds) as string[];
			const event = { seq: row.seq, tenantId: row.tenantId, createdAt: row.createdAt, endpointIds };
			// A scheduled event is not lost before its time: the walks of events_scheduled look after it.
			if (row.deliverAt !== null || (bounds.skipFromMs !== undefined && row.createdAt >= bounds.skipFromMs)) {
				passed = event;
				continue;
			}
			if (pairs + endpointIds.length > bounds.maxPairs && (due.length > 0 || eventsScanned > 0)) {
				finished = false;
				bounded = true;
				break;
			}
			pairs += endpointIds.length;
			due.push(event);
			passed = event;
		}
		if (!passed) return { eventsScanned, requeued, last, finished };

		const jobs = due.length > 0 ? packedByTenant(await missingFirstAttempts(db, due, tenantLiveness), true) : [];
		// Queued before anything moves past them: if the queue refuses, these events are looked at again.
		if (jobs.length > 0) await enqueueJobs(queue, jobs);
		await onQueued(passed, jobs.length > 0);
		cursor = passed.seq;
		last = passed;
		eventsScanned += due.length;
		requeued += jobs.reduce((sum, job) => sum + job.targets.length, 0);
		if (finished || bounded) return { eventsScanned, requeued, last, finished };
	}
	return { eventsScanned, requeued, last, finished: false };
}

/**
 * The cron's look for lost first attempts in one database. It walks up to
 * MAX_EVENTS_PER_RUN events itself; when more are overdue than that (a
 * backlog the queue lost, say), it hands the rest out as slices of
 * SLICE_EVENTS seqs on the queue, which consumers work through in parallel,
 * and moves its cursor past them. Recovery then takes about as long for a
 * million lost events as for ten thousand, instead of one run's worth a
 * minute.
 */
async function sweepFirstAttempts(
	db: Database,
	shard: string,
	queue: Queue<DeliveryJob>,
	cutoffMs: number,
	tenantLiveness: Map<string, boolean>,
): Promise<{ eventsScanned: number; requeued: number; slicesQueued: number }> {
	let unsaved: ScannedEvent | undefined;
	const scanned = await scanForLostFirstAttempts(
		db,
		queue,
		await readCursor(db),
		{ maxEvents: MAX_EVENTS_PER_RUN, maxPairs: MAX_PAIRS_PER_RUN, cutoffMs },
		tenantLiveness,
		async (last, sentJobs) => {
			if (sentJobs) {
				// Stored at once, so that a failure later in this run cannot make the next one send them a second time.
				await writeCursor(db, last);
				unsaved = undefined;
			} else {
				// Nothing was sent: the cursor can wait for the end of the run, one write instead of one per page.
				unsaved = last;
			}
		},
	);
	if (unsaved) await writeCursor(db, unsaved);
	let slicesQueued = 0;
	if (!scanned.finished && scanned.last) {
		const end = await lastEventBefore(db, scanned.last, cutoffMs);
		if (end.seq > scanned.last.seq) {
			slicesQueued = await queueSweepSlices(queue, shard, scanned.last.seq, end.seq, cutoffMs);
			await writeCursor(db, end);
		}
	}
	return { eventsScanned: scanned.eventsScanned, requeued: scanned.requeued, slicesQueued };
}

/**
 * The newest event older than the cutoff, found by bisecting seqs
 * (src/db/event-position.ts) rather than reading every row in between.
 * created_at follows seq up to the isolates' clock skew, far less than the
 * cutoff's minutes.
 */
async function lastEventBefore(db: Database, after: ScannedEvent, cutoffMs: number): Promise<ScannedEvent> {
	const { before } = await eventsAround(db, cutoffMs, after.seq);
	return before ? { ...before, endpointIds: [] } : after;
}

/** A range of events (afterSeq, untilSeq] of one shard that a consumer sweeps. */
export interface SweepSliceJob {
	kind: "sweep_slice";
	shard: string;
	afterSeq: number;
	untilSeq: number;
	/** The cron run's cutoff: events of the range created at or after it are not overdue and are passed over. */
	cutoffMs: number;
	/** How many times the slice came back from the dead-letter queue. */
	requeued?: number;
}

export function isSweepSliceJob(value: unknown): value is SweepSliceJob {
	if (typeof value !== "object" || value === null) return false;
	const job = value as Record<string, unknown>;
	return (
		job.kind === "sweep_slice" &&
		typeof job.shard === "string" &&
		Number.isInteger(job.afterSeq) &&
		Number.isInteger(job.untilSeq) &&
		Number.isFinite(job.cutoffMs) &&
		(job.requeued === undefined || Number.isInteger(job.requeued))
	);
}

async function queueSweepSlices(
	queue: Queue<unknown>,
	shard: string,
	afterSeq: number,
	untilSeq: number,
	cutoffMs: number,
) {
	const slices: SweepSliceJob[] = [];
	for (let from = afterSeq; from < untilSeq; from += SLICE_EVENTS) {
		slices.push({
			kind: "sweep_slice",
			shard,
			afterSeq: from,
			untilSeq: Math.min(untilSeq, from + SLICE_EVENTS),
			cutoffMs,
		});
	}
	for (const part of chunk(slices, MESSAGES_PER_SEND)) {
		await queue.sendBatch(part.map((body) => ({ body, contentType: "json" })));
	}
	return slices.length;
}

/**
 * Sweeps one slice per message. A slice with more pairs than one message may
 * look up goes on as a new slice from where it stopped; a slice that fails is
 * retried by the queue, and one that exhausts its retries comes back from
 * the dead-letter queue (requeueDeadSweepSlices): its range is behind the
 * cursor, so nothing else would look at it again.
 */
export async function continueSweepSlices(env: Env, messages: readonly Message<unknown>[]): Promise<void> {
	const queue = env.DELIVERY_QUEUE as Queue<DeliveryJob>;
	for (const message of messages) {
		if (!isSweepSliceJob(message.body)) continue;
		const slice = message.body;
		if (!shardNames(env).includes(slice.shard)) {
			// Its database is no longer bound: nothing can sweep it, and retrying would go on for ever.
			console.error(`sweep slice of ${slice.shard} dropped: no such D1 binding`, JSON.stringify(slice));
			message.ack();
			continue;
		}
		try {
			const db = shardDatabase(env, slice.shard);
			const scanned = await scanForLostFirstAttempts(
				db,
				queue,
				slice.afterSeq,
				{
					maxEvents: SLICE_EVENTS,
					maxPairs: MAX_PAIRS_PER_SLICE,
					untilSeq: slice.untilSeq,
					skipFromMs: slice.cutoffMs,
				},
				new Map(),
				async () => undefined,
			);
			if (!scanned.finished && scanned.last && scanned.last.seq < slice.untilSeq) {
				await (queue as Queue<unknown>).send({ ...slice, afterSeq: scanned.last.seq } satisfies SweepSliceJob, {
					contentType: "json",
				});
			}
			message.ack();
		} catch (error) {
			console.error("sweep slice failed", JSON.stringify(slice), error);
			message.retry({ delaySeconds: 10 });
		}
	}
}

/**
 * Sweep slices that reached the dead-letter queue go back to the main queue
 * after a minute, up to SLICE_REQUEUES times (each round is five tries on the
 * main queue and a minute's wait: about a quarter of an hour in all). A slice
 * that fails for longer has a cause no retry fixes, and is logged with its
 * range for the operator.
 */
export async function requeueDeadSweepSlices(env: Env, messages: readonly Message<unknown>[]): Promise<void> {
	for (const message of messages) {
		if (!isSweepSliceJob(message.body)) continue;
		const slice = message.body;
		const requeued = (slice.requeued ?? 0) + 1;
		if (requeued > SLICE_REQUEUES) {
			console.error("sweep slice given up after failing for 15 minutes; its events need a look", JSON.stringify(slice));
		} else {
			await (env.DELIVERY_QUEUE as Queue<unknown>).send({ ...slice, requeued } satisfies SweepSliceJob, {
				contentType: "json",
				delaySeconds: 60,
			});
		}
		message.ack();
	}
}

/**
 * Where the scan resumes. A seq is the rowid, and SQLite hands out max+1: once
 * the newest events are deleted (a tenant's purge, or retention emptying an
 * idle database), new events reuse seqs at or below the cursor. They are
 * recognised by a created_at later than that of the event the cursor passed,
 * and the scan resumes below them.
 */
async function readCursor(db: Database): Promise<number> {
	const [cursorRows, [below]] = await db.batch([
		db
			.select()
			.from(sweepCursors)
			.where(inArray(sweepCursors.name, [CURSOR_SEQ, CURSOR_CREATED_AT])),
		db
			.select({ seq: events.seq, createdAt: events.createdAt })
			.from(events)
			.where(lte(events.seq, sql`(SELECT value FROM sweep_cursors WHERE name = ${CURSOR_SEQ})`))
			.orderBy(desc(events.seq))
			.limit(1),
	]);
	const cursor = cursorRows.find((row) => row.name === CURSOR_SEQ)?.value ?? 0;
	const passedAt = cursorRows.find((row) => row.name === CURSOR_CREATED_AT)?.value;
	if (!below || passedAt === undefined || below.createdAt <= passedAt + SEQ_REUSE_SLACK_MS) return cursor;
	const [resume] = await db
		.select({ seq: events.seq })
		.from(events)
		.where(and(lte(events.seq, cursor), lte(events.createdAt, passedAt + SEQ_REUSE_SLACK_MS)))
		.orderBy(desc(events.seq))
		.limit(1);
	console.log(`sweep: event seqs up to ${cursor} were given out again; resuming after ${resume?.seq ?? 0}`);
	return resume?.seq ?? 0;
}

async function writeCursor(db: Database, passed: ScannedEvent): Promise<void> {
	await db
		.insert(sweepCursors)
		.values([
			{ name: CURSOR_SEQ, value: passed.seq },
			{ name: CURSOR_CREATED_AT, value: passed.createdAt },
		])
		.onConflictDoUpdate({ target: sweepCursors.name, set: { value: sql`excluded.value` } });
}

/** A first attempt that never came: an (event, endpoint) pair of a live tenant without a delivery row. */
interface LostFirstAttempt {
	tenantId: string;
	eventSeq: number;
	endpointId: string;
}

/**
 * Jobs for lost first attempts, packed ten to a message whatever their event
 * (one tenant to a job), as ingest packs a batch's: recovering a backlog at
 * fan-out 1 costs a message per ten events, not one per event.
 */
function packedByTenant(lost: readonly LostFirstAttempt[], swept: boolean): DeliveryJob[] {
	return [...groupBy(lost, (attempt) => attempt.tenantId)].flatMap(([tenantId, attempts]) =>
		packedJobs(tenantId, attempts, "initial").map((job) => (swept ? { ...job, swept } : job)),
	);
}

/** The pairs of `due` that have no delivery row, live tenants only. */
async function missingFirstAttempts(
	db: Database,
	due: readonly ScannedEvent[],
	tenantLiveness: Map<string, boolean>,
): Promise<LostFirstAttempt[]> {
	await learnTenants(db, due, tenantLiveness);
	const pairs = due
		.filter((event) => tenantLiveness.get(event.tenantId) === true)
		.flatMap((event) => event.endpointIds.map((endpointId) => ({ event, endpointId })));
	// A delivery id is derived from its endpoint and event, so the rows are point lookups, not a scan.
	const queries = chunk(
		pairs.map(({ event, endpointId }) => deliveryId(endpointId, event.seq)),
		IDS_PER_LOOKUP,
	).map((ids) => db.select({ id: deliveries.id }).from(deliveriesWithIds(ids)));
	const [first, ...rest] = queries;
	if (!first) return [];
	const found = new Set<string>((await db.batch([first, ...rest])).flat().map((row) => row.id));

	return pairs
		.filter(({ event, endpointId }) => !found.has(deliveryId(endpointId, event.seq)))
		.map(({ event, endpointId }) => ({ tenantId: event.tenantId, eventSeq: event.seq, endpointId }));
}

/**
 * Adds to `liveness` whether each tenant of `rows` is live: it exists and is
 * not deleted, whose work is dropped rather than sent. Known per run, so a
 * run asks once per tenant, not once per page.
 */
async function learnTenants(
	db: Database,
	rows: readonly { tenantId: string }[],
	liveness: Map<string, boolean>,
): Promise<void> {
	const unknown = [...new Set(rows.map((row) => row.tenantId))].filter((id) => !liveness.has(id));
	for (const part of chunk(unknown, IDS_PER_STATEMENT)) {
		const found = await db
			.select({ id: tenants.id })
			.from(tenants)
			.where(and(inArray(tenants.id, part), isNull(tenants.deletedAt)));
		const live = new Set(found.map((row) => row.id));
		for (const id of part) liveness.set(id, live.has(id));
	}
}

/** A place in the scheduled events' order (deliver_at, then seq), kept in two rows of sweep_cursors. */
export interface ScheduleCursor {
	deliverAt: number;
	seq: number;
}

async function readScheduleCursor(db: Database, name: string): Promise<ScheduleCursor> {
	const rows = await db
		.select()
		.from(sweepCursors)
		.where(inArray(sweepCursors.name, [`${name}_at`, `${name}_seq`]));
	return {
		deliverAt: rows.find((row) => row.name === `${name}_at`)?.value ?? 0,
		seq: rows.find((row) => row.name === `${name}_seq`)?.value ?? 0,
	};
}

async function writeScheduleCursor(db: Database, name: string, cursor: ScheduleCursor): Promise<void> {
	await db
		.insert(sweepCursors)
		.values([
			{ name: `${name}_at`, value: cursor.deliverAt },
			{ name: `${name}_seq`, value: cursor.seq },
		])
		.onConflictDoUpdate({ target: sweepCursors.name, set: { value: sql`excluded.value` } });
}

/** Scheduled events after `cursor` and due at or before `untilMs`, in their order: a range of events_scheduled. */
export async function scheduledAfter(db: Database, cursor: ScheduleCursor, untilMs: number) {
	return db
		.select({
			seq: events.seq,
			tenantId: events.tenantId,
			createdAt: events.createdAt,
			endpointIds: events.endpointIds,
			deliverAt: sql<number>`${events.deliverAt}`,
		})
		.from(events)
		.where(
			and(
				// Spelled out so that the planner takes the partial index events_scheduled; the `>=` gives the
				// range its lower end, which the OR below alone does not, so a page does not read again
				// every scheduled event before the cursor.
				isNotNull(events.deliverAt),
				gte(events.deliverAt, cursor.deliverAt),
				or(
					gt(events.deliverAt, cursor.deliverAt),
					and(eq(events.deliverAt, cursor.deliverAt), gt(events.seq, cursor.seq)),
				),
				lte(events.deliverAt, untilMs),
			),
		)
		.orderBy(asc(events.deliverAt), asc(events.seq))
		.limit(SCHEDULED_PER_RUN);
}

const RELEASE_CURSOR = "scheduled_released";
const LOST_SCHEDULED_CURSOR = "scheduled_checked";

/**
 * Queues, with the delay left to their time, the scheduled events that came
 * within the queue's longest delay and that ingest could not queue (they were
 * further ahead). Those ingest queued are passed over. No new event can fall
 * behind this cursor: one that ingest leaves to the sweeper is due later than
 * the cursor will have reached.
 */
async function releaseScheduledEvents(
	db: Database,
	queue: Queue<DeliveryJob>,
	nowMs: number,
	tenantLiveness: Map<string, boolean>,
): Promise<number> {
	const maxDelayMs = MAX_QUEUE_DELAY_SECONDS * 1000;
	return walkScheduled(db, RELEASE_CURSOR, nowMs + maxDelayMs - SCHEDULE_MARGIN_MS, async (rows) => {
		const leftToUs = rows.filter((row) => row.deliverAt - row.createdAt > maxDelayMs);
		// Any already attempted (the lost-event walk got there first, after a run fell behind) are not sent again.
		const lost = leftToUs.length > 0 ? await missingFirstAttempts(db, leftToUs, tenantLiveness) : [];
		const dueAt = new Map(leftToUs.map((row) => [row.seq, row.deliverAt]));
		// One send per second of delay: events scheduled for the same time share their messages.
		const byDelay = groupBy(lost, (attempt) =>
			Math.max(0, Math.ceil(((dueAt.get(attempt.eventSeq) ?? nowMs) - nowMs) / 1000)),
		);
		const jobs: DeliveryJob[] = [];
		for (const [delaySeconds, delayed] of byDelay) {
			// Their first send, not a second one: the event was scheduled beyond the queue's delay.
			const packed = packedByTenant(delayed, false);
			await enqueueJobs(queue, packed, delaySeconds);
			jobs.push(...packed);
		}
		return jobs;
	});
}

/**
 * Queues now the first attempts of scheduled events whose time is past the
 * cutoff and that still have endpoints without a delivery row: their delayed
 * message was lost (a restart of `wrangler dev`, say).
 */
async function requeueLostScheduledEvents(
	db: Database,
	queue: Queue<DeliveryJob>,
	cutoffMs: number,
	tenantLiveness: Map<string, boolean>,
): Promise<number> {
	return walkScheduled(db, LOST_SCHEDULED_CURSOR, cutoffMs, async (rows) => {
		const jobs = packedByTenant(await missingFirstAttempts(db, rows, tenantLiveness), true);
		if (jobs.length > 0) await enqueueJobs(queue, jobs);
		return jobs;
	});
}

/**
 * Walks the scheduled events due up to `untilMs` behind the cursor `name`, a
 * page at a time until caught up or SCHEDULED_PAGES_PER_RUN, and hands each
 * page to `queuePage`, which queues what it must and answers the jobs it
 * queued. The cursor moves past a page only once its jobs were accepted: if
 * the queue refuses, the next run queues them again. Answers the targets
 * queued.
 */
async function walkScheduled(
	db: Database,
	name: string,
	untilMs: number,
	queuePage: (rows: (ScannedEvent & { deliverAt: number })[]) => Promise<DeliveryJob[]>,
): Promise<number> {
	let cursor = await readScheduleCursor(db, name);
	let queued = 0;
	for (let page = 0; page < SCHEDULED_PAGES_PER_RUN; page++) {
		const rows = await scheduledAfter(db, cursor, untilMs);
		const last = rows.at(-1);
		if (!last) break;
		const jobs = await queuePage(rows.map((row) => ({ ...row, endpointIds: JSON.parse(row.endpointIds) as string[] })));
		queued += jobs.reduce((sum, job) => sum + job.targets.length, 0);
		cursor = { deliverAt: last.deliverAt, seq: last.seq };
		await writeScheduleCursor(db, name, cursor);
		if (rows.length < SCHEDULED_PER_RUN) break;
	}
	return queued;
}

/** Queues again the retries left pending past their due time. Returns how many attempts were queued. */
async function sweepStuckRetries(
	db: Database,
	queue: Queue<DeliveryJob>,
	cutoffMs: number,
	pushToMs: number,
	tenantLiveness: Map<string, boolean>,
): Promise<number> {
	const columns = {
		id: deliveries.id,
		tenantId: deliveries.tenantId,
		endpointId: deliveries.endpointId,
		attemptCount: deliveries.attemptCount,
	};
	// Two statements rather than one with `IS NULL OR <`: SQLite answers the OR by scanning the
	// whole partial index (every pending delivery, due or not) where each half is a range of it.
	const [undated, overdue] = await db.batch([
		db
			.select(columns)
			.from(deliveries)
			.where(
				and(eq(deliveries.status, "pending"), isNull(deliveries.nextAttemptAt), lt(deliveries.updatedAt, cutoffMs)),
			)
			.limit(STUCK_RETRIES_PER_RUN),
		db
			.select(columns)
			.from(deliveries)
			.where(and(eq(deliveries.status, "pending"), lt(deliveries.nextAttemptAt, cutoffMs)))
			.orderBy(asc(deliveries.nextAttemptAt))
			.limit(STUCK_RETRIES_PER_RUN),
	]);
	const rows = [...undated, ...overdue].slice(0, STUCK_RETRIES_PER_RUN);
	const packed = await findStuckInPacks(db, cutoffMs, STUCK_RETRIES_PER_RUN - rows.length);
	const stuck = [...rows, ...packed.stuck];
	if (stuck.length === 0) {
		// Packs due only for deliveries that have rows now: their due time follows what they still hold.
		await pushPackedRetries(db, packed, new Set(), pushToMs);
		return 0;
	}

	await learnTenants(db, stuck, tenantLiveness);
	// One job per (tenant, event, trigger), so an event stuck for several endpoints costs one message.
	const groups = new Map<string, DeliveryJob>();
	for (const row of stuck) {
		const parsed = parseDeliveryId(row.id);
		if (!parsed || tenantLiveness.get(row.tenantId) !== true) continue;
		const trigger = row.attemptCount > 0 ? "scheduled" : "initial";
		const key = `${row.tenantId}/${parsed.eventSeq}/${trigger}`;
		const job = groups.get(key) ?? {
			tenantId: row.tenantId,
			eventSeq: parsed.eventSeq,
			targets: [],
			trigger,
			swept: true,
		};
		job.targets.push({ endpointId: row.endpointId, attempt: row.attemptCount + 1 });
		groups.set(key, job);
	}
	const jobs = [...groups.values()].flatMap((job) =>
		chunk(job.targets, TARGETS_PER_JOB).map((targets) => ({ ...job, targets })),
	);
	await enqueueJobs(queue, jobs);

	// Every row read is pushed, a deleted tenant's too, so rows that are not sent cannot fill the next run's bound.
	// Only rows still overdue move: one whose attempt was already recorded keeps the time that attempt set.
	await pushPackedRetries(db, packed, new Set(packed.stuck.map((member) => member.id)), pushToMs);
	const updates = chunk(
		rows.map((row) => row.id),
		IDS_PER_STATEMENT,
	).map((ids) =>
		db
			.update(deliveries)
			.set({ nextAttemptAt: pushToMs })
			.where(
				and(
					inArray(deliveries.id, ids),
					eq(deliveries.status, "pending"),
					or(isNull(deliveries.nextAttemptAt), lt(deliveries.nextAttemptAt, cutoffMs)),
				),
			),
	);
	const [first, ...rest] = updates;
	if (first) await db.batch([first, ...rest]);
	return jobs.reduce((sum, job) => sum + job.targets.length, 0);
}
