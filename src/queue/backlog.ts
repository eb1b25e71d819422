import { ApiError } from "../lib/errors";

/*
 * Backpressure. When events arrive faster than they can be delivered, the
 * main queue's backlog grows; past a bound, accepting more only promises
 * deliveries that will come too late. So ingest reads the backlog (from the
 * queue's own metrics, which every send also returns) and, past the bound
 * the operator set, refuses new events with a 503 and Retry-After instead of
 * a 202 it cannot honour in time.
 */

const DEFAULT_MAX_BACKLOG_AGE_SECONDS = 900;
const DEFAULT_MAX_BACKLOG_MESSAGES = 1_000_000;
/** How stale this isolate's reading of the backlog may be before ingest reads it again. */
export const BACKLOG_READING_MS = 1000;
/** What a refused sender is told to wait: long enough for the consumers to make headway. */
export const BACKLOG_RETRY_AFTER_SECONDS = 30;

export interface Backlog {
	messages: number;
	/** How long the oldest message has waited, in seconds; null when the queue does not say. */
	oldestAgeSeconds: number | null;
}

interface Reading {
	backlog: Backlog;
	readAtMs: number;
}

let lastReading: Reading | undefined;

function backlogFrom(metrics: QueueMetrics | QueueSendMetrics | QueueSendBatchMetrics, nowMs: number): Backlog {
	const oldest = metrics.oldestMessageTimestamp;
	return {
		messages: metrics.backlogCount,
		oldestAgeSeconds: oldest === undefined ? null : Math.max(0, Math.round((nowMs - oldest.getTime()) / 1000)),
	};
}

/** Records the backlog a send reported, so the next ingest need not ask for it. */
export function noteBacklog(metrics: QueueSendMetrics | QueueSendBatchMetrics, nowMs = Date.now()): void {
	lastReading = { backlog: backlogFrom(metrics, nowMs), readAtMs: nowMs };
}

/** The main queue's backlog, at most BACKLOG_READING_MS old; null when the queue cannot say. */
export async function currentBacklog(queue: Queue<unknown>, nowMs = Date.now()): Promise<Backlog | null> {
	if (lastReading && nowMs - lastReading.readAtMs < BACKLOG_READING_MS) return lastReading.backlog;
	try {
		const backlog = await readBacklog(queue, nowMs);
		lastReading = { backlog, readAtMs: nowMs };
		return backlog;
	} catch (error) {
		// Unknown is not overloaded: the send itself tells whether the queue takes messages.
		console.error("could not read the delivery queue's backlog", error);
		return null;
	}
}

function setting(raw: string | undefined, fallback: number): number {
	const value = Number(raw?.trim() ?? "");
	return raw === undefined || raw.trim() === "" || !Number.isFinite(value) || value < 0 ? fallback : value;
}

/** The operator's bounds (MAX_BACKLOG_AGE_SECONDS, MAX_BACKLOG_MESSAGES); 0 turns a bound off. */
export function backlogBounds(env: Pick<Env, "MAX_BACKLOG_AGE_SECONDS" | "MAX_BACKLOG_MESSAGES">): {
	ageSeconds: number;
	messages: number;
} {
	return {
		ageSeconds: setting(env.MAX_BACKLOG_AGE_SECONDS, DEFAULT_MAX_BACKLOG_AGE_SECONDS),
		messages: setting(env.MAX_BACKLOG_MESSAGES, DEFAULT_MAX_BACKLOG_MESSAGES),
	};
}

/** The queue's backlog as it stands, read now. */
export async function readBacklog(queue: Queue<unknown>, nowMs = Date.now()): Promise<Backlog> {
	return backlogFrom(await queue.metrics(), nowMs);
}

/** Which bound the backlog is past, in words, or null while it is within both. */
export function boundPassed(backlog: Backlog, bounds: ReturnType<typeof backlogBounds>): string | null {
	if (bounds.ageSeconds > 0 && backlog.oldestAgeSeconds !== null && backlog.oldestAgeSeconds > bounds.ageSeconds) {
		return `its oldest message has waited ${backlog.oldestAgeSeconds} s, over the bound of ${bounds.ageSeconds} s`;
	}
	if (bounds.messages > 0 && backlog.messages > bounds.messages) {
		return `it holds ${backlog.messages} messages, over the bound of ${bounds.messages}`;
	}
	return null;
}

/** Refuses new events while the backlog is past a bound; does nothing otherwise. */
export async function shedIfBacklogged(env: Env, queue: Queue<unknown>): Promise<void> {
	const backlog = await currentBacklog(queue);
	if (backlog === null) return;
	const what = boundPassed(backlog, backlogBounds(env));
	if (what === null) return;
	throw new ApiError(
		"unavailable",
		`deliveries are behind (the delivery queue's backlog: ${what}); nothing was stored: retry after ${BACKLOG_RETRY_AFTER_SECONDS} seconds`,
		{ retry_after_seconds: BACKLOG_RETRY_AFTER_SECONDS, backlog },
		{ "retry-after": String(BACKLOG_RETRY_AFTER_SECONDS) },
	);
}
