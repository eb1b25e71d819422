import { writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { DeliveryRunResult } from "../lib/delivery-run";
import type { BenchResults } from "../lib/results";
import { PRICE_SOURCES, PRICES_AS_OF } from "../prices";
import type { CostCase } from "../scenarios/cost";
import { FANOUT_CONFIG } from "../scenarios/fanout";
import type { Chart } from "./charts";

const FANOUT_WARMUP_S = FANOUT_CONFIG.warmupMs / 1000;

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

function verdict(pass: boolean | null): string {
	return pass === null ? "not measured" : pass ? "**pass**" : "**miss**";
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
	if (iso?.ratio !== null && iso?.ratio !== undefined && iso.ratio > 2) {
		out.push(
			`- **Isolation.** Beside an endpoint that never answers (timeout ${iso.hanging_timeout_ms} ms), the healthy endpoints' ` +
				`p50/p90/p99 were ${n(iso.run.latency_ms.p50)}/${n(iso.run.latency_ms.p90)}/${p99(iso.run)} ms against ` +
				`${n(iso.baseline.latency_ms.p50)}/${n(iso.baseline.latency_ms.p90)}/${p99(iso.baseline)} ms without it: some healthy ` +
				"deliveries waited for attempts to the hanging endpoint that shared their queue batch. " +
				((iso.steady_ratio ?? Number.POSITIVE_INFINITY) <= 2
					? `For events sent after the ${FANOUT_WARMUP_S} s warm-up the ratio is ${n(iso.steady_ratio, 2)}: the delay is a start-up ` +
						"transient, paid until the worker has seen the endpoint time out (see the per-second table in section 4). "
					: `After the ${FANOUT_WARMUP_S} s warm-up the ratio is still ${n(iso.steady_ratio, 2)}. `) +
				`The hanging endpoint itself got ${iso.hanging_requests} requests for ${iso.run.events_accepted} events` +
				(iso.hanging_requests < iso.run.events_accepted
					? ": its own deliveries fell behind its event rate, so they wait in a backlog that grows for as long as it hangs."
					: "."),
		);
	}
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

export async function writeMarkdown(root: string, results: BenchResults, charts: Chart[]): Promise<string> {
	const m = results.machine;
	const ingest = results.ingest;
	const e2e = results.e2e;
	const iso = results.isolation;
	const retry = results.retry;
	const cost = results.cost;
	const lines: string[] = [
		"# Benchmarks",
		"",
		"<!-- Generated by `npm run bench` (bench/report/markdown.ts): edit the generator, not this file. -->",
		"",
		`Measured on ${results.started_at.slice(0, 10)} by \`npm run bench\` in ${n(results.duration_s, 0)} s, at commit ` +
			`\`${results.worker.commit.slice(0, 7)}\`${results.worker.uncommitted_changes ? " with uncommitted changes" : ""}: Edgehook under ` +
			"`wrangler dev` (workerd with local D1, Queues and Durable Objects, `ENVIRONMENT=development`), HTTP receivers " +
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
				verdict(target.pass),
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
				"`POST /v1/events` has one subscribed endpoint, so each request stores the event, fans it out and queues a job; " +
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
	if (e2e !== null) {
		const runs: [string, DeliveryRunResult][] = [
			[`${e2e.rate_per_s} events/s (the target's load)`, e2e.run],
			[`${e2e.low_rate.rate_per_s} events/s (light load)`, e2e.low_rate.run],
		];
		lines.push(
			"## 2. End-to-end latency",
			"",
			"Open loop, one endpoint answering 200 at once. Latency is from the 202 at the sender to the request's arrival at the receiver; " +
				"a delivery can beat the 202 to the sender (the job is queued before the answer is written), which shows as a negative value.",
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
		lines.push(
			"## 4. Isolation",
			"",
			`Fan-out 10 at ${n(iso.offered_events_per_s)} events/s, with one of the ten endpoints never answering (its timeout_ms ` +
				`${iso.hanging_timeout_ms}); its retries follow the bench's 1-second schedule. ` +
				(iso.baseline_source === "fanout-10 level"
					? "The baseline is the fan-out-10 level above (same load)."
					: "The fan-out-10 level fell behind its offered load, and a p99 against a growing backlog only measures how long the run was, " +
						"so the comparison runs at a light load instead, with a baseline of its own at the same rate."),
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
			`Ratio of the p99s: **${n(iso.ratio, 2)}**; for events sent after the ${FANOUT_WARMUP_S} s warm-up, once the worker has seen the endpoint hang: ` +
				`${n(iso.run.latency_after_warmup_ms.p99)} against ${n(iso.baseline.latency_after_warmup_ms.p99)} ms, **${n(iso.steady_ratio, 2)}**.`,
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
			`${retry.endpoints} endpoints answering 500 to every attempt, retry_schedule [${retry.schedule_s.join(", ")}] s, ` +
				`${retry.events} events: ${retry.retries} retries. A retry is due at the previous attempt's arrival plus its delay ` +
				"(the worker computes the due time right after the failed response, so this includes nothing but its own scheduling).",
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
	if (cost !== null) {
		const cases = [cost.cases.fanout10, cost.cases.fanout1, cost.cases.three_attempts];
		lines.push(
			"## 6. Cost",
			"",
			`Counted, not estimated, and priced at Cloudflare's Workers Paid list prices as of ${PRICES_AS_OF} (bench/prices.ts). ` +
				`fanout10: ${cost.cases.fanout10.events} events to 10 endpoints answering 200; fanout1: ${cost.cases.fanout1.events} events to one; ` +
				`three-attempts: ${cost.cases.three_attempts.events} events to 10 endpoints that fail twice and then succeed (retry_schedule [1, 1]), ` +
				"so every delivery needs 3 attempts. Figures are per successful delivery.",
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

	lines.push(
		"## Reading these numbers",
		"",
		"- Everything runs on one machine: workerd (with its local D1, Queues and Durable Objects), wrangler's forwarding " +
			"workerd and Node process, the receivers and the load generator compete for the same cores.",
		"- workerd runs the worker's JavaScript, and the local D1, queue broker and Durable Objects, on one thread, so the local " +
			'capacity is about one core\'s worth however many cores the machine has: the "busiest workerd thread" columns show how close it came.',
		"- Miniflare's local queue hands the consumer one batch at a time (no concurrent consumer invocations), so " +
			"delivery throughput and isolation are those of a single consumer, which a deployed queue scales past.",
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
			"applies the migrations to a fresh local D1 there, starts `wrangler dev` on a free loopback port with `ENVIRONMENT=development`, " +
			"a random `ADMIN_API_KEY`, `RETRY_SCHEDULE=1,1,1,1` and `BENCH_METERING=on` (and an empty `--env-file`, so `.dev.vars` is " +
			"not read), runs the scenarios (each bounded in count and time, the whole at most 10 minutes, progress on stdout), stops " +
			"wrangler and writes `bench/results/latest.json`, this page and the two charts. " +
			"`BENCH_ONLY=ingest,e2e,fanout,isolation,retry,cost` runs a subset (written to `bench/results/partial.json` only); " +
			"`BENCH_KEEP_STATE=1` keeps the temporary directory with wrangler's log; `npx tsx bench/render.ts` redraws this page and " +
			"the charts from the last results without measuring again. Run it on an otherwise idle machine: " +
			"the bench reports how much CPU other processes took while it ran.",
		"",
	);
	const path = join(root, "docs", "BENCHMARKS.md");
	await writeFile(path, lines.join("\n"));
	return path;
}
