import type { FanoutLevel } from "../scenarios/fanout";
import { fmt } from "./log";
import type { BenchResults } from "./results";

/** The targets, checked against measured figures (never asserted: a miss does not fail the run). */
export interface TargetCheck {
	id: string;
	description: string;
	target: string;
	measured: string;
	/** Fan-out-1 figure reported beside it, where there is one. */
	fanout1: string | null;
	/** null when the figure could not be measured. */
	pass: boolean | null;
}

export function check(
	id: string,
	description: string,
	target: string,
	measured: number | null | undefined,
	passes: (value: number) => boolean,
	format: (value: number) => string,
	fanout1: string | null = null,
	extraCondition: { ok: boolean; note: string } | null = null,
): TargetCheck {
	if (measured === null || measured === undefined || !Number.isFinite(measured)) {
		return { id, description, target, measured: "not measured", fanout1, pass: null };
	}
	const valueOk = passes(measured);
	const pass = valueOk && (extraCondition?.ok ?? true);
	const note = extraCondition === null ? "" : `, ${extraCondition.note}`;
	return { id, description, target, measured: `${format(measured)}${note}`, fanout1, pass };
}

export function evaluateTargets(results: BenchResults): TargetCheck[] {
	const ms = (value: number): string => `${fmt(value)} ms`;
	const fan = (n: number): FanoutLevel | undefined => results.fanout.find((level) => level.endpoints === n);
	const fan100 = fan(100);
	const fan1 = fan(1);
	const dollars = (value: number): string => `$${value.toFixed(3)}`;
	const cost = results.cost;
	const isolation = results.isolation;
	return [
		check(
			"ingest_ratio",
			"Ingest throughput against the no-op route",
			"≥ 0.5 × /healthz req/s",
			results.ingest?.ratio,
			(value) => value >= 0.5,
			(value) => `${value.toFixed(2)} × (${fmt(results.ingest?.rps, 0)} vs ${fmt(results.ingest?.noop_rps, 0)} req/s)`,
		),
		check(
			"e2e_p50",
			"End-to-end latency p50 at 100 events/s",
			"≤ 50 ms",
			results.e2e?.p50_ms,
			(value) => value <= 50,
			ms,
		),
		check(
			"e2e_p99",
			"End-to-end latency p99 at 100 events/s",
			"≤ 250 ms",
			results.e2e?.p99_ms,
			(value) => value <= 250,
			(value) => `${results.e2e?.run.latency_is_lower_bound ? "≥ " : ""}${ms(value)}`,
		),
		check(
			"fanout100_throughput",
			"Fan-out 100: sustained deliveries/s, backlog not growing",
			"≥ 1,000/s, no growing backlog",
			fan100?.deliveries_per_s,
			(value) => value >= 1000,
			(value) => `${fmt(value, 0)}/s`,
			fan1 === undefined
				? null
				: `${fmt(fan1.deliveries_per_s, 0)}/s, backlog ${fan1.backlog_growing ? "growing" : "steady"}`,
			fan100 === undefined
				? null
				: { ok: !fan100.backlog_growing, note: `backlog ${fan100.backlog_growing ? "growing" : "steady"}` },
		),
		check(
			"isolation_ratio",
			"Healthy endpoints' p99 at fan-out 10 with one hanging neighbour, against the same load without it",
			"≤ 2 × baseline",
			isolation?.ratio,
			(value) => value <= 2,
			(value) =>
				`${value.toFixed(2)} × (${isolation?.healthy_p99_is_lower_bound ? "≥ " : ""}${fmt(isolation?.healthy_p99_ms, 0)} vs ` +
				`${isolation?.baseline_p99_is_lower_bound ? "≥ " : ""}${fmt(isolation?.baseline_p99_ms, 0)} ms); after the warm-up ` +
				`${fmt(isolation?.steady_ratio, 2)} ×`,
		),
		check(
			"retry_skew_p99",
			"Retry timing |actual − scheduled| p99",
			"≤ 1,000 ms",
			results.retry?.skew_p99_ms,
			(value) => value <= 1000,
			ms,
		),
		check(
			"cost_usd",
			"Cost per million first-attempt deliveries at fan-out 10",
			"≤ $2.00",
			cost?.usd_per_million_deliveries,
			(value) => value <= 2,
			dollars,
			cost?.fanout1_usd_per_million_deliveries == null ? null : dollars(cost.fanout1_usd_per_million_deliveries),
		),
		check(
			"cost_d1_rows_written",
			"D1 rows written per delivery at fan-out 10",
			"≤ 2",
			cost?.d1_rows_written_per_delivery,
			(value) => value <= 2,
			(value) => value.toFixed(2),
			cost?.fanout1_d1_rows_written_per_delivery == null ? null : cost.fanout1_d1_rows_written_per_delivery.toFixed(2),
		),
	];
}
