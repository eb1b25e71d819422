import { BenchContext } from "../lib/context";
import { progress } from "../lib/log";
import { LocalWorker } from "../lib/worker";
import { answersOk, type CostCase, failsTwice, type RetryBreakdown, retryBreakdown, runCase } from "./cost";

export interface RetryVolumeConfig {
	/** Fan-out 1: one endpoint gets every event, so this is its deliveries/s. */
	fanout1Events: number;
	fanout1RatePerSecond: number;
	fanout10Events: number;
	fanout10RatePerSecond: number;
	/**
	 * The circuit's threshold for this worker only: at 50 deliveries/s an
	 * endpoint that fails every first attempt fails five in a row within a
	 * tenth of a second, and the breaker would then hold the deliveries for its
	 * probes (30 s, then doubling) instead of retrying them, which is section
	 * 8's subject, not this one's.
	 */
	circuitFailureThreshold: number;
}

export const RETRY_VOLUME_CONFIG: RetryVolumeConfig = {
	fanout1Events: 600,
	fanout1RatePerSecond: 50,
	// 50 deliveries/s to each of the ten endpoints: what issue 15 calls an outage at volume.
	fanout10Events: 250,
	fanout10RatePerSecond: 50,
	circuitFailureThreshold: 1_000_000,
};

export interface RetryVolumeResult {
	circuit_failure_threshold: number;
	cases: { fanout1: CostCase; fanout1_three_attempts: CostCase; fanout10: CostCase; fanout10_three_attempts: CostCase };
	/** What each retry adds at fan-out 1 and at fan-out 10: the 3-attempt case less the first-attempt case. */
	per_retry_fanout1: RetryBreakdown | null;
	per_retry_fanout10: RetryBreakdown | null;
	/** The fan-out 1 cases again on a worker whose main queue hands the consumer one message at a time. */
	batches_of_one: BatchesOfOne | null;
}

/**
 * How full the consumer's batches are decides what a delivery costs: the
 * report, the pack and the invocation are shared by a batch. Locally they
 * fill as far as the consumer is slower than the offered rate, which moves
 * with the machine's pace from run to run; deployed, concurrent consumers
 * each take what is there. One message per batch is the case where nothing
 * is shared.
 */
export interface BatchesOfOne {
	fanout1: CostCase;
	fanout1_three_attempts: CostCase;
	per_retry: RetryBreakdown | null;
}

/**
 * Retries at volume: an endpoint that fails every delivery's first two
 * attempts while it is offered 50 deliveries/s (fan-out 1), and ten such
 * endpoints at 50 events/s (fan-out 10), each against a first-attempt case
 * at the same rate, counted and priced like the cost scenario. It runs on a
 * worker of its own, started with the circuit breaker out of the way (see
 * RetryVolumeConfig), and stops it before returning; then the fan-out 1
 * cases again on a second worker whose consumer takes one message per batch
 * (see BatchesOfOne).
 */
export async function runRetryVolume(
	root: string,
	config: RetryVolumeConfig = RETRY_VOLUME_CONFIG,
): Promise<RetryVolumeResult> {
	progress(
		`retry-volume: a worker of its own with CIRCUIT_FAILURE_THRESHOLD=${config.circuitFailureThreshold}, ` +
			`fan-out 1 at ${config.fanout1RatePerSecond} events/s and fan-out 10 at ${config.fanout10RatePerSecond} events/s`,
	);
	const cases = await onVolumeWorker(root, config, undefined, async (ctx) => {
		const fanout1 = await runFanout1Cases(ctx, config, "");
		const fanout10 = await runCase(ctx, {
			label: "volume-fanout10",
			endpoints: 10,
			groups: 1,
			events: config.fanout10Events,
			ratePerSecond: config.fanout10RatePerSecond,
			attempts: 1,
			behaviour: answersOk,
			options: {},
		});
		const fanout10Three = await runCase(ctx, {
			label: "volume-fanout10-three-attempts",
			endpoints: 10,
			groups: 1,
			events: config.fanout10Events,
			ratePerSecond: config.fanout10RatePerSecond,
			attempts: 3,
			behaviour: failsTwice,
			options: { retry_schedule: [1, 1] },
		});
		return { ...fanout1, fanout10, fanout10_three_attempts: fanout10Three };
	});
	progress("retry-volume: fan-out 1 again, on a worker whose main queue consumer has max_batch_size = 1");
	const ofOne = await onVolumeWorker(root, config, 1, (ctx) => runFanout1Cases(ctx, config, "-batches-of-one"));
	const batchesOfOne = { ...ofOne, per_retry: retryBreakdown(ofOne.fanout1, ofOne.fanout1_three_attempts) };
	const perRetry1 = retryBreakdown(cases.fanout1, cases.fanout1_three_attempts);
	const perRetry10 = retryBreakdown(cases.fanout10, cases.fanout10_three_attempts);
	for (const [label, breakdown] of [
		["fan-out 1", perRetry1],
		["fan-out 10", perRetry10],
		["fan-out 1, batches of one", batchesOfOne.per_retry],
	] as const) {
		if (breakdown === null) continue;
		const c = breakdown.counters;
		progress(
			`  retry-volume ${label}: per retry $${breakdown.usd_per_million_retries}/M; DO requests ${c.do_requests}, ` +
				`alarms ${c.do_alarms}, alarms set ${c.do_alarms_set}, DO rows written ${c.do_rows_written}, ` +
				`D1 rows written ${c.d1_rows_written}, queue messages ${c.queue_messages_sent}`,
		);
	}
	return {
		circuit_failure_threshold: config.circuitFailureThreshold,
		cases,
		per_retry_fanout1: perRetry1,
		per_retry_fanout10: perRetry10,
		batches_of_one: batchesOfOne,
	};
}

/** Runs `cases` on a worker of its own, the breaker out of the way, and stops it after. */
async function onVolumeWorker<T>(
	root: string,
	config: RetryVolumeConfig,
	mainQueueMaxBatchSize: number | undefined,
	cases: (ctx: BenchContext) => Promise<T>,
): Promise<T> {
	const worker = await LocalWorker.start(
		root,
		progress,
		{ CIRCUIT_FAILURE_THRESHOLD: String(config.circuitFailureThreshold) },
		mainQueueMaxBatchSize,
	);
	const ctx = await BenchContext.create(worker);
	try {
		return await cases(ctx);
	} finally {
		await ctx.receivers.close();
		await worker.stop();
	}
}

/** One endpoint offered the fan-out 1 rate: first attempts that succeed, then deliveries whose first two attempts fail. */
async function runFanout1Cases(
	ctx: BenchContext,
	config: RetryVolumeConfig,
	labelSuffix: string,
): Promise<{ fanout1: CostCase; fanout1_three_attempts: CostCase }> {
	const fanout1 = await runCase(ctx, {
		label: `volume-fanout1${labelSuffix}`,
		endpoints: 1,
		groups: 1,
		events: config.fanout1Events,
		ratePerSecond: config.fanout1RatePerSecond,
		attempts: 1,
		behaviour: answersOk,
		options: {},
	});
	const fanout1Three = await runCase(ctx, {
		label: `volume-fanout1-three-attempts${labelSuffix}`,
		endpoints: 1,
		groups: 1,
		events: config.fanout1Events,
		ratePerSecond: config.fanout1RatePerSecond,
		attempts: 3,
		behaviour: failsTwice,
		options: { retry_schedule: [1, 1] },
	});
	return { fanout1, fanout1_three_attempts: fanout1Three };
}
