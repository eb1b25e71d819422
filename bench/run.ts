/**
 * `npm run bench`: starts Edgehook under `wrangler dev` (workerd with local
 * D1, Queues and Durable Objects), receivers on 127.0.0.1, and measures
 * ingest, end-to-end latency, fan-out throughput, isolation, retry timing,
 * ordered-endpoint throughput, cost, the circuit breaker on a dead
 * endpoint, and tenants spread over three local D1 shards. Writes
 * bench/results/latest.json, docs/BENCHMARKS.md and the charts.
 *
 * Targets are reported, never enforced: the exit code is non-zero only when
 * the bench itself broke (the worker did not start, a scenario threw).
 *
 * Environment knobs:
 * - BENCH_ONLY=ingest,e2e,fanout,isolation,retry,ordered,cost,dead-endpoint,shards,floor,retry-volume: run only these scenarios
 *   (results and docs are then written to bench/results/partial.json only).
 * - BENCH_KEEP_STATE=1: keep the temporary directory (D1 data, wrangler log).
 */
import { rename, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BenchContext } from "./lib/context";
import { elapsedSeconds, fmt, progress } from "./lib/log";
import { describeMachine } from "./lib/machine";
import { CpuNoise } from "./lib/noise";
import type { BenchResults } from "./lib/results";
import { evaluateTargets } from "./lib/targets";
import { BENCH_VARS, CLOCK_TICKS, LocalWorker, sourceRevision } from "./lib/worker";
import { PRICES_AS_OF } from "./prices";
import { writeCharts } from "./report/charts";
import { writeMarkdown } from "./report/markdown";
import { COST_CONFIG, runCost } from "./scenarios/cost";
import { DEAD_ENDPOINT_CONFIG, runDeadEndpoint } from "./scenarios/dead-endpoint";
import { E2E_CONFIG, runE2e } from "./scenarios/e2e";
import { FANOUT_CONFIG, runFanoutLevel } from "./scenarios/fanout";
import { FLOOR_CONFIG, runFloor } from "./scenarios/floor";
import { INGEST_CONFIG, runIngest } from "./scenarios/ingest";
import { HANGING_TIMEOUT_MS, runIsolation } from "./scenarios/isolation";
import { ORDERED_CONFIG, runOrdered } from "./scenarios/ordered";
import { RETRY_CONFIG, runRetry } from "./scenarios/retry";
import { RETRY_VOLUME_CONFIG, runRetryVolume } from "./scenarios/retry-volume";
import { runShards, SHARDS_CONFIG } from "./scenarios/shards";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The whole suite must finish within fifteen minutes (retries at volume need seven, on two workers); scenarios that would not fit are skipped. */
const BUDGET_S = 900;
const SCENARIOS = [
	"ingest",
	"e2e",
	"fanout",
	"isolation",
	"retry",
	"ordered",
	"cost",
	"dead-endpoint",
	"shards",
	"floor",
	"retry-volume",
] as const;
type Scenario = (typeof SCENARIOS)[number];
/** Rough upper bounds of each scenario's duration, to decide whether it still fits. */
const ESTIMATE_S: Record<Scenario, number> = {
	ingest: 75,
	e2e: 60,
	fanout: 150,
	isolation: 110,
	retry: 40,
	ordered: 45,
	cost: 160,
	"dead-endpoint": 75,
	shards: 90,
	// 43 s here on 2026-12-07 (three routes, three rounds of 1,000 requests, and a wrangler start).
	floor: 70,
	// 282 to 293 s in four runs on 2026-12-07; at 420 a full run whose other scenarios took 481 s skipped it.
	"retry-volume": 360,
};

function selectedScenarios(): Set<Scenario> {
	const only = process.env.BENCH_ONLY?.trim();
	if (!only) return new Set(SCENARIOS);
	const names = only.split(",").map((name) => name.trim());
	const unknown = names.filter((name) => !(SCENARIOS as readonly string[]).includes(name));
	if (unknown.length > 0) throw new Error(`BENCH_ONLY names unknown scenarios: ${unknown.join(", ")}`);
	return new Set(names as Scenario[]);
}

async function writeJson(path: string, value: unknown): Promise<void> {
	const temporary = `${path}.tmp`;
	await writeFile(temporary, `${JSON.stringify(value, null, "\t")}\n`);
	await rename(temporary, path);
}

async function main(): Promise<number> {
	const selected = selectedScenarios();
	const full = selected.size === SCENARIOS.length;
	const startedAt = new Date();
	const machine = describeMachine(ROOT);
	const revision = sourceRevision(ROOT);
	progress(
		`Edgehook bench on ${machine.cpu_model}, ${machine.cores} cores, ${machine.ram_gb} GB; node ${machine.node}, wrangler ${machine.wrangler}`,
	);
	const results: BenchResults = {
		schema_version: 2,
		started_at: startedAt.toISOString(),
		finished_at: "",
		duration_s: 0,
		complete: false,
		machine,
		worker: {
			command:
				"wrangler dev --ip 127.0.0.1 --persist-to <fresh temp dir> --env-file <empty file> --config <snapshot>/wrangler.toml --var …",
			vars: { ...BENCH_VARS, ADMIN_API_KEY: "<random>" },
			commit: revision.commit,
			uncommitted_changes: revision.dirty,
		},
		config: {
			ingest: INGEST_CONFIG,
			e2e: E2E_CONFIG,
			fanout: FANOUT_CONFIG,
			isolation: { hanging_timeout_ms: HANGING_TIMEOUT_MS },
			retry: RETRY_CONFIG,
			ordered: ORDERED_CONFIG,
			cost: COST_CONFIG,
			dead_endpoint: DEAD_ENDPOINT_CONFIG,
			shards: SHARDS_CONFIG,
			retry_volume: RETRY_VOLUME_CONFIG,
			floor: FLOOR_CONFIG,
			prices_as_of: PRICES_AS_OF,
			scenarios: [...selected],
		},
		ingest: null,
		e2e: null,
		fanout: [],
		isolation: null,
		retry: null,
		ordered: null,
		cost: null,
		dead_endpoint: null,
		shards: null,
		retry_volume: null,
		floor: null,
		other_processes_cpu: { mean_cores: null, max_cores: null, samples: 0, per_scenario: {} },
		targets: [],
		errors: [],
	};

	let worker: LocalWorker;
	try {
		worker = await LocalWorker.start(ROOT, progress);
	} catch (error) {
		progress(`could not start the worker: ${error instanceof Error ? error.message : String(error)}`);
		return 1;
	}
	progress(`worker healthy at ${worker.baseUrl}`);
	results.worker.d1_databases = [...worker.shards];
	const ctx = await BenchContext.create(worker);
	results.config.worker_constants = ctx.constants;
	if (ctx.constants.fallbacks.length > 0) {
		progress(`worker constants not found in the source, defaults used: ${ctx.constants.fallbacks.join(", ")}`);
	}
	const noise = new CpuNoise(worker, CLOCK_TICKS);
	noise.start();
	const stopping = new Promise<void>((resolveStop) => {
		for (const signal of ["SIGINT", "SIGTERM"] as const) {
			process.once(signal, () => {
				progress(`${signal}: stopping the worker`);
				resolveStop();
			});
		}
	});
	let interrupted = false;
	void stopping.then(async () => {
		interrupted = true;
		await worker.stop();
		process.exit(130);
	});

	const metering = await ctx.metrics().catch(() => null);
	progress(
		metering === null
			? "metering: GET /_bench/metrics is not served by this worker; the cost scenario cannot count"
			: "metering: GET /_bench/metrics answers",
	);

	/** Events/s the fan-out levels may offer: a share of the measured ingest rate. */
	const maxEventsPerSecond = (): number => {
		const measured = results.ingest?.rps;
		return measured === null || measured === undefined
			? FANOUT_CONFIG.defaultMaxEventsPerSecond
			: measured * FANOUT_CONFIG.ingestShare;
	};
	const fits = (scenario: Scenario): boolean => {
		const remaining = BUDGET_S - elapsedSeconds();
		if (remaining >= ESTIMATE_S[scenario]) return true;
		results.errors.push({ scenario, message: `skipped: ${fmt(remaining, 0)} s of the time budget left` });
		progress(`${scenario}: skipped, only ${fmt(remaining, 0)} s of the ${BUDGET_S} s budget left`);
		return false;
	};
	const attempt = async <T>(scenario: string, work: () => Promise<T>): Promise<T | null> => {
		const started = performance.now();
		try {
			return await work();
		} catch (error) {
			const message = error instanceof Error ? error.message : String(error);
			results.errors.push({ scenario, message });
			progress(`${scenario}: FAILED: ${message}`);
			return null;
		} finally {
			const foreign = noise.between(started, performance.now());
			results.other_processes_cpu.per_scenario[scenario] = foreign === null ? null : Math.round(foreign * 100) / 100;
			if (foreign !== null && foreign >= 0.25) {
				progress(`  note: other processes used ${fmt(foreign, 2)} cores on average during ${scenario}`);
			}
		}
	};

	try {
		if (selected.has("ingest") && fits("ingest")) results.ingest = await attempt("ingest", () => runIngest(ctx));
		if (selected.has("e2e") && fits("e2e")) results.e2e = await attempt("e2e", () => runE2e(ctx));
		if (selected.has("fanout") && fits("fanout")) {
			for (const level of FANOUT_CONFIG.levels) {
				const result = await attempt(`fanout ${level}`, () => runFanoutLevel(ctx, level, maxEventsPerSecond()));
				if (result !== null) results.fanout.push(result);
			}
		}
		if (selected.has("isolation") && fits("isolation")) {
			let baseline = results.fanout.find((level) => level.endpoints === 10);
			if (baseline === undefined) {
				progress("isolation: measuring its fan-out-10 baseline first");
				baseline = (await attempt("fanout 10", () => runFanoutLevel(ctx, 10, maxEventsPerSecond()))) ?? undefined;
				if (baseline !== undefined) results.fanout.push(baseline);
			}
			results.isolation = await attempt("isolation", () => runIsolation(ctx, baseline));
		}
		if (selected.has("retry") && fits("retry")) results.retry = await attempt("retry", () => runRetry(ctx));
		if (selected.has("ordered") && fits("ordered")) results.ordered = await attempt("ordered", () => runOrdered(ctx));
		if (selected.has("cost") && fits("cost")) results.cost = await attempt("cost", () => runCost(ctx));
		if (selected.has("dead-endpoint") && fits("dead-endpoint")) {
			results.dead_endpoint = await attempt("dead-endpoint", () => runDeadEndpoint(ctx));
		}
		if (selected.has("shards") && fits("shards")) results.shards = await attempt("shards", () => runShards(ctx));
	} finally {
		noise.stop();
		results.other_processes_cpu = { ...results.other_processes_cpu, ...noise.summary() };
		await ctx.receivers.close();
		if (!interrupted) await worker.stop();
	}
	// On a worker of its own, with the first one stopped so that nothing else runs beside it.
	if (!interrupted && selected.has("floor") && fits("floor")) {
		results.floor = await attempt("floor", () => runFloor(ROOT));
	}
	// Last and on a worker of its own (see RetryVolumeConfig), started once the first one has stopped; the noise
	// sampler watches the first worker's processes, so this scenario's share of other processes' CPU is not measured.
	if (!interrupted && selected.has("retry-volume") && fits("retry-volume")) {
		results.retry_volume = await attempt("retry-volume", () => runRetryVolume(ROOT));
	}

	const finishedAt = new Date();
	results.finished_at = finishedAt.toISOString();
	results.duration_s = Math.round((finishedAt.getTime() - startedAt.getTime()) / 100) / 10;
	results.complete = full && results.errors.length === 0;
	results.targets = evaluateTargets(results);

	const resultsDir = join(ROOT, "bench", "results");
	const jsonPath = join(resultsDir, full ? "latest.json" : "partial.json");
	await writeJson(jsonPath, results);
	progress(`wrote ${jsonPath}`);
	if (full) {
		const charts = await writeCharts(ROOT, results);
		const markdown = await writeMarkdown(ROOT, results, charts);
		progress(`wrote ${markdown} and ${charts.map((chart) => chart.path).join(", ")}`);
	}

	progress(`targets (measured, not enforced):`);
	for (const target of results.targets) {
		const verdict = target.reported ? "INFO" : target.pass === null ? "n/a " : target.pass ? "PASS" : "MISS";
		progress(`  ${verdict} ${target.description}: ${target.measured} (target ${target.target})`);
	}
	progress(
		`done in ${fmt(results.duration_s)} s${results.errors.length > 0 ? `, ${results.errors.length} error(s)` : ""}`,
	);
	return results.errors.some((error) => !error.message.startsWith("skipped")) ? 1 : 0;
}

main().then(
	(code) => process.exit(code),
	(error: unknown) => {
		process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
		process.exit(1);
	},
);
