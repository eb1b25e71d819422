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
}

/**
 * Retries at volume: an endpoint that fails every delivery's first two
 * attempts while it is offered 50 deliveries/s (fan-out 1), and ten such
 * endpoints at 50 events/s (fan-out 10), each against a first-attempt case
 * at the same rate, counted and priced like the cost scenario. It runs on a
 * worker of its own, started with the circuit breaker out of the way (see
 * RetryVolumeConfig), and stops it before returning.
 */
export async function runRetryVolume(
	root: string,
	config: RetryVolumeConfig = RETRY_VOLUME_CONFIG,
): Promise<RetryVolumeResult> {
	progress(
		`retry-volume: a worker of its own with CIRCUIT_FAILURE_THRESHOLD=${config.circuitFailureThreshold}, ` +
			`fan-out 1 at ${config.fanout1RatePerSecond} events/s and fan-out 10 at ${config.fanout10RatePerSecond} events/s`,
	);
	const worker = await LocalWorker.start(root, progress, {
		CIRCUIT_FAILURE_THRESHOLD: String(config.circuitFailureThreshold),
	});
	const ctx = await BenchContext.create(worker);
	try {
		const fanout1 = await runCase(ctx, {
			label: "volume-fanout1",
			endpoints: 1,
			groups: 1,
			events: config.fanout1Events,
			ratePerSecond: config.fanout1RatePerSecond,
			attempts: 1,
			behaviour: answersOk,
			options: {},
		});
		const fanout1Three = await runCase(ctx, {
			label: "volume-fanout1-three-attempts",
			endpoints: 1,
			groups: 1,
			events: config.fanout1Events,
			ratePerSecond: config.fanout1RatePerSecond,
			attempts: 3,
			behaviour: failsTwice,
			options: { retry_schedule: [1, 1] },
		});
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
		const perRetry1 = retryBreakdown(fanout1, fanout1Three);
		const perRetry10 = retryBreakdown(fanout10, fanout10Three);
		for (const [label, breakdown] of [
			["fan-out 1", perRetry1],
			["fan-out 10", perRetry10],
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
			cases: {
				fanout1,
				fanout1_three_attempts: fanout1Three,
				fanout10,
				fanout10_three_attempts: fanout10Three,
			},
			per_retry_fanout1: perRetry1,
			per_retry_fanout10: perRetry10,
		};
	} finally {
		await ctx.receivers.close();
		await worker.stop();
	}
}
