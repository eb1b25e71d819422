import type { BenchContext } from "../lib/context";
import { type DeliveryRunResult, deliveryRun } from "../lib/delivery-run";
import { progress } from "../lib/log";

export interface E2eConfig {
	ratePerSecond: number;
	maxMs: number;
	/** A second, light run, to show the latency of the pipeline itself next to the loaded figure. */
	lowRatePerSecond: number;
	lowRateMaxMs: number;
}

export const E2E_CONFIG: E2eConfig = { ratePerSecond: 100, maxMs: 15_000, lowRatePerSecond: 10, lowRateMaxMs: 10_000 };

export interface E2eResult {
	rate_per_s: number;
	duration_ms: number;
	p50_ms: number | null;
	p99_ms: number | null;
	max_ms: number | null;
	run: DeliveryRunResult;
	low_rate: {
		rate_per_s: number;
		p50_ms: number | null;
		p99_ms: number | null;
		max_ms: number | null;
		run: DeliveryRunResult;
	};
}

async function oneRun(ctx: BenchContext, label: string, rate: number, maxMs: number): Promise<DeliveryRunResult> {
	const type = ctx.eventType("e2e");
	const endpoints = await ctx.createEndpoints(1, type, "e2e");
	const run = await deliveryRun(ctx, {
		label,
		eventType: type,
		measured: endpoints,
		ratePerSecond: rate,
		maxMs,
		maxCount: Math.ceil((rate * maxMs) / 1000),
		maxInFlight: 64,
		drainMs: 30_000,
		warmupMs: 1_000,
	});
	await ctx.deleteEndpoints(endpoints);
	await ctx.settle(`${label} clean-up`, 60_000);
	return run;
}

/** Time from the start of the sender's request to the arrival at one subscriber, at a fixed offered rate (and at a light one). */
export async function runE2e(ctx: BenchContext, config: E2eConfig = E2E_CONFIG): Promise<E2eResult> {
	progress(`e2e latency: ${config.ratePerSecond} events/s for ${config.maxMs / 1000} s, one subscriber`);
	const run = await oneRun(ctx, `e2e ${config.ratePerSecond}/s`, config.ratePerSecond, config.maxMs);
	progress(`e2e latency, light load: ${config.lowRatePerSecond} events/s for ${config.lowRateMaxMs / 1000} s`);
	const low = await oneRun(ctx, `e2e ${config.lowRatePerSecond}/s`, config.lowRatePerSecond, config.lowRateMaxMs);
	return {
		rate_per_s: config.ratePerSecond,
		duration_ms: config.maxMs,
		p50_ms: run.latency_ms.p50,
		p99_ms: run.latency_ms.p99,
		max_ms: run.latency_ms.max,
		run,
		low_rate: {
			rate_per_s: config.lowRatePerSecond,
			p50_ms: low.latency_ms.p50,
			p99_ms: low.latency_ms.p99,
			max_ms: low.latency_ms.max,
			run: low,
		},
	};
}
