import { writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { DeliveryRunResult } from "../lib/delivery-run";
import type { BenchResults } from "../lib/results";
import type { TargetCheck } from "../lib/targets";
import { PRICE_SOURCES, PRICES, PRICES_AS_OF } from "../prices";
import type { CostCase, CostResult, RetryBreakdown } from "../scenarios/cost";
import { IN_FLIGHT_AT_OPENING_MS } from "../scenarios/dead-endpoint";
import { FANOUT_CONFIG } from "../scenarios/fanout";
import type { RetryVolumeResult } from "../scenarios/retry-volume";
import type { ShardsPhase, ShardsResult } from "../scenarios/shards";
import type { Chart } from "./charts";

const FANOUT_WARMUP_S = FANOUT_CONFIG.warmupMs / 1000;

/** Where a figure depends on it: how the local queue differs from a deployed one. */
const ONE_BATCH_AT_A_TIME =
	"Locally, miniflare's queue broker hands the consumer one batch at a time: it dispatches the next batch of a queue only " +
	"when the consumer has returned the previous one (the main and the slow queue each have their own broker). Deployed, " +
	"Cloudflare runs several consumer invocations of a queue at once and adds more as the backlog grows.";

function n(value: number | null | undefined, digits = 1): string {
	if (value === null || value === undefined || !Number.isFinite(value)) return "–";
	return Number(value.toFixed(digits)).toLocaleString("en-US", { maximumFractionDigits: digits });
}

function pct(share: number | null | undefined): string {
	return share === null || share === undefined ? "–" : `${Math.round(share * 100)} %`;
}

function usd(value: number | null | undefined, digits = 3): string {
	return value === null || value === undefined ? "–" : `$${value.toFixed(digits)}`;
}

function escapeCell(cell: string): string {
	return cell.replaceAll("|", "\\|");
}

function table(header: string[], rows: string[][]): string {
	return [
		`| ${header.map(escapeCell).join(" | ")} |`,
		`|${header.map(() => "---").join("|")}|`,
		...rows.map((row) => `| ${row.map(escapeCell).join(" | ")} |`),
	].join("\n");
}

/** The difference of two latencies, signed: "+12.8 ms". */
function signedMs(value: number | null | undefined, base: number | null | undefined): string {
	if (value === null || value === undefined || base === null || base === undefined) return "–";
	const difference = value - base;
	return `${difference >= 0 ? "+" : "−"}${n(Math.abs(difference))} ms`;
}

function verdict(target: TargetCheck): string {
	if (target.reported) return "reported";
	return target.pass === null ? "not measured" : target.pass ? "**pass**" : "**miss**";
}

function p99(run: DeliveryRunResult): string {
	return `${run.latency_is_lower_bound ? "≥ " : ""}${n(run.latency_ms.p99)}`;
}

function costTable(cases: CostCase[]): string {
	const names = Object.keys(cases[0]?.lines ?? {});
	const rows = names.map((name) => [
		name.replaceAll("_", " "),
		...cases.flatMap((item) => {
			const costLine = item.lines[name];
			return [n(costLine?.per_delivery, 4), usd(costLine?.usd_per_million_deliveries, 4)];
		}),
	]);
	rows.push(["**total**", ...cases.flatMap((item) => ["", `**${usd(item.usd_per_million_deliveries)}**`])]);
	rows.push([
		"total without CPU",
		...cases.flatMap((item) => ["", usd(item.usd_per_million_deliveries_excluding_cpu)]),
	]);
	return table(
		["per delivery", ...cases.flatMap((item) => [`${item.label}: amount`, `${item.label}: $/M deliveries`])],
		rows,
	);
}

/** Why the 3-attempt delivery costs what it does: the lines a retry adds, largest first. */
function retryCostNote(cost: CostResult | null): string | null {
	const perRetry = cost?.per_retry;
	const three = cost?.cases.three_attempts;
	if (cost == null || perRetry == null || three === undefined || three.usd_per_million_deliveries === null) return null;
	const top = perRetry.lines
		.filter((item) => (item.usd_per_million_retries ?? 0) > 0.005)
		.slice(0, 4)
		.map(
			(item) => `${item.name.replaceAll("_", " ")} ${n(item.per_retry, 2)} ($${n(item.usd_per_million_retries, 2)})`,
		);
	const counters = perRetry.counters;
	return (
		`- **Retry cost.** A 3-attempt delivery at fan-out 10 cost ${usd(three.usd_per_million_deliveries)} per million ` +
		`(${(three.usd_per_million_deliveries ?? 0) <= 4 ? "within" : "above"} the $4 target), against ${usd(cost.usd_per_million_deliveries)} ` +
		`for a first-attempt delivery: each of its ${perRetry.retries_per_delivery} retries adds ${usd(perRetry.usd_per_million_retries)} per million. ` +
		`Per retry: ${top.join(", ")}. In counters per retry: Durable Object requests ${n(counters.do_requests, 2)} and alarms ${n(counters.do_alarms, 2)}, ` +
		`DO rows written ${n(counters.do_rows_written, 2)}, D1 rows written ${n(counters.d1_rows_written, 2)}, ` +
		`queue messages sent ${n(counters.queue_messages_sent, 2)} (section 7).`
	);
}

/** Observations that depend on this run's figures. */
function observations(results: BenchResults): string[] {
	const out: string[] = [];
	const e2e = results.e2e;
	if (e2e !== null && ((e2e.p50_ms ?? 0) > 50 || (e2e.p99_ms ?? 0) > 250)) {
		out.push(
			`- **End-to-end latency at ${e2e.rate_per_s} events/s** missed its target (p50 ${n(e2e.p50_ms)} ms, p99 ${p99(e2e.run)} ms) while ` +
				`the same pipeline at ${e2e.low_rate.rate_per_s} events/s took p50 ${n(e2e.low_rate.p50_ms)} ms, p99 ${n(e2e.low_rate.p99_ms)} ms. ` +
				`At ${e2e.rate_per_s} events/s workerd's busiest thread was ${pct(e2e.run.workerd_busiest_thread_share)} busy and ` +
				`${n(e2e.run.deliveries_per_s, 0)} deliveries/s went out while events came in at ${n(e2e.run.achieved_events_per_s, 0)}/s: ` +
				"the local consumer falls behind when it shares the thread with the ingest load.",
		);
	}
	for (const level of results.fanout) {
		if (!level.backlog_growing) continue;
		out.push(
			`- **Fan-out ${level.endpoints}** delivered ${n(level.deliveries_per_s, 0)} of ${n(level.run.offered_deliveries_per_s, 0)} deliveries/s offered ` +
				`and its backlog grew by ${n(level.backlog_slope_per_s, 0)}/s; workerd's busiest thread was ${pct(level.run.workerd_busiest_thread_share)} busy` +
				`${level.run.drain_ms === null ? "" : `, and the backlog drained ${n(level.run.drain_ms / 1000)} s after the last event`}.`,
		);
	}
	const fan100 = results.fanout.find((level) => level.endpoints === 100);
	const perDelivery = fan100?.run.workerd_cpu_ms_per_delivery ?? null;
	if (fan100?.backlog_growing && perDelivery !== null && perDelivery > 0) {
		out.push(
			`- **Why the local ceiling is where it is.** At fan-out 100, workerd spent ${n(perDelivery, 2)} ms of CPU per delivery ` +
				`(worker, local D1 and queue broker together, ingest included) and its busiest thread was ${pct(fan100.run.workerd_busiest_thread_share)} busy: ` +
				`one thread tops out near ${n(1000 / perDelivery, 0)} deliveries/s.`,
		);
	}
	const fan10 = results.fanout.find((level) => level.endpoints === 10);
	const q10 = fan10?.run.queue_while_sending;
	if (fan10?.backlog_growing && q10 != null && (fan10.run.workerd_busiest_thread_share ?? 1) < 0.9) {
		const machineFull = (fan10.run.machine_busy_cores ?? 0) >= 0.9 * results.machine.cores;
		out.push(
			`- **Fan-out 10 fell behind without saturating workerd's thread** (${pct(fan10.run.workerd_busiest_thread_share)} busy; ` +
				`the machine had ${n(fan10.run.machine_busy_cores, 2)} of ${results.machine.cores} cores busy): the consumer ran ` +
				`${n(q10.batches_per_s)} batches/s of ${n(q10.mean_batch_size)} messages (10 attempts each) while ${n(fan10.run.achieved_events_per_s)} ingest requests/s ` +
				"shared its event loop. " +
				(machineFull
					? "With every core busy, workerd waited for CPU as much as for work. "
					: "Locally one batch runs at a time, so the batch's latency, not CPU, sets the rate. ") +
				"A deployed queue runs several consumer invocations at once.",
		);
	}
	const iso = results.isolation;
	if (iso != null && iso.stall_ms !== undefined) {
		const stallOk = iso.stall_ms !== null && iso.stall_ms <= iso.stall_bound_ms;
		out.push(
			`- **Isolation.** When the neighbour started hanging (timeout ${iso.hanging_timeout_ms} ms), the healthy endpoints stalled for ` +
				`${n(iso.stall_ms, 0)} ms (worst ${n(iso.stall_worst_latency_ms, 0)} ms against a baseline p50 of ${n(iso.baseline_p50_ms)} ms), ` +
				`${stallOk ? "within" : "beyond"} SLOW_ATTEMPT_MS + timeout = ${n(iso.stall_bound_ms, 0)} ms: the batch holding the first ` +
				"attempts to it waits for them, and locally no other batch of the queue runs meanwhile. " +
				`Once it was detected their p99 was ${n(iso.steady_p99_ms)} ms against ${n(iso.baseline_steady_p99_ms)} ms without it ` +
				`(${n(iso.steady_ratio, 2)} ×, ${signedMs(iso.steady_p99_ms, iso.baseline_steady_p99_ms)})` +
				(iso.recurring_stall_seconds > 0
					? `, but a stall came back in ${iso.recurring_stall_seconds} later second(s) of the run.`
					: ", and the stall did not come back during the run.") +
				` The hanging endpoint got ${iso.hanging_requests} requests for ${iso.run.events_accepted} events` +
				(iso.hanging_circuit_state === null
					? "."
					: iso.hanging_circuit_state === "closed"
						? "; its circuit was still closed at the end, its failures not yet reported (section 4)."
						: `; its circuit ended ${iso.hanging_circuit_state.replace("_", "-")}.`),
		);
	}
	const dead = results.dead_endpoint;
	if (dead != null && dead.expected_probes !== null) {
		const leaked = dead.attempts_while_open > dead.expected_probes;
		out.push(
			`- **Dead endpoint.** The breaker cut the attempts from ${n(dead.without_breaker_attempts_per_min, 0)}/min (what the retry schedule ` +
				`alone sends at ${n(dead.rate_per_s, 1)} events/s) to ${n(dead.attempts_per_min_after_open, 2)}/min once the circuit opened ` +
				`${n((dead.opened_at_ms ?? Number.NaN) / 1000, 1)} s into the run; ${leaked ? "more than" : "within"} the ${dead.expected_probes} probe(s) it allows in ` +
				`${n(dead.minutes_after_open, 2)} min (requests at ${dead.after_open_at_ms.map((ms) => `${n(ms / 1000, 1)} s`).join(", ") || "–"} after the opening` +
				`${dead.in_flight_at_open > 0 ? `; ${dead.in_flight_at_open} within ${IN_FLIGHT_AT_OPENING_MS / 1000} s of it, sent on a decision taken before it opened` : ""}).`,
		);
	}
	const costNote = retryCostNote(results.cost);
	if (costNote !== null) out.push(costNote);
	const checks =
		results.cost === null
			? []
			: Object.values(results.cost.cases).flatMap((item) => item.checks.map((check) => `${item.label}: ${check}`));
	if (checks.length > 0) {
		out.push(`- **Metering checks** (counters against what the receivers saw): ${checks.join("; ")}.`);
	}
	if (results.cost !== null) {
		const parts = Object.values(results.cost.cases).map((item) => {
			const top = Object.entries(item.lines)
				.filter(([, costLine]) => (costLine.usd_per_million_deliveries ?? 0) > 0)
				.sort(([, a], [, b]) => (b.usd_per_million_deliveries ?? 0) - (a.usd_per_million_deliveries ?? 0))
				.slice(0, 3)
				.map(
					([name, costLine]) =>
						`${name.replaceAll("_", " ")} ${usd(costLine.usd_per_million_deliveries, 2)} (${n(costLine.per_delivery, 2)}/delivery)`,
				);
			return `${item.label} ${usd(item.usd_per_million_deliveries, 2)}/M: ${top.join(", ")}`;
		});
		out.push(`- **Where the cost goes** (largest lines per million deliveries): ${parts.join("; ")}.`);
	}
	const noise = results.other_processes_cpu;
	if ((noise.mean_cores ?? 0) >= 0.2) {
		out.push(
			`- **Noise.** Other processes on the machine used ${n(noise.mean_cores, 2)} cores on average (at most ${n(noise.max_cores, 2)}) while the bench ran; ` +
				"figures from a quieter machine will be better.",
		);
	}
	return out;
}

/** Retries at volume: a failing endpoint offered 50 deliveries/s, counted per delivery and per retry. */
export function retryVolumeSection(volume: RetryVolumeResult): string[] {
	const { fanout1, fanout1_three_attempts: three1, fanout10, fanout10_three_attempts: three10 } = volume.cases;
	const ofOne = volume.batches_of_one ?? null;
	const cases = [fanout1, three1, fanout10, three10, ...(ofOne ? [ofOne.fanout1, ofOne.fanout1_three_attempts] : [])];
	const perRetryRows = (breakdown: RetryBreakdown | null): string[] => {
		const c = breakdown?.counters ?? {};
		return [
			n(c.do_requests, 3),
			n(c.do_alarms, 3),
			n(c.do_alarms_set, 3),
			n(c.do_rows_written, 3),
			n(c.d1_rows_written, 3),
			n(c.queue_messages_sent, 3),
			usd(breakdown?.usd_per_million_retries),
		];
	};
	return [
		"## 10. Retries at volume",
		"",
		`One endpoint offered ${n(three1.rate_per_s, 0)} events/s (${three1.events} events), fan-out 1, that fails every delivery's first two ` +
			`attempts and accepts the third (retry_schedule [1, 1]); then ten such endpoints at ${n(three10.rate_per_s, 0)} events/s ` +
			`(${three10.events} events, fan-out 10). Each against a first-attempt case at the same rate, counted and priced as in section 7. ` +
			`It runs on a worker of its own started with CIRCUIT_FAILURE_THRESHOLD=${volume.circuit_failure_threshold}: at this rate the ` +
			"first attempts alone fail five in a row within a tenth of a second, and the breaker would hold the deliveries for its probes " +
			"(section 8) instead of retrying them.",
		"",
		costTable(cases),
		"",
		table(
			[
				"per retry",
				"DO requests",
				"alarms",
				"alarms set",
				"DO rows written",
				"D1 rows written",
				"queue messages",
				"$/M retries",
			],
			[
				["fan-out 1", ...perRetryRows(volume.per_retry_fanout1)],
				["fan-out 10", ...perRetryRows(volume.per_retry_fanout10)],
				...(ofOne ? [["fan-out 1, batches of one", ...perRetryRows(ofOne.per_retry)]] : []),
			],
		),
		"",
		`A 3-attempt delivery cost ${usd(three1.usd_per_million_deliveries)} per million at fan-out 1 (target $5) and ` +
			`${usd(three10.usd_per_million_deliveries)} at fan-out 10 (target $4).`,
		...(ofOne
			? [
					"",
					"How full the consumer's batches and messages are decides much of a delivery's cost (the report to the endpoint's Durable Object, " +
						"the pack and the invocation are shared by a batch, three queue operations by a message). A message fills with the " +
						"first attempts of the tenant's events that come within a departure's wait (README, \"Nothing lost\"); locally, " +
						"batches fill as far as the consumer is slower than the offered rate, which moves with the machine's pace. In the " +
						`fan-out 1 3-attempt case above, queue messages sent per delivery were ${n(three1.per_delivery.queue_messages_sent, 3)} ` +
						`and queue batches per delivery ${n(three1.per_delivery.queue_batches, 3)}. The "batches of one" cases run the same load on a worker whose main queue ` +
						"consumer has `max_batch_size = 1`, the case where nothing is shared, as deployed consumers running side by side may " +
						`see: ${usd(ofOne.fanout1_three_attempts.usd_per_million_deliveries)} per million 3-attempt deliveries, ` +
						`${usd(ofOne.fanout1.usd_per_million_deliveries)} for first attempts alone.`,
				]
			: []),
		"",
	];
}

function shardPhaseLabel(phase: ShardsPhase): string {
	return `${phase.label} (${n(phase.events_per_s_offered, 0)} events/s, ${n(phase.counted_ms / 1000, 0)} s counted)`;
}

/** Section 9: tenants on every local shard, the counts per shard, the control database's share, the projection. */
function shardsSection(shards: ShardsResult): string[] {
	const phases = [shards.spread, shards.control_idle];
	const control = shards.control;
	const projection = shards.projection;
	const limit = n(projection.queries_per_s_per_database, 0);
	const checks = phases.flatMap((phase) => phase.checks.map((check) => `- ${phase.label}: ${check}`));
	return [
		"## 9. Shards",
		"",
		`One tenant on each D1 database the worker binds (${shards.shards.join(", ")}), placed with \`"shard"\` on ` +
			"`POST /v1/tenants`, each with an API key of its own and one endpoint answering 200 (fan-out 1). Each tenant sends with its own " +
			`key, \`POST /v1/events/batch\` of ${shards.events_per_request} events, so each request queues ${shards.events_per_request} jobs at once and ` +
			"consumer batches fill. Two phases: first every shard's tenant sends; then DB's tenant sends nothing for longer than the " +
			`key and placement caches last (${shards.key_cache_seconds} s and ${shards.placement_cache_seconds} s), so that every query on DB is ` +
			"control traffic and includes the caches' refreshes. The counters are reset before each phase and read once every delivery arrived and the worker is idle.",
		"",
		"**One workerd thread runs every local database**, and the worker, the queue broker and the Durable Objects with them: " +
			"local deliveries/s do not grow with shards (the busiest-thread column shows how close that thread came to a full core). " +
			"What carries over is the counts: which database each query went to and how many a delivery costs.",
		"",
		table(
			[
				"phase",
				"tenants sending",
				"events accepted",
				"deliveries",
				"deliveries/s",
				"mean consumer batch",
				"busiest workerd thread",
				"missing",
			],
			phases.map((phase) => [
				shardPhaseLabel(phase),
				phase.loaded_shards.join(", "),
				String(phase.events_accepted),
				String(phase.deliveries),
				`**${n(phase.deliveries_per_s, 0)}**`,
				n(phase.mean_batch_size, 1),
				pct(phase.workerd_busiest_thread_share),
				String(phase.missing),
			]),
		),
		"",
		"Deliveries/s run from the first send to the last arrival.",
		"",
		table(
			[
				"phase",
				"shard",
				"its tenant's deliveries",
				"D1 queries",
				"rows read",
				"rows written",
				"queries/delivery",
				"rows read/delivery",
				"rows written/delivery",
				`deliveries/s at ${limit} queries/s`,
			],
			phases.flatMap((phase) =>
				phase.shards.map((shard) => [
					phase.label,
					`${shard.binding}${shard.binding === "DB" ? " (control)" : ""}`,
					`${shard.deliveries}${shard.loaded ? "" : " (idle)"}`,
					String(shard.d1_queries),
					String(shard.d1_rows_read),
					String(shard.d1_rows_written),
					n(shard.queries_per_delivery, 3),
					n(shard.rows_read_per_delivery, 2),
					n(shard.rows_written_per_delivery, 2),
					n(shard.deliveries_per_s_at_limit, 0),
				]),
			),
		),
		"",
		`**The control database.** ${control.method} With DB's tenant idle, DB was asked **${control.queries}** queries ` +
			`(${control.rows_read} rows read, ${control.rows_written} written) in ${n(control.counted_s, 0)} s: ` +
			`${n((control.share_of_queries ?? Number.NaN) * 100, 3)} % of all D1 queries of that phase, ` +
			`${n(control.queries_per_delivery, 6)} per delivery, ${n(control.queries_per_s, 2)}/s; one isolate's caches allow at most ` +
			`${control.expected_at_most} in that time. With every shard sending, DB was asked ${n(control.excess_on_db_in_spread, 1)} queries ` +
			"beyond what its tenant's deliveries cost at the other shards' rate.",
		"",
		`**Projection.** D1 runs one query at a time, about ${limit} a second at 1 ms each (docs/SCALING.md, "What that gives per database"). ` +
			`From ${shards.projection_basis}: **${n(projection.data_queries_per_delivery, 3)}** queries per delivery, so a shard carries about ` +
			`**${n(projection.deliveries_per_s_per_shard, 0)} deliveries/s** at fan-out 1 with this load's shape (batches of ${shards.events_per_request}), ` +
			`and ${n(projection.target_deliveries_per_s, 0)} deliveries/s need **${projection.shards_needed ?? "–"} shards** at full load, ` +
			`${projection.shards_needed_at_planned_utilisation ?? "–"} at ${n(projection.planned_utilisation * 100, 0)} % of each. ` +
			"Events sent one per request cost more queries per delivery (section 7, fanout1), and so more shards. " +
			`If the control database's load grew with deliveries as counted here it would be ${n(projection.control_queries_per_s_at_target, 1)} queries/s ` +
			`(${n((projection.control_share_of_one_database_at_target ?? Number.NaN) * 100, 2)} % of one database) at that volume; it does not: it grows with ` +
			`isolates × (keys and tenants in use), each read at most once per ${Math.min(shards.key_cache_seconds, shards.placement_cache_seconds)} s, so one ` +
			`control database carries the refreshes of about ${n(projection.cached_pairs_per_control_database, 0)} (isolate, key or tenant) pairs at ${limit} queries/s. ` +
			"Deployed there are many isolates, each with caches of its own; one machine cannot show how many.",
		"",
		...(checks.length > 0 ? ["Checks that failed (the figures above are then incomplete):", "", ...checks, ""] : []),
	];
}

export async function writeMarkdown(root: string, results: BenchResults, charts: Chart[]): Promise<string> {
	const m = results.machine;
	const ingest = results.ingest;
	const e2e = results.e2e;
	const iso = results.isolation;
	const retry = results.retry;
	const ordered = results.ordered;
	const cost = results.cost;
	const dead = results.dead_endpoint;
	const lines: string[] = [
		"# Benchmarks",
		"",
		"<!-- Generated by `npm run bench` (bench/report/markdown.ts): edit the generator, not this file. -->",
		"",
		`Measured on ${results.started_at.slice(0, 10)} by \`npm run bench\` in ${n(results.duration_s, 0)} s, at commit ` +
			`\`${results.worker.commit.slice(0, 7)}\`${results.worker.uncommitted_changes ? " with uncommitted changes" : ""}: Edgehook under ` +
			"`wrangler dev` (workerd with local D1, Queues and Durable Objects, `ENVIRONMENT=development`" +
			`${results.worker.d1_databases === undefined ? "" : `, D1 bindings ${results.worker.d1_databases.join(", ")}`}), HTTP receivers ` +
			"and the load generator on 127.0.0.1 of the same machine. These are local figures: the absolute numbers say " +
			"how this machine runs the local emulation; the ratios and the counted operations carry over to production better.",
		"",
		"## Targets",
		"",
		"Measured, not asserted: a miss is reported, the bench still succeeds.",
		"",
		table(
			["what", "target", "measured", "fan-out 1", "result"],
			results.targets.map((target) => [
				target.description,
				target.target,
				target.measured,
				target.fanout1 ?? "",
				verdict(target),
			]),
		),
		"",
	];
	if (results.errors.length > 0) {
		lines.push(
			"Scenarios that did not complete:",
			"",
			...results.errors.map((error) => `- ${error.scenario}: ${error.message}`),
			"",
		);
	}
	const notes = observations(results);
	if (notes.length > 0) lines.push("What stands out in this run:", "", ...notes, "");

	lines.push("## Charts", "");
	for (const chart of charts) lines.push(`![${chart.title}](${basename(chart.path)})`, "");

	if (ingest !== null) {
		const routes: [string, typeof ingest.noop][] = [
			["GET /healthz (no-op)", ingest.noop],
			["POST /v1/events, 1 subscriber", ingest.events],
			["POST /v1/events, no subscriber", ingest.events_no_subscriber],
		];
		lines.push(
			"## 1. Ingest",
			"",
			`Closed loop, ${ingest.concurrency} concurrent clients, ${ingest.rounds} alternating rounds per route, up to ` +
				`${ingest.max_requests} requests or ${ingest.max_ms / 1000} s per route, after a warm-up. ` +
				"`POST /v1/events` has one subscribed endpoint, so each request stores the event and fans it out, and its first attempt is queued right after the answer or in the tenant's next departure; " +
				"the deliveries run in the same workerd at the same time. Latency is request to response at the client.",
			"",
			table(
				[
					"route",
					"req/s",
					"p50 ms",
					"p99 ms",
					"max ms",
					"workerd CPU ms/req",
					"proxy CPU ms/req",
					"busiest workerd thread",
					`machine busy (of ${m.cores} cores)`,
					"statuses",
				],
				routes.map(([label, route]) => [
					label,
					n(route.rps, 0),
					n(route.latency_ms.p50),
					n(route.latency_ms.p99),
					n(route.latency_ms.max),
					n(route.workerd_cpu_ms_per_request, 2),
					n(route.proxy_cpu_ms_per_request, 2),
					pct(route.workerd_busiest_thread_share),
					n(route.machine_busy_cores, 2),
					JSON.stringify(route.statuses),
				]),
			),
			"",
			`Ratio ingest/no-op: **${n(ingest.ratio, 2)}** (without a subscriber: ${n(ingest.no_subscriber_ratio, 2)}). ` +
				"\"proxy\" is wrangler's own workerd that holds the port and forwards each request to the worker's workerd; " +
				"it is part of every local request and absent in production.",
			"",
		);
	}
	const floor = results.floor;
	if (floor !== null && floor !== undefined) {
		lines.push(
			`The floor on this machine (\`bench/floor/worker.js\` under \`wrangler dev\`, the same load generator, ${floor.concurrency} clients ` +
				`and ${floor.rounds} alternating rounds): a worker that only keeps each request's body in D1, the requests of a few milliseconds ` +
				`sharing one batch as Edgehook's group commit does, reaches **${n(floor.store_ratio, 2)}** × its own /healthz ` +
				`(${n(floor.store.rps, 0)} vs ${n(floor.healthz.rps, 0)} req/s, workerd CPU ${n(floor.store.workerd_cpu_ms_per_request, 2)} against ` +
				`${n(floor.healthz.workerd_cpu_ms_per_request, 2)} ms/request); storing each body and then sending it once to a receiver on loopback, ` +
				`**${n(floor.store_and_send_ratio, 2)}** × (${n(floor.store_and_send.rps, 0)} req/s, ${n(floor.store_and_send.workerd_cpu_ms_per_request, 2)} ms/request; ` +
				`the receiver got ${n(floor.sent_on, 0)}, the warm-up's included). It has no authentication, validation, queue, signature or delivery log, so ingest ` +
				"cannot pass these ratios here: the first bounds it without a subscriber, the second with one.",
			"",
		);
	}
	if (e2e !== null) {
		const runs: [string, DeliveryRunResult][] = [
			[`${e2e.rate_per_s} events/s (the target's load)`, e2e.run],
			[`${e2e.low_rate.rate_per_s} events/s (light load)`, e2e.low_rate.run],
		];
		lines.push(
			"## 2. End-to-end latency",
			"",
			"Open loop, one endpoint answering 200 at once. Latency is from the moment the sender starts its request to the delivery's arrival at the receiver, " +
				"so the ingest request is inside it; a delivery can still arrive before the 202 reaches the sender (the job may leave as the answer is written). " +
				'At 100 events/s a first attempt waits up to about 25 ms for the next events of its tenant (departures, README "Nothing lost").',
			"",
			table(
				[
					"load",
					"events",
					"p50 ms",
					"p90 ms",
					"p99 ms",
					"max ms",
					"ingest p50 ms",
					"deliveries/s",
					"busiest workerd thread",
					`machine busy (of ${m.cores} cores)`,
					"missing",
				],
				runs.map(([label, run]) => [
					label,
					String(run.events_accepted),
					n(run.latency_ms.p50),
					n(run.latency_ms.p90),
					p99(run),
					n(run.latency_ms.max),
					n(run.ingest_latency_ms.p50),
					n(run.deliveries_per_s, 0),
					pct(run.workerd_busiest_thread_share),
					n(run.machine_busy_cores, 2),
					String(run.missing),
				]),
			),
			"",
		);
	}
	if (results.fanout.length > 0) {
		lines.push(
			"## 3. Fan-out throughput",
			"",
			`Each level offers ${n(FANOUT_CONFIG.offeredDeliveriesPerSecond, 0)} deliveries/s (events/s = ${n(FANOUT_CONFIG.offeredDeliveriesPerSecond, 0)} / endpoints; ` +
				"5 % above the 1,000/s target, so that keeping up shows clear of the measuring window's edges), but never more events/s than half the ingest " +
				"rate measured in scenario 1, so that a level measures delivery rather than an overloaded ingest path (marked *capped*). " +
				"Delivered/s counts first arrivals between the warm-up and the last send; the backlog is accepted events × endpoints − arrivals, " +
				"sampled every 0.5 s, and counts as growing when its least-squares trend after the warm-up exceeds 5 % of the offered rate.",
			"",
			`${ONE_BATCH_AT_A_TIME} A level's delivered/s is therefore that of a single consumer, one batch after another: ` +
				"at fan-out 10 each batch of up to 20 messages carries up to 200 attempts over six outbound connections, and the next " +
				"batch waits for the slowest of them. Deployed, the same load spreads over concurrent invocations.",
			"",
			table(
				[
					"endpoints",
					"events/s offered (achieved)",
					"deliveries/s offered",
					"deliveries/s delivered",
					"backlog trend /s",
					"backlog",
					"p50 ms",
					"p99 ms",
					"busiest workerd thread",
					`machine busy (of ${m.cores} cores)`,
					"drained after last send",
				],
				results.fanout.map((level) => [
					String(level.endpoints),
					`${n(level.offered_events_per_s)}${level.capped_by_ingest ? " *capped*" : ""} (${n(level.run.achieved_events_per_s)})`,
					n(level.run.offered_deliveries_per_s, 0),
					`**${n(level.deliveries_per_s, 0)}**`,
					n(level.backlog_slope_per_s),
					level.backlog_growing ? "growing" : "steady",
					n(level.latency_p50_ms),
					p99(level.run),
					pct(level.run.workerd_busiest_thread_share),
					n(level.run.machine_busy_cores, 2),
					level.run.drain_ms === null ? `no (${level.run.missing} missing)` : `${n(level.run.drain_ms / 1000)} s`,
				]),
			),
			"",
		);
	}
	if (iso !== null) {
		const windowS = iso.detection_window_end_ms / 1000;
		lines.push(
			"## 4. Isolation",
			"",
			`Fan-out 10 at ${n(iso.offered_events_per_s)} events/s for ${n(FANOUT_CONFIG.maxMs / 1000, 0)} s, with one of the ten endpoints never answering (its timeout_ms ` +
				`${iso.hanging_timeout_ms}), created hanging, so it starts hanging with the first event; its retries follow the bench's 1-second ` +
				"schedule. " +
				(iso.baseline_source === "fanout-10 level"
					? "The baseline is the fan-out-10 level above (same load)."
					: "The fan-out-10 level fell behind its offered load, and a p99 against a growing backlog only measures how long the run was, " +
						"so the comparison runs at a light load instead, with a baseline of its own at the same rate."),
			"",
			"The result is split in two figures:",
			"",
			`- **(a) the stall**: the worst healthy latency of events sent until the neighbour's first request + SLOW_ATTEMPT_MS ` +
				`(${iso.slow_attempt_ms} ms, src/queue/attempt.ts) + its timeout (here the first ${n(windowS)} s), less the baseline p50. ` +
				`Target: no longer than SLOW_ATTEMPT_MS + timeout = ${n(iso.stall_bound_ms, 0)} ms, once per endpoint per circuit period. ` +
				`The run is shorter than one probe interval, so "once" here means: no later second of the run stalls again ` +
				`(no healthy delivery of a later second took ${iso.slow_attempt_ms} ms or more).`,
			"- **(b) the steady p99**: the healthy p99 of events sent after that window, once the worker has seen the neighbour time out " +
				`and moved it to the slow lane, against the baseline's p99 after its ${FANOUT_WARMUP_S} s warm-up. Target: ≤ 2 × baseline.`,
			"",
			`${ONE_BATCH_AT_A_TIME} That is what makes the stall: the batch holding the first attempts to the hanging endpoint waits ` +
				"for them (its other attempts went out at once), and the batches behind it wait for that batch. Deployed, those batches would " +
				"run in other invocations meanwhile, so the local stall is an upper bound of what a deployed consumer shows.",
			"",
			table(
				["", "figure", "baseline", "ratio / bound", "deliveries", "result"],
				[
					[
						`(a) stall, events sent in the first ${n(windowS)} s`,
						`${iso.stall_window_missing > 0 ? "≥ " : ""}${n(iso.stall_ms, 0)} ms (worst ${n(iso.stall_worst_latency_ms, 0)} ms)`,
						`p50 ${n(iso.baseline_p50_ms)} ms`,
						`≤ ${n(iso.stall_bound_ms, 0)} ms`,
						`${iso.stall_window_deliveries}${iso.stall_window_missing > 0 ? ` (${iso.stall_window_missing} missing)` : ""}`,
						iso.stall_ms === null
							? "–"
							: iso.stall_ms <= iso.stall_bound_ms && iso.recurring_stall_seconds === 0
								? "**pass**"
								: "**miss**",
					],
					[
						"(b) steady p99, events sent after it",
						`${iso.steady_missing > 0 ? "≥ " : ""}${n(iso.steady_p99_ms)} ms (worst ${n(iso.steady_worst_latency_ms, 0)} ms)`,
						`p99 ${n(iso.baseline_steady_p99_ms)} ms`,
						`${n(iso.steady_ratio, 2)} ×, ${signedMs(iso.steady_p99_ms, iso.baseline_steady_p99_ms)} (≤ 2 ×)`,
						`${iso.steady_deliveries}${iso.steady_missing > 0 ? ` (${iso.steady_missing} missing)` : ""}`,
						iso.steady_ratio === null ? "–" : iso.steady_ratio <= 2 ? "**pass**" : "**miss**",
					],
				],
			),
			"",
			`Later seconds of the run with a healthy delivery of ${iso.slow_attempt_ms} ms or more (a stall that came back): ` +
				`**${iso.recurring_stall_seconds}**. The hanging endpoint got ${iso.hanging_requests} requests for ${iso.run.events_accepted} events` +
				(iso.hanging_circuit_state === null
					? ""
					: iso.hanging_circuit_state === "closed"
						? "; its circuit was still closed at the end: a batch reports its attempts to the endpoint's scheduler when all of them " +
							"have ended, and in the slow lane the hanging endpoint's attempts go two at a time, each waiting out the timeout, " +
							"so a batch of them had not ended yet"
						: `; its circuit was ${iso.hanging_circuit_state.replace("_", "-")} at the end`) +
				`${iso.neighbour_started_hanging_at_ms === null ? "" : `; its first request came ${n(iso.neighbour_started_hanging_at_ms / 1000, 2)} s into the run`}.`,
			"",
			"The whole run, as one figure:",
			"",
			table(
				[
					"",
					"healthy p50 ms",
					"healthy p90 ms",
					"healthy p99 ms",
					"deliveries/s (healthy)",
					"requests to the hanging endpoint",
				],
				[
					[
						"without the hanging endpoint",
						n(iso.baseline.latency_ms.p50),
						n(iso.baseline.latency_ms.p90),
						p99(iso.baseline),
						n(iso.baseline_deliveries_per_s, 0),
						"–",
					],
					[
						"with it",
						n(iso.run.latency_ms.p50),
						n(iso.run.latency_ms.p90),
						p99(iso.run),
						n(iso.healthy_deliveries_per_s, 0),
						`${iso.hanging_requests} (for ${iso.run.events_accepted} events)`,
					],
				],
			),
			"",
			"Healthy deliveries by the second their event was sent (with the hanging endpoint):",
			"",
			table(
				["second", ...iso.run.latency_by_second.map((bucket) => String(bucket.t_s))],
				[
					["p50 ms", ...iso.run.latency_by_second.map((bucket) => n(bucket.p50_ms, 0))],
					["max ms", ...iso.run.latency_by_second.map((bucket) => n(bucket.max_ms, 0))],
				],
			),
			"",
		);
	}
	if (retry !== null) {
		lines.push(
			"## 5. Retry timing",
			"",
			`${retry.events} events, each to ${retry.endpoints} endpoints of its own (${retry.endpoints_in_all ?? "–"} in all) answering 500 to every attempt, ` +
				`retry_schedule [${retry.schedule_s.join(", ")}] s: ${retry.retries} retries. A retry is due at the previous attempt's arrival plus its delay ` +
				"(the worker computes the due time right after the failed response, so this includes nothing but its own scheduling). " +
				"Every endpoint gets one delivery, so it fails fewer times in a row than open its circuit: this measures the retry " +
				"schedule, not the breaker (section 8).",
			"",
			table(
				[
					"|skew| p50 ms",
					"|skew| p99 ms",
					"max ms",
					"signed mean ms",
					...Object.keys(retry.by_attempt).map((a) => `attempt ${a} p50/p99 ms`),
					"missing",
					"beyond the schedule",
				],
				[
					[
						n(retry.skew_p50_ms),
						n(retry.skew_p99_ms),
						n(retry.skew_max_ms),
						n(retry.signed_skew_ms.mean),
						...Object.values(retry.by_attempt).map((summary) => `${n(summary.p50)} / ${n(summary.p99)}`),
						String(retry.missing_retries),
						String(retry.extra_attempts),
					],
				],
			),
			"",
		);
	}
	if (ordered !== null) {
		const runs = [ordered.unordered, ordered.ordered];
		lines.push(
			"## 6. Ordered endpoint throughput",
			"",
			`One endpoint answering 200 at once, offered ${n(ordered.offered_events_per_s, 0)} events/s for ${n(ordered.send_ms / 1000, 0)} s, ` +
				'first unordered, then (PATCH) with `ordering: "ordered"`. Ordered, a delivery goes out only after the one before it settled: ' +
				"its first attempt waits in line in the endpoint's scheduler, which releases it through its alarm and the queue when its " +
				"predecessor's outcome is reported. Deliveries/s are counted from the first arrival to the last.",
			"",
			table(
				[
					"ordering",
					"events",
					"delivered",
					"deliveries/s",
					"from the first send",
					"latency p50 ms",
					"p99 ms",
					"max ms",
					"out of order",
					"duplicates",
				],
				runs.map((run) => [
					run.ordering,
					String(run.events),
					`${run.delivered}${run.complete ? "" : " (not all)"}`,
					`**${n(run.deliveries_per_s)}**`,
					n(run.deliveries_per_s_from_first_send),
					n(run.latency_ms.p50),
					n(run.latency_ms.p99),
					n(run.latency_ms.max),
					String(run.out_of_order),
					String(run.duplicates),
				]),
			),
			"",
			`Ordered against unordered: **${n(ordered.ratio, 2)} ×**. Unordered, the endpoint takes the offered rate, so its figure is ` +
				"the offered load rather than a ceiling; ordered, the figure is one round trip per delivery (scheduler, queue, consumer " +
				"batch, attempt, report). Locally the queue runs one batch at a time and deployed consumers run concurrently (section 3), " +
				"but an ordered endpoint has one delivery in flight either way, so its rate does not grow with concurrent consumers; " +
				"deployed, the round trip's queue hop and Durable Object calls take network time " +
				'the local figure does not include. "Out of order" counts arrivals after that of an event sent only once theirs had been accepted.',
			"",
		);
	}
	if (cost !== null) {
		const batch = cost.cases.fanout1_batch;
		const cases = [cost.cases.fanout10, cost.cases.fanout1, ...(batch ? [batch] : []), cost.cases.three_attempts];
		const three = cost.cases.three_attempts;
		lines.push(
			"## 7. Cost",
			"",
			`Counted, not estimated, and priced at Cloudflare's Workers Paid list prices as of ${PRICES_AS_OF} (bench/prices.ts). ` +
				`fanout10: ${cost.cases.fanout10.events} events to 10 endpoints answering 200; fanout1: ${cost.cases.fanout1.events} events to one; ` +
				(batch
					? `fanout1-batch: ${batch.events} events to one, sent with batch ingest ${batch.events_per_request} to a request; `
					: "") +
				`three-attempts: ${three.events} events to 10 endpoints each that fail every delivery's first two attempts and accept the third ` +
				"(retry_schedule [1, 1]), so every delivery needs 3 attempts. Figures are per successful delivery.",
			"",
			`The three-attempts endpoints come in ${three.groups ?? 1} groups of ${three.endpoints}, each with an event type of its own, and ` +
				`the events go to the groups in turn at ${n(three.rate_per_s, 1)} events/s, so each endpoint gets an event every ` +
				`${n((three.groups ?? 1) / three.rate_per_s, 1)} s: its failures interleave with successes and its circuit stays closed. ` +
				"Sent all at once to the same ten endpoints (as this case did before the circuit breaker), each endpoint fails " +
				"CIRCUIT_FAILURE_THRESHOLD times in a row within the first second, its circuit opens, and the deliveries wait in its scheduler " +
				"for the probes (the first 30 s later; the probe is a second attempt, so it fails too and the next waits twice as long): " +
				"that measures the breaker holding deliveries, not three attempts. What the breaker does to a failing endpoint is in section 8. " +
				"Interleaving is also what a delivery that needs retries looks like while its endpoint's circuit stays closed: each such " +
				"delivery turns its endpoint failing and healthy again, which this case pays for (D1 `failing_since`, the circuit's row).",
			"",
			costTable(cases),
			"",
			table(
				["counter per delivery", ...cases.map((item) => item.label)],
				(Object.keys(cost.cases.fanout10.per_delivery) as Array<keyof CostCase["per_delivery"]>).map((name) => [
					name,
					...cases.map((item) => n(item.per_delivery[name], 4)),
				]),
			),
			"",
			// Results written before expired events' rows were reused have no event_rows.
			`Events stored in rows of expired events that retention had cleaned, rather than in new rows (docs/SCALING.md, "Expired events' rows reused"): ${cases
				.map((item) =>
					item.event_rows === undefined
						? `${item.label} not counted`
						: `${item.label} ${item.event_rows.reused_rows} of ${item.events} (${item.event_rows.cleaned_before} cleaned rows before it)`,
				)
				.join("; ")}.`,
			"",
		);
		const perRetry = cost.per_retry;
		if (perRetry != null) {
			lines.push(
				`What each retry adds (three-attempts less fanout10, divided by the ${perRetry.retries_per_delivery} retries of a delivery), ` +
					`largest first; in all ${usd(perRetry.usd_per_million_retries)} per million retries:`,
				"",
				table(
					["line", "amount per retry", "$/M retries"],
					perRetry.lines.map((item) => [
						item.name.replaceAll("_", " "),
						n(item.per_retry, 4),
						usd(item.usd_per_million_retries, 4),
					]),
				),
				"",
			);
		}
		lines.push(...floorSection(), "");
		lines.push(
			"How the counts are priced:",
			"",
			...cost.assumptions.map((assumption) => `- ${assumption}`),
			"",
			`Sources: ${Object.values(PRICE_SOURCES)
				.map((url) => `<${url}>`)
				.join(", ")}.`,
			"",
		);
		const checks = cases.flatMap((item) => item.checks.map((check) => `- ${item.label}: ${check}`));
		if (checks.length > 0)
			lines.push("Metering checks that failed (the figures above are then incomplete):", "", ...checks, "");
	}
	if (dead !== null) {
		lines.push(
			"## 8. Dead endpoint and the circuit breaker",
			"",
			`One endpoint answering 500 at once to every request, retry_schedule [${dead.schedule_s.join(", ")}] s, ` +
				`${n(dead.rate_per_s, 1)} events/s for ${n(dead.duration_ms / 1000, 0)} s (${dead.events} events); its receiver counts the requests. ` +
				`The circuit opens after ${dead.failure_threshold} failed attempts in a row; while it is open deliveries wait in the endpoint's ` +
				`scheduler and only probes go out, the first ${n(dead.first_probe_interval_ms / 1000, 0)} s after the opening, then at doubling ` +
				"intervals. When it opened is read from the circuit's own `since` (GET /v1/webhooks/:id, polled every second).",
			"",
			table(
				["", "attempts", "minutes", "attempts/min", "target"],
				[
					[
						"the retry schedule alone (events/s × attempts per event)",
						"–",
						"–",
						n(dead.without_breaker_attempts_per_min, 0),
						"",
					],
					[
						`before the circuit opened (${n((dead.opened_at_ms ?? Number.NaN) / 1000, 1)} s into the run)`,
						String(dead.attempts_before_open),
						"–",
						n(dead.attempts_per_min_before_open, 0),
						"",
					],
					[
						`after it opened, until sending stopped (of which in flight at the opening)`,
						`${dead.attempts_after_open} (${dead.in_flight_at_open})`,
						n(dead.minutes_after_open, 2),
						`**${n(dead.attempts_per_min_after_open, 2)}**`,
						`the probes only: ${dead.expected_probes ?? "–"}; measured ${dead.attempts_while_open} while open`,
					],
				],
			),
			"",
			`Requests after the opening came at ${dead.after_open_at_ms.length === 0 ? "– (none)" : dead.after_open_at_ms.map((ms) => `${n(ms / 1000, 1)} s`).join(", ")} ` +
				`after it. A request within ${IN_FLIGHT_AT_OPENING_MS / 1000} s of the opening passed the breaker before it opened (a first attempt ` +
				"admitted, or a retry the scheduler had already released to the queue, which the consumer sends without asking again) and is " +
				"counted apart from what the open circuit let through. The attempts before the opening span only a few seconds, so their rate is a rough figure. " +
				`At the end the circuit was ${dead.final_circuit?.state.replace("_", "-") ?? "unknown"}` +
				`${dead.final_circuit?.next_probe_at ? `, next probe at ${dead.final_circuit.next_probe_at}` : ""}.`,
			"",
		);
	}

	if (results.shards !== null) lines.push(...shardsSection(results.shards));
	if (results.retry_volume != null) lines.push(...retryVolumeSection(results.retry_volume));

	lines.push(
		"## Reading these numbers",
		"",
		"- Everything runs on one machine: workerd (with its local D1, Queues and Durable Objects), wrangler's forwarding " +
			"workerd and Node process, the receivers and the load generator compete for the same cores.",
		"- workerd runs the worker's JavaScript, and the local D1, queue broker and Durable Objects, on one thread, so the local " +
			'capacity is about one core\'s worth however many cores the machine has: the "busiest workerd thread" columns show how close it came. ' +
			"The same goes for several local D1 shards: one thread runs them all (section 9).",
		"- Miniflare's local queue hands the consumer one batch at a time, while deployed consumers run concurrently (section 3): " +
			"delivery throughput (section 3) and the isolation stall (section 4) are those of a single consumer, which a deployed queue " +
			"scales past; the ordered endpoint (section 6) has one delivery in flight either way.",
		"- Counted Durable Object rows are those of its SQL statements and one per `setAlarm` call (billed as a row written; `do_alarms_set` counts them apart); `deleteAlarm` is not counted.",
		'- "machine busy" is all busy CPU on the machine while a run sent its load (workerd, wrangler, the bench\'s own load ' +
			"generator and receivers, and anything else running): near the number of cores, every process waits for CPU and latency grows for reasons outside the worker.",
		"- CPU per delivery is the CPU time of the whole workerd process divided by deliveries, including the local " +
			"SQLite behind D1 and Durable Objects and the queue broker: an upper bound of the billed CPU time.",
		"",
		"## Machine",
		"",
		table(
			["", ""],
			[
				["CPU", `${m.cpu_model}, ${m.cores} cores`],
				["RAM", `${m.ram_gb} GB`],
				["OS", m.os],
				["Node (bench)", m.node],
				["wrangler", m.wrangler],
				["workerd", m.workerd],
				["miniflare", m.miniflare],
				["load average at start", m.load_average_at_start.join(" ")],
				[
					"other processes' CPU during the run",
					`${n(results.other_processes_cpu.mean_cores, 2)} cores on average, at most ${n(results.other_processes_cpu.max_cores, 2)}`,
				],
			],
		),
		"",
		"## Reproduce",
		"",
		"```sh",
		"npm install",
		"npm run bench",
		"```",
		"",
		"It needs nothing but the repository: it copies the worker (src/, migrations/, wrangler.toml) to a temporary directory, " +
			"adds the D1 bindings `SHARD_2` and `SHARD_3` to the copy's wrangler.toml (sections 1 to 8 use the default tenant, which lives on `DB`), " +
			"applies the migrations to a fresh local D1 database for each binding there, starts `wrangler dev` on a free loopback port with `ENVIRONMENT=development`, " +
			"a random `ADMIN_API_KEY`, `RETRY_SCHEDULE=1,1,1,1` and `BENCH_METERING=on` (and an empty `--env-file`, so `.dev.vars` is " +
			"not read), runs the scenarios (each bounded in count and time, about 13 minutes in all and never more than 15: a scenario that would not fit is skipped; progress on stdout), stops " +
			"wrangler and writes `bench/results/latest.json`, this page and the two charts. " +
			"`BENCH_ONLY=ingest,e2e,fanout,isolation,retry,ordered,cost,dead-endpoint,shards,floor,retry-volume` runs a subset (written to `bench/results/partial.json` only); " +
			"`BENCH_KEEP_STATE=1` keeps the temporary directory with wrangler's log; `npx tsx bench/render.ts` redraws this page and " +
			"the charts from the last results without measuring again. Run it on an otherwise idle machine: " +
			"the bench reports how much CPU other processes took while it ran.",
		"",
	);
	const path = join(root, "docs", "BENCHMARKS.md");
	await writeFile(path, lines.join("\n"));
	return path;
}

/**
 * What a 3-attempt delivery at fan-out 10 costs at least in this design,
 * whatever the implementation: the arithmetic behind issue 7's $4 target.
 */
function floorSection(): string[] {
	const d1 = PRICES.d1RowWritten * 1e6;
	const doRow = PRICES.doRowWritten * 1e6;
	const queueOp = PRICES.queueOperation * 1e6;
	const doRequest = PRICES.doRequest * 1e6;
	const ops = PRICES.queueOperationsPerMessage;
	const attemptLog = 3 * d1 + 0.2 * d1;
	const pendingIndex = 2 * d1;
	const queue = (0.1 + 2) * ops * queueOp;
	const scheduleOnce = 2 * doRow;
	const requests = 5 * doRequest;
	const floor = attemptLog + pendingIndex + queue + scheduleOnce + requests;
	const money = (value: number): string => usd(value, 2);
	return [
		"### The floor of this design",
		"",
		"Issue 7 asks for at most $4 per million 3-attempt deliveries. The design cannot get there while it keeps its requirements. Per delivery, at list prices:",
		"",
		`- Attempt log: every attempt is one D1 row write (attempts live as a JSON array in the delivery row), and the event row and its id index are 0.2 per delivery at fan-out 10: 3.2 rows, ${money(attemptLog)}.`,
		`- The sweeper's partial index of pending deliveries (deliveries_pending_due): an entry written when the first attempt fails and again when the second moves next_attempt_at (leaving pending writes none): 2 rows, ${money(pendingIndex)}. Without it the sweeper could only find a lost retry by scanning the log.`,
		`- The queue: the first attempt's message is shared by 10 deliveries, each retry is a message of its own (here the alarm of one endpoint releases one retry, so nothing to pack; at volume retries share messages, section 10): (0.1 + 2) × ${ops} operations, ${money(queue)}.`,
		`- The retry's durable schedule: at least one Durable Object row written per retry when an endpoint's retries come one at a time, as here (at volume they are packed, many per row: section 10), ${money(scheduleOnce)}. As built it is two (the due row inserted, and deleted when released: ${money(2 * scheduleOnce)}); the delete could only go if releasing a retry twice were harmless, and the consumer cannot tell a second release of a scheduled attempt from a new one (a delivery's attempt count includes manual resends).`,
		`- Durable Object requests: per retry the report that schedules it and the alarm that releases it, and the report of the final success: 5, ${money(requests)}.`,
		"",
		`As built, the case also pays for the endpoint's D1 \`failing_since\`, written when a failing run starts and again when it ends: every delivery here is a failing run of its own, so 2 rows, ${money(2 * d1)}, on top of the second Durable Object row above.`,
		"",
		`That is ${money(floor)} per million before Worker requests and CPU (about $0.3), against $4: the attempt log and the retry messages alone are ${money(attemptLog + 2 * ops * queueOp)}. ` +
			"Getting under $4 needs dropping a requirement: retries sent by the Durable Object's alarm instead of through the queue " +
			"(the runtime shape says a queue drives attempts), no per-attempt D1 row (attempts logged in batches, so an attempt could be lost from the log), " +
			"and no Durable Object row per retry (the D1 row as the only durable schedule, read back by an evicted object).",
	];
}
