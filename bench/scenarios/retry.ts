import type { BenchContext, BenchEndpoint, SentEvent } from "../lib/context";
import { fixedRate, until } from "../lib/load";
import { fmt, progress } from "../lib/log";
import { round, roundSummary, type Summary, summarize } from "../lib/stats";

export interface RetryConfig {
	/** Endpoints per event: each event has its own type and endpoints, so every endpoint gets exactly one delivery. */
	endpoints: number;
	events: number;
	ratePerSecond: number;
	/** Seconds before attempts 2..N, set on each endpoint. */
	schedule: number[];
	maxWaitMs: number;
}

export const RETRY_CONFIG: RetryConfig = {
	endpoints: 10,
	events: 20,
	ratePerSecond: 20,
	schedule: [1, 2, 2],
	maxWaitMs: 30_000,
};

export interface RetryResult {
	/** Endpoints per event (each endpoint gets one delivery). */
	endpoints: number;
	endpoints_in_all: number;
	events: number;
	schedule_s: number[];
	deliveries: number;
	/** Retries observed (attempts 2..N that arrived). */
	retries: number;
	/** Retries that were due but never arrived before the bench stopped waiting. */
	missing_retries: number;
	/** |actual − scheduled| per retry, where scheduled = arrival of the previous attempt + its delay. */
	skew_p50_ms: number | null;
	skew_p99_ms: number | null;
	skew_max_ms: number | null;
	/** actual − scheduled, signed (positive: late). */
	signed_skew_ms: Summary;
	/** The same skew by attempt number (2, 3, …). */
	by_attempt: Record<string, Summary>;
	/** Attempts made beyond the schedule (duplicates); at-least-once delivery allows them, the schedule does not need them. */
	extra_attempts: number;
}

/**
 * Endpoints that always answer 500 with a short per-endpoint schedule: every
 * delivery makes all its attempts, and each retry's arrival is compared with
 * when it was due (the previous attempt's arrival plus the delay).
 *
 * Every endpoint gets exactly one delivery (each event has a type and
 * endpoints of its own), so an endpoint sees no more failures in a row than
 * one delivery's attempts, fewer than open its circuit: the scenario measures
 * the retry schedule, not the breaker (which would hold the retries of an
 * endpoint failing everything until its probe; see the dead-endpoint scenario).
 */
export async function runRetry(ctx: BenchContext, config: RetryConfig = RETRY_CONFIG): Promise<RetryResult> {
	const attempts = config.schedule.length + 1;
	const threshold = ctx.constants.circuit_failure_threshold;
	progress(
		`retry timing: ${config.events} events, each to ${config.endpoints} endpoints of its own answering 500, schedule [${config.schedule.join(", ")}] s` +
			`${attempts >= threshold ? ` (warning: ${attempts} attempts reach the circuit's threshold of ${threshold}: the breaker will hold retries)` : ""}`,
	);
	const types = Array.from({ length: config.events }, () => ctx.eventType("retry"));
	const groups: BenchEndpoint[][] = [];
	for (const type of types) {
		groups.push(
			await ctx.createEndpoints(config.endpoints, type, "retry", () => 500, { retry_schedule: config.schedule }),
		);
	}
	const endpoints = groups.flat();
	const sent: SentEvent[] = [];
	const eventsOf = new Map<string, SentEvent>();
	const load = await fixedRate({
		ratePerSecond: config.ratePerSecond,
		maxMs: 60_000,
		maxCount: config.events,
		maxInFlight: 16,
		send: async (index) => {
			const type = types[index];
			if (type === undefined) return;
			const event = await ctx.sendEvent(type, index);
			sent.push(event);
			eventsOf.set(type, event);
		},
	});
	if (load.errors > 0) progress(`  retry: ${load.errors} events were not accepted (${load.firstError})`);
	const expectedArrivals = sent.length * config.endpoints * attempts;
	const arrivals = (): number => endpoints.reduce((sum, endpoint) => sum + endpoint.receiver.arrivals.length, 0);
	let lastLine = performance.now();
	await until(
		() => {
			if (performance.now() - lastLine >= 5_000) {
				lastLine = performance.now();
				progress(`  retry: ${arrivals()} of ${expectedArrivals} attempts arrived`);
			}
			return arrivals() >= expectedArrivals;
		},
		config.maxWaitMs,
		100,
	);
	// A moment more, to see attempts beyond the schedule if there are any.
	await until(() => false, 1_500, 100);

	const skews: number[] = [];
	const byAttempt = new Map<number, number[]>();
	let missing = 0;
	let extra = 0;
	for (const [index, group] of groups.entries()) {
		const event = eventsOf.get(types[index] ?? "");
		if (event === undefined) continue;
		for (const endpoint of group) {
			const perEvent = new Map<string, number[]>();
			for (const arrival of endpoint.receiver.arrivals) {
				const list = perEvent.get(arrival.eventId) ?? [];
				list.push(arrival.at);
				perEvent.set(arrival.eventId, list);
			}
			const times = perEvent.get(event.id) ?? [];
			extra += Math.max(0, times.length - attempts);
			missing += Math.max(0, attempts - Math.max(1, times.length));
			for (let attempt = 2; attempt <= Math.min(times.length, attempts); attempt++) {
				const previous = times[attempt - 2];
				const actual = times[attempt - 1];
				const delay = config.schedule[attempt - 2];
				if (previous === undefined || actual === undefined || delay === undefined) continue;
				const skew = actual - (previous + delay * 1000);
				skews.push(skew);
				const list = byAttempt.get(attempt) ?? [];
				list.push(skew);
				byAttempt.set(attempt, list);
			}
		}
	}
	await ctx.deleteEndpoints(endpoints);
	await ctx.settle("retry clean-up");

	const absolute = summarize(skews.map((skew) => Math.abs(skew)));
	const result: RetryResult = {
		endpoints: config.endpoints,
		endpoints_in_all: endpoints.length,
		events: sent.length,
		schedule_s: config.schedule,
		deliveries: sent.length * config.endpoints,
		retries: skews.length,
		missing_retries: missing,
		skew_p50_ms: round(absolute.p50),
		skew_p99_ms: round(absolute.p99),
		skew_max_ms: round(absolute.max),
		signed_skew_ms: roundSummary(summarize(skews)),
		by_attempt: Object.fromEntries(
			[...byAttempt].map(([attempt, values]) => [String(attempt), roundSummary(summarize(values))]),
		),
		extra_attempts: extra,
	};
	progress(
		`  retry: ${result.retries} retries, |skew| p50 ${fmt(result.skew_p50_ms)} ms, p99 ${fmt(result.skew_p99_ms)} ms, ` +
			`max ${fmt(result.skew_max_ms)} ms; ${missing} missing, ${extra} beyond the schedule`,
	);
	return result;
}
