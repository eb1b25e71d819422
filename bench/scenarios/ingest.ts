import type { BenchContext } from "../lib/context";
import { type ClosedLoopResult, closedLoop } from "../lib/load";
import { fmt, progress } from "../lib/log";
import { cpuMark, cpuSince } from "../lib/noise";
import { type QuantilePoint, quantilePoints, round, roundSummary, type Summary, summarize } from "../lib/stats";
import { busiestThreadMs, CLOCK_TICKS, type LocalWorker } from "../lib/worker";

export interface IngestConfig {
	concurrency: number;
	/** Requests per route in all, split over `rounds` alternating runs of the two routes. */
	maxRequests: number;
	/** Time per route in all, split the same way. */
	maxMs: number;
	rounds: number;
	warmupRequests: number;
}

export const INGEST_CONFIG: IngestConfig = {
	concurrency: 16,
	maxRequests: 3000,
	maxMs: 15_000,
	rounds: 3,
	warmupRequests: 300,
};

export interface RouteResult {
	rps: number | null;
	requests: number;
	duration_ms: number | null;
	latency_ms: Summary;
	statuses: Record<string, number>;
	errors: number;
	first_error: string | null;
	/** CPU time of Edgehook's workerd per request while this route ran (delivery work included where it ran). */
	workerd_cpu_ms_per_request: number | null;
	/** CPU time of wrangler's forwarding workerd per request. */
	proxy_cpu_ms_per_request: number | null;
	/** Cores busy on the whole machine while this route ran, and used by the bench process (the load generator). */
	machine_busy_cores: number | null;
	bench_process_cores: number | null;
	/** Busiest thread of Edgehook's workerd, as a share of the wall time: near 1, that thread is the limit. */
	workerd_busiest_thread_share: number | null;
}

export interface IngestResult {
	concurrency: number;
	max_requests: number;
	max_ms: number;
	rounds: number;
	rps: number | null;
	noop_rps: number | null;
	ratio: number | null;
	p50_ms: number | null;
	p99_ms: number | null;
	noop_p50_ms: number | null;
	noop_p99_ms: number | null;
	/** POST /v1/events with one subscribed endpoint: each event is stored, fanned out and queued. */
	events: RouteResult;
	/** GET /healthz: the same worker and load, no D1, no queue. */
	noop: RouteResult;
	/** POST /v1/events with no subscriber: the event is stored, nothing is queued, nothing delivered. */
	events_no_subscriber: RouteResult;
	no_subscriber_ratio: number | null;
	/** Whether the deliveries caused by the ingest run were all made afterwards, and how long that took. */
	deliveries_drained: boolean;
	drain_ms: number | null;
	/** Latency at quantiles dense towards the tail, for the chart. */
	latency_quantiles_ms: { events: QuantilePoint[]; noop: QuantilePoint[] };
}

/** Runs of one route, added up. */
export class RouteRuns {
	private completed = 0;
	private durationMs = 0;
	private errors = 0;
	private firstError: string | null = null;
	private workerdMs = 0;
	private proxyMs = 0;
	private busiestThreadMs = 0;
	private machineCoreMs = 0;
	private benchCoreMs = 0;
	readonly latencies: number[] = [];
	private readonly statuses: Record<string, number> = {};

	/** Runs `request` in a closed loop against `worker` and adds the run, with the CPU it took. */
	async measure(
		worker: LocalWorker,
		loop: { concurrency: number; maxRequests: number; maxMs: number },
		request: () => Promise<number>,
	): Promise<void> {
		const before = worker.cpu();
		const mark = cpuMark();
		const run = await closedLoop({ ...loop, request });
		const after = worker.cpu();
		this.add(
			run,
			after.workerdMs - before.workerdMs,
			after.proxyMs - before.proxyMs,
			busiestThreadMs(before, after),
			cpuSince(mark, CLOCK_TICKS),
		);
	}

	private add(
		run: ClosedLoopResult,
		workerdMs: number,
		proxyMs: number,
		busiestThreadMs: number,
		machine: { machine_busy_cores: number | null; bench_process_cores: number | null },
	): void {
		this.busiestThreadMs += busiestThreadMs;
		this.machineCoreMs += (machine.machine_busy_cores ?? 0) * run.durationMs;
		this.benchCoreMs += (machine.bench_process_cores ?? 0) * run.durationMs;
		this.completed += run.completed;
		this.durationMs += run.durationMs;
		this.errors += run.errors;
		this.firstError ??= run.firstError;
		this.workerdMs += workerdMs;
		this.proxyMs += proxyMs;
		this.latencies.push(...run.latenciesMs);
		for (const [status, count] of Object.entries(run.statuses)) {
			this.statuses[status] = (this.statuses[status] ?? 0) + count;
		}
	}

	result(): RouteResult {
		const perRequest = (ms: number): number | null => (this.completed > 0 ? round(ms / this.completed, 3) : null);
		return {
			rps: round(this.durationMs > 0 ? (this.completed * 1000) / this.durationMs : null, 1),
			requests: this.completed,
			duration_ms: round(this.durationMs, 0),
			latency_ms: roundSummary(summarize(this.latencies)),
			statuses: this.statuses,
			errors: this.errors,
			first_error: this.firstError,
			workerd_cpu_ms_per_request: perRequest(this.workerdMs),
			proxy_cpu_ms_per_request: perRequest(this.proxyMs),
			machine_busy_cores: this.durationMs > 0 ? round(this.machineCoreMs / this.durationMs, 2) : null,
			bench_process_cores: this.durationMs > 0 ? round(this.benchCoreMs / this.durationMs, 2) : null,
			workerd_busiest_thread_share: this.durationMs > 0 ? round(this.busiestThreadMs / this.durationMs, 2) : null,
		};
	}
}

function describe(label: string, result: RouteResult): string {
	const errors = result.errors > 0 ? `, ${result.errors} transport errors (${result.first_error})` : "";
	return (
		`  ${label}: ${fmt(result.rps, 0)} req/s, p50 ${fmt(result.latency_ms.p50)} ms, p99 ${fmt(result.latency_ms.p99)} ms, ` +
		`statuses ${JSON.stringify(result.statuses)}, workerd CPU ${fmt(result.workerd_cpu_ms_per_request, 2)} ms/request, ` +
		`busiest workerd thread ${fmt((result.workerd_busiest_thread_share ?? 0) * 100, 0)} % busy, ` +
		`machine ${fmt(result.machine_busy_cores, 2)} cores busy (bench ${fmt(result.bench_process_cores, 2)})${errors}`
	);
}

/**
 * Requests per second of POST /v1/events against GET /healthz at the same
 * concurrency in the same workerd. The two routes alternate in rounds so that
 * drift (JIT warm-up, a noisy neighbour) falls on both alike.
 */
export async function runIngest(ctx: BenchContext, config: IngestConfig = INGEST_CONFIG): Promise<IngestResult> {
	const type = ctx.eventType("ingest");
	const unsubscribedType = ctx.eventType("ingest-nosub");
	const endpoints = await ctx.createEndpoints(1, type, "ingest");
	let counter = 0;
	const noopRequest = async (): Promise<number> => (await ctx.client.send("GET", "/healthz")).status;
	const eventRequest = (eventType: string) => async (): Promise<number> =>
		(await ctx.client.send("POST", "/v1/events", { type: eventType, data: { n: counter++, bench: true } })).status;

	const perRound = { requests: Math.ceil(config.maxRequests / config.rounds), ms: config.maxMs / config.rounds };
	const loop = { concurrency: config.concurrency, maxRequests: perRound.requests, maxMs: perRound.ms };
	const runOnce = (runs: RouteRuns, request: () => Promise<number>): Promise<void> =>
		runs.measure(ctx.worker, loop, request);

	progress(
		`ingest: concurrency ${config.concurrency}, ${config.rounds} alternating rounds, ` +
			`up to ${config.maxRequests} requests or ${config.maxMs / 1000} s per route`,
	);
	const warmup = { concurrency: config.concurrency, maxRequests: config.warmupRequests, maxMs: 10_000 };
	await closedLoop({ ...warmup, request: noopRequest });
	await closedLoop({ ...warmup, request: eventRequest(type) });

	const received = ctx.receivers.total;
	const noop = new RouteRuns();
	const events = new RouteRuns();
	for (let round = 1; round <= config.rounds; round++) {
		await runOnce(noop, noopRequest);
		await runOnce(events, eventRequest(type));
		const n = noop.result();
		const e = events.result();
		progress(
			`  round ${round}/${config.rounds}: /healthz ${fmt(n.rps, 0)} req/s, /v1/events ${fmt(e.rps, 0)} req/s (cumulative)`,
		);
	}
	const noopResult = noop.result();
	const eventsResult = events.result();
	progress(describe("GET /healthz (no-op)", noopResult));
	progress(describe("POST /v1/events (1 subscriber)", eventsResult));

	const drainStart = performance.now();
	const drained = await ctx.settle("ingest deliveries", 60_000);
	const drainMs = performance.now() - drainStart;
	progress(
		`  deliveries caused by the ingest run: ${ctx.receivers.total - received} arrived; ` +
			`${drained ? `worker idle ${fmt(drainMs / 1000)} s after the load stopped` : "still busy when the bench went on"}`,
	);

	const noSubscriber = new RouteRuns();
	await runOnce(noSubscriber, eventRequest(unsubscribedType));
	const noSubscriberResult = noSubscriber.result();
	progress(describe("POST /v1/events (no subscriber)", noSubscriberResult));

	await ctx.deleteEndpoints(endpoints);
	await ctx.settle("ingest clean-up");

	const ratio = (rps: number | null): number | null =>
		rps !== null && noopResult.rps !== null && noopResult.rps > 0 ? round(rps / noopResult.rps, 3) : null;
	return {
		concurrency: config.concurrency,
		max_requests: config.maxRequests,
		max_ms: config.maxMs,
		rounds: config.rounds,
		rps: eventsResult.rps,
		noop_rps: noopResult.rps,
		ratio: ratio(eventsResult.rps),
		p50_ms: eventsResult.latency_ms.p50,
		p99_ms: eventsResult.latency_ms.p99,
		noop_p50_ms: noopResult.latency_ms.p50,
		noop_p99_ms: noopResult.latency_ms.p99,
		events: eventsResult,
		noop: noopResult,
		events_no_subscriber: noSubscriberResult,
		no_subscriber_ratio: ratio(noSubscriberResult.rps),
		deliveries_drained: drained,
		drain_ms: round(drainMs, 0),
		latency_quantiles_ms: { events: quantilePoints(events.latencies), noop: quantilePoints(noop.latencies) },
	};
}
