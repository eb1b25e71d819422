import type { BenchContext, CircuitView } from "../lib/context";
import { fixedRate } from "../lib/load";
import { fmt, progress } from "../lib/log";
import { round } from "../lib/stats";

export interface DeadEndpointConfig {
	ratePerSecond: number;
	/** How long events are sent; attempts are counted over the same time. */
	durationMs: number;
	/** The endpoint's own retry_schedule: compressed, so that without the breaker every event makes all its attempts within seconds. */
	schedule: number[];
	/** How often the endpoint's circuit is read (GET /v1/webhooks/:id). */
	pollMs: number;
}

export const DEAD_ENDPOINT_CONFIG: DeadEndpointConfig = {
	ratePerSecond: 2,
	durationMs: 62_000,
	schedule: [1, 1, 1, 1],
	pollMs: 1_000,
};

/**
 * Attempts that arrive this soon after the opening passed the breaker before
 * it opened (admitted, or released by the scheduler and already queued): they
 * are reported apart from the probes rather than counted as leaks.
 */
export const IN_FLIGHT_AT_OPENING_MS = 1_000;

export interface CircuitSample {
	t_ms: number;
	state: CircuitView["state"];
	failures_in_a_row: number;
	next_probe_at_ms: number | null;
}

export interface DeadEndpointResult {
	rate_per_s: number;
	duration_ms: number;
	schedule_s: number[];
	events: number;
	/** Attempts a minute the schedule alone would make: events/s × attempts per event × 60. */
	without_breaker_attempts_per_min: number;
	/** Every request the endpoint got, from the start of the run until sending stopped. */
	attempts: number;
	/** When the circuit was first seen open, from the start of the run (ms), as GET /v1/webhooks/:id reported it. */
	opened_at_ms: number | null;
	attempts_before_open: number;
	/** Attempts a minute before the circuit opened (few seconds: a rate from a handful of requests). */
	attempts_per_min_before_open: number | null;
	/** Every request after the opening, including those in flight at it. */
	attempts_after_open: number;
	/** Of those, arrived within IN_FLIGHT_AT_OPENING_MS of the opening: sent on a decision taken before it. */
	in_flight_at_open: number;
	/** The rest: what the breaker let through while open. Target: no more than the probes. */
	attempts_while_open: number;
	/** Over the rest of the run, from the opening until sending stopped. */
	minutes_after_open: number | null;
	attempts_per_min_after_open: number | null;
	/** Probes the breaker allows in that time: the first FIRST_PROBE_INTERVAL_MS after opening, then at doubling intervals. */
	expected_probes: number | null;
	/** Requests after the opening, by when they came (ms after the opening). */
	after_open_at_ms: number[];
	first_probe_interval_ms: number;
	failure_threshold: number;
	circuit_samples: CircuitSample[];
	final_circuit: CircuitView | null;
}

/** Probes the breaker would send within `windowMs` of opening: at the first interval, then doubling, up to the ceiling. */
export function expectedProbes(windowMs: number, firstMs: number, maxMs: number): number {
	let at = firstMs;
	let interval = firstMs;
	let probes = 0;
	while (at <= windowMs) {
		probes++;
		interval = Math.min(interval * 2, maxMs);
		at += interval;
	}
	return probes;
}

/**
 * One endpoint answering 500 at once to everything, with a compressed retry
 * schedule, and events sent to it at a steady rate for about a minute. The
 * receiver counts the requests. Without a breaker it would get every attempt
 * of every event; with it, after `failure_threshold` failures in a row, only
 * the probes: the first 30 s after opening, then at doubling intervals.
 */
export async function runDeadEndpoint(
	ctx: BenchContext,
	config: DeadEndpointConfig = DEAD_ENDPOINT_CONFIG,
): Promise<DeadEndpointResult> {
	const { first_probe_interval_ms: firstProbe, max_probe_interval_ms: maxProbe } = ctx.constants;
	const threshold = ctx.constants.circuit_failure_threshold;
	const perEvent = config.schedule.length + 1;
	progress(
		`dead endpoint: one endpoint answering 500, ${config.ratePerSecond} events/s for ${config.durationMs / 1000} s, ` +
			`retry_schedule [${config.schedule.join(", ")}] s; the circuit opens after ${threshold} failures in a row, probes ${firstProbe / 1000} s later`,
	);
	const type = ctx.eventType("dead");
	const [endpoint] = await ctx.createEndpoints(1, type, "dead", () => 500, { retry_schedule: config.schedule });
	if (endpoint === undefined) throw new Error("the dead endpoint was not created");
	const epochOffset = performance.timeOrigin;
	const t0 = performance.now();
	const samples: CircuitSample[] = [];
	let openedAt: number | null = null;
	let polling = true;
	const poller = (async () => {
		while (polling) {
			const circuit = await ctx.circuit(endpoint).catch(() => null);
			if (circuit !== null) {
				samples.push({
					t_ms: round(performance.now() - t0, 0) ?? 0,
					state: circuit.state,
					failures_in_a_row: circuit.failures_in_a_row,
					next_probe_at_ms:
						circuit.next_probe_at === null ? null : round(Date.parse(circuit.next_probe_at) - epochOffset - t0, 0),
				});
				if (openedAt === null && circuit.state !== "closed") {
					// The circuit's own clock: when it entered the state (the first time seen, that is the opening).
					openedAt = Date.parse(circuit.since) - epochOffset;
				}
			}
			await new Promise((resolve) => setTimeout(resolve, config.pollMs));
		}
	})();
	let events = 0;
	let lastLine = t0;
	const load = await fixedRate({
		ratePerSecond: config.ratePerSecond,
		maxMs: config.durationMs,
		maxCount: Math.ceil((config.ratePerSecond * config.durationMs) / 1000),
		maxInFlight: 8,
		send: async (index) => {
			await ctx.sendEvent(type, index);
			events++;
			if (performance.now() - lastLine >= 10_000) {
				lastLine = performance.now();
				const last = samples.at(-1);
				progress(
					`  dead endpoint: ${events} events, ${endpoint.receiver.arrivals.length} attempts so far, circuit ${last?.state ?? "?"}`,
				);
			}
		},
	});
	const stoppedAt = performance.now();
	polling = false;
	await poller;
	const finalCircuit = await ctx.circuit(endpoint).catch(() => null);
	if (load.errors > 0) progress(`  dead endpoint: ${load.errors} events not accepted (${load.firstError})`);
	await ctx.deleteEndpoints([endpoint]);
	await ctx.settle("dead endpoint clean-up");

	const arrivals = endpoint.receiver.arrivals.filter((arrival) => arrival.at <= stoppedAt).map((arrival) => arrival.at);
	const opened: number | null = openedAt;
	const before = opened === null ? arrivals : arrivals.filter((at) => at < opened);
	const after = opened === null ? [] : arrivals.filter((at) => at >= opened);
	const firstArrival = arrivals[0] ?? null;
	const beforeMinutes = opened !== null && firstArrival !== null ? Math.max(0, opened - firstArrival) / 60_000 : null;
	const afterMinutes = opened === null ? null : (stoppedAt - opened) / 60_000;
	const expected = afterMinutes === null ? null : expectedProbes(afterMinutes * 60_000, firstProbe, maxProbe);
	const inFlight = opened === null ? 0 : after.filter((at) => at - opened < IN_FLIGHT_AT_OPENING_MS).length;
	const result: DeadEndpointResult = {
		rate_per_s: config.ratePerSecond,
		duration_ms: config.durationMs,
		schedule_s: config.schedule,
		events,
		without_breaker_attempts_per_min: round(load.achievedRatePerSecond * perEvent * 60, 0) ?? 0,
		attempts: arrivals.length,
		opened_at_ms: opened === null ? null : round(opened - t0, 0),
		attempts_before_open: before.length,
		attempts_per_min_before_open:
			beforeMinutes !== null && beforeMinutes > 0 ? round(before.length / beforeMinutes, 0) : null,
		attempts_after_open: after.length,
		in_flight_at_open: inFlight,
		attempts_while_open: after.length - inFlight,
		minutes_after_open: round(afterMinutes, 2),
		attempts_per_min_after_open:
			afterMinutes !== null && afterMinutes > 0 ? round(after.length / afterMinutes, 2) : null,
		expected_probes: expected,
		after_open_at_ms: opened === null ? [] : after.map((at) => round(at - opened, 0) ?? 0),
		first_probe_interval_ms: firstProbe,
		failure_threshold: threshold,
		circuit_samples: samples,
		final_circuit: finalCircuit,
	};
	progress(
		`  dead endpoint: ${events} events; ${result.attempts} attempts; circuit opened ${fmt((result.opened_at_ms ?? Number.NaN) / 1000)} s in ` +
			`after ${result.attempts_before_open} attempts; after that ${result.attempts_after_open} attempts in ${fmt(afterMinutes, 2)} min, ` +
			`${inFlight} of them in flight at the opening ` +
			`(${fmt(result.attempts_per_min_after_open, 2)}/min; probes allowed: ${fmt(expected, 0)}, at ${result.after_open_at_ms.map((ms) => `${fmt(ms / 1000)} s`).join(", ") || "–"}); ` +
			`without the breaker ${fmt(result.without_breaker_attempts_per_min, 0)}/min`,
	);
	return result;
}
