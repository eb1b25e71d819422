import { maskedEndpointAddress } from "../channels/targets";
import type { EndpointRow } from "../db/schema";
import {
	deliveryExhausted,
	type EndpointHealthFacts,
	endpointFailing,
	endpointRecovered,
	isOperationalEventType,
	type OperationalEvent,
} from "../delivery/operational-events";
import { groupBy } from "../lib/group";
import { publicDeliveryId } from "../lib/ids";
import { type CircuitState, circuitPolicy } from "../scheduler/circuit";
import { type AdmissionRequest, type EndpointPolicy, type ReportedAttempt, schedulerFor } from "../scheduler/client";
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

export interface Admitted {
	send: PlannedAttempt[];
	/** When a paced delivery may start, by delivery id; the others may start at once. */
	sendAt: Map<string, number>;
	/** Held back by a scheduler: recorded as pending with their due time, not attempted. */
	held: Outcome[];
	/** The scheduler could not be asked: their messages go back to the queue. */
	unanswered: PlannedAttempt[];
}

export function policyOf(endpoint: EndpointRow): EndpointPolicy {
	return { rateLimitPerSecond: endpoint.rateLimitPerSecond, ordered: endpoint.ordering === "ordered" };
}

/** Whether the endpoint's scheduler must see its attempts: failing, paced or ordered. */
export function watched(endpoint: EndpointRow): boolean {
	return endpoint.failingSince !== null || endpoint.rateLimitPerSecond !== null || endpoint.ordering === "ordered";
}

/**
 * Asks the schedulers of failing, paced and ordered endpoints which attempts
 * may go out now, and when. A manual resend is someone's explicit request:
 * it skips the breaker and the line, but not the pace. Deliveries the
 * scheduler itself released have already passed the breaker and the line.
 */
export async function admitThroughSchedulers(
	env: Env,
	items: readonly PlannedAttempt[],
	endpointOf: EndpointLookup,
	laneOf: (item: PlannedAttempt) => Lane,
	/** Deliveries pulled back mid-batch after their endpoint failed again and again: they face the breaker whatever they are. */
	pulledBack = false,
): Promise<Admitted> {
	const result: Admitted = { send: [], sendAt: new Map(), held: [], unanswered: [] };
	const gated: { item: PlannedAttempt; request: AdmissionRequest }[] = [];
	for (const item of items) {
		const endpoint = endpointOf(item);
		const fresh = !item.admitted && item.trigger !== "manual";
		const throughCircuit = pulledBack ? item.trigger !== "manual" : fresh && endpoint?.failingSince != null;
		const inOrder = fresh && endpoint?.ordering === "ordered";
		if (!endpoint?.active || !(throughCircuit || inOrder || endpoint.rateLimitPerSecond !== null)) {
			result.send.push(item);
			continue;
		}
		gated.push({
			item,
			request: {
				deliveryId: item.deliveryId,
				eventSeq: item.event.seq,
				attempt: item.attempt,
				trigger: item.trigger,
				lane: laneOf(item),
				throughCircuit,
				inOrder,
			},
		});
	}
	await Promise.all(
		[
			...groupBy(
				gated.map((entry) => ({ ...entry.item, entry })),
				endpointKey,
			).values(),
		].map(async (group) => {
			const [first] = group;
			const endpoint = first && endpointOf(first);
			if (!first || !endpoint) return;
			try {
				const admissions = await schedulerFor(env, first.tenantId, first.endpointId).admit(
					first.tenantId,
					first.endpointId,
					policyOf(endpoint),
					group.map(({ entry }) => entry.request),
				);
				const byId = new Map(admissions.map((admission) => [admission.deliveryId, admission]));
				for (const { entry } of group) {
					const admission = byId.get(entry.item.deliveryId);
					if (admission && !admission.send) {
						result.held.push(holdWithoutSending(entry.item, admission.heldUntil));
						continue;
					}
					result.send.push(entry.item);
					if (admission && endpoint.rateLimitPerSecond !== null) {
						result.sendAt.set(entry.item.deliveryId, admission.sendAt);
					}
				}
			} catch (error) {
				console.error("could not ask the endpoint's scheduler", first.endpointId, error);
				result.unanswered.push(...group.map(({ entry }) => entry.item));
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
	for (const group of groupBy(
		outcomes.map((outcome) => ({ ...outcome.planned, outcome })),
		endpointKey,
	).values()) {
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
		url: maskedEndpointAddress(endpoint),
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
	// Everything but deliveries held back unsent: those are not news to the scheduler that held them.
	const reported = outcomes.filter((outcome) => !(outcome.record === null && outcome.status === "pending"));
	const groups = groupBy(
		reported.map((outcome) => ({ ...outcome.planned, outcome })),
		endpointKey,
	);
	await Promise.all(
		[...groups.values()].map(async (group) => {
			const [first] = group;
			const endpoint = first && endpointOf(first);
			if (!first || !endpoint) return;
			const results: ReportedAttempt[] = group.map(({ outcome }) => ({
				deliveryId: outcome.planned.deliveryId,
				ok: outcome.health === null ? null : outcome.health === "success",
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
				settled: outcome.status !== "pending",
				startedAt: outcome.record === null ? null : Date.parse(outcome.record.started_at),
				pauseUntil: outcome.pauseUntil,
			}));
			const anyFailure = results.some((result) => result.ok === false);
			if (!anyFailure && !watched(endpoint)) return;
			try {
				const verdict = await schedulerFor(env, first.tenantId, first.endpointId).report(
					first.tenantId,
					first.endpointId,
					policyOf(endpoint),
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
				deliveryId: publicDeliveryId(planned.endpointId, planned.event.id),
				eventId: planned.event.id,
				eventType: planned.event.type,
				endpointId: planned.endpointId,
				url: maskedEndpointAddress(endpoint),
				attempts: planned.attempt,
				lastStatusCode: outcome.record?.status_code ?? null,
				lastError: outcome.error,
			}),
		];
	});
}
