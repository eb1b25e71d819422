import { retryAfter } from "../lib/errors";

/*
 * Backpressure. When events arrive faster than they can be delivered, the
 * main queue's backlog grows; past a bound, accepting more only promises
 * deliveries that will come too late. So ingest keeps the backlog that every
 * send to the queue reports and, past the bound the operator set, refuses new
 * events with a 503 and Retry-After instead of a 202 it cannot honour in time.
 */

const DEFAULT_MAX_BACKLOG_AGE_SECONDS = 900;
const DEFAULT_MAX_BACKLOG_MESSAGES = 1_000_000;
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

/**
 * Past this age a reading says too little about the backlog now to refuse
 * anyone on it. It also ends a spell of refusals: while every event is
 * refused nothing is sent, so nothing brings a new reading; once the last one
 * is this old, the next event is accepted and its send measures again.
 */
export const READING_TRUSTED_MS = 5_000;

/**
 * The main queue's backlog as the last send from this isolate reported it;
 * null when there is no recent one. Ingest never asks the queue for its
 * metrics itself: under load, locally, waiting on that call held requests
 * for seconds, while every send reports the backlog for free.
 */
export function currentBacklog(nowMs = Date.now()): Backlog | null {
	return lastReading && nowMs - lastReading.readAtMs < READING_TRUSTED_MS ? lastReading.backlog : null;
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

/** Refuses new events while the backlog, as last reported, is past a bound; does nothing otherwise. */
export function shedIfBacklogged(env: Env): void {
	const backlog = currentBacklog();
	if (backlog === null) return;
	const what = boundPassed(backlog, backlogBounds(env));
	if (what === null) return;
	throw retryAfter(
		"unavailable",
		`deliveries are behind (the delivery queue's backlog: ${what}); nothing was stored: retry after ${BACKLOG_RETRY_AFTER_SECONDS} seconds`,
		BACKLOG_RETRY_AFTER_SECONDS,
		{ backlog },
	);
}
