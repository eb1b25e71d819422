import type { BenchContext, BenchEndpoint, SentEvent } from "../lib/context";
import { fixedRate, until } from "../lib/load";
import { fmt, progress } from "../lib/log";
import { round, roundSummary, type Summary, summarize } from "../lib/stats";

export interface OrderedConfig {
	/** Offered to both runs: far above what one-at-a-time delivery carries, well within what the endpoint unordered takes. */
	ratePerSecond: number;
	sendMs: number;
	/** How long to wait for the deliveries after the last send. */
	maxWaitMs: number;
}

export const ORDERED_CONFIG: OrderedConfig = { ratePerSecond: 100, sendMs: 4_000, maxWaitMs: 25_000 };

export interface OrderingRun {
	ordering: "ordered" | "unordered";
	events: number;
	delivered: number;
	/** Deliveries per second from the first arrival to the last. */
	deliveries_per_s: number | null;
	/** The same, from the first send: includes the way in. */
	deliveries_per_s_from_first_send: number | null;
	/**
	 * First arrivals after the arrival of an event that was sent only after
	 * theirs had been accepted (so was surely ingested later). Events in flight
	 * together may be ingested in either order and are not compared.
	 */
	out_of_order: number;
	/** Requests beyond one per event. */
	duplicates: number;
	/** 202 → first arrival. */
	latency_ms: Summary;
	/** All arrived before the bench stopped waiting. */
	complete: boolean;
}

export interface OrderedResult {
	offered_events_per_s: number;
	send_ms: number;
	unordered: OrderingRun;
	ordered: OrderingRun;
	/** ordered / unordered deliveries per second. */
	ratio: number | null;
}

async function oneRun(
	ctx: BenchContext,
	endpoint: BenchEndpoint,
	type: string,
	ordering: "ordered" | "unordered",
	config: OrderedConfig,
): Promise<OrderingRun> {
	const seen = endpoint.receiver.arrivals.length;
	const sent: SentEvent[] = [];
	const t0 = performance.now();
	const load = await fixedRate({
		ratePerSecond: config.ratePerSecond,
		maxMs: config.sendMs,
		maxCount: Math.ceil((config.ratePerSecond * config.sendMs) / 1000),
		maxInFlight: 8,
		send: async (index) => {
			sent.push(await ctx.sendEvent(type, index));
		},
	});
	if (load.errors > 0) progress(`  ordered (${ordering}): ${load.errors} events not accepted (${load.firstError})`);
	const ids = new Set(sent.map((event) => event.id));
	const arrivals = () => endpoint.receiver.arrivals.slice(seen).filter((arrival) => ids.has(arrival.eventId));
	const firstOf = () => new Set(arrivals().map((arrival) => arrival.eventId)).size;
	let lastLine = performance.now();
	const complete = await until(
		() => {
			if (performance.now() - lastLine >= 5_000) {
				lastLine = performance.now();
				progress(`  ordered (${ordering}): ${firstOf()} of ${sent.length} delivered`);
			}
			return firstOf() >= sent.length;
		},
		config.maxWaitMs,
		50,
	);
	const mine = arrivals();
	const first = new Map<string, number>();
	for (const arrival of mine) if (!first.has(arrival.eventId)) first.set(arrival.eventId, arrival.at);
	const byId = new Map(sent.map((event) => [event.id, event]));
	let outOfOrder = 0;
	let latestStart = Number.NEGATIVE_INFINITY;
	for (const arrival of mine) {
		const event = byId.get(arrival.eventId);
		if (arrival.nth !== 1 || event === undefined) continue;
		if (event.acceptedAt < latestStart) outOfOrder++;
		latestStart = Math.max(latestStart, event.startedAt);
	}
	const times = [...first.values()].sort((a, b) => a - b);
	const firstAt = times[0];
	const lastAt = times.at(-1);
	const span = firstAt !== undefined && lastAt !== undefined ? (lastAt - firstAt) / 1000 : 0;
	const latencies = sent.flatMap((event) => {
		const at = first.get(event.id);
		return at === undefined ? [] : [at - event.startedAt];
	});
	const run: OrderingRun = {
		ordering,
		events: sent.length,
		delivered: first.size,
		deliveries_per_s: span > 0 ? round((times.length - 1) / span, 1) : null,
		deliveries_per_s_from_first_send:
			lastAt !== undefined && lastAt > t0 ? round(times.length / ((lastAt - t0) / 1000), 1) : null,
		out_of_order: outOfOrder,
		duplicates: mine.length - first.size,
		latency_ms: roundSummary(summarize(latencies)),
		complete,
	};
	progress(
		`  ordered (${ordering}): ${run.delivered} of ${run.events} delivered at ${fmt(run.deliveries_per_s)}/s ` +
			`(first arrival to last), latency p50 ${fmt(run.latency_ms.p50)} ms, max ${fmt(run.latency_ms.max)} ms, ` +
			`${run.out_of_order} out of order, ${run.duplicates} duplicates${complete ? "" : ", not all arrived"}`,
	);
	return run;
}

/**
 * One endpoint answering 200 at once, first unordered, then (PATCH) ordered:
 * the same events offered at the same rate, deliveries a second compared.
 * Ordered, each delivery goes out only after the one before it settled, so
 * the rate is one delivery per round trip through the endpoint's scheduler
 * and the queue.
 */
export async function runOrdered(ctx: BenchContext, config: OrderedConfig = ORDERED_CONFIG): Promise<OrderedResult> {
	progress(
		`ordered throughput: one endpoint answering 200, ${config.ratePerSecond} events/s for ${config.sendMs / 1000} s, unordered then ordered`,
	);
	const type = ctx.eventType("ordered");
	const [endpoint] = await ctx.createEndpoints(1, type, "ordered");
	if (endpoint === undefined) throw new Error("the endpoint was not created");
	try {
		const unordered = await oneRun(ctx, endpoint, type, "unordered", config);
		await ctx.settle("ordered: between runs");
		await ctx.updateEndpoint(endpoint, { ordering: "ordered" });
		const ordered = await oneRun(ctx, endpoint, type, "ordered", config);
		const ratio =
			ordered.deliveries_per_s !== null && unordered.deliveries_per_s !== null && unordered.deliveries_per_s > 0
				? round(ordered.deliveries_per_s / unordered.deliveries_per_s, 2)
				: null;
		return { offered_events_per_s: config.ratePerSecond, send_ms: config.sendMs, unordered, ordered, ratio };
	} finally {
		await ctx.deleteEndpoints([endpoint]);
		await ctx.settle("ordered clean-up");
	}
}
