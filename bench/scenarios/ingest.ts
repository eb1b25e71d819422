import type { BenchContext } from "../lib/context";
import { type ClosedLoopResult, closedLoop } from "../lib/load";
import { fmt, progress } from "../lib/log";
import { quantilePoints, round, roundSummary, type Summary, summarize } from "../lib/stats";

export interface IngestConfig {
	concurrency: number;
	maxRequests: number;
	maxMs: number;
	warmupRequests: number;
}

export const INGEST_CONFIG: IngestConfig = { concurrency: 16, maxRequests: 3000, maxMs: 15_000, warmupRequests: 200 };

interface RouteResult {
	rps: number | null;
	requests: number;
	duration_ms: number | null;
	latency_ms: Summary;
	statuses: Record<string, number>;
	errors: number;
	first_error: string | null;
	/** workerd CPU time per request while this route ran (delivery work included where it ran). */
	workerd_cpu_ms_per_request: number | null;
}

export interface IngestResult {
	concurrency: number;
	max_requests: number;
	max_ms: number;
	rps: number | null;
	noop_rps: number | null;
	ratio: number | null;
	p50_ms: number | null;
	p99_ms: number | null;
	noop_p50_ms: number | null;
	noop_p99_ms: number | null;
	/** POST /v1/events with one subscribed endpoint, so each event is stored, fanned out and queued. */
	events: RouteResult;
	/** GET /healthz: the same worker and load, no D1, no queue. */
	noop: RouteResult;
	/** POST /v1/events with no subscriber: the event is stored, nothing is queued. */
	events_no_subscriber: RouteResult;
	deliveries_drained: boolean;
	drain_ms: number | null;
	/** Latency at quantiles 0, 0.005, …, 1 (201 points), for the chart. */
	latency_quantiles_ms: { events: number[]; noop: number[] };
}

function routeResult(run: ClosedLoopResult, cpuMs: number): RouteResult {
	const rps = run.durationMs > 0 ? (run.completed * 1000) / run.durationMs : null;
	return {
		rps: round(rps, 1),
		requests: run.completed,
		duration_ms: round(run.durationMs, 0),
		latency_ms: roundSummary(summarize(run.latenciesMs)),
		statuses: run.statuses,
		errors: run.errors,
		first_error: run.firstError,
		workerd_cpu_ms_per_request: run.completed > 0 ? round(cpuMs / run.completed, 3) : null,
	};
}

export async function runIngest(ctx: BenchContext, config: IngestConfig = INGEST_CONFIG): Promise<IngestResult> {
	const type = ctx.eventType("ingest");
	const unsubscribedType = ctx.eventType("ingest-nosub");
	const [endpoint] = await ctx.createEndpoints(1, type, "ingest");
	if (endpoint === undefined) throw new Error("no endpoint created");
	let counter = 0;
	const noopRequest = async (): Promise<number> => (await ctx.client.send("GET", "/healthz")).status;
	const eventRequest =
		(eventType: string) =>
		async (): Promise<number> =>
			(await ctx.client.send("POST", "/v1/events", { type: eventType, data: { n: counter++, bench: true } })).status;

	const measure = async (
		label: string,
		request: () => Promise<number>,
	): Promise<{ result: RouteResult; latencies: number[] }> => {
		await closedLoop({
			concurrency: config.concurrency,
			maxRequests: config.warmupRequests,
			maxMs: 10_000,
			request,
		});
		const before = ctx.worker.cpu();
		const run = await closedLoop({
			concurrency: config.concurrency,
			maxRequests: config.maxRequests,
			maxMs: config.maxMs,
			request,
			onProgress: (done, elapsedMs) =>
				progress(`  ${label}: ${done} requests, ${fmt((done * 1000) / elapsedMs, 0)}/s so far`),
		});
		const cpuMs = ctx.worker.cpu().workerdMs - before.workerdMs;
		const result = routeResult(run, cpuMs);
		progress(
			`  ${label}: ${fmt(result.rps, 0)} req/s, p50 ${fmt(result.latency_ms.p50)} ms, p99 ${fmt(result.latency_ms.p99)} ms` +
				`, statuses ${JSON.stringify(result.statuses)}${run.errors > 0 ? `, ${run.errors} errors (${run.firstError})` : ""}`,
		);
		return { result, latencies: run.latenciesMs };
	};

	progress(`ingest: concurrency ${config.concurrency}, up to ${config.maxRequests} requests or ${config.maxMs / 1000} s per route`);
	const noop = await measure("GET /healthz (no-op)", noopRequest);
	const received = ctx.receivers.total;
	const events = await measure("POST /v1/events (1 subscriber)", eventRequest(type));
	const drainStart = performance.now();
	const drained = await ctx.settle("ingest deliveries", 60_000);
	const drainMs = performance.now() - drainStart;
	progress(
		`  deliveries of the ingest run: ${ctx.receivers.total - received} arrived, drained ${drained ? `in ${fmt(drainMs / 1000)} s` : "not fully"}`,
	);
	const noSubscriber = await measure("POST /v1/events (no subscriber)", eventRequest(unsubscribedType));
	await ctx.deleteEndpoints([endpoint]);
	await ctx.settle("ingest clean-up");

	const eventsResult = events.result;
	const noopResult = noop.result;
	return {
		concurrency: config.concurrency,
		max_requests: config.maxRequests,
		max_ms: config.maxMs,
		rps: eventsResult.rps,
		noop_rps: noopResult.rps,
		ratio: eventsResult.rps !== null && noopResult.rps ? round(eventsResult.rps / noopResult.rps, 3) : null,
		p50_ms: eventsResult.latency_ms.p50,
		p99_ms: eventsResult.latency_ms.p99,
		noop_p50_ms: noopResult.latency_ms.p50,
		noop_p99_ms: noopResult.latency_ms.p99,
		events: eventsResult,
		noop: noopResult,
		events_no_subscriber: noSubscriber.result,
		deliveries_drained: drained,
		drain_ms: round(drainMs, 0),
		latency_quantiles_ms: { events: quantilePoints(events.latencies), noop: quantilePoints(noop.latencies) },
	};
}
