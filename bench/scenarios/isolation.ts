import type { BenchContext } from "../lib/context";
import { type DeliveryRunResult, deliveryRun } from "../lib/delivery-run";
import { fmt, progress } from "../lib/log";
import { ReceiverServer } from "../lib/receiver";
import { round } from "../lib/stats";
import { FANOUT_CONFIG, type FanoutConfig, type FanoutLevel, fanoutRate } from "./fanout";

export const HANGING_TIMEOUT_MS = 2_000;

export interface IsolationResult {
	endpoints: number;
	hanging_endpoints: number;
	hanging_timeout_ms: number;
	offered_events_per_s: number;
	/** Healthy endpoints' p99 with the hanging neighbour. */
	healthy_p99_ms: number | null;
	healthy_p99_is_lower_bound: boolean;
	/** p99 of the fan-out-10 level without it. */
	baseline_p99_ms: number | null;
	baseline_p99_is_lower_bound: boolean;
	ratio: number | null;
	healthy_deliveries_per_s: number | null;
	baseline_deliveries_per_s: number | null;
	/** Requests the hanging endpoint received (each held until the worker's timeout). */
	hanging_requests: number;
	run: DeliveryRunResult;
}

/**
 * The fan-out-10 load again, with one of the ten endpoints on another
 * server that never answers, so every attempt to it waits out its timeout.
 * Its retries follow the deployment schedule of the bench (1 s apart), which
 * reaches the steady state of five attempts per event within seconds.
 */
export async function runIsolation(
	ctx: BenchContext,
	baseline: FanoutLevel | undefined,
	config: FanoutConfig = FANOUT_CONFIG,
): Promise<IsolationResult> {
	const total = 10;
	const rate = fanoutRate(config, total);
	progress(
		`isolation: fan-out ${total} at ${fmt(rate)} events/s for ${config.maxMs / 1000} s, one endpoint hanging (timeout ${HANGING_TIMEOUT_MS} ms)`,
	);
	const type = ctx.eventType("isolation");
	const hangingServer = await ReceiverServer.start();
	try {
		const healthy = await ctx.createEndpoints(total - 1, type, "isolation");
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
		const baselineP99 = baseline?.run.latency_ms.p99 ?? null;
		const healthyP99 = run.latency_ms.p99;
		const ratio = baselineP99 !== null && baselineP99 > 0 && healthyP99 !== null ? healthyP99 / baselineP99 : null;
		progress(
			`  isolation: healthy p99 ${fmt(healthyP99)} ms against ${fmt(baselineP99)} ms without the hanging endpoint (×${fmt(ratio, 2)}); ` +
				`the hanging endpoint got ${hangingRequests} requests`,
		);
		return {
			endpoints: total,
			hanging_endpoints: 1,
			hanging_timeout_ms: HANGING_TIMEOUT_MS,
			offered_events_per_s: rate,
			healthy_p99_ms: healthyP99,
			healthy_p99_is_lower_bound: run.latency_is_lower_bound,
			baseline_p99_ms: baselineP99,
			baseline_p99_is_lower_bound: baseline?.run.latency_is_lower_bound ?? false,
			ratio: round(ratio, 2),
			healthy_deliveries_per_s: run.deliveries_per_s,
			baseline_deliveries_per_s: baseline?.deliveries_per_s ?? null,
			hanging_requests: hangingRequests,
			run,
		};
	} finally {
		await hangingServer.close();
	}
}
