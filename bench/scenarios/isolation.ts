import type { BenchContext } from "../lib/context";
import { type DeliveryRunResult, deliveryRun } from "../lib/delivery-run";
import { fmt, progress } from "../lib/log";
import { ReceiverServer } from "../lib/receiver";
import { round, summarize } from "../lib/stats";
import { FANOUT_CONFIG, type FanoutConfig, type FanoutLevel, fanoutRun } from "./fanout";

export const HANGING_TIMEOUT_MS = 2_000;
const ENDPOINTS = 10;

export interface IsolationResult {
	endpoints: number;
	hanging_endpoints: number;
	hanging_timeout_ms: number;
	/** SLOW_ATTEMPT_MS of the worker (src/queue/attempt.ts): a slower attempt moves its endpoint to the slow lane. */
	slow_attempt_ms: number;
	offered_events_per_s: number;
	/** Where the baseline comes from: the fan-out-10 level, or a run of its own at a lower rate. */
	baseline_source: "fanout-10 level" | "own run at a sustainable rate";
	/** When the hanging endpoint got its first request, from the start of the run (ms); null if it got none. */
	neighbour_started_hanging_at_ms: number | null;
	/**
	 * The detection window: events sent from the start of the run until the
	 * neighbour's first request + SLOW_ATTEMPT_MS + its timeout. By then the
	 * worker has seen the neighbour time out and moved it to the slow lane.
	 */
	detection_window_end_ms: number;
	/** (a) The stall: the worst healthy latency of events sent in the detection window, less the baseline p50. */
	stall_ms: number | null;
	/** The worst healthy latency in the window itself, and the baseline p50 it is measured against. */
	stall_worst_latency_ms: number | null;
	baseline_p50_ms: number | null;
	/** What the stall may be: one slow-attempt threshold plus one timeout. */
	stall_bound_ms: number;
	/** Deliveries in the window, and those that never arrived (their latency is then a lower bound). */
	stall_window_deliveries: number;
	stall_window_missing: number;
	/** (b) Healthy p99 of events sent after the window, against the baseline p99 after its warm-up. */
	steady_p99_ms: number | null;
	steady_deliveries: number;
	steady_missing: number;
	baseline_steady_p99_ms: number | null;
	steady_ratio: number | null;
	/** The worst healthy latency after the window: a stall that came back would show here. */
	steady_worst_latency_ms: number | null;
	/** Seconds (by send time, after the window) whose worst healthy latency reached SLOW_ATTEMPT_MS: stalls that recurred. */
	recurring_stall_seconds: number;
	/** The whole run, as before the split: healthy p99 with the hanging neighbour against the baseline p99. */
	healthy_p99_ms: number | null;
	healthy_p99_is_lower_bound: boolean;
	baseline_p99_ms: number | null;
	baseline_p99_is_lower_bound: boolean;
	baseline_backlog_growing: boolean;
	ratio: number | null;
	healthy_deliveries_per_s: number | null;
	baseline_deliveries_per_s: number | null;
	/** Requests the hanging endpoint received (each held until the worker's timeout). */
	hanging_requests: number;
	/** Its circuit at the end of the run, as GET /v1/webhooks/:id showed it. */
	hanging_circuit_state: string | null;
	baseline: DeliveryRunResult;
	run: DeliveryRunResult;
}

/** Events/s of the comparison when the fan-out-10 level could not keep up: 100 deliveries/s, light enough locally. */
export const FALLBACK_EVENTS_PER_SECOND = 10;

/**
 * Chooses the load: the fan-out-10 level's when that level kept up (the
 * comparison is then "the fan-out-10 load again"); otherwise a fixed light
 * load with a baseline of its own, because a p99 against an overloaded
 * baseline only measures how long its backlog grew.
 */
function chooseLoad(level: FanoutLevel | undefined): { rate: number; reuse: FanoutLevel | null } {
	if (level !== undefined && !level.backlog_growing && level.run.missing === 0) {
		return { rate: level.offered_events_per_s, reuse: level };
	}
	return {
		rate: Math.min(FALLBACK_EVENTS_PER_SECOND, level?.offered_events_per_s ?? FALLBACK_EVENTS_PER_SECOND),
		reuse: null,
	};
}

/**
 * Fan-out 10 with one of the ten endpoints on another server that never
 * answers, so every attempt to it waits out its timeout. Its retries follow
 * the bench's deployment schedule (1 s apart) until its circuit opens.
 *
 * The result is split in two: the stall the healthy endpoints see while the
 * worker has not yet seen the neighbour time out (locally the queue hands the
 * consumer one batch at a time, so the batch waiting for the hanging attempts
 * holds every batch behind it), and their p99 once it has.
 */
export async function runIsolation(
	ctx: BenchContext,
	level: FanoutLevel | undefined,
	config: FanoutConfig = FANOUT_CONFIG,
): Promise<IsolationResult> {
	const { rate, reuse } = chooseLoad(level);
	const slowAttemptMs = ctx.constants.slow_attempt_ms;
	progress(
		`isolation: fan-out ${ENDPOINTS} at ${fmt(rate)} events/s for ${config.maxMs / 1000} s, one endpoint hanging (timeout ${HANGING_TIMEOUT_MS} ms)` +
			`${reuse === null ? "; the fan-out-10 level fell behind, so first a baseline at this lower rate" : ""}`,
	);
	const baseline = reuse?.run ?? (await fanoutRun(ctx, "isolation baseline", ENDPOINTS, rate, config));
	const type = ctx.eventType("isolation");
	const hangingServer = await ReceiverServer.start();
	try {
		const healthy = await ctx.createEndpoints(ENDPOINTS - 1, type, "isolation");
		const hanging = await ctx.createEndpoints(
			1,
			type,
			"hanging",
			() => "hang",
			{ timeout_ms: HANGING_TIMEOUT_MS },
			hangingServer,
		);
		const deliveries: { sentAt: number; latency: number; missing: boolean }[] = [];
		const runStart = performance.now();
		const run = await deliveryRun(ctx, {
			label: "isolation",
			eventType: type,
			measured: healthy,
			ratePerSecond: rate,
			maxMs: config.maxMs,
			maxCount: Math.ceil((rate * config.maxMs) / 1000),
			maxInFlight: 64,
			drainMs: config.drainMs,
			warmupMs: config.warmupMs,
			onLatency: (sentAt, latency, missing) => deliveries.push({ sentAt, latency, missing }),
		});
		const hangingRequests = hangingServer.total;
		const firstHanging = hanging[0]?.receiver.arrivals[0]?.at ?? null;
		const circuitState = hanging[0] === undefined ? null : await ctx.circuit(hanging[0]).catch(() => null);
		await ctx.deleteEndpoints([...healthy, ...hanging]);
		hangingServer.releaseHanging();
		await ctx.settle("isolation clean-up", 60_000);

		const windowEnd = (firstHanging ?? runStart) + slowAttemptMs + HANGING_TIMEOUT_MS;
		const inWindow = deliveries.filter((delivery) => delivery.sentAt < windowEnd);
		const afterWindow = deliveries.filter((delivery) => delivery.sentAt >= windowEnd);
		const windowSummary = summarize(inWindow.map((delivery) => delivery.latency));
		const steadySummary = summarize(afterWindow.map((delivery) => delivery.latency));
		const baselineP50 = baseline.latency_ms.p50;
		const stall =
			windowSummary.max === null || baselineP50 === null ? null : Math.max(0, windowSummary.max - baselineP50);
		const recurring = new Set(
			afterWindow
				.filter((delivery) => delivery.latency >= slowAttemptMs)
				.map((delivery) => Math.floor((delivery.sentAt - runStart) / 1000)),
		).size;
		const baselineSteady = baseline.latency_after_warmup_ms.p99;
		const steadyRatio =
			baselineSteady !== null && baselineSteady > 0 && steadySummary.p99 !== null
				? steadySummary.p99 / baselineSteady
				: null;
		const baselineP99 = baseline.latency_ms.p99;
		const healthyP99 = run.latency_ms.p99;
		const ratio = baselineP99 !== null && baselineP99 > 0 && healthyP99 !== null ? healthyP99 / baselineP99 : null;
		const stallBound = slowAttemptMs + HANGING_TIMEOUT_MS;
		progress(
			`  isolation: (a) stall ${fmt(stall, 0)} ms (worst healthy latency ${fmt(windowSummary.max, 0)} ms in the first ` +
				`${fmt((windowEnd - runStart) / 1000)} s less the baseline p50 ${fmt(baselineP50)} ms; bound ${stallBound} ms); ` +
				`(b) after it, healthy p99 ${fmt(steadySummary.p99)} ms against ${fmt(baselineSteady)} ms (×${fmt(steadyRatio, 2)}), ` +
				`worst ${fmt(steadySummary.max, 0)} ms, ${recurring} second(s) with a stall again; ` +
				`the hanging endpoint got ${hangingRequests} requests, its circuit ${circuitState?.state ?? "unknown"}`,
		);
		return {
			endpoints: ENDPOINTS,
			hanging_endpoints: 1,
			hanging_timeout_ms: HANGING_TIMEOUT_MS,
			slow_attempt_ms: slowAttemptMs,
			offered_events_per_s: rate,
			baseline_source: reuse === null ? "own run at a sustainable rate" : "fanout-10 level",
			neighbour_started_hanging_at_ms: firstHanging === null ? null : round(firstHanging - runStart, 0),
			detection_window_end_ms: round(windowEnd - runStart, 0) ?? 0,
			stall_ms: round(stall, 0),
			stall_worst_latency_ms: round(windowSummary.max, 0),
			baseline_p50_ms: baselineP50,
			stall_bound_ms: stallBound,
			stall_window_deliveries: inWindow.length,
			stall_window_missing: inWindow.filter((delivery) => delivery.missing).length,
			steady_p99_ms: round(steadySummary.p99),
			steady_deliveries: afterWindow.length,
			steady_missing: afterWindow.filter((delivery) => delivery.missing).length,
			baseline_steady_p99_ms: baselineSteady,
			steady_ratio: round(steadyRatio, 2),
			steady_worst_latency_ms: round(steadySummary.max, 0),
			recurring_stall_seconds: recurring,
			healthy_p99_ms: healthyP99,
			healthy_p99_is_lower_bound: run.latency_is_lower_bound,
			baseline_p99_ms: baselineP99,
			baseline_p99_is_lower_bound: baseline.latency_is_lower_bound,
			baseline_backlog_growing: baseline.backlog_growing,
			ratio: round(ratio, 2),
			healthy_deliveries_per_s: run.deliveries_per_s,
			baseline_deliveries_per_s: baseline.deliveries_per_s,
			hanging_requests: hangingRequests,
			hanging_circuit_state: circuitState?.state ?? null,
			baseline,
			run,
		};
	} finally {
		await hangingServer.close();
	}
}
