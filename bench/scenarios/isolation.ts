import type { BenchContext } from "../lib/context";
import { type DeliveryRunResult, deliveryRun } from "../lib/delivery-run";
import { fmt, progress } from "../lib/log";
import { ReceiverServer } from "../lib/receiver";
import { round } from "../lib/stats";
import { FANOUT_CONFIG, type FanoutConfig, type FanoutLevel, fanoutRun } from "./fanout";

export const HANGING_TIMEOUT_MS = 2_000;
const ENDPOINTS = 10;

export interface IsolationResult {
	endpoints: number;
	hanging_endpoints: number;
	hanging_timeout_ms: number;
	offered_events_per_s: number;
	/** Where the baseline comes from: the fan-out-10 level, or a run of its own at a lower rate. */
	baseline_source: "fanout-10 level" | "own run at a sustainable rate";
	/** Healthy endpoints' p99 with the hanging neighbour. */
	healthy_p99_ms: number | null;
	healthy_p99_is_lower_bound: boolean;
	/** p99 of the same load without it. */
	baseline_p99_ms: number | null;
	baseline_p99_is_lower_bound: boolean;
	baseline_backlog_growing: boolean;
	ratio: number | null;
	/** The same ratio for events sent after the warm-up (3 s): once the worker has seen the endpoint hang. */
	steady_ratio: number | null;
	healthy_deliveries_per_s: number | null;
	baseline_deliveries_per_s: number | null;
	/** Requests the hanging endpoint received (each held until the worker's timeout). */
	hanging_requests: number;
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
 * the bench's deployment schedule (1 s apart), which reaches the steady state
 * of five attempts per event within seconds.
 */
export async function runIsolation(
	ctx: BenchContext,
	level: FanoutLevel | undefined,
	config: FanoutConfig = FANOUT_CONFIG,
): Promise<IsolationResult> {
	const { rate, reuse } = chooseLoad(level);
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
		});
		const hangingRequests = hangingServer.total;
		await ctx.deleteEndpoints([...healthy, ...hanging]);
		hangingServer.releaseHanging();
		await ctx.settle("isolation clean-up", 60_000);
		const baselineP99 = baseline.latency_ms.p99;
		const healthyP99 = run.latency_ms.p99;
		const ratio = baselineP99 !== null && baselineP99 > 0 && healthyP99 !== null ? healthyP99 / baselineP99 : null;
		const steadyBaseline = baseline.latency_after_warmup_ms.p99;
		const steadyHealthy = run.latency_after_warmup_ms.p99;
		const steadyRatio =
			steadyBaseline !== null && steadyBaseline > 0 && steadyHealthy !== null ? steadyHealthy / steadyBaseline : null;
		progress(
			`  isolation: healthy p99 ${fmt(healthyP99)} ms against ${fmt(baselineP99)} ms without the hanging endpoint (×${fmt(ratio, 2)}); ` +
				`after the warm-up ${fmt(steadyHealthy)} against ${fmt(steadyBaseline)} ms (×${fmt(steadyRatio, 2)}); ` +
				`the hanging endpoint got ${hangingRequests} requests`,
		);
		return {
			endpoints: ENDPOINTS,
			hanging_endpoints: 1,
			hanging_timeout_ms: HANGING_TIMEOUT_MS,
			offered_events_per_s: rate,
			baseline_source: reuse === null ? "own run at a sustainable rate" : "fanout-10 level",
			healthy_p99_ms: healthyP99,
			healthy_p99_is_lower_bound: run.latency_is_lower_bound,
			baseline_p99_ms: baselineP99,
			baseline_p99_is_lower_bound: baseline.latency_is_lower_bound,
			baseline_backlog_growing: baseline.backlog_growing,
			ratio: round(ratio, 2),
			steady_ratio: round(steadyRatio, 2),
			healthy_deliveries_per_s: run.deliveries_per_s,
			baseline_deliveries_per_s: baseline.deliveries_per_s,
			hanging_requests: hangingRequests,
			baseline,
			run,
		};
	} finally {
		await hangingServer.close();
	}
}
