import { DEFAULT_MAX_CONCURRENCY } from "../delivery/settings";
import { groupBy } from "../lib/group";
import { schedulerFor } from "../scheduler/client";
import { holdWithoutSending, type Outcome, type PlannedAttempt } from "./attempt";
import { type EndpointLookup, endpointKey } from "./health";

/*
 * An endpoint's max_concurrency across consumer invocations. Deployed, up to
 * 250 invocations of the slow lane's consumer run at once, and each may hold
 * six connections; only the endpoint's scheduler sees them all. So on the
 * slow lane, where attempts take seconds and a Durable Object request costs
 * next to nothing beside them, an invocation leases its in-flight attempts
 * from the scheduler first and returns them when it is done. The main lane
 * asks nothing (its endpoints answer within a second, and asking would double
 * the cost of a healthy delivery): there the limit holds per invocation.
 */

/** Attempts in flight at once to the endpoint within one invocation, before any lease: its setting, at most `connections`. */
export function concurrencyCap(endpoint: { maxConcurrency: number | null } | undefined, connections: number): number {
	return Math.min(endpoint?.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY, connections);
}

export interface Leases {
	/** Attempts this invocation may have in flight, by endpoint key. */
	granted: Map<string, number>;
	/** Deliveries the scheduler now holds until a lease frees: recorded pending, not attempted here. */
	held: Outcome[];
	/** The scheduler could not be asked: their messages go back to the queue. */
	unanswered: PlannedAttempt[];
}

/** Asks each endpoint's scheduler, once per endpoint, for leases for `items`. */
export async function takeLeases(
	env: Env,
	holder: string,
	items: readonly PlannedAttempt[],
	endpointOf: EndpointLookup,
	connections: number,
	attemptMs: (item: PlannedAttempt) => number,
): Promise<Leases> {
	const leases: Leases = { granted: new Map(), held: [], unanswered: [] };
	// A disabled or deleted endpoint's deliveries are settled without sending: nothing to lease.
	const byEndpoint = groupBy(
		items.filter((item) => endpointOf(item)?.active),
		endpointKey,
	);
	await Promise.all(
		[...byEndpoint].map(async ([key, group]) => {
			const [first] = group;
			const endpoint = first && endpointOf(first);
			if (!first || !endpoint) return;
			try {
				const answer = await schedulerFor(env, first.tenantId, first.endpointId).acquire(
					first.tenantId,
					first.endpointId,
					holder,
					{
						count: Math.min(group.length, concurrencyCap(endpoint, connections)),
						limit: endpoint.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY,
						attempts: group.length,
						attemptMs: Math.max(...group.map(attemptMs)),
					},
					group.map((item) => ({
						deliveryId: item.deliveryId,
						eventSeq: item.event.seq,
						attempt: item.attempt,
						trigger: item.trigger,
						lane: "slow",
						throughCircuit: false,
						inOrder: false,
					})),
				);
				if (answer.granted > 0) leases.granted.set(key, answer.granted);
				else leases.held.push(...group.map((item) => holdWithoutSending(item, answer.heldUntil ?? Date.now())));
			} catch (error) {
				console.error("could not lease attempts from the endpoint's scheduler", first.endpointId, error);
				leases.unanswered.push(...group);
			}
		}),
	);
	return leases;
}

/** Returns the leases; one that cannot be returned expires on its own. */
export async function returnLeases(
	env: Env,
	holder: string,
	granted: ReadonlyMap<string, number>,
	items: readonly PlannedAttempt[],
): Promise<void> {
	const owners = new Map(items.map((item) => [endpointKey(item), item]));
	await Promise.all(
		[...granted.keys()].map(async (key) => {
			const item = owners.get(key);
			if (!item) return;
			try {
				await schedulerFor(env, item.tenantId, item.endpointId).release(holder);
			} catch (error) {
				console.error("could not return leases to the endpoint's scheduler", item.endpointId, error);
			}
		}),
	);
}
