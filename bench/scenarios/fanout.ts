import type { BenchContext } from "../lib/context";
import { type DeliveryRunResult, deliveryRun } from "../lib/delivery-run";
import { fmt, progress } from "../lib/log";

export interface FanoutConfig {
	levels: number[];
	/** Deliveries per second offered at every level: events/s = this / endpoints. */
	offeredDeliveriesPerSecond: number;
	maxMs: number;
	drainMs: number;
	warmupMs: number;
}

export const FANOUT_CONFIG: FanoutConfig = {
	levels: [1, 10, 100],
	offeredDeliveriesPerSecond: 1000,
	maxMs: 15_000,
	drainMs: 20_000,
	warmupMs: 3_000,
};

export interface FanoutLevel {
	endpoints: number;
	offered_events_per_s: number;
	deliveries_per_s: number | null;
	backlog_growing: boolean;
	backlog_slope_per_s: number | null;
	latency_p50_ms: number | null;
	latency_p99_ms: number | null;
	run: DeliveryRunResult;
}

export function fanoutRate(config: FanoutConfig, endpoints: number): number {
	return config.offeredDeliveriesPerSecond / endpoints;
}

/** One level: `endpoints` endpoints subscribed to one type, events offered at the level's rate. */
export async function runFanoutLevel(
	ctx: BenchContext,
	endpointsCount: number,
	config: FanoutConfig = FANOUT_CONFIG,
): Promise<FanoutLevel> {
	const rate = fanoutRate(config, endpointsCount);
	progress(
		`fan-out ${endpointsCount}: ${fmt(rate)} events/s (${config.offeredDeliveriesPerSecond} deliveries/s offered) for ${config.maxMs / 1000} s`,
	);
	const type = ctx.eventType(`fanout${endpointsCount}`);
	const endpoints = await ctx.createEndpoints(endpointsCount, type, `fanout${endpointsCount}`);
	const run = await deliveryRun(ctx, {
		label: `fan-out ${endpointsCount}`,
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
	await ctx.settle(`fan-out ${endpointsCount} clean-up`, 60_000);
	return {
		endpoints: endpointsCount,
		offered_events_per_s: rate,
		deliveries_per_s: run.deliveries_per_s,
		backlog_growing: run.backlog_growing,
		backlog_slope_per_s: run.backlog_slope_per_s,
		latency_p50_ms: run.latency_ms.p50,
		latency_p99_ms: run.latency_ms.p99,
		run,
	};
}
