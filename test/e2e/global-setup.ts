/**
 * Starts the real worker under `wrangler dev` for the end-to-end suite:
 * a fresh persistence directory, the D1 migrations applied into it, then
 * `wrangler dev` on a free loopback port with test settings, and the tests
 * are told where it is through `provide`/`inject` (see support/context.ts).
 *
 * Environment knobs:
 * - E2E_BASE_URL + E2E_ADMIN_KEY: use a server that is already running
 *   (it must have been started with the settings below) instead of starting one.
 *   E2E_WRANGLER_LOG_FILE then names the file its output goes to, which the
 *   email tests read (`Email: <path>` lines); without it they fail and say so.
 * - E2E_WRANGLER_LOG=1: copy wrangler's output to stderr while the tests run.
 * - E2E_KEEP_STATE=1: keep the temporary directory (D1 data, wrangler log).
 * - E2E_STARTUP_TIMEOUT_MS: how long to wait for GET /healthz (default 60000).
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { TestProject } from "vitest/node";
import {
	applyLocalMigrations,
	freePort,
	wranglerDevArgs,
	wranglerEnv,
	writeShardedConfig,
} from "../../scripts/lib/local-wrangler";
import "./support/context";

/**
 * Settings the suite relies on. A one-second retry schedule keeps the retry
 * tests short (five attempts in all); the default timeout is set well above
 * the 500 ms that the timeout test puts on its endpoint, so that test shows
 * the per-endpoint value winning.
 */
const TEST_VARS = {
	ENVIRONMENT: "development",
	RETRY_SCHEDULE: "1,1,1,1",
	DELIVERY_TIMEOUT_MS: "3000",
	EMAIL_FROM: "Edgehook <edgehook@example.com>",
} as const;

const OUTPUT_TAIL_CHARS = 12_000;
/** The suite runs against three databases, so every feature it drives is tried on tenants of every shard. */
const SHARDS = 3;

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
	const externalUrl = process.env.E2E_BASE_URL;
	if (externalUrl !== undefined && externalUrl !== "") {
		project.provide("edgehookBaseUrl", externalUrl.replace(/\/+$/, ""));
		project.provide("edgehookAdminKey", process.env.E2E_ADMIN_KEY ?? "");
		// Its output is not ours to read: the email tests need it and say so.
		project.provide("edgehookWranglerLog", process.env.E2E_WRANGLER_LOG_FILE ?? "");
		return undefined;
	}

	const root = project.config.root;
	const workDir = await mkdtemp(join(tmpdir(), "edgehook-e2e-"));
	const persistDir = join(workDir, "state");
	// An empty env file: passing --env-file makes wrangler skip the project's
	// .dev.vars and .env, so a developer's local settings cannot leak in.
	const envFile = join(workDir, "empty.env");
	await writeFile(envFile, "");
	const logPath = join(workDir, "wrangler.log");
	const adminKey = `e2e_admin_${randomBytes(16).toString("hex")}`;
	const childEnv = wranglerEnv();
	const configPath = writeShardedConfig(root, workDir, SHARDS);

	const output = new OutputTail(logPath, process.env.E2E_WRANGLER_LOG === "1");
	const cleanup = async (): Promise<void> => {
		await output.close();
		if (process.env.E2E_KEEP_STATE === "1") {
			process.stderr.write(`[e2e] kept ${workDir}\n`);
		} else {
			await rm(workDir, { recursive: true, force: true });
		}
	};

	try {
		await applyLocalMigrations(root, persistDir, childEnv, configPath);
	} catch (error) {
		await cleanup();
		throw error;
	}

	const port = await freePort();
	const inspectorPort = await freePort();
	const args = wranglerDevArgs({
		port,
		inspectorPort,
		persistDir,
		envFile,
		vars: { ...TEST_VARS, ADMIN_API_KEY: adminKey },
		configPath,
	});
	// detached: wrangler gets a process group of its own (npx → wrangler →
	// workerd), so teardown can end all of it with one signal to the group.
	const child = spawn("npx", args, {
		cwd: root,
		env: childEnv,
		detached: true,
		stdio: ["ignore", "pipe", "pipe"],
	});
	child.stdout.on("data", (chunk: Buffer) => output.add(chunk));
	child.stderr.on("data", (chunk: Buffer) => output.add(chunk));
	const exited = new Promise<string>((resolve) => {
		child.once("exit", (code, signal) => resolve(`exited with code ${code} signal ${signal}`));
		child.once("error", (error) => resolve(`failed to spawn: ${error.message}`));
	});

	const baseUrl = `http://127.0.0.1:${port}`;
	const startupTimeoutMs = Number(process.env.E2E_STARTUP_TIMEOUT_MS ?? "60000");
	try {
		await waitForHealthy(baseUrl, startupTimeoutMs, exited);
	} catch (error) {
		await stopGroup(child);
		const message = error instanceof Error ? error.message : String(error);
		const tail = output.tail();
		await cleanup();
		throw new Error(
			`wrangler dev did not become healthy at ${baseUrl}/healthz: ${message}\n` +
				`command: npx ${args.join(" ").replace(adminKey, "<admin key>")}\n` +
				`--- wrangler output (last ${OUTPUT_TAIL_CHARS} chars) ---\n${tail}`,
		);
	}

	project.provide("edgehookBaseUrl", baseUrl);
	project.provide("edgehookAdminKey", adminKey);
	project.provide("edgehookWranglerLog", logPath);

	return async () => {
		await stopGroup(child);
		await cleanup();
	};
}

async function waitForHealthy(baseUrl: string, timeoutMs: number, exited: Promise<string>): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	let processEnd: string | undefined;
	void exited.then((reason) => {
		processEnd = reason;
	});
	let last = "no answer yet";
	while (Date.now() < deadline) {
		if (processEnd !== undefined) {
			throw new Error(`wrangler ${processEnd} before it was healthy`);
		}
		try {
			const response = await fetch(`${baseUrl}/healthz`, {
				signal: AbortSignal.timeout(3_000),
			});
			const text = await response.text();
			if (response.status === 200) {
				return;
			}
			last = `HTTP ${response.status} ${text.slice(0, 300)}`;
		} catch (error) {
			last = error instanceof Error ? error.message : String(error);
		}
		await sleep(250);
	}
	throw new Error(`no 200 within ${timeoutMs} ms (last: ${last})`);
}

/** Ends wrangler's whole process group: SIGTERM, then SIGKILL if it lingers. */
async function stopGroup(child: ChildProcess): Promise<void> {
	const pid = child.pid;
	if (pid === undefined || child.exitCode !== null || child.signalCode !== null) {
		return;
	}
	const gone = new Promise<void>((resolve) => {
		child.once("exit", () => resolve());
	});
	signalGroup(pid, "SIGTERM");
	const stopped = await Promise.race([gone.then(() => true), sleep(5_000).then(() => false)]);
	// Children of wrangler (workerd) may outlive it: signal the group again either way.
	signalGroup(pid, stopped ? "SIGTERM" : "SIGKILL");
	if (!stopped) {
		await Promise.race([gone, sleep(2_000)]);
	}
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
	try {
		process.kill(-pid, signal);
	} catch {
		// The group is already gone.
	}
}

/** Keeps wrangler's output in a log file and its last part in memory for error messages. */
class OutputTail {
	private text = "";
	private readonly file;

	constructor(
		path: string,
		private readonly echo: boolean,
	) {
		this.file = createWriteStream(path);
	}

	add(chunk: Buffer): void {
		const piece = chunk.toString("utf8");
		this.file.write(piece);
		if (this.echo) {
			process.stderr.write(piece.replace(/^(?=.)/gm, "[wrangler] "));
		}
		this.text = (this.text + piece).slice(-OUTPUT_TAIL_CHARS);
	}

	tail(): string {
		return this.text;
	}

	async close(): Promise<void> {
		await new Promise<void>((resolve) => {
			this.file.end(() => resolve());
		});
	}
}
