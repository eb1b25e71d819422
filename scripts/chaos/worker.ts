/**
 * The worker under chaos: `wrangler dev` on a snapshot of the project, with
 * its own persisted state, port and process group, that can be killed with
 * SIGKILL and started again on the same state and port.
 *
 * The snapshot (src/, migrations/, the config; node_modules linked) is taken
 * once, so that someone editing the code during a run cannot make wrangler
 * reload the worker halfway through, which would be a second, unplanned
 * restart.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, readdirSync, readFileSync, type WriteStream } from "node:fs";
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { applyLocalMigrations, freePort, wranglerDevArgs, wranglerEnv } from "../lib/local-wrangler";

const SNAPSHOT_DIRS = ["src", "migrations"];
const SNAPSHOT_FILES = ["wrangler.toml", "wrangler.json", "wrangler.jsonc", "package.json", "tsconfig.json"];
const TAIL_CHARS = 12_000;
const STARTUP_TIMEOUT_MS = 90_000;
/** wrangler's line for each batch the local consumer finished: "QUEUE <queue> <acked>/<messages> (<ms>ms)". */
const QUEUE_BATCH_LINE = /QUEUE (\S+) (\d+)\/(\d+) \((\d+)ms\)/;

export interface QueueBatch {
	/** When the line was read: the batch's end. */
	at: number;
	queue: string;
	/** Messages acknowledged; the others go back to the queue for a retry. */
	acked: number;
	messages: number;
	/** How long the consumer took over it. */
	ms: number;
}

/**
 * Process groups started here and not yet ended. wrangler runs detached, so
 * Ctrl-C or the end of this process would not reach it: these are killed
 * on the way out whatever ends the run.
 */
const liveGroups = new Set<number>();
process.once("exit", () => killLiveGroups());

/** SIGKILL to every wrangler group this process started and has not ended; synchronous, for exit and signal handlers. */
export function killLiveGroups(): void {
	for (const pid of liveGroups) signalGroup(pid, "SIGKILL");
	liveGroups.clear();
}

export class ChaosWorker {
	private child: ChildProcess | null = null;
	private output = "";
	private readonly log: WriteStream;
	/** The sweeper's reports in wrangler's output, with when they arrived. */
	readonly sweepLines: { at: number; line: string }[] = [];
	/** The queue batches wrangler reported handing to the consumer: where a local run's time goes. */
	readonly queueBatches: QueueBatch[] = [];
	starts = 0;

	private constructor(
		readonly workDir: string,
		private readonly appDir: string,
		private readonly persistDir: string,
		private readonly envFile: string,
		readonly port: number,
		readonly adminKey: string,
		private readonly vars: Readonly<Record<string, string>>,
	) {
		this.log = createWriteStream(join(workDir, "wrangler.log"));
	}

	get baseUrl(): string {
		return `http://127.0.0.1:${this.port}`;
	}

	get logPath(): string {
		return join(this.workDir, "wrangler.log");
	}

	/** Makes the temporary directory, the snapshot and a fresh local D1 with the migrations applied. */
	static async prepare(root: string, vars: Readonly<Record<string, string>>): Promise<ChaosWorker> {
		const workDir = await mkdtemp(join(tmpdir(), "edgehook-chaos-"));
		try {
			const appDir = join(workDir, "app");
			await snapshot(root, appDir);
			const persistDir = join(workDir, "state");
			const envFile = join(workDir, "empty.env");
			await writeFile(envFile, "");
			await applyLocalMigrations(appDir, persistDir, wranglerEnv());
			const adminKey = `chaos_${randomBytes(16).toString("hex")}`;
			const port = await freePort();
			return new ChaosWorker(workDir, appDir, persistDir, envFile, port, adminKey, vars);
		} catch (error) {
			await rm(workDir, { recursive: true, force: true });
			throw error;
		}
	}

	/** Starts wrangler dev on the persisted state and waits for /healthz. */
	async start(): Promise<void> {
		if (this.child !== null) throw new Error("the worker is already running");
		const args = wranglerDevArgs({
			port: this.port,
			inspectorPort: await freePort(),
			persistDir: this.persistDir,
			envFile: this.envFile,
			vars: { ...this.vars, ADMIN_API_KEY: this.adminKey },
		});
		this.starts++;
		this.log.write(`\n===== start ${this.starts} at ${new Date().toISOString()} =====\n`);
		// detached: a process group of its own (npx → wrangler → workerd), so one signal reaches all of it.
		const child = spawn("npx", args, { cwd: this.appDir, env: wranglerEnv(), detached: true, stdio: "pipe" });
		this.child = child;
		if (child.pid !== undefined) liveGroups.add(child.pid);
		let pending = "";
		const onData = (chunk: Buffer): void => {
			const text = chunk.toString("utf8");
			this.log.write(text);
			this.output = (this.output + text).slice(-TAIL_CHARS);
			pending += text;
			const lines = pending.split("\n");
			pending = lines.pop() ?? "";
			for (const line of lines) {
				const at = line.indexOf("sweep: ");
				if (at >= 0) this.sweepLines.push({ at: Date.now(), line: line.slice(at + "sweep: ".length).trim() });
				const batch = QUEUE_BATCH_LINE.exec(line);
				if (batch) {
					this.queueBatches.push({
						at: Date.now(),
						queue: batch[1] ?? "",
						acked: Number(batch[2]),
						messages: Number(batch[3]),
						ms: Number(batch[4]),
					});
				}
			}
		};
		child.stdout?.on("data", onData);
		child.stderr?.on("data", onData);
		const deadline = Date.now() + STARTUP_TIMEOUT_MS;
		let last = "no answer yet";
		while (Date.now() < deadline) {
			if (child.exitCode !== null || child.signalCode !== null) {
				throw new Error(
					`wrangler exited (code ${child.exitCode}, signal ${child.signalCode}) before /healthz answered\n${this.output}`,
				);
			}
			try {
				const response = await fetch(`${this.baseUrl}/healthz`, { signal: AbortSignal.timeout(3_000) });
				await response.body?.cancel();
				if (response.status === 200) return;
				last = `HTTP ${response.status}`;
			} catch (error) {
				last = error instanceof Error ? error.message : String(error);
			}
			await sleep(250);
		}
		throw new Error(
			`no 200 from ${this.baseUrl}/healthz within ${STARTUP_TIMEOUT_MS} ms (last: ${last})\n${this.output}`,
		);
	}

	/** SIGKILL to the whole group, as a crash would: nothing gets to clean up. Resolves once every process is gone. */
	async kill(): Promise<void> {
		const child = this.child;
		this.child = null;
		if (child?.pid === undefined) return;
		signalGroup(child.pid, "SIGKILL");
		await waitForGroupGone(child.pid, 10_000);
		liveGroups.delete(child.pid);
		this.log.write(`\n===== SIGKILL at ${new Date().toISOString()} =====\n`);
	}

	/** SIGTERM to the group, SIGKILL if anything lingers. */
	async stop(): Promise<void> {
		const child = this.child;
		this.child = null;
		if (child?.pid === undefined) return;
		signalGroup(child.pid, "SIGTERM");
		if (!(await waitForGroupGone(child.pid, 5_000))) {
			signalGroup(child.pid, "SIGKILL");
			await waitForGroupGone(child.pid, 3_000);
		}
		liveGroups.delete(child.pid);
	}

	/** Fires the every-minute cron (the sweeper), which `wrangler dev` never does on its own. */
	async fireMinuteCron(): Promise<number> {
		const response = await fetch(`${this.baseUrl}/cdn-cgi/local/scheduled?cron=*+*+*+*+*`, {
			signal: AbortSignal.timeout(60_000),
		});
		await response.body?.cancel();
		return response.status;
	}

	tail(): string {
		return this.output;
	}

	/** Stops wrangler and removes the temporary directory unless `keep`. */
	async dispose(keep: boolean): Promise<void> {
		await this.stop();
		await new Promise<void>((resolve) => this.log.end(() => resolve()));
		if (!keep) await rm(this.workDir, { recursive: true, force: true });
	}
}

async function snapshot(root: string, target: string): Promise<void> {
	await mkdir(target, { recursive: true });
	for (const name of SNAPSHOT_DIRS) await cp(join(root, name), join(target, name), { recursive: true });
	for (const name of SNAPSHOT_FILES) {
		if (existsSync(join(root, name))) await cp(join(root, name), join(target, name));
	}
	await symlink(join(root, "node_modules"), join(target, "node_modules"), "dir");
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
	try {
		process.kill(-pid, signal);
	} catch {
		// The group is already gone.
	}
}

/** Whether every process of the group exited within `timeoutMs`. */
async function waitForGroupGone(pid: number, timeoutMs: number): Promise<boolean> {
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		if (!groupAlive(pid)) return true;
		await sleep(50);
	}
	return false;
}

/**
 * Whether a process of the group still runs. Zombies do not count: an
 * orphaned workerd is reaped by whoever is PID 1, possibly never in a
 * container, and a zombie holds no port and no open file.
 */
function groupAlive(pgid: number): boolean {
	if (!existsSync("/proc/self/stat")) {
		try {
			process.kill(-pgid, 0);
			return true;
		} catch {
			return false;
		}
	}
	for (const entry of readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		let stat: string;
		try {
			stat = readFileSync(`/proc/${entry}/stat`, "utf8");
		} catch {
			continue;
		}
		// Fields after the parenthesised command name: state, ppid, pgrp, …
		const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
		if (Number(fields[2]) === pgid && fields[0] !== "Z") return true;
	}
	return false;
}
