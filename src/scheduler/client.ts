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

/** The scheduler of one endpoint; tenant and endpoint ids together name it. */
export function schedulerFor(env: Env, tenantId: string, endpointId: string) {
	return env.ENDPOINT_SCHEDULER.get(env.ENDPOINT_SCHEDULER.idFromName(`${tenantId}/${endpointId}`));
}
