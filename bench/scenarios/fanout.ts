import type { BenchContext } from "../lib/context";
import { type DeliveryRunResult, deliveryRun } from "../lib/delivery-run";
import { fmt, progress } from "../lib/log";
import { round } from "../lib/stats";

export interface FanoutConfig {
	levels: number[];
	/**
	 * Deliveries per second offered at every level: events/s = this / endpoints …
	 * 5 % above the 1,000/s target, so that a worker that keeps up shows it
	 * clear of the measuring window's edges.
	 */
	offeredDeliveriesPerSecond: number;
	/**
	 * … but never more events per second than this share of the ingest
	 * throughput measured in scenario 1, so that a level measures delivery and
	 * not an overloaded ingest path.
	 */
	ingestShare: number;
	/** The events/s cap when scenario 1 did not run. */
	defaultMaxEventsPerSecond: number;
	maxMs: number;
	drainMs: number;
	warmupMs: number;
}

export const FANOUT_CONFIG: FanoutConfig = {
	levels: [1, 10, 100],
	offeredDeliveriesPerSecond: 1050,
	ingestShare: 0.5,
	defaultMaxEventsPerSecond: 100,
	maxMs: 15_000,
	drainMs: 20_000,
	warmupMs: 3_000,
};

export interface FanoutLevel {
	endpoints: number;
	offered_events_per_s: number;
	/** True when the events/s were capped by the ingest share rather than the offered deliveries/s. */
	capped_by_ingest: boolean;
	deliveries_per_s: number | null;
	backlog_growing: boolean;
	backlog_slope_per_s: number | null;
	latency_p50_ms: number | null;
	latency_p99_ms: number | null;
	run: DeliveryRunResult;
}

export interface FanoutPlan {
	eventsPerSecond: number;
	cappedByIngest: boolean;
}

export function fanoutPlan(config: FanoutConfig, endpoints: number, maxEventsPerSecond: number): FanoutPlan {
	const wanted = config.offeredDeliveriesPerSecond / endpoints;
	return wanted <= maxEventsPerSecond
		? { eventsPerSecond: wanted, cappedByIngest: false }
		: { eventsPerSecond: round(maxEventsPerSecond, 1) ?? maxEventsPerSecond, cappedByIngest: true };
}

/** Runs `rate` events/s for the configured time to `endpointsCount` endpoints answering 200, then cleans up. */
export async function fanoutRun(
	ctx: BenchContext,
	label: string,
	endpointsCount: number,
	rate: number,
	config: FanoutConfig,
): Promise<DeliveryRunResult> {
	const type = ctx.eventType(label.replaceAll(/[^a-z0-9]+/g, ""));
	const endpoints = await ctx.createEndpoints(endpointsCount, type, label.replaceAll(/[^a-z0-9]+/g, "-"));
	const run = await deliveryRun(ctx, {
		label,
		eventType: type,
		measured: endpoints,
		ratePerSecond: rate,
		maxMs: config.maxMs,
		maxCount: Math.ceil((rate * config.maxMs) / 1000),
		maxInFlight: 64,
		drainMs: config.drainMs,
		warmupMs: config.warmupMs,
	});
	await ctx.deleteEndpoints(endpoints);
	await ctx.settle(`${label} clean-up`, 60_000);
	return run;
}

/** One level: `endpoints` endpoints subscribed to one type, events offered at the level's rate. */
export async function runFanoutLevel(
	ctx: BenchContext,
	endpointsCount: number,
	maxEventsPerSecond: number,
	config: FanoutConfig = FANOUT_CONFIG,
): Promise<FanoutLevel> {
	const plan = fanoutPlan(config, endpointsCount, maxEventsPerSecond);
	progress(
		`fan-out ${endpointsCount}: ${fmt(plan.eventsPerSecond)} events/s = ${fmt(plan.eventsPerSecond * endpointsCount, 0)} deliveries/s offered` +
			`${plan.cappedByIngest ? ` (capped at ${config.ingestShare} × the measured ingest rate)` : ""} for ${config.maxMs / 1000} s`,
	);
	const run = await fanoutRun(ctx, `fan-out ${endpointsCount}`, endpointsCount, plan.eventsPerSecond, config);
	return {
		endpoints: endpointsCount,
		offered_events_per_s: plan.eventsPerSecond,
		capped_by_ingest: plan.cappedByIngest,
		deliveries_per_s: run.deliveries_per_s,
		backlog_growing: run.backlog_growing,
		backlog_slope_per_s: run.backlog_slope_per_s,
		latency_p50_ms: run.latency_ms.p50,
		latency_p99_ms: run.latency_ms.p99,
		run,
	};
}
