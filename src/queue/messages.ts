import type { AttemptTrigger } from "../delivery/attempt-record";

/**
 * A delivery job: one event, some of its endpoints. Jobs carry ids only, so a
 * message stays far below the 128 KB queue limit whatever the payload size.
 */
export interface DeliveryJob {
	tenantId: string;
	eventSeq: number;
	targets: DeliveryTarget[];
	trigger: AttemptTrigger;
	/**
	 * Set on jobs an endpoint's scheduler released: they already passed its
	 * circuit breaker and pace, so the consumer sends them without asking again.
	 */
	admitted?: boolean;
	/**
	 * Set on jobs the sweeper queued again for work it took as lost: the
	 * first send may still arrive, so their outcomes go to rows, which win
	 * over any packed copy (src/queue/record.ts).
	 */
	swept?: boolean;
}

export interface DeliveryTarget {
	endpointId: string;
	/** 1-based number of the attempt this job makes. */
	attempt: number;
	/**
	 * The target's own event, when it differs from the job's: a scheduler
	 * packs the due retries of many events into one message, since each queue
	 * message is paid for.
	 */
	eventSeq?: number;
}

/**
 * Targets per message at fan-out. Larger messages cost fewer queue operations
 * per delivery; smaller ones spread a large fan-out over more consumer
 * invocations, each of which may only hold six outbound connections.
 */
export const TARGETS_PER_JOB = 10;
/** main: the delivery queue; slow: the queue for endpoints that answer slowly or not at all. */
export type Lane = "main" | "slow";

/** Queue.sendBatch takes at most 100 messages. */
export const MESSAGES_PER_SEND = 100;

export function fanOutJobs(
	tenantId: string,
	eventSeq: number,
	endpointIds: readonly string[],
	trigger: AttemptTrigger,
): DeliveryJob[] {
	return packedJobs(
		tenantId,
		endpointIds.map((endpointId) => ({ eventSeq, endpointId })),
		trigger,
	);
}

/** A delivery's first attempt: its event and its endpoint. */
export interface FirstAttempt {
	eventSeq: number;
	endpointId: string;
}

/**
 * Jobs for first attempts of many events of one tenant, TARGETS_PER_JOB
 * deliveries to a message whatever event each belongs to: a batch of events
 * at fan-out 1 costs a queue message per ten deliveries, not one per event.
 * Each job names its first target's event; the others name theirs.
 */
export function packedJobs(
	tenantId: string,
	deliveries: readonly FirstAttempt[],
	trigger: AttemptTrigger,
): DeliveryJob[] {
	const jobs: DeliveryJob[] = [];
	for (let start = 0; start < deliveries.length; start += TARGETS_PER_JOB) {
		const part = deliveries.slice(start, start + TARGETS_PER_JOB);
		const eventSeq = part[0]?.eventSeq ?? 0;
		const targets = part.map((delivery) =>
			delivery.eventSeq === eventSeq
				? { endpointId: delivery.endpointId, attempt: 1 }
				: { endpointId: delivery.endpointId, attempt: 1, eventSeq: delivery.eventSeq },
		);
		jobs.push({ tenantId, eventSeq, targets, trigger });
	}
	return jobs;
}

/**
 * The longest a queue message may be delayed (Queues' limit is 12 hours).
 * Events scheduled further ahead are queued by the sweeper once they come
 * within it (src/reliability/sweeper.ts).
 */
export const MAX_QUEUE_DELAY_SECONDS = 12 * 60 * 60;

/**
 * Sends the jobs, after `delaySeconds` when given (a scheduled event's first
 * attempts); answers the queue's backlog as its last send reported it (older
 * runtimes report none).
 */
export async function enqueueJobs(
	queue: Queue<DeliveryJob>,
	jobs: readonly DeliveryJob[],
	delaySeconds?: number,
): Promise<QueueSendBatchMetrics | undefined> {
	let metrics: QueueSendBatchMetrics | undefined;
	const delay = delaySeconds !== undefined && delaySeconds > 0 ? { delaySeconds } : {};
	for (let start = 0; start < jobs.length; start += MESSAGES_PER_SEND) {
		const sent = await queue.sendBatch(
			jobs.slice(start, start + MESSAGES_PER_SEND).map((body) => ({ body, contentType: "json" as const, ...delay })),
		);
		metrics = sent?.metadata?.metrics;
	}
	return metrics;
}

function isTarget(value: unknown): value is DeliveryTarget {
	if (typeof value !== "object" || value === null) return false;
	const target = value as Record<string, unknown>;
	return (
		typeof target.endpointId === "string" &&
		Number.isInteger(target.attempt) &&
		(target.eventSeq === undefined || Number.isInteger(target.eventSeq))
	);
}

/** Queue bodies come from our own producers, but a bad one must be dropped, not crash the batch. */
export function isDeliveryJob(value: unknown): value is DeliveryJob {
	if (typeof value !== "object" || value === null) return false;
	const job = value as Record<string, unknown>;
	return (
		typeof job.tenantId === "string" &&
		Number.isInteger(job.eventSeq) &&
		Array.isArray(job.targets) &&
		job.targets.every(isTarget) &&
		(job.trigger === "initial" || job.trigger === "scheduled" || job.trigger === "manual") &&
		(job.admitted === undefined || typeof job.admitted === "boolean") &&
		(job.swept === undefined || typeof job.swept === "boolean")
	);
}
