// What the end-to-end suite and the bench share to run the worker under
// `wrangler dev`: the child environment, local migrations, a free port and
// the command line.
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { d1Databases } from "./wrangler-toml.mjs";

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

/**
 * A copy of the project's wrangler.toml with `shards` databases in all (DB,
 * then SHARD_2 …), written into `dir`, for runs that exercise sharding. Its
 * paths point back into the project, so wrangler builds the same worker.
 */
export function writeShardedConfig(projectDir: string, dir: string, shards: number): string {
	const base = readFileSync(join(projectDir, "wrangler.toml"), "utf8")
		.replace(/^main\s*=\s*"([^"]+)"/m, (_line, main: string) => `main = ${JSON.stringify(resolve(projectDir, main))}`)
		.replace(
			/^migrations_dir\s*=\s*"([^"]+)"/gm,
			(_line, migrations: string) => `migrations_dir = ${JSON.stringify(resolve(projectDir, migrations))}`,
		);
	const extra = Array.from({ length: Math.max(0, shards - 1) }, (_, index) => {
		const number = index + 2;
		return [
			"[[d1_databases]]",
			`binding = "SHARD_${number}"`,
			`database_name = "edgehook-shard-${number}"`,
			`database_id = "00000000-0000-0000-0000-${String(number).padStart(12, "0")}"`,
			`migrations_dir = ${JSON.stringify(resolve(projectDir, "migrations"))}`,
		].join("\n");
	});
	const path = join(dir, "wrangler.toml");
	writeFileSync(path, [base, ...extra].join("\n\n"));
	return path;
}

/** Applies migrations/ to every D1 database of the config (a fresh local one under `persistDir`). */
export async function applyLocalMigrations(
	cwd: string,
	persistDir: string,
	env: NodeJS.ProcessEnv,
	configPath = join(cwd, "wrangler.toml"),
): Promise<void> {
	for (const { binding } of d1Databases(readFileSync(configPath, "utf8"))) {
		if (binding === undefined) continue;
		const args = [
			"wrangler",
			"d1",
			"migrations",
			"apply",
			binding,
			"--local",
			"--persist-to",
			persistDir,
			"--config",
			configPath,
		];
		await new Promise<void>((resolvePromise, reject) => {
			execFile("npx", args, { cwd, env, timeout: 120_000 }, (error, stdout, stderr) => {
				if (error) {
					reject(
						new Error(
							`\`npx ${args.join(" ")}\` failed: ${error.message}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`,
						),
					);
					return;
				}
				resolvePromise();
			});
		});
	}
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
	/** A config other than the project's wrangler.toml, such as writeShardedConfig's. */
	configPath?: string;
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
		...(options.configPath === undefined ? [] : ["--config", options.configPath]),
		...Object.entries(options.vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
	];
}
