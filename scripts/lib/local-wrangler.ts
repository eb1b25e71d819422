// What the end-to-end suite and the bench share to run the worker under
// `wrangler dev`: the child environment, local migrations, a free port and
// the command line.
import { execFile } from "node:child_process";
import { createServer } from "node:net";

/** The environment for wrangler: no telemetry, no prompts, no colours, nothing of this process passed on. */
export function wranglerEnv(): NodeJS.ProcessEnv {
	const env: NodeJS.ProcessEnv = {
		...process.env,
		CI: "true",
		WRANGLER_SEND_METRICS: "false",
		NO_COLOR: "1",
		FORCE_COLOR: "0",
	};
	// With it set, wrangler would pass this process's whole environment to the worker.
	delete env.CLOUDFLARE_INCLUDE_PROCESS_ENV;
	return env;
}

/** Applies migrations/ to a fresh local D1 under `persistDir`. */
export async function applyLocalMigrations(cwd: string, persistDir: string, env: NodeJS.ProcessEnv): Promise<void> {
	const args = ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir];
	await new Promise<void>((resolve, reject) => {
		execFile("npx", args, { cwd, env, timeout: 120_000 }, (error, stdout, stderr) => {
			if (error) {
				reject(
					new Error(
						`\`npx ${args.join(" ")}\` failed: ${error.message}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`,
					),
				);
				return;
			}
			resolve();
		});
	});
}

export async function freePort(): Promise<number> {
	return new Promise<number>((resolve, reject) => {
		const server = createServer();
		server.once("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const address = server.address();
			const port = typeof address === "object" && address !== null ? address.port : 0;
			server.close(() => (port === 0 ? reject(new Error("could not get a free port")) : resolve(port)));
		});
	});
}

export interface WranglerDevOptions {
	port: number;
	inspectorPort: number;
	persistDir: string;
	/** An empty file: with --env-file, wrangler reads neither .dev.vars nor .env, so a developer's settings cannot leak in. */
	envFile: string;
	vars: Readonly<Record<string, string>>;
}

/** The arguments to `npx` that start the worker on loopback. */
export function wranglerDevArgs(options: WranglerDevOptions): string[] {
	return [
		"wrangler",
		"dev",
		"--ip",
		"127.0.0.1",
		"--port",
		String(options.port),
		"--inspector-port",
		String(options.inspectorPort),
		"--persist-to",
		options.persistDir,
		"--env-file",
		options.envFile,
		"--show-interactive-dev-session=false",
		...Object.entries(options.vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
	];
}
