import { ArrivalPaces } from "../lib/arrival-pace";
import { noteBacklog } from "./backlog";
import {
	type DeliveryJob,
	enqueueJobs,
	type FirstAttempt,
	MESSAGES_PER_SEND,
	packedJobs,
	TARGETS_PER_JOB,
} from "./messages";

/*
 * First attempts leave an isolate in departures. Each queue message costs
 * three operations and each consumer batch an invocation and a pack row,
 * whatever it holds; events sent one to a request at tens a second would
 * each pay all of that alone. So when a tenant's events come close together
 * (the last ones less than FIRST_ATTEMPT_COALESCE_MS apart), a first attempt
 * waits for about the next two or three (HOLD_GAPS times the recent gap,
 * never longer than that setting), and they leave together, ten to a
 * message; a departure that holds a full message leaves at once. A tenant
 * sending a few events a second waits for nothing, and the faster events
 * come, the shorter the wait: at 50 a second about 50 ms, at 100 about 25.
 *
 * The request that stored the events is answered before they leave: its
 * events are in D1, and the sweeper sends any first attempt that never
 * came. A departure the queue refuses is tried again twice and then left to
 * the sweeper; until the queue takes a send again, ingest sends before it
 * answers (queueRefusesSends), so a request whose jobs the queue refuses is
 * answered 503 and keeps nothing, as before departures existed.
 */

/** Waits before each new try of a refused send; then its attempts are the sweeper's. */
const SEND_RETRY_DELAYS_MS = [50, 250];

/** How many of the tenant's recent gaps between events a departure waits: it gathers about two or three. */
const HOLD_GAPS = 2.5;

const DEFAULT_COALESCE_MS = 50;
/** Above this the wait would be felt as latency more than it saves. */
const MAX_COALESCE_MS = 1000;

/**
 * The pace at which ingest hands each tenant's first attempts over. Tenants
 * idle for a second (the longest wait) are forgotten past a thousand: their
 * next event would leave at once either way.
 */
const paces = new ArrivalPaces(1000, MAX_COALESCE_MS);

/**
 * The first attempts waiting for each tenant's next departure, for the
 * tenants that have one scheduled. Keyed by tenant alone, not by queue
 * binding: a binding need not be the same object from one request to the
 * next (the bench's metering wraps it per request), and a departure goes
 * out through the queue of the request that scheduled it.
 */
const waitingByTenant = new Map<string, FirstAttempt[]>();

/** Set when a departure's send was refused after its retries, cleared by the next send the queue takes. */
let refusing = false;

/** FIRST_ATTEMPT_COALESCE_MS, defaulted when missing or not a number, and clamped to 0..1000. */
export function firstAttemptCoalesceMs(env: { FIRST_ATTEMPT_COALESCE_MS?: string }): number {
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

/**
 * Hands stored events' first attempts to the tenant's next departure.
 * `waitUntil` is the calling request's: a departure this call starts runs
 * to its end under it, so no request sends for a context that has ended.
 */
export function depart(
	queue: Queue<DeliveryJob>,
	tenantId: string,
	attempts: readonly FirstAttempt[],
	coalesceMs: number,
	waitUntil: (work: Promise<void>) => void,
): void {
	if (attempts.length === 0) return;
	const gap = paces.note(tenantId, Date.now());
	const waiting = waitingByTenant.get(tenantId);
	if (waiting !== undefined) {
		waiting.push(...attempts);
		if (waiting.length < TARGETS_PER_JOB) return;
		// A full message gains nothing by waiting: this request sends it, and the one that scheduled it finds it gone.
		waitingByTenant.delete(tenantId);
		waitUntil(leave(queue, tenantId, waiting));
		return;
	}
	if (gap === null || gap >= coalesceMs || attempts.length >= TARGETS_PER_JOB) {
		waitUntil(leave(queue, tenantId, attempts));
		return;
	}
	const scheduled = [...attempts];
	waitingByTenant.set(tenantId, scheduled);
	waitUntil(
		new Promise<void>((resolve) => setTimeout(resolve, Math.min(coalesceMs, HOLD_GAPS * gap))).then(async () => {
			// Sent already when it filled a message before its time.
			if (waitingByTenant.get(tenantId) !== scheduled) return;
			waitingByTenant.delete(tenantId);
			await leave(queue, tenantId, scheduled);
		}),
	);
}
