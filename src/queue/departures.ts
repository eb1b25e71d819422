import { noteBacklog } from "./backlog";
import { type DeliveryJob, enqueueJobs, MESSAGES_PER_SEND, packedJobs, TARGETS_PER_JOB } from "./messages";

/*
 * First attempts leave an isolate in departures. Each queue message costs
 * three operations and each consumer batch an invocation and a pack row,
 * whatever it holds; events sent one to a request at tens a second would
 * each pay all of that alone. So a tenant's first attempts leave at most
 * once every FIRST_ATTEMPT_COALESCE_MS: those that come while a departure
 * waits share its messages, ten to a message. A tenant whose last departure
 * is older than that (any tenant sending a few events a second) sends at
 * once, and waits for nothing.
 *
 * The request that stored the events is answered before they leave: its
 * events are in D1, and the sweeper sends any first attempt that never
 * came. A departure the queue refuses is tried again twice and then left to
 * the sweeper; until the queue takes a send again, ingest sends before it
 * answers (queueRefusesSends), so a request whose jobs the queue refuses is
 * answered 503 and keeps nothing, as before departures existed.
 */

export interface FirstAttempt {
	eventSeq: number;
	endpointId: string;
}

/** The most first attempts a departure holds: one sendBatch of full messages. */
const MAX_DEPARTURE_ATTEMPTS = MESSAGES_PER_SEND * TARGETS_PER_JOB;

/** Waits before each new try of a refused send; then its attempts are the sweeper's. */
const SEND_RETRY_DELAYS_MS = [50, 250];

const DEFAULT_COALESCE_MS = 50;
/** Above this the wait would be felt as latency more than it saves. */
const MAX_COALESCE_MS = 1000;

/** Lines kept for idle tenants before the idle ones are forgotten. */
const IDLE_LINES_KEPT = 1000;

interface TenantLine {
	/** First attempts waiting for the next departure; null when none is scheduled. */
	waiting: FirstAttempt[] | null;
	/** When the tenant's last departure left (ms). */
	leftAt: number;
}

/**
 * Each tenant's line in this isolate. Keyed by tenant alone, not by queue
 * binding: a binding need not be the same object from one request to the
 * next (the bench's metering wraps it per request), and a departure goes
 * out through the queue of the request that scheduled it.
 */
const lines = new Map<string, TenantLine>();

/** Set when a departure's send was refused after its retries, cleared by the next send the queue takes. */
let refusing = false;

/** FIRST_ATTEMPT_COALESCE_MS, defaulted when missing or not a number, and clamped to 0..1000. */
export function coalesceMs(env: { FIRST_ATTEMPT_COALESCE_MS?: string }): number {
	const raw = env.FIRST_ATTEMPT_COALESCE_MS?.trim() ?? "";
	const ms = Number(raw);
	if (raw === "" || !Number.isFinite(ms)) return DEFAULT_COALESCE_MS;
	return Math.min(MAX_COALESCE_MS, Math.max(0, Math.round(ms)));
}

/** True while the queue refuses this isolate's sends: ingest then sends before it answers. */
export function queueRefusesSends(): boolean {
	return refusing;
}

/** A send the queue took: departures may leave after the answer again. */
export function noteSendTaken(): void {
	refusing = false;
}

async function sendWithRetries(queue: Queue<DeliveryJob>, jobs: readonly DeliveryJob[]): Promise<void> {
	for (let tried = 0; ; tried++) {
		try {
			const backlog = await enqueueJobs(queue, jobs);
			if (backlog !== undefined) noteBacklog(backlog);
			return;
		} catch (error) {
			const delay = SEND_RETRY_DELAYS_MS[tried];
			if (delay === undefined) throw error;
			await new Promise((resolve) => setTimeout(resolve, delay));
		}
	}
}

/** Never rejects: what the queue will not take stays stored, for the sweeper. */
async function leave(queue: Queue<DeliveryJob>, tenantId: string, attempts: readonly FirstAttempt[]): Promise<void> {
	const jobs = packedJobs(tenantId, attempts, "initial");
	// A send of one sendBatch at a time, so a retry repeats only the part the queue refused.
	for (let start = 0; start < jobs.length; start += MESSAGES_PER_SEND) {
		try {
			await sendWithRetries(queue, jobs.slice(start, start + MESSAGES_PER_SEND));
			refusing = false;
		} catch (error) {
			refusing = true;
			console.error(
				"queue refused first attempts after the answer; the sweeper will send them",
				tenantId,
				attempts.length,
				error,
			);
			return;
		}
	}
}

function forgetIdleLines(now: number, intervalMs: number): void {
	if (lines.size <= IDLE_LINES_KEPT) return;
	for (const [tenantId, line] of lines) {
		if (line.waiting === null && now - line.leftAt >= intervalMs) lines.delete(tenantId);
	}
}

/**
 * Hands stored events' first attempts to the tenant's next departure.
 * `waitUntil` is the calling request's: a departure this call starts runs
 * to its end under it, so no request sends for a context that has ended.
 */
export function depart(
	queue: Queue<DeliveryJob>,
	tenantId: string,
	attempts: readonly FirstAttempt[],
	intervalMs: number,
	waitUntil: (work: Promise<void>) => void,
): void {
	if (attempts.length === 0) return;
	const now = Date.now();
	let line = lines.get(tenantId);
	if (!line) {
		forgetIdleLines(now, intervalMs);
		line = { waiting: null, leftAt: Number.NEGATIVE_INFINITY };
		lines.set(tenantId, line);
	}
	if (line.waiting !== null) {
		line.waiting.push(...attempts);
		if (line.waiting.length < MAX_DEPARTURE_ATTEMPTS) return;
		// Full: this request sends it now, and the one that scheduled it finds it gone.
		const full = line.waiting;
		line.waiting = null;
		line.leftAt = now;
		waitUntil(leave(queue, tenantId, full));
		return;
	}
	const waitMs = line.leftAt + intervalMs - now;
	if (waitMs <= 0 || attempts.length >= MAX_DEPARTURE_ATTEMPTS) {
		line.leftAt = now;
		waitUntil(leave(queue, tenantId, attempts));
		return;
	}
	const waiting = [...attempts];
	line.waiting = waiting;
	const scheduled = line;
	waitUntil(
		new Promise<void>((resolve) => setTimeout(resolve, waitMs)).then(async () => {
			// Sent already when it filled up before its time.
			if (scheduled.waiting !== waiting) return;
			scheduled.waiting = null;
			scheduled.leftAt = Date.now();
			await leave(queue, tenantId, waiting);
		}),
	);
}
