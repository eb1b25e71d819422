/**
 * An endpoint's circuit breaker, as pure functions over its state. The
 * endpoint's scheduler (a Durable Object) keeps the state in its storage and
 * calls these; nothing here reads a clock or storage, so every transition is
 * unit-tested on its own.
 *
 * closed: attempts go out. After `failureThreshold` failed attempts in a row
 * the circuit opens. open: nothing goes out; deliveries wait in the
 * scheduler. When the probe interval has passed, one waiting delivery goes
 * out as a probe (half_open). Its success closes the circuit and releases the
 * rest; its failure opens it again with twice the interval, up to a ceiling.
 */
export type CircuitStateName = "closed" | "open" | "half_open";

export interface CircuitState {
	state: CircuitStateName;
	/** When the circuit entered its current state (ms). */
	since: number;
	failuresInRow: number;
	/** When the current run of failures began; null after a success. */
	failingSince: number | null;
	probeIntervalMs: number;
	/** When the next probe may go out; null while closed. */
	nextProbeAt: number | null;
	lastStatusCode: number | null;
	lastError: string | null;
}

export interface CircuitPolicy {
	failureThreshold: number;
	/** An endpoint failing without a success for this long is disabled. */
	autoDisableAfterMs: number;
}

export const FIRST_PROBE_INTERVAL_MS = 30_000;
export const MAX_PROBE_INTERVAL_MS = 10 * 60_000;
/**
 * A probe whose outcome never came back (its consumer died) counts as failed
 * after this long: longer than the longest attempt timeout, so a slow probe
 * is not overtaken by a second one.
 */
export const PROBE_STALE_MS = 3 * 60_000;

export const DEFAULT_FAILURE_THRESHOLD = 5;
export const DEFAULT_AUTO_DISABLE_AFTER_MS = 5 * 24 * 3600 * 1000;

export function closedCircuit(now: number): CircuitState {
	return {
		state: "closed",
		since: now,
		failuresInRow: 0,
		failingSince: null,
		probeIntervalMs: FIRST_PROBE_INTERVAL_MS,
		nextProbeAt: null,
		lastStatusCode: null,
		lastError: null,
	};
}

/** The deployment's circuit policy from its vars; an unusable value falls back to the default. */
export function circuitPolicy(env: {
	CIRCUIT_FAILURE_THRESHOLD?: string;
	AUTO_DISABLE_AFTER_SECONDS?: string;
}): CircuitPolicy {
	const threshold = Number(env.CIRCUIT_FAILURE_THRESHOLD);
	const disableAfter = Number(env.AUTO_DISABLE_AFTER_SECONDS);
	return {
		failureThreshold: Number.isInteger(threshold) && threshold >= 1 ? threshold : DEFAULT_FAILURE_THRESHOLD,
		autoDisableAfterMs:
			Number.isFinite(disableAfter) && disableAfter > 0 ? disableAfter * 1000 : DEFAULT_AUTO_DISABLE_AFTER_MS,
	};
}

export type CircuitTransition = "opened" | "recovered" | null;

export interface FailureVerdict {
	circuit: CircuitState;
	transition: CircuitTransition;
	/** Failing without a success for longer than the policy allows. */
	disable: boolean;
}

export function afterFailure(
	current: CircuitState,
	now: number,
	failure: { statusCode: number | null; error: string | null },
	policy: CircuitPolicy,
): FailureVerdict {
	const failingSince = current.failingSince ?? now;
	const base = {
		...current,
		failuresInRow: current.failuresInRow + 1,
		failingSince,
		lastStatusCode: failure.statusCode,
		lastError: failure.error,
	};
	const disable = now - failingSince >= policy.autoDisableAfterMs;
	if (current.state === "half_open") {
		const probeIntervalMs = Math.min(current.probeIntervalMs * 2, MAX_PROBE_INTERVAL_MS);
		return {
			circuit: { ...base, state: "open", since: now, probeIntervalMs, nextProbeAt: now + probeIntervalMs },
			transition: null,
			disable,
		};
	}
	if (current.state === "closed" && base.failuresInRow >= policy.failureThreshold) {
		return {
			circuit: {
				...base,
				state: "open",
				since: now,
				probeIntervalMs: FIRST_PROBE_INTERVAL_MS,
				nextProbeAt: now + FIRST_PROBE_INTERVAL_MS,
			},
			transition: "opened",
			disable,
		};
	}
	return { circuit: base, transition: null, disable };
}

export function afterSuccess(
	current: CircuitState,
	now: number,
	statusCode: number,
): {
	circuit: CircuitState;
	transition: CircuitTransition;
} {
	const circuit = { ...closedCircuit(current.state === "closed" ? current.since : now), lastStatusCode: statusCode };
	return { circuit, transition: current.state === "closed" ? null : "recovered" };
}

/** A half-open circuit whose probe never reported back is open again, with its probe due now. */
export function withStaleProbeExpired(current: CircuitState, now: number): CircuitState {
	if (current.state !== "half_open" || now - current.since < PROBE_STALE_MS) return current;
	return { ...current, state: "open", since: now, nextProbeAt: now };
}

/** Whether a delivery may go out now, and if not, until when it waits. */
export function gate(current: CircuitState, now: number): "send" | "probe" | { waitUntil: number } {
	if (current.state === "closed") return "send";
	if (current.state === "open" && current.nextProbeAt !== null && current.nextProbeAt <= now) return "probe";
	if (current.state === "open") return { waitUntil: current.nextProbeAt ?? now + current.probeIntervalMs };
	return { waitUntil: current.since + PROBE_STALE_MS };
}
