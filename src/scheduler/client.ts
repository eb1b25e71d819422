import type { AttemptTrigger } from "../delivery/attempt-record";
import type { Lane } from "../queue/messages";

/** A retry the scheduler holds until it is due. */
export interface ScheduledRetry {
	deliveryId: string;
	eventSeq: number;
	/** The number of the attempt to make when it is due. */
	attempt: number;
	dueAtMs: number;
	/** The queue to send it to: a slow endpoint's retries skip the main queue. */
	lane: Lane;
}

/** What an endpoint's scheduler enforces for it, from the endpoint's settings. */
export interface EndpointPolicy {
	rateLimitPerSecond: number | null;
	ordered: boolean;
}

/** A delivery about to be attempted, as the consumer asks its endpoint's scheduler whether it may go. */
export interface AdmissionRequest {
	deliveryId: string;
	eventSeq: number;
	attempt: number;
	trigger: AttemptTrigger;
	lane: Lane;
	/** Whether it must pass the circuit breaker: not a manual resend, nor one the scheduler released. */
	throughCircuit: boolean;
	/** Whether it must wait its turn on an ordered endpoint: not a manual resend, nor one released in turn. */
	inOrder: boolean;
}

/** Send (not before `sendAt`), or wait in the scheduler until `heldUntil`. */
export type Admission =
	| { deliveryId: string; send: true; sendAt: number }
	| { deliveryId: string; send: false; heldUntil: number };

/** What a consumer invocation asks of an endpoint's scheduler before its attempts to a slow endpoint. */
export interface LeaseWanted {
	/** Attempts it would have in flight at once. */
	count: number;
	/** The endpoint's max_concurrency: attempts in flight across every invocation. */
	limit: number;
	/** Attempts it has for the endpoint, and how long each may take (its timeout). */
	attempts: number;
	attemptMs: number;
}

/** One attempt's result, reported to its endpoint's scheduler in the order the attempts ended. */
export interface ReportedAttempt {
	deliveryId: string;
	/** Whether the receiver answered 2xx; null when nothing reached it (the result says nothing of its health). */
	ok: boolean | null;
	statusCode: number | null;
	error: string | null;
	/** The retry to hold, when the attempt failed and the schedule has one left. */
	retry: ScheduledRetry | null;
	/** The delivery is settled (delivered, or failed for good): an ordered endpoint's next may go. */
	settled: boolean;
	startedAt: number | null;
	/** A 429's Retry-After: send nothing before this. */
	pauseUntil: number | null;
}

/** The scheduler of one endpoint; tenant and endpoint ids together name it. */
export function schedulerFor(env: Env, tenantId: string, endpointId: string) {
	return env.ENDPOINT_SCHEDULER.get(env.ENDPOINT_SCHEDULER.idFromName(`${tenantId}/${endpointId}`));
}
