/**
 * Starts Edgehook the way a user runs it locally (`wrangler dev`: workerd with
 * local D1, Queues and Durable Objects), with the same isolation as the e2e
 * suite (test/e2e/global-setup.ts): a fresh --persist-to directory with the
 * migrations applied, an empty --env-file so a developer's .dev.vars cannot
 * leak in, settings as --var, and wrangler in a process group of its own so
 * that one signal ends npx, wrangler and workerd together.
 *
 * wrangler runs from a snapshot of the worker (src/, migrations/, the config)
 * taken at start, so that editing the code while the bench runs cannot make
 * wrangler reload the worker (which would reset its counters) halfway through.
 * The snapshot's config binds BENCH_SHARDS D1 databases (DB, SHARD_2, …), as
 * the e2e suite does: scenarios that use the default tenant stay on DB, the
 * shards scenario places tenants on each.
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, readdirSync, readFileSync, type WriteStream, writeFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
	applyLocalMigrations,
	freePort,
	wranglerDevArgs,
	wranglerEnv,
	writeShardedConfig,
} from "../../scripts/lib/local-wrangler";
import { d1Databases } from "../../scripts/lib/wrangler-toml.mjs";
import { type DatabaseCounters, METER_COUNTER_NAMES, type MeterCounters } from "../../src/lib/meter-counters";
import { Client } from "./http";

/** Counters the worker keeps when ENVIRONMENT=development and BENCH_METERING=on (src/lib/meter-counters.ts). */
export type Metrics = MeterCounters;
export const METRIC_NAMES = METER_COUNTER_NAMES;
/** The D1 counters of each database binding, from the same answer as the totals. */
export type DatabaseMetrics = Record<string, DatabaseCounters>;

/** D1 databases the bench's worker binds: DB (control database and first shard), SHARD_2, SHARD_3. */
export const BENCH_SHARDS = 3;

/** The daily cron of wrangler.toml, the one that runs retention. */
const RETENTION_CRON = "17 3 * * *";

/** How old the bench's events are when its retention removes them. */
export const RETENTION_SECONDS = 8.64;

/** Worker settings for the bench: development mode, one-second default retries, metering on. */
export const BENCH_VARS: Readonly<Record<string, string>> = {
	ENVIRONMENT: "development",
	RETRY_SCHEDULE: "1,1,1,1",
	BENCH_METERING: "on",
	// 8.64 s: the cost scenario fires the daily retention by hand after each case, so that the deletes
	// the retention will make of the case's rows are counted too. Nothing else fires it.
	RETENTION_DAYS: String(RETENTION_SECONDS / 86_400),
};

/** CPU time used so far by processes, in milliseconds. */
export interface CpuSample {
	/** The workerd that runs Edgehook, with local D1, Queues and Durable Objects. */
	workerdMs: number;
	/** wrangler's own workerd in front of it, which holds the listening port and forwards requests. */
	proxyMs: number;
	/** Every other process of wrangler's group (npx, wrangler's Node). */
	otherMs: number;
	workerdProcesses: number;
	/** CPU ms per thread of Edgehook's workerd, by thread id: workerd runs JavaScript on one thread. */
	workerdThreads: Record<string, number>;
}

/** CPU ms of the busiest workerd thread between two samples. */
export function busiestThreadMs(before: CpuSample, after: CpuSample): number {
	let busiest = 0;
	for (const [tid, ms] of Object.entries(after.workerdThreads)) {
		busiest = Math.max(busiest, ms - (before.workerdThreads[tid] ?? 0));
	}
	return busiest;
}

const TAIL_CHARS = 8_000;

export class LocalWorker {
	private output = "";

	private constructor(
		readonly baseUrl: string,
		readonly adminKey: string,
		readonly workDir: string,
		private readonly child: ChildProcess,
		private readonly log: WriteStream,
		readonly client: Client,
		/** wrangler's inspector for the worker (Chrome DevTools protocol), e.g. to take a CPU profile. */
		readonly inspectorPort: number,
		/** The D1 bindings of the worker's config, DB first. */
		readonly shards: readonly string[],
	) {}

	static async start(
		root: string,
		onLine: (line: string) => void,
		/** Vars on top of BENCH_VARS, for a scenario that needs the worker configured otherwise. */
		extraVars: Readonly<Record<string, string>> = {},
		/** The main queue consumer's `max_batch_size` instead of wrangler.toml's. */
		mainQueueMaxBatchSize?: number,
	): Promise<LocalWorker> {
		const workDir = await mkdtemp(join(tmpdir(), "edgehook-bench-"));
		const persistDir = join(workDir, "state");
		const envFile = join(workDir, "empty.env");
		await writeFile(envFile, "");
		const env = wranglerEnv();
		const appDir = await snapshot(root, join(workDir, "app"));
		const configPath = writeShardedConfig(appDir, appDir, BENCH_SHARDS);
		if (mainQueueMaxBatchSize !== undefined) setMainQueueMaxBatchSize(configPath, mainQueueMaxBatchSize);
		const shards = d1Databases(readFileSync(configPath, "utf8")).flatMap(({ binding }) => (binding ? [binding] : []));
		onLine(`snapshot of the worker in ${appDir} (D1: ${shards.join(", ")}); applying migrations into ${persistDir}`);
		await applyLocalMigrations(appDir, persistDir, env, configPath);

		const adminKey = `bench_${randomBytes(16).toString("hex")}`;
		return LocalWorker.launch(
			{ appDir, workDir, persistDir, envFile, configPath, shards, adminKey },
			{ ...BENCH_VARS, ...extraVars, ADMIN_API_KEY: adminKey },
			onLine,
		);
	}

	/**
	 * Starts a worker other than Edgehook from a directory of its own (its
	 * wrangler.toml and code, copied, with the project's package.json and
	 * node_modules, so that npx runs the project's wrangler), the same way:
	 * the floor fixture.
	 */
	static async startFixture(
		root: string,
		fixtureDir: string,
		vars: Readonly<Record<string, string>>,
		onLine: (line: string) => void,
	): Promise<LocalWorker> {
		const workDir = await mkdtemp(join(tmpdir(), "edgehook-bench-"));
		const envFile = join(workDir, "empty.env");
		await writeFile(envFile, "");
		const appDir = join(workDir, "app");
		await cp(join(root, fixtureDir), appDir, { recursive: true });
		await cp(join(root, "package.json"), join(appDir, "package.json"));
		await symlink(join(root, "node_modules"), join(appDir, "node_modules"), "dir");
		const configPath = join(appDir, "wrangler.toml");
		const shards = d1Databases(readFileSync(configPath, "utf8")).flatMap(({ binding }) => (binding ? [binding] : []));
		const dirs = { appDir, workDir, persistDir: join(workDir, "state"), envFile, configPath, shards, adminKey: "" };
		return LocalWorker.launch(dirs, vars, onLine);
	}

	private static async launch(
		dirs: {
			appDir: string;
			workDir: string;
			persistDir: string;
			envFile: string;
			configPath: string;
			shards: string[];
			adminKey: string;
		},
		vars: Readonly<Record<string, string>>,
		onLine: (line: string) => void,
	): Promise<LocalWorker> {
		const { appDir, workDir, persistDir, envFile, configPath, shards, adminKey } = dirs;
		const port = await freePort();
		const inspectorPort = await freePort();
		const args = wranglerDevArgs({ port, inspectorPort, persistDir, envFile, vars, configPath });
		const child = spawn("npx", args, {
			cwd: appDir,
			env: wranglerEnv(),
			detached: true,
			stdio: ["ignore", "pipe", "pipe"],
		});
		const log = createWriteStream(join(workDir, "wrangler.log"));
		const baseUrl = `http://127.0.0.1:${port}`;
		const worker = new LocalWorker(
			baseUrl,
			adminKey,
			workDir,
			child,
			log,
			new Client({ baseUrl, apiKey: adminKey, maxSockets: 64 }),
			inspectorPort,
			shards,
		);
		const onData = (chunk: Buffer): void => {
			const text = chunk.toString("utf8");
			log.write(text);
			worker.output = (worker.output + text).slice(-TAIL_CHARS);
		};
		child.stdout?.on("data", onData);
		child.stderr?.on("data", onData);
		onLine(`starting wrangler dev on ${baseUrl} (log: ${join(workDir, "wrangler.log")})`);
		try {
			await worker.waitForHealthy(90_000);
		} catch (error) {
			await worker.stop(true);
			const message = error instanceof Error ? error.message : String(error);
			throw new Error(`wrangler dev did not become healthy: ${message}\n--- wrangler output ---\n${worker.output}`);
		}
		return worker;
	}

	/** The snapshot of the worker that wrangler runs (src/, migrations/, the config). */
	get appDir(): string {
		return join(this.workDir, "app");
	}

	/** The last part of wrangler's output, for error messages. */
	tail(): string {
		return this.output;
	}

	private async waitForHealthy(timeoutMs: number): Promise<void> {
		const deadline = Date.now() + timeoutMs;
		let last = "no answer yet";
		while (Date.now() < deadline) {
			if (this.child.exitCode !== null || this.child.signalCode !== null) {
				throw new Error(`wrangler exited (code ${this.child.exitCode}, signal ${this.child.signalCode})`);
			}
			try {
				const answer = await this.client.send("GET", "/healthz", undefined, 3_000);
				if (answer.status === 200) return;
				last = `HTTP ${answer.status} ${answer.body.slice(0, 200)}`;
			} catch (error) {
				last = error instanceof Error ? error.message : String(error);
			}
			await sleep(250);
		}
		throw new Error(`no 200 from /healthz within ${timeoutMs} ms (last: ${last})`);
	}

	/** The metering counters, or null when the worker does not serve them (404). */
	async metrics(): Promise<Metrics | null> {
		const answer = await this.client.send("GET", "/_bench/metrics");
		if (answer.status === 404) return null;
		if (answer.status !== 200)
			throw new Error(`GET /_bench/metrics → HTTP ${answer.status}: ${answer.body.slice(0, 300)}`);
		return parseMetrics(answer.body);
	}

	/** The metering counters with their split by D1 binding, read in one request; null without metering. */
	async metricsByDatabase(): Promise<{ totals: Metrics; byDatabase: DatabaseMetrics } | null> {
		const answer = await this.client.send("GET", "/_bench/metrics");
		if (answer.status === 404) return null;
		if (answer.status !== 200)
			throw new Error(`GET /_bench/metrics → HTTP ${answer.status}: ${answer.body.slice(0, 300)}`);
		return { totals: parseMetrics(answer.body), byDatabase: parseDatabaseMetrics(answer.body) };
	}

	/**
	 * Event rows on every database, and how many of them are cleaned rows
	 * waiting for ingest to reuse them; null from a version without reuse.
	 */
	async eventRows(): Promise<{ stored: number; cleaned: number } | null> {
		const answer = await this.client.send("GET", "/_bench/events");
		if (answer.status === 404) return null;
		if (answer.status !== 200)
			throw new Error(`GET /_bench/events → HTTP ${answer.status}: ${answer.body.slice(0, 300)}`);
		const byDatabase = JSON.parse(answer.body) as Record<string, { stored: number; cleaned: number }>;
		return Object.values(byDatabase).reduce(
			(sum, counts) => ({ stored: sum.stored + counts.stored, cleaned: sum.cleaned + counts.cleaned }),
			{ stored: 0, cleaned: 0 },
		);
	}

	/** Fires the daily cron (retention) as Cloudflare would, through wrangler's local trigger. */
	async runRetention(): Promise<void> {
		const answer = await this.client.send("GET", `/cdn-cgi/local/scheduled?cron=${encodeURIComponent(RETENTION_CRON)}`);
		if (answer.status !== 200) {
			throw new Error(`the retention cron did not run: HTTP ${answer.status}: ${answer.body.slice(0, 300)}`);
		}
	}

	async resetMetrics(): Promise<void> {
		const answer = await this.client.send("POST", "/_bench/reset");
		if (answer.status < 200 || answer.status >= 300) {
			throw new Error(`POST /_bench/reset → HTTP ${answer.status}: ${answer.body.slice(0, 300)}`);
		}
	}

	/** CPU time of wrangler's process group, workerd apart from the rest. */
	cpu(): CpuSample {
		const pgid = this.child.pid;
		const sample: CpuSample = { workerdMs: 0, proxyMs: 0, otherMs: 0, workerdProcesses: 0, workerdThreads: {} };
		if (pgid === undefined) return sample;
		const entry = `entry=${new URL(this.baseUrl).host}`;
		for (const pid of readdirSync("/proc")) {
			if (!/^\d+$/.test(pid)) continue;
			const stat = readProcStat(pid);
			if (stat === null || stat.pgrp !== pgid) continue;
			const ms = ((stat.utime + stat.stime) * 1000) / CLOCK_TICKS;
			if (stat.comm === "workerd") {
				sample.workerdProcesses++;
				if (readCmdline(pid).includes(entry)) sample.proxyMs += ms;
				else {
					sample.workerdMs += ms;
					for (const tid of listTasks(pid)) {
						const thread = readProcStat(`${pid}/task/${tid}`);
						if (thread !== null) sample.workerdThreads[tid] = ((thread.utime + thread.stime) * 1000) / CLOCK_TICKS;
					}
				}
			} else {
				sample.otherMs += ms;
			}
		}
		return sample;
	}

	/** Ends wrangler's whole process group and removes the temporary state unless `keep`. */
	async stop(keep = process.env.BENCH_KEEP_STATE === "1"): Promise<void> {
		this.client.close();
		const pid = this.child.pid;
		if (pid !== undefined && this.child.exitCode === null && this.child.signalCode === null) {
			const gone = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
			signalGroup(pid, "SIGTERM");
			const stopped = await Promise.race([gone.then(() => true), sleep(5_000).then(() => false)]);
			// workerd may outlive wrangler: signal the group again either way.
			signalGroup(pid, stopped ? "SIGTERM" : "SIGKILL");
			if (!stopped) await Promise.race([gone, sleep(2_000)]);
		}
		await new Promise<void>((resolve) => this.log.end(() => resolve()));
		if (!keep) await rm(this.workDir, { recursive: true, force: true });
	}
}

/** What wrangler needs to build and run the worker, copied; node_modules linked. */
const SNAPSHOT_DIRS = ["src", "migrations"];
const SNAPSHOT_FILES = ["wrangler.toml", "wrangler.json", "wrangler.jsonc", "package.json", "tsconfig.json"];

async function snapshot(root: string, target: string): Promise<string> {
	await mkdir(target, { recursive: true });
	for (const name of SNAPSHOT_DIRS) await cp(join(root, name), join(target, name), { recursive: true });
	for (const name of SNAPSHOT_FILES) {
		if (existsSync(join(root, name))) await cp(join(root, name), join(target, name));
	}
	await symlink(join(root, "node_modules"), join(target, "node_modules"), "dir");
	return target;
}

/** The commit the worker was built from, and whether its files differed from it. */
export function sourceRevision(root: string): { commit: string; dirty: boolean | null } {
	try {
		const commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
		const status = execFileSync("git", ["status", "--porcelain", "--", ...SNAPSHOT_DIRS, ...SNAPSHOT_FILES], {
			cwd: root,
			encoding: "utf8",
		});
		return { commit, dirty: status.trim() !== "" };
	} catch {
		return { commit: "unknown", dirty: null };
	}
}

function parseMetrics(text: string): Metrics {
	const raw = JSON.parse(text) as Record<string, unknown>;
	const source =
		typeof raw.counters === "object" && raw.counters !== null ? (raw.counters as Record<string, unknown>) : raw;
	const metrics = {} as Metrics;
	for (const name of METRIC_NAMES) {
		const value = source[name];
		metrics[name] = typeof value === "number" && Number.isFinite(value) ? value : 0;
	}
	return metrics;
}

function parseDatabaseMetrics(text: string): DatabaseMetrics {
	const raw = JSON.parse(text) as Record<string, unknown>;
	const source = raw.d1_by_database;
	const byDatabase: DatabaseMetrics = {};
	if (typeof source !== "object" || source === null) return byDatabase;
	const number = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) ? value : 0);
	for (const [binding, counts] of Object.entries(source)) {
		if (typeof counts !== "object" || counts === null) continue;
		byDatabase[binding] = {
			d1_queries: number(Reflect.get(counts, "d1_queries")),
			d1_rows_read: number(Reflect.get(counts, "d1_rows_read")),
			d1_rows_written: number(Reflect.get(counts, "d1_rows_written")),
		};
	}
	return byDatabase;
}

export function metricsDelta(after: Metrics, before: Metrics): Metrics {
	const delta = {} as Metrics;
	for (const name of METRIC_NAMES) delta[name] = after[name] - before[name];
	return delta;
}

export function sameMetrics(a: Metrics, b: Metrics): boolean {
	return METRIC_NAMES.every((name) => a[name] === b[name]);
}

export const CLOCK_TICKS = clockTicks();

function clockTicks(): number {
	try {
		const value = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
		return Number.isFinite(value) && value > 0 ? value : 100;
	} catch {
		return 100;
	}
}

interface ProcStat {
	comm: string;
	pgrp: number;
	utime: number;
	stime: number;
}

function listTasks(pid: string): string[] {
	try {
		return readdirSync(`/proc/${pid}/task`);
	} catch {
		return [];
	}
}

function readCmdline(pid: string): string {
	try {
		return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
	} catch {
		return "";
	}
}

function readProcStat(pid: string): ProcStat | null {
	let text: string;
	try {
		text = readFileSync(`/proc/${pid}/stat`, "utf8");
	} catch {
		return null;
	}
	const open = text.indexOf("(");
	const close = text.lastIndexOf(")");
	if (open < 0 || close < 0) return null;
	// Fields after the command name, starting with field 3 (state).
	const fields = text
		.slice(close + 2)
		.trim()
		.split(" ");
	const field = (n: number): number => Number(fields[n - 3]);
	return { comm: text.slice(open + 1, close), pgrp: field(5), utime: field(14), stime: field(15) };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
	try {
		process.kill(-pid, signal);
	} catch {
		// The group is already gone.
	}
}

function packageVersion(path: string): string | null {
	try {
		const pkg = JSON.parse(readFileSync(path, "utf8")) as { version?: unknown };
		return typeof pkg.version === "string" ? pkg.version : null;
	} catch {
		return null;
	}
}

/** The wrangler installed in the project. */
export function wranglerVersion(root: string): string {
	return packageVersion(join(root, "node_modules", "wrangler", "package.json")) ?? "unknown";
}

/** The workerd and miniflare that wrangler runs (its own copies when it has them). */
export function runtimeVersions(root: string): { workerd: string; miniflare: string } {
	const find = (name: string): string =>
		packageVersion(join(root, "node_modules", "wrangler", "node_modules", name, "package.json")) ??
		packageVersion(join(root, "node_modules", name, "package.json")) ??
		"unknown";
	return { workerd: find("workerd"), miniflare: find("miniflare") };
}

/** Rewrites the main queue consumer's batch size in a worker's config (the one `edgehook-deliveries` consumes). */
function setMainQueueMaxBatchSize(configPath: string, size: number): void {
	const config = readFileSync(configPath, "utf8");
	const start = config.search(/\[\[queues\.consumers\]\]\s*\nqueue = "edgehook-deliveries"\s*\n/);
	const end = start < 0 ? -1 : config.indexOf("[[", start + 2);
	const block = start < 0 ? "" : config.slice(start, end < 0 ? undefined : end);
	const changed = block.replace(/^max_batch_size = \d+$/m, `max_batch_size = ${size}`);
	if (changed === block) throw new Error(`no main queue consumer with max_batch_size in ${configPath}`);
	writeFileSync(configPath, config.replace(block, changed));
}
