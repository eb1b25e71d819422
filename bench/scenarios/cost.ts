import { setTimeout as sleep } from "node:timers/promises";
import type { BenchContext, BenchEndpoint, EndpointOptions } from "../lib/context";
import { fixedRate, until } from "../lib/load";
import { fmt, progress } from "../lib/log";
import type { Behaviour } from "../lib/receiver";
import { round } from "../lib/stats";
import { type Metrics, metricsDelta, RETENTION_SECONDS } from "../lib/worker";
import { PRICE_SOURCES, PRICES, PRICES_AS_OF } from "../prices";

export interface CostConfig {
	events: number;
	ratePerSecond: number;
	/**
	 * Fan-out 1 is offered faster, so the consumer's batches fill as they do
	 * at volume (at 100 events/s they held 1 or 2 messages): 200 events/s.
	 */
	fanout1Events: number;
	fanout1RatePerSecond: number;
	/**
	 * The 3-attempt case: events to 10 endpoints that fail every delivery's
	 * first two attempts and accept the third. Its endpoints come in groups of
	 * ten, each group with an event type of its own, and events go to the
	 * groups in turn, so that each endpoint gets one event every
	 * `retryEventIntervalMs`: often enough to interleave its failures with
	 * successes, seldom enough that it never fails CIRCUIT_FAILURE_THRESHOLD
	 * times in a row. Sent faster, every endpoint's circuit opens and the
	 * deliveries wait for its probes instead of retrying.
	 */
	retryEventsPerGroup: number;
	retryGroups: number;
	retryEventIntervalMs: number;
	/**
	 * Fan-out 1 again, the events sent with batch ingest (POST /v1/events/batch)
	 * this many to a request, as a platform with volume would send them.
	 */
	batchEvents: number;
	batchEventsPerRequest: number;
	batchRatePerSecond: number;
}

export const COST_CONFIG: CostConfig = {
	events: 200,
	ratePerSecond: 100,
	fanout1Events: 1000,
	fanout1RatePerSecond: 200,
	retryEventsPerGroup: 8,
	retryGroups: 5,
	retryEventIntervalMs: 2_000,
	batchEvents: 2000,
	batchEventsPerRequest: 100,
	batchRatePerSecond: 400,
};

/** One priced line: how much of it a delivery uses, and what that costs per million deliveries. */
export interface CostLine {
	per_delivery: number | null;
	usd_per_million_deliveries: number | null;
	note: string;
}

export interface CostCase {
	label: string;
	/** Endpoints per event. */
	endpoints: number;
	/** Groups of `endpoints` endpoints, each subscribed to an event type of its own; events go to them in turn. */
	groups: number;
	events: number;
	/** Events per ingest request: 1 for POST /v1/events, more for batch ingest. */
	events_per_request: number;
	/** Successful deliveries the counters are divided by. */
	deliveries: number;
	attempts_per_delivery: number;
	rate_per_s: number;
	counters: Metrics;
	/** Each counter divided by the deliveries. */
	per_delivery: Record<keyof Metrics, number | null>;
	/** CPU time of Edgehook's workerd across the case (includes local D1, Queues and DO emulation). */
	workerd_cpu_ms: number;
	workerd_cpu_ms_per_delivery: number | null;
	/** CPU of wrangler's forwarding workerd, not priced (Cloudflare's edge does that in production). */
	proxy_cpu_ms_per_delivery: number | null;
	lines: Record<string, CostLine>;
	usd_per_million_deliveries: number | null;
	usd_per_million_deliveries_excluding_cpu: number | null;
	d1_rows_written_per_delivery: number | null;
	/**
	 * Where the case's events were stored: in rows of expired events that
	 * retention had cleaned (src/db/event-reuse.ts), or in new rows, which
	 * retention deletes an hour after they expire unless reused by then.
	 */
	event_rows?: { cleaned_before: number; new_rows: number; reused_rows: number };
	complete: boolean;
	/** Where the counters disagree with what the receivers saw, or look incomplete. */
	checks: string[];
}

export interface CostResult {
	prices_as_of: string;
	price_sources: typeof PRICE_SOURCES;
	assumptions: string[];
	/** Fan-out 10, first attempt succeeds. */
	usd_per_million_deliveries: number | null;
	usd_per_million_deliveries_excluding_cpu: number | null;
	d1_rows_written_per_delivery: number | null;
	fanout1_usd_per_million_deliveries: number | null;
	fanout1_d1_rows_written_per_delivery: number | null;
	three_attempts_usd_per_million_deliveries: number | null;
	three_attempts_d1_rows_written_per_delivery: number | null;
	/**
	 * What the two retries add to a delivery: three-attempts less fanout10,
	 * per retry, for each counter and each priced line, largest line first.
	 */
	per_retry: RetryBreakdown | null;
	cases: { fanout10: CostCase; fanout1: CostCase; three_attempts: CostCase; fanout1_batch?: CostCase };
}

export interface RetryBreakdown {
	retries_per_delivery: number;
	counters: Record<string, number>;
	lines: { name: string; per_retry: number | null; usd_per_million_retries: number | null }[];
	usd_per_million_retries: number | null;
}

export const COST_ASSUMPTIONS = [
	"Counts come from the worker's own metering (GET /_bench/metrics): D1 rows read and written from each query's result meta, queue messages sent and consumed, Durable Object requests, alarms, wall time and storage rows, Worker invocations.",
	"Billable Worker requests = fetch invocations (the POST /v1/events calls) + queue consumer invocations (+ cron invocations, none here).",
	"Queue operations = 2 × messages sent (write, delete) + messages consumed (a read per delivery to the consumer); every message is far below 64 KB (jobs carry ids only), so one operation each.",
	"Durable Object requests include alarm invocations; duration = wall time × 128 MB.",
	"CPU is the workerd process's CPU time (utime + stime from /proc) across the case divided by deliveries: an upper bound, since it includes the local emulation of D1, Queues and Durable Objects. wrangler's forwarding workerd is not counted.",
	"Counters are reset after the endpoints are created, so set-up is not in the figures; the bench's own /_bench calls are not counted by the worker.",
	"D1 rows written include the later removal of the case's deliveries: the bench runs with RETENTION_DAYS of 8.64 s, and after each case settles it fires the daily retention cron by hand (one scheduled invocation), so its deletes (every deleted row and index entry is billed as a row written) are counted with the rest.",
	"An expired event's row is not deleted but written over by a new event (docs/SCALING.md, \"Expired events' rows reused\"): each case stores its events in the rows the earlier scenarios' expired events left (a worker that has stored fewer events than the case sends first gets events of a type nobody subscribes to, uncounted), as a deployment older than RETENTION_DAYS with steady traffic does, and the bench counts how many it did (GET /_bench/events, before and after). An event that finds no row to reuse takes a new one, which is deleted an hour after it expires unless reused by then: that delete is outside the case.",
	"List prices per unit; the plan's included monthly allowances are ignored.",
];

const zeroLine = (note: string): CostLine => ({ per_delivery: 0, usd_per_million_deliveries: 0, note });

function price(counters: Metrics, cpuMs: number, deliveries: number): Record<string, CostLine> {
	const per = (value: number): number | null => (deliveries > 0 ? value / deliveries : null);
	const line = (amount: number, unitPrice: number, note: string): CostLine => {
		const perDelivery = per(amount);
		return {
			per_delivery: round(perDelivery, 4),
			usd_per_million_deliveries: perDelivery === null ? null : round(perDelivery * unitPrice * 1_000_000, 4),
			note,
		};
	};
	const workerRequests =
		counters.worker_fetch_invocations + counters.worker_queue_invocations + counters.worker_scheduled_invocations;
	const queueOps = 2 * counters.queue_messages_sent + counters.queue_messages_consumed;
	const doRequests = counters.do_requests + counters.do_alarms;
	const doGbSeconds = (counters.do_wall_ms / 1000) * PRICES.doMemoryGb;
	return {
		worker_requests: line(workerRequests, PRICES.workerRequest, "fetch + queue invocations, $0.30/M"),
		worker_cpu_ms: line(cpuMs, PRICES.workerCpuMs, "workerd CPU ms (upper bound), $0.02/M CPU-ms"),
		queue_operations: line(queueOps, PRICES.queueOperation, "2 × sent + consumed, $0.40/M operations"),
		d1_rows_read: line(counters.d1_rows_read, PRICES.d1RowRead, "$0.001/M rows"),
		d1_rows_written: line(counters.d1_rows_written, PRICES.d1RowWritten, "$1.00/M rows"),
		do_requests: line(doRequests, PRICES.doRequest, "requests + alarms, $0.15/M"),
		do_duration_gb_s:
			doGbSeconds === 0
				? zeroLine("$12.50/M GB-s")
				: line(doGbSeconds, PRICES.doGbSecond, "wall s × 0.125 GB, $12.50/M GB-s"),
		do_rows_read: line(counters.do_rows_read, PRICES.doRowRead, "$0.001/M rows"),
		do_rows_written: line(counters.do_rows_written, PRICES.doRowWritten, "$1.00/M rows"),
	};
}

/** Compares the worker's counters with what the bench itself saw. */
function consistency(
	counters: Metrics,
	seen: { requests: number; deliveries: number; arrivals: number; attempts: number },
): string[] {
	const problems: string[] = [];
	if (counters.worker_fetch_invocations !== seen.requests) {
		problems.push(`${counters.worker_fetch_invocations} fetch invocations counted for ${seen.requests} requests sent`);
	}
	if (counters.queue_messages_consumed !== counters.queue_messages_sent) {
		problems.push(
			`${counters.queue_messages_sent} queue messages sent but ${counters.queue_messages_consumed} consumed`,
		);
	}
	if (counters.attempts_made !== seen.arrivals) {
		problems.push(`${counters.attempts_made} attempts counted, ${seen.arrivals} requests arrived at the receivers`);
	}
	if (counters.attempts_succeeded !== seen.deliveries) {
		problems.push(
			`${counters.attempts_succeeded} successful attempts counted, ${seen.deliveries} deliveries succeeded at the receivers`,
		);
	}
	const retries = seen.deliveries * (seen.attempts - 1);
	if (retries > 0 && counters.do_alarms === 0) {
		problems.push(
			`${retries} retries were made through the schedulers (${counters.do_requests} DO requests counted) but no Durable Object alarm was counted: alarm() looks unmetered, so DO requests and rows are undercounted`,
		);
	}
	return problems;
}

export interface CaseSpec {
	label: string;
	endpoints: number;
	groups: number;
	events: number;
	ratePerSecond: number;
	attempts: number;
	behaviour: Behaviour;
	options: EndpointOptions;
	/** Events per ingest request; more than 1 sends them with POST /v1/events/batch. */
	eventsPerRequest?: number;
}

/** Events per request of the filler that leaveRowsToReuse sends. */
const FILLER_PER_REQUEST = 100;

/**
 * Makes sure the case finds as many expired events' rows to reuse as it
 * stores events, as a deployment older than RETENTION_DAYS with steady
 * traffic does: a worker that has stored fewer events gets events of a type
 * nobody subscribes to, which the retention run before the case cleans.
 */
async function leaveRowsToReuse(ctx: BenchContext, events: number): Promise<void> {
	const rows = await ctx.worker.eventRows();
	if (rows === null) return;
	for (let missing = events - rows.stored; missing > 0; missing -= FILLER_PER_REQUEST) {
		const filler = Array.from({ length: Math.min(FILLER_PER_REQUEST, missing) }, (_, n) => ({
			type: "cost-filler.unsubscribed",
			data: { n },
		}));
		const exchange = await ctx.client.send("POST", "/v1/events/batch", { events: filler });
		if (exchange.status !== 202) {
			throw new Error(`POST /v1/events/batch (filler) → HTTP ${exchange.status}: ${exchange.body.slice(0, 300)}`);
		}
	}
}

export async function runCase(ctx: BenchContext, spec: CaseSpec): Promise<CostCase> {
	const perRequest = spec.eventsPerRequest ?? 1;
	progress(
		`  cost ${spec.label}: ${spec.groups > 1 ? `${spec.groups} groups of ` : ""}${spec.endpoints} endpoint(s), ${spec.events} events at ${spec.ratePerSecond}/s` +
			`${perRequest > 1 ? `, ${perRequest} to a request` : ""}, ${spec.attempts} attempt(s) per delivery`,
	);
	const types = Array.from({ length: spec.groups }, () => ctx.eventType(`cost-${spec.label}`));
	const endpoints: BenchEndpoint[] = [];
	for (const type of types) {
		endpoints.push(
			...(await ctx.createEndpoints(spec.endpoints, type, `cost-${spec.label}`, spec.behaviour, spec.options)),
		);
	}
	await ctx.settle(`cost ${spec.label} set-up`);
	await leaveRowsToReuse(ctx, spec.events);
	// Earlier scenarios' rows go now, uncounted, so the retention after the case removes only the case's own.
	await sleep(RETENTION_SECONDS * 1000);
	await ctx.worker.runRetention();
	const rowsBefore = await ctx.worker.eventRows();
	await ctx.worker.resetMetrics();
	const start = await ctx.metrics();
	if (start === null) throw new Error("the worker does not serve /_bench/metrics (BENCH_METERING)");
	const cpuBefore = ctx.worker.cpu();
	const load = await fixedRate({
		ratePerSecond: spec.ratePerSecond / perRequest,
		maxMs: 60_000,
		maxCount: Math.ceil(spec.events / perRequest),
		maxInFlight: 32,
		send: async (index) => {
			const type = types[index % types.length] ?? "";
			if (perRequest === 1) {
				await ctx.sendEvent(type, index);
				return;
			}
			const events = Array.from({ length: perRequest }, (_, offset) => ({
				type,
				data: { n: index * perRequest + offset, bench: true },
			}));
			const exchange = await ctx.client.send("POST", "/v1/events/batch", { events });
			if (exchange.status !== 202) {
				throw new Error(`POST /v1/events/batch → HTTP ${exchange.status}: ${exchange.body.slice(0, 300)}`);
			}
		},
	});
	if (load.errors > 0) progress(`  cost ${spec.label}: ${load.errors} requests not accepted (${load.firstError})`);
	const acceptedRequests = load.sent - load.errors;
	const accepted = acceptedRequests * perRequest;
	const expected = accepted * spec.endpoints;
	const succeeded = (): number =>
		endpoints.reduce(
			(sum, endpoint) => sum + endpoint.receiver.arrivals.filter((arrival) => arrival.nth === spec.attempts).length,
			0,
		);
	const complete = await until(() => succeeded() >= expected, 60_000, 100);
	const idle = await ctx.settle(`cost ${spec.label}`, 30_000, 1_500);
	// Retention deletes each row again, billed as a row written: the case's rows age past the bench's
	// RETENTION_DAYS, and the daily cron removes them, counted with the rest.
	await sleep(RETENTION_SECONDS * 1000);
	await ctx.worker.runRetention();
	await ctx.settle(`cost ${spec.label} retention`, 30_000, 1_000);
	const end = await ctx.metrics();
	const rowsAfter = await ctx.worker.eventRows();
	// Retention deletes no row of the case: its events' rows stay cleaned for an hour, as do those it did not reuse.
	const eventRows =
		rowsBefore === null || rowsAfter === null
			? undefined
			: {
					cleaned_before: rowsBefore.cleaned,
					new_rows: rowsAfter.stored - rowsBefore.stored,
					reused_rows: accepted - (rowsAfter.stored - rowsBefore.stored),
				};
	const cpuAfter = ctx.worker.cpu();
	if (end === null) throw new Error("the worker stopped serving /_bench/metrics");
	const counters = metricsDelta(end, start);
	const deliveries = succeeded();
	const cpuMs = cpuAfter.workerdMs - cpuBefore.workerdMs;
	const lines = price(counters, cpuMs, deliveries);
	const total = Object.values(lines).reduce<number | null>(
		(sum, line) =>
			sum === null || line.usd_per_million_deliveries === null ? null : sum + line.usd_per_million_deliveries,
		0,
	);
	const cpuLine = lines.worker_cpu_ms?.usd_per_million_deliveries ?? null;
	const perDelivery = Object.fromEntries(
		Object.entries(counters).map(([name, value]) => [name, deliveries > 0 ? round(value / deliveries, 4) : null]),
	) as Record<keyof Metrics, number | null>;
	const arrivals = endpoints.reduce((sum, endpoint) => sum + endpoint.receiver.arrivals.length, 0);
	const checks = consistency(counters, {
		requests: acceptedRequests,
		deliveries,
		arrivals,
		attempts: spec.attempts,
	});
	const beyond = endpoints.reduce(
		(sum, endpoint) => sum + endpoint.receiver.arrivals.filter((arrival) => arrival.nth > spec.attempts).length,
		0,
	);
	if (beyond > 0) checks.push(`${beyond} attempts beyond the ${spec.attempts} each delivery needs`);
	if (deliveries < expected) {
		checks.push(
			`${expected - deliveries} of ${expected} deliveries did not succeed within the wait` +
				(spec.attempts > 1 ? " (an endpoint's circuit may have opened and held them for its probe)" : ""),
		);
	}
	if (eventRows !== undefined && eventRows.reused_rows < accepted) {
		checks.push(
			`${accepted - eventRows.reused_rows} of ${accepted} events took a new row (${eventRows.cleaned_before} cleaned rows to reuse): ` +
				"a row not reused within an hour of its expiry is deleted, a row written not counted here",
		);
	}
	for (const problem of checks) progress(`  cost ${spec.label}: check: ${problem}`);
	await ctx.deleteEndpoints(endpoints);
	await ctx.settle(`cost ${spec.label} clean-up`);
	const result: CostCase = {
		label: spec.label,
		endpoints: spec.endpoints,
		groups: spec.groups,
		events: accepted,
		events_per_request: perRequest,
		deliveries,
		attempts_per_delivery: spec.attempts,
		rate_per_s: spec.ratePerSecond,
		counters,
		per_delivery: perDelivery,
		workerd_cpu_ms: round(cpuMs, 0) ?? 0,
		workerd_cpu_ms_per_delivery: deliveries > 0 ? round(cpuMs / deliveries, 3) : null,
		proxy_cpu_ms_per_delivery: deliveries > 0 ? round((cpuAfter.proxyMs - cpuBefore.proxyMs) / deliveries, 3) : null,
		lines,
		usd_per_million_deliveries: round(total, 3),
		usd_per_million_deliveries_excluding_cpu: total === null || cpuLine === null ? null : round(total - cpuLine, 3),
		d1_rows_written_per_delivery: perDelivery.d1_rows_written,
		event_rows: eventRows,
		complete: complete && idle,
		checks,
	};
	progress(
		`  cost ${spec.label}: ${deliveries} deliveries, $${fmt(result.usd_per_million_deliveries, 3)} per million ` +
			`(D1 rows written ${fmt(result.d1_rows_written_per_delivery, 3)}/delivery, read ${fmt(perDelivery.d1_rows_read, 2)}, ` +
			`queue msgs ${fmt(perDelivery.queue_messages_sent, 3)}, worker invocations ` +
			`${fmt((counters.worker_fetch_invocations + counters.worker_queue_invocations) / Math.max(1, deliveries), 3)}, ` +
			`CPU ≤ ${fmt(result.workerd_cpu_ms_per_delivery, 2)} ms, ${eventRows?.reused_rows ?? "–"} of ${accepted} events in reused rows)` +
			`${result.complete ? "" : " (incomplete: not all deliveries settled)"}`,
	);
	return result;
}

/** What a delivery's retries add, per retry: the 3-attempt case less the first-attempt case at the same fan-out. */
export function retryBreakdown(firstAttempt: CostCase, threeAttempts: CostCase): RetryBreakdown | null {
	const retries = threeAttempts.attempts_per_delivery - firstAttempt.attempts_per_delivery;
	if (retries <= 0 || threeAttempts.deliveries === 0 || firstAttempt.deliveries === 0) return null;
	const counters: Record<string, number> = {};
	for (const [name, value] of Object.entries(threeAttempts.per_delivery)) {
		const base = firstAttempt.per_delivery[name as keyof Metrics];
		if (value === null || base === null) continue;
		counters[name] = round((value - base) / retries, 4) ?? 0;
	}
	const lines = Object.entries(threeAttempts.lines)
		.map(([name, costLine]) => {
			const base = firstAttempt.lines[name];
			const perRetry =
				costLine.per_delivery === null || base?.per_delivery == null
					? null
					: round((costLine.per_delivery - base.per_delivery) / retries, 4);
			const usd =
				costLine.usd_per_million_deliveries === null || base?.usd_per_million_deliveries == null
					? null
					: round((costLine.usd_per_million_deliveries - base.usd_per_million_deliveries) / retries, 4);
			return { name, per_retry: perRetry, usd_per_million_retries: usd };
		})
		.sort((a, b) => (b.usd_per_million_retries ?? 0) - (a.usd_per_million_retries ?? 0));
	const total =
		threeAttempts.usd_per_million_deliveries === null || firstAttempt.usd_per_million_deliveries === null
			? null
			: round((threeAttempts.usd_per_million_deliveries - firstAttempt.usd_per_million_deliveries) / retries, 3);
	return { retries_per_delivery: retries, counters, lines, usd_per_million_retries: total };
}

/** A receiver that accepts every delivery at once. */
export const answersOk: Behaviour = () => 200;
/** A receiver that fails each delivery's first two attempts and accepts the third. */
export const failsTwice: Behaviour = (_eventId, nth) => (nth < 3 ? 500 : 200);

/** Counted operations per delivery, priced at list prices. */
export async function runCost(ctx: BenchContext, config: CostConfig = COST_CONFIG): Promise<CostResult> {
	progress(`cost: counted with the worker's metering, priced at list prices as of ${PRICES_AS_OF}`);
	const fanout10 = await runCase(ctx, {
		label: "fanout10",
		endpoints: 10,
		groups: 1,
		events: config.events,
		ratePerSecond: config.ratePerSecond,
		attempts: 1,
		behaviour: answersOk,
		options: {},
	});
	const fanout1 = await runCase(ctx, {
		label: "fanout1",
		endpoints: 1,
		groups: 1,
		events: config.fanout1Events,
		ratePerSecond: config.fanout1RatePerSecond,
		attempts: 1,
		behaviour: answersOk,
		options: {},
	});
	const fanout1Batch = await runCase(ctx, {
		label: "fanout1-batch",
		endpoints: 1,
		groups: 1,
		events: config.batchEvents,
		ratePerSecond: config.batchRatePerSecond,
		attempts: 1,
		behaviour: answersOk,
		options: {},
		eventsPerRequest: config.batchEventsPerRequest,
	});
	const threeAttempts = await runCase(ctx, {
		label: "three-attempts",
		endpoints: 10,
		groups: config.retryGroups,
		events: config.retryGroups * config.retryEventsPerGroup,
		ratePerSecond: (config.retryGroups * 1000) / config.retryEventIntervalMs,
		attempts: 3,
		behaviour: failsTwice,
		options: { retry_schedule: [1, 1] },
	});
	return {
		prices_as_of: PRICES_AS_OF,
		price_sources: PRICE_SOURCES,
		assumptions: COST_ASSUMPTIONS,
		usd_per_million_deliveries: fanout10.usd_per_million_deliveries,
		usd_per_million_deliveries_excluding_cpu: fanout10.usd_per_million_deliveries_excluding_cpu,
		d1_rows_written_per_delivery: fanout10.d1_rows_written_per_delivery,
		fanout1_usd_per_million_deliveries: fanout1.usd_per_million_deliveries,
		fanout1_d1_rows_written_per_delivery: fanout1.d1_rows_written_per_delivery,
		three_attempts_usd_per_million_deliveries: threeAttempts.usd_per_million_deliveries,
		three_attempts_d1_rows_written_per_delivery: threeAttempts.d1_rows_written_per_delivery,
		per_retry: retryBreakdown(fanout10, threeAttempts),
		cases: { fanout10, fanout1, three_attempts: threeAttempts, fanout1_batch: fanout1Batch },
	};
}
