/**
 * Receivers built around the vendors' own verification snippets from
 * shared/seeds/ (see test/fixtures/seeds/: each fixture wraps a verbatim
 * snippet in a small harness). Each runs as a child process on 127.0.0.1 and
 * answers with the snippet's verdict as its HTTP status: 200 accepted, 401
 * rejected (5xx when the snippet throws, e.g. on a missing signature header
 * or one of the wrong length).
 *
 * - "000": KhaleejiAPI (TypeScript + Express, `npx tsx`), POST /webhooks/khaleeji,
 *   header `X-Khaleeji-Signature: <hex>` over JSON.stringify(req.body).
 * - "001-node": the generic `/v1/webhooks` doc (Express, `node`), POST /webhook,
 *   header `X-Webhook-Signature: <hex>` over JSON.stringify(req.body).
 * - "001-python": the same doc's Flask snippet (`python3`, with the flask.py
 *   stand-in), POST /webhook, header `X-Webhook-Signature: <hex>` over the raw body.
 * - "003": EKDSend (Express, `node`), POST /webhook,
 *   header `X-EKDSend-Signature: sha256=<hex>` over JSON.stringify(req.body).
 */

import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export type SeedReceiverName = "000" | "001-node" | "001-python" | "003";

export interface SeedReceiver {
	/** The full webhook URL to register, e.g. `http://127.0.0.1:40123/webhook`. */
	readonly url: string;
	/** Ends the receiver's process group and resolves once the child exited. */
	close(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_CHARS = 8_000;

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const fixturesDir = fileURLToPath(new URL("../../fixtures/seeds/", import.meta.url));

interface Launch {
	command: string;
	args: string[];
	/** Path of the webhook endpoint the snippet registers. */
	path: string;
}

function launchFor(seed: SeedReceiverName): Launch {
	switch (seed) {
		case "000":
			// --no: use the project's tsx, never fetch one.
			return {
				command: "npx",
				args: ["--no", "tsx", `${fixturesDir}seed000-receiver.ts`],
				path: "/webhooks/khaleeji",
			};
		case "001-node":
			return { command: process.execPath, args: [`${fixturesDir}seed001-receiver.cjs`], path: "/webhook" };
		case "001-python":
			// -B: no __pycache__ (for the flask.py stand-in) inside the repository.
			return { command: "python3", args: ["-B", `${fixturesDir}seed001_receiver.py`], path: "/webhook" };
		case "003":
			return { command: process.execPath, args: [`${fixturesDir}seed003-receiver.cjs`], path: "/webhook" };
	}
}

/** Children still running, ended if this process exits without closing them. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
	if (exitHookInstalled) {
		return;
	}
	exitHookInstalled = true;
	process.once("exit", () => {
		for (const child of running) {
			if (child.pid !== undefined) {
				signalGroup(child.pid, "SIGKILL");
			}
		}
	});
}

/**
 * Starts the receiver for `seed` with `secret` as its WEBHOOK_SECRET and
 * resolves once it listens. Rejects (with the child's output) if it exits
 * first or does not print `LISTENING <port>` within 20 s.
 */
export async function startSeedReceiver(seed: SeedReceiverName, secret: string): Promise<SeedReceiver> {
	const launch = launchFor(seed);
	// PYTHONSAFEPATH is left out: it would drop the script's directory from
	// sys.path, and with it the flask.py stand-in.
	const { PYTHONSAFEPATH: _dropped, ...inherited } = process.env;
	const env: NodeJS.ProcessEnv = { ...inherited, PORT: "0", WEBHOOK_SECRET: secret, PYTHONUNBUFFERED: "1" };
	// detached: a process group of its own (npx → tsx → node for seed 000), so
	// close() can end all of it with one signal to the group.
	const child = spawn(launch.command, launch.args, {
		cwd: repoRoot,
		env,
		detached: true,
		stdio: ["ignore", "pipe", "pipe"],
	});
	running.add(child);
	installExitHook();

	let stdout = "";
	let stderr = "";
	child.stdout.setEncoding("utf8");
	child.stderr.setEncoding("utf8");
	// Both streams are drained for the child's whole life: a full pipe would block it.
	child.stdout.on("data", (piece: string) => {
		stdout = (stdout + piece).slice(-OUTPUT_TAIL_CHARS);
	});
	child.stderr.on("data", (piece: string) => {
		stderr = (stderr + piece).slice(-OUTPUT_TAIL_CHARS);
	});
	const exited = new Promise<void>((resolve) => {
		child.once("exit", () => {
			running.delete(child);
			resolve();
		});
	});

	const describe = (): string =>
		`${seed} receiver (${launch.command} ${launch.args.join(" ")})\n` +
		`--- stdout (tail) ---\n${stdout}\n--- stderr (tail) ---\n${stderr}`;

	let port: number;
	try {
		port = await waitForListening(child, describe);
	} catch (error) {
		await stop(child, exited);
		throw error;
	}

	return {
		url: `http://127.0.0.1:${port}${launch.path}`,
		close: () => stop(child, exited),
	};
}

/** Resolves with the port from the child's `LISTENING <port>` line; rejects if it exits, fails or times out first. */
function waitForListening(child: ChildProcess, describe: () => string): Promise<number> {
	return new Promise<number>((resolve, reject) => {
		let seen = "";
		const onStdout = (piece: string): void => {
			seen += piece;
			const match = /^LISTENING (\d+)\r?$/m.exec(seen);
			if (match?.[1] !== undefined) {
				cleanup();
				resolve(Number(match[1]));
			}
		};
		const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
			cleanup();
			reject(new Error(`exited (code ${code}, signal ${signal}) before listening: ${describe()}`));
		};
		const onError = (error: Error): void => {
			cleanup();
			reject(new Error(`failed to start (${error.message}): ${describe()}`));
		};
		const timer = setTimeout(() => {
			cleanup();
			reject(new Error(`no "LISTENING <port>" line within ${STARTUP_TIMEOUT_MS} ms from the ${describe()}`));
		}, STARTUP_TIMEOUT_MS);
		const cleanup = (): void => {
			clearTimeout(timer);
			child.stdout?.off("data", onStdout);
			child.off("exit", onExit);
			child.off("error", onError);
		};
		child.stdout?.on("data", onStdout);
		child.once("exit", onExit);
		child.once("error", onError);
	});
}

/** SIGTERM to the child's process group, SIGKILL if it lingers; resolves once the child exited. */
async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
	const pid = child.pid;
	if (pid === undefined || child.exitCode !== null || child.signalCode !== null) {
		// Never started, or already gone: its group may still hold grandchildren.
		if (pid !== undefined) {
			signalGroup(pid, "SIGKILL");
		}
		return;
	}
	signalGroup(pid, "SIGTERM");
	let timer: NodeJS.Timeout | undefined;
	const stopped = await Promise.race([
		exited.then(() => true),
		new Promise<boolean>((resolve) => {
			timer = setTimeout(() => resolve(false), STOP_GRACE_MS);
		}),
	]);
	clearTimeout(timer);
	// Grandchildren (tsx's node) may outlive the child: signal the group again either way.
	signalGroup(pid, stopped ? "SIGTERM" : "SIGKILL");
	await exited;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
	try {
		process.kill(-pid, signal);
	} catch {
		// The group is already gone.
	}
}
