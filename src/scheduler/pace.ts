/**
 * An endpoint's pace: at most `rate_limit_per_second` deliveries a second,
 * and nothing at all while a 429's Retry-After lasts. Pure functions over
 * the state the endpoint's scheduler keeps.
 *
 * Deliveries get send times ("slots") spaced evenly, so that the limit's
 * next request is due a quarter of a second after the one-second window of
 * the first: a receiver counting requests in any one-second window sees no
 * more than the limit even when the requests reach it up to that much apart
 * from their slots (timers, the consumer's own work, the network, the
 * receiver's event loop). 100 ms was not enough on a loaded machine: a
 * chaos run in CI saw six requests inside one second at a limit of five.
 */
export interface PaceState {
	nextSlotAt: number;
	pausedUntil: number | null;
}

/** How late a request may reach the receiver, against its slot, before a one-second window could hold one too many. */
export const PACE_JITTER_ALLOWANCE_MS = 250;
/**
 * How far ahead a slot may be handed to a consumer, which waits for it
 * before sending. Later slots wait in the scheduler instead, so a consumer
 * invocation is never held up for long.
 */
export const PACE_LEASE_MS = 1000;

export function freshPace(): PaceState {
	return { nextSlotAt: 0, pausedUntil: null };
}

export function paceSpacingMs(limitPerSecond: number): number {
	return Math.ceil((1000 + PACE_JITTER_ALLOWANCE_MS) / limitPerSecond);
}

export type SlotDecision = { sendAt: number } | { waitUntil: number };

/**
 * A slot for one delivery. Only a slot within the lease is taken; a later
 * one is not reserved, since the delivery asks again when it comes due.
 * `queuedAhead` counts deliveries of this same call already told to wait, so
 * their wake-up times spread out instead of all landing on one instant.
 */
export function takeSlot(
	pace: PaceState,
	limitPerSecond: number | null,
	now: number,
	queuedAhead: number,
): { pace: PaceState; decision: SlotDecision } {
	if (pace.pausedUntil !== null && pace.pausedUntil > now) {
		return { pace, decision: { waitUntil: pace.pausedUntil } };
	}
	if (limitPerSecond === null) return { pace, decision: { sendAt: now } };
	const spacing = paceSpacingMs(limitPerSecond);
	const slot = Math.max(now, pace.nextSlotAt);
	if (queuedAhead > 0 || slot > now + PACE_LEASE_MS) {
		return { pace, decision: { waitUntil: slot + queuedAhead * spacing } };
	}
	return { pace: { ...pace, nextSlotAt: slot + spacing }, decision: { sendAt: slot } };
}

/** After a batch: no slot before the last actual send plus the spacing, and a 429's pause. */
export function afterSends(
	pace: PaceState,
	limitPerSecond: number | null,
	lastStartedAt: number | null,
	pauseUntil: number | null,
): PaceState {
	const nextSlotAt =
		limitPerSecond !== null && lastStartedAt !== null
			? Math.max(pace.nextSlotAt, lastStartedAt + paceSpacingMs(limitPerSecond))
			: pace.nextSlotAt;
	const pausedUntil = pauseUntil === null ? pace.pausedUntil : Math.max(pace.pausedUntil ?? 0, pauseUntil);
	return { nextSlotAt, pausedUntil };
}
