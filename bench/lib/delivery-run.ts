import type { BenchContext, BenchEndpoint, SentEvent } from "./context";
import { fixedRate, until } from "./load";
import { fmt, progress } from "./log";
import { cpuMark, cpuSince } from "./noise";
import { type QuantilePoint, quantilePoints, round, roundSummary, type Summary, slope, summarize } from "./stats";
import { busiestThreadMs, CLOCK_TICKS, type Metrics } from "./worker";

export interface DeliveryRunOptions {
	label: string;
	eventType: string;
	/** Endpoints whose arrivals are measured (a hanging neighbour is subscribed but not measured). */
	measured: readonly BenchEndpoint[];
	ratePerSecond: number;
	maxMs: number;
	maxCount: number;
	maxInFlight: number;
	/** How long to wait after the last send for the measured deliveries to arrive. */
	drainMs: number;
	/** The first part of the run, left out of the throughput and backlog-trend window. */
	warmupMs: number;
	sampleEveryMs?: number;
	/**
	 * Called with every measured delivery: when its event was sent
	 * (performance.now()), its latency, and whether it never arrived (the
	 * latency is then counted up to when the run stopped waiting).
	 */
	onLatency?: (sentAt: number, latencyMs: number, missing: boolean) => void;
}

export interface BacklogSample {
	t_ms: number;
	/** Deliveries of accepted events that have not arrived yet at the measured endpoints. */
	backlog: number;
	accepted: number;
	delivered: number;
}

export interface QueueStats {
	batches: number;
	messages: number;
	batches_per_s: number | null;
	mean_batch_size: number | null;
}

function queueStats(before: Metrics | null, after: Metrics | null, ms: number): QueueStats | null {
	if (before === null || after === null) return null;
	const batches = after.queue_batches - before.queue_batches;
	const messages = after.queue_messages_consumed - before.queue_messages_consumed;
	return {
		batches,
		messages,
		batches_per_s: ms > 0 ? round((batches * 1000) / ms, 1) : null,
		mean_batch_size: batches > 0 ? round(messages / batches, 1) : null,
	};
}

export interface DeliveryRunResult {
	offered_events_per_s: number;
	achieved_events_per_s: number | null;
	events_sent: number;
	events_accepted: number;
	send_errors: number;
	first_send_error: string | null;
	/** Sends that left more than 50 ms after their time (the generator or the worker fell behind). */
	late_sends: number;
	endpoints_measured: number;
	expected_deliveries: number;
	delivered: number;
	/** Deliveries still missing when the run stopped waiting. */
	missing: number;
	/** Arrivals (first per event and endpoint) per second between the warm-up and the last send. */
	deliveries_per_s: number | null;
	offered_deliveries_per_s: number | null;
	/** Backlog growth per second over the same window (least squares). */
	backlog_slope_per_s: number | null;
	backlog_growing: boolean;
	backlog_at_last_send: number | null;
	/** From the last send until every measured delivery arrived; null when they did not all arrive. */
	drain_ms: number | null;
	/** POST /v1/events, request to 202, as the sender saw it during the run. */
	ingest_latency_ms: Summary;
	/** From the moment the sender started its request to arrival at the receiver, per delivery: ingest included. */
	latency_ms: Summary;
	/** The same for events sent after the warm-up: the steady state without the start-up transient. */
	latency_after_warmup_ms: Summary;
	/** True when deliveries were missing and counted at the time the run stopped waiting (a lower bound). */
	latency_is_lower_bound: boolean;
	/** Arrivals that beat the 202 to the sender: the event is queued before the answer is written. */
	arrived_before_202: number;
	/** While sending: cores busy on the whole machine (of its cores), and used by the bench's own process (load and receivers). */
	machine_busy_cores: number | null;
	bench_process_cores: number | null;
	/** workerd CPU while sending divided by the deliveries that arrived meanwhile (ingest included). */
	workerd_cpu_ms_per_delivery: number | null;
	/** The consumer's batches while sending, from the worker's metering (null without it). */
	queue_while_sending: QueueStats | null;
	/** CPU of Edgehook's workerd while sending, as a share of one core: all of it, and its busiest thread. */
	workerd_cpu_share: number | null;
	workerd_busiest_thread_share: number | null;
	backlog_samples: BacklogSample[];
	/** Latency by the second in which the event was sent: shows whether slow deliveries cluster or recur. */
	latency_by_second: { t_s: number; deliveries: number; p50_ms: number | null; max_ms: number | null }[];
	latency_quantiles_ms: QuantilePoint[];
}

/**
 * Sends events of one type at a fixed rate to endpoints subscribed to it,
 * samples the backlog while sending and afterwards, and measures the time
 * from each 202 to the arrival at each measured endpoint.
 */
export async function deliveryRun(ctx: BenchContext, options: DeliveryRunOptions): Promise<DeliveryRunResult> {
	const sent = new Map<string, SentEvent>();
	const measured = options.measured;
	const delivered = (): number => measured.reduce((sum, endpoint) => sum + endpoint.receiver.distinctEvents, 0);
	const samples: BacklogSample[] = [];
	const t0 = performance.now();
	const sample = (): BacklogSample => {
		const arrivedCount = delivered();
		const point = {
			t_ms: round(performance.now() - t0, 0) ?? 0,
			backlog: sent.size * measured.length - arrivedCount,
			accepted: sent.size,
			delivered: arrivedCount,
		};
		samples.push(point);
		return point;
	};
	const sampleEvery = options.sampleEveryMs ?? 500;
	let lastLine = t0;
	const sampler = setInterval(() => {
		const point = sample();
		if (performance.now() - lastLine >= 5_000) {
			lastLine = performance.now();
			progress(
				`  ${options.label}: ${point.accepted} events accepted, ${point.delivered} deliveries arrived, backlog ${point.backlog}`,
			);
		}
	}, sampleEvery);
	const cpuBefore = ctx.worker.cpu();
	const mark = cpuMark();
	const countersBefore = await ctx.metrics().catch(() => null);
	try {
		const load = await fixedRate({
			ratePerSecond: options.ratePerSecond,
			maxMs: options.maxMs,
			maxCount: options.maxCount,
			maxInFlight: options.maxInFlight,
			send: async (index) => {
				const event = await ctx.sendEvent(options.eventType, index);
				sent.set(event.id, event);
			},
		});
		const lastSendAt = performance.now();
		const cpuAtLastSend = ctx.worker.cpu();
		const machine = cpuSince(mark, CLOCK_TICKS);
		const countersAtLastSend = countersBefore === null ? null : await ctx.metrics().catch(() => null);
		const atLastSend = sample();
		const expected = sent.size * measured.length;
		const allArrived = await until(() => delivered() >= expected, options.drainMs, 50);
		const stoppedAt = performance.now();
		const drainMs = allArrived ? stoppedAt - lastSendAt : null;
		sample();

		// Latency per (event, measured endpoint): first arrival minus the moment the sender started its
		// request, so ingest is inside it (measured from the 202, a delivery that beat the answer was negative).
		const latencies: number[] = [];
		const bySecond = new Map<number, number[]>();
		const afterWarmup: number[] = [];
		const record = (event: SentEvent, latency: number, isMissing = false): void => {
			options.onLatency?.(event.startedAt, latency, isMissing);
			latencies.push(latency);
			if (event.startedAt - t0 >= options.warmupMs) afterWarmup.push(latency);
			const second = Math.floor((event.startedAt - t0) / 1000);
			const list = bySecond.get(second) ?? [];
			list.push(latency);
			bySecond.set(second, list);
		};
		let arrivedBefore202 = 0;
		let missing = 0;
		let windowArrivals = 0;
		let sendingArrivals = 0;
		const windowStart = t0 + options.warmupMs;
		for (const endpoint of measured) {
			const firstArrival = new Map<string, number>();
			for (const arrival of endpoint.receiver.arrivals) {
				if (arrival.nth !== 1) continue;
				firstArrival.set(arrival.eventId, arrival.at);
				if (arrival.at >= windowStart && arrival.at <= lastSendAt) windowArrivals++;
				if (arrival.at <= lastSendAt) sendingArrivals++;
			}
			for (const event of sent.values()) {
				const at = firstArrival.get(event.id);
				if (at === undefined) {
					missing++;
					record(event, stoppedAt - event.startedAt, true);
					continue;
				}
				if (at < event.acceptedAt) arrivedBefore202++;
				record(event, at - event.startedAt);
			}
		}
		const windowSeconds = (lastSendAt - windowStart) / 1000;
		const trend = slope(
			samples
				.filter((point) => point.t_ms >= options.warmupMs && point.t_ms <= lastSendAt - t0)
				.map((point) => ({ x: point.t_ms / 1000, y: point.backlog })),
		);
		const achievedEvents = load.durationMs > 0 ? load.achievedRatePerSecond : null;
		const offeredDeliveries = achievedEvents === null ? null : achievedEvents * measured.length;
		const threshold = Math.max(5, 0.05 * (offeredDeliveries ?? 0));
		const result: DeliveryRunResult = {
			offered_events_per_s: options.ratePerSecond,
			achieved_events_per_s: round(achievedEvents, 1),
			events_sent: load.sent,
			events_accepted: sent.size,
			send_errors: load.errors,
			first_send_error: load.firstError,
			late_sends: load.late,
			endpoints_measured: measured.length,
			expected_deliveries: expected,
			delivered: expected - missing,
			missing,
			deliveries_per_s: round(windowSeconds > 0 ? windowArrivals / windowSeconds : null, 1),
			offered_deliveries_per_s: round(offeredDeliveries, 1),
			backlog_slope_per_s: round(trend, 1),
			backlog_growing: trend !== null && trend > threshold,
			backlog_at_last_send: atLastSend.backlog,
			drain_ms: round(drainMs, 0),
			ingest_latency_ms: roundSummary(summarize([...sent.values()].map((event) => event.acceptedAt - event.startedAt))),
			latency_ms: roundSummary(summarize(latencies)),
			latency_after_warmup_ms: roundSummary(summarize(afterWarmup)),
			latency_is_lower_bound: missing > 0,
			arrived_before_202: arrivedBefore202,
			...machine,
			workerd_cpu_ms_per_delivery:
				sendingArrivals > 0 ? round((cpuAtLastSend.workerdMs - cpuBefore.workerdMs) / sendingArrivals, 3) : null,
			queue_while_sending: queueStats(countersBefore, countersAtLastSend, lastSendAt - t0),
			workerd_cpu_share: round((cpuAtLastSend.workerdMs - cpuBefore.workerdMs) / (lastSendAt - t0), 2),
			workerd_busiest_thread_share: round(busiestThreadMs(cpuBefore, cpuAtLastSend) / (lastSendAt - t0), 2),
			backlog_samples: samples,
			latency_by_second: [...bySecond]
				.sort(([a], [b]) => a - b)
				.map(([second, values]) => {
					const summary = summarize(values);
					return { t_s: second, deliveries: values.length, p50_ms: round(summary.p50), max_ms: round(summary.max) };
				}),
			latency_quantiles_ms: quantilePoints(latencies),
		};
		progress(
			`  ${options.label}: ${result.events_accepted} events at ${fmt(result.achieved_events_per_s)}/s → ` +
				`${fmt(result.deliveries_per_s, 0)} deliveries/s (offered ${fmt(result.offered_deliveries_per_s, 0)}/s), ` +
				`backlog trend ${fmt(result.backlog_slope_per_s)}/s${result.backlog_growing ? " (growing)" : ""}, ` +
				`ingest p50 ${fmt(result.ingest_latency_ms.p50)} ms, latency p50 ${fmt(result.latency_ms.p50)} ms p99 ${result.latency_is_lower_bound ? "≥ " : ""}${fmt(result.latency_ms.p99)} ms, ` +
				`${missing > 0 ? `${missing} not arrived after ${fmt(options.drainMs / 1000, 0)} s` : `all arrived ${fmt((drainMs ?? 0) / 1000)} s after the last send`}` +
				`; workerd CPU ${fmt((result.workerd_cpu_share ?? 0) * 100, 0)} % of a core (busiest thread ${fmt((result.workerd_busiest_thread_share ?? 0) * 100, 0)} %), ` +
				`${fmt(result.workerd_cpu_ms_per_delivery, 2)} ms per delivery, machine ${fmt(result.machine_busy_cores, 2)} cores busy (bench ${fmt(result.bench_process_cores, 2)})` +
				`${result.queue_while_sending === null ? "" : `; consumer ${fmt(result.queue_while_sending.batches_per_s)} batches/s of ${fmt(result.queue_while_sending.mean_batch_size)} messages`}` +
				`${load.errors > 0 ? `, ${load.errors} send errors (${load.firstError})` : ""}`,
		);
		return result;
	} finally {
		clearInterval(sampler);
	}
}
