import type { EndpointRow } from "../db/schema";
import {
	deliveryExhausted,
	type EndpointHealthFacts,
	endpointFailing,
	endpointRecovered,
	isOperationalEventType,
	type OperationalEvent,
} from "../delivery/operational-events";
import { type CircuitState, circuitPolicy } from "../scheduler/circuit";
import { type ReportedAttempt, schedulerFor } from "../scheduler/client";
import { holdWithoutSending, type Outcome, type PlannedAttempt } from "./attempt";
import type { Lane } from "./messages";

/*
 * The consumer's side of endpoint health. Healthy endpoints cost nothing
 * here: their scheduler is asked nothing before an attempt and told nothing
 * after a success. An endpoint becomes "failing" in D1 (`failing_since`) at
 * its first failure; from then on its deliveries pass its scheduler's circuit
 * breaker first and every attempt is reported to it, until a success clears
 * the mark.
 */

export type EndpointLookup = (item: { tenantId: string; endpointId: string }) => EndpointRow | undefined;

export function endpointKey(item: { tenantId: string; endpointId: string }): string {
	return `${item.tenantId}/${item.endpointId}`;
}

function groupByEndpoint<T extends { tenantId: string; endpointId: string }>(items: readonly T[]): Map<string, T[]> {
	const groups = new Map<string, T[]>();
	for (const item of items) {
		const key = endpointKey(item);
		const group = groups.get(key);
		if (group) group.push(item);
		else groups.set(key, [item]);
	}
	return groups;
}

export interface Admitted {
	send: PlannedAttempt[];
	/** Held back by a scheduler: recorded as pending with their due time, not attempted. */
	held: Outcome[];
	/** The scheduler could not be asked: their messages go back to the queue. */
	unanswered: PlannedAttempt[];
}

/**
 * Asks the schedulers of failing endpoints which attempts may go out now.
 * A manual resend is someone's explicit request and passes the breaker;
 * deliveries the scheduler itself released have already passed it.
 */
export async function admitThroughSchedulers(
	env: Env,
	items: readonly PlannedAttempt[],
	endpointOf: EndpointLookup,
	laneOf: (item: PlannedAttempt) => Lane,
): Promise<Admitted> {
	const result: Admitted = { send: [], held: [], unanswered: [] };
	const gated: PlannedAttempt[] = [];
	for (const item of items) {
		const endpoint = endpointOf(item);
		if (endpoint?.active && endpoint.failingSince !== null && !item.admitted && item.trigger !== "manual")
			gated.push(item);
		else result.send.push(item);
	}
	await Promise.all(
		[...groupByEndpoint(gated).values()].map(async (group) => {
			const [first] = group;
			if (!first) return;
			try {
				const admissions = await schedulerFor(env, first.tenantId, first.endpointId).admit(
					first.tenantId,
					first.endpointId,
					group.map((item) => ({
						deliveryId: item.deliveryId,
						eventSeq: item.event.seq,
						attempt: item.attempt,
						trigger: item.trigger,
						lane: laneOf(item),
					})),
				);
				const byId = new Map(admissions.map((admission) => [admission.deliveryId, admission]));
				for (const item of group) {
					const admission = byId.get(item.deliveryId);
					if (!admission || admission.send) result.send.push(item);
					else result.held.push(holdWithoutSending(item, admission.heldUntil));
				}
			} catch (error) {
				console.error("could not ask the endpoint's scheduler", first.endpointId, error);
				result.unanswered.push(...group);
			}
		}),
	);
	return result;
}

/** The D1 mark that routes an endpoint through its scheduler: set at its first failure, cleared by a success. */
export function failingSinceChanges(
	outcomes: readonly Outcome[],
	endpointOf: EndpointLookup,
	now: number,
): { tenantId: string; endpointId: string; failingSince: number | null }[] {
	const changes: { tenantId: string; endpointId: string; failingSince: number | null }[] = [];
	for (const group of groupByEndpoint(outcomes.map((outcome) => ({ ...outcome.planned, outcome }))).values()) {
		const last = group.filter((entry) => entry.outcome.health !== null).at(-1);
		const endpoint = last && endpointOf(last);
		if (!last || !endpoint) continue;
		const failing = last.outcome.health === "failure";
		if (failing && endpoint.failingSince === null) {
			changes.push({ tenantId: last.tenantId, endpointId: last.endpointId, failingSince: now });
		} else if (!failing && endpoint.failingSince !== null) {
			changes.push({ tenantId: last.tenantId, endpointId: last.endpointId, failingSince: null });
		}
	}
	return changes;
}

export interface HealthFollowUp {
	/** Messages whose retries could not be handed to a scheduler: they go back to the queue. */
	unreported: Set<Message<unknown>>;
	/** Endpoints to disable, with why. */
	disable: { tenantId: string; endpointId: string; reason: string; facts: EndpointHealthFacts }[];
	events: OperationalEvent[];
}

function factsOf(endpoint: EndpointRow, circuit: CircuitState): EndpointHealthFacts {
	return {
		endpointId: endpoint.id,
		url: endpoint.url,
		failuresInRow: circuit.failuresInRow,
		failingSince: circuit.failingSince,
		lastStatusCode: circuit.lastStatusCode,
		lastError: circuit.lastError,
	};
}

/**
 * Reports the batch's attempts to the schedulers of the endpoints that are
 * failing or failed now (with the retries to hold), and turns what they
 * decide into follow-ups: endpoints to disable and operational events.
 */
export async function reportToSchedulers(
	env: Env,
	outcomes: readonly Outcome[],
	endpointOf: EndpointLookup,
	retryLane: (outcome: Outcome) => Lane,
): Promise<HealthFollowUp> {
	const followUp: HealthFollowUp = { unreported: new Set(), disable: [], events: [] };
	const now = Date.now();
	const threshold = circuitPolicy(env).failureThreshold;
	const attempted = outcomes.filter((outcome) => outcome.health !== null || outcome.nextAttemptAtMs !== null);
	const groups = groupByEndpoint(attempted.map((outcome) => ({ ...outcome.planned, outcome })));
	await Promise.all(
		[...groups.values()].map(async (group) => {
			const [first] = group;
			const endpoint = first && endpointOf(first);
			if (!first || !endpoint) return;
			const results: ReportedAttempt[] = group
				.filter((entry) => entry.outcome.health !== null)
				.map(({ outcome }) => ({
					deliveryId: outcome.planned.deliveryId,
					ok: outcome.health === "success",
					statusCode: outcome.record?.status_code ?? null,
					error: outcome.error,
					retry:
						outcome.nextAttemptAtMs === null
							? null
							: {
									deliveryId: outcome.planned.deliveryId,
									eventSeq: outcome.planned.event.seq,
									attempt: outcome.planned.attempt + 1,
									dueAtMs: outcome.nextAttemptAtMs,
									lane: retryLane(outcome),
								},
				}));
			const anyFailure = results.some((result) => !result.ok);
			if (results.length === 0 || (!anyFailure && endpoint.failingSince === null)) return;
			try {
				const verdict = await schedulerFor(env, first.tenantId, first.endpointId).report(
					first.tenantId,
					first.endpointId,
					results,
				);
				for (const change of verdict.changes) {
					followUp.events.push(
						change.transition === "opened"
							? endpointFailing(first.tenantId, factsOf(endpoint, change.circuit), {
									nextProbeAt: change.circuit.nextProbeAt,
									threshold,
								})
							: endpointRecovered(first.tenantId, factsOf(endpoint, change.before), change.before.since, now),
					);
				}
				if (verdict.disable !== null) {
					followUp.disable.push({
						tenantId: first.tenantId,
						endpointId: first.endpointId,
						reason: verdict.disable,
						facts: factsOf(endpoint, verdict.circuit),
					});
				}
			} catch (error) {
				console.error("could not report to the endpoint's scheduler", first.endpointId, error);
				for (const { outcome } of group) {
					if (outcome.nextAttemptAtMs !== null) followUp.unreported.add(outcome.planned.message);
				}
			}
		}),
	);
	return followUp;
}

/** `delivery.exhausted` for every delivery whose last scheduled attempt failed, except deliveries of operational events. */
export function exhaustedDeliveries(outcomes: readonly Outcome[], endpointOf: EndpointLookup): OperationalEvent[] {
	return outcomes.flatMap((outcome) => {
		const { planned } = outcome;
		const endpoint = endpointOf(planned);
		const exhausted =
			outcome.health === "failure" &&
			outcome.status === "failed" &&
			outcome.disableEndpoint === null &&
			planned.trigger !== "manual";
		// An operational event about an operational event could feed itself forever.
		if (!exhausted || !endpoint || isOperationalEventType(planned.event.type)) return [];
		return [
			deliveryExhausted(planned.tenantId, {
				deliveryId: planned.deliveryId,
				eventId: planned.event.id,
				eventType: planned.event.type,
				endpointId: planned.endpointId,
				url: endpoint.url,
				attempts: planned.attempt,
				lastStatusCode: outcome.record?.status_code ?? null,
				lastError: outcome.error,
			}),
		];
	});
}
