import type { BenchContext } from "../lib/context";
import { type DeliveryRunResult, deliveryRun } from "../lib/delivery-run";
import { progress } from "../lib/log";

export interface E2eConfig {
	ratePerSecond: number;
	maxMs: number;
}

export const E2E_CONFIG: E2eConfig = { ratePerSecond: 100, maxMs: 15_000 };

export interface E2eResult {
	rate_per_s: number;
	duration_ms: number;
	p50_ms: number | null;
	p99_ms: number | null;
	max_ms: number | null;
	run: DeliveryRunResult;
}

/** Time from the 202 to the arrival at one subscriber, at a fixed offered rate. */
export async function runE2e(ctx: BenchContext, config: E2eConfig = E2E_CONFIG): Promise<E2eResult> {
	progress(`e2e latency: ${config.ratePerSecond} events/s for ${config.maxMs / 1000} s, one subscriber`);
	const type = ctx.eventType("e2e");
	const endpoints = await ctx.createEndpoints(1, type, "e2e");
	const run = await deliveryRun(ctx, {
		label: "e2e",
		eventType: type,
		measured: endpoints,
		ratePerSecond: config.ratePerSecond,
		maxMs: config.maxMs,
		maxCount: Math.ceil((config.ratePerSecond * config.maxMs) / 1000),
		maxInFlight: 64,
		drainMs: 30_000,
		warmupMs: 1_000,
	});
	await ctx.deleteEndpoints(endpoints);
	await ctx.settle("e2e clean-up");
	return {
		rate_per_s: config.ratePerSecond,
		duration_ms: config.maxMs,
		p50_ms: run.latency_ms.p50,
		p99_ms: run.latency_ms.p99,
		max_ms: run.latency_ms.max,
		run,
	};
}
