/**
 * `npm run setup` against a stand-in wrangler (test/fixtures/wrangler-stand-in.mjs)
 * that answers as wrangler 4.164.0 does, records every call and keeps the
 * account in a state file. Each test works in a temporary copy of the project's
 * wrangler.toml and migrations/ with an account of its own; nothing reaches Cloudflare.
 */
import { spawnSync } from "node:child_process";
import {
	chmodSync,
	cpSync,
	existsSync,
	mkdirSync,
	mkdtempSync,
	readdirSync,
	readFileSync,
	rmSync,
	writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = new URL("../../", import.meta.url).pathname;
const SETUP = join(ROOT, "scripts/setup.mjs");
const STAND_IN = join(ROOT, "test/fixtures/wrangler-stand-in.mjs");
const TRACKED = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
const MIGRATIONS = readdirSync(join(ROOT, "migrations"))
	.filter((file) => file.endsWith(".sql"))
	.sort();
const CONFIG = "wrangler.production.toml";
/** The configuration setup applies the migrations with before the deploy, gone once they are applied. */
const BEFORE_DEPLOY_CONFIG = "wrangler.before-deploy.toml";
/** Migrations whose head says they wait for the deploy, and the others. */
const WAITING = MIGRATIONS.filter((file) =>
	/^-- Apply: after the deploy\b/.test(readFileSync(join(ROOT, "migrations", file), "utf8")),
);
const BEFORE_DEPLOY = MIGRATIONS.filter((file) => !WAITING.includes(file));
/** The order a new database is migrated in: the others before the deploy, then those that wait for it. */
const APPLIED = [...BEFORE_DEPLOY, ...WAITING];
const ADMIN_KEY = /ADMIN_API_KEY=([0-9a-f]{64})/g;

interface Account {
	databases: { uuid: string; name: string; applied: string[] }[];
	queues: { queue_name: string }[];
	workers: Record<string, { secrets: Record<string, string>; versions: string[] }>;
}

interface Project {
	dir: string;
	bin: string;
	account: string;
}

interface Run {
	status: number | null;
	stdout: string;
	stderr: string;
	/** The wrangler commands of this run, `--secrets-file <path>` shown as `--secrets-file <file>`. */
	commands: string[];
	/** The file each `--secrets-file` named. */
	secretsFiles: string[];
	stdins: string[];
}

/** Each project's directory, removed when the file's tests end. */
const scratch: string[] = [];
afterAll(() => {
	for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function newProject(): Project {
	const base = mkdtempSync(join(tmpdir(), "edgehook-setup-test-"));
	scratch.push(base);
	const dir = join(base, "project");
	mkdirSync(dir);
	writeFileSync(join(dir, "wrangler.toml"), TRACKED);
	cpSync(join(ROOT, "migrations"), join(dir, "migrations"), { recursive: true });
	const bin = join(base, "bin");
	mkdirSync(bin);
	writeFileSync(join(bin, "wrangler"), `#!/bin/sh\nexec "${process.execPath}" "${STAND_IN}" "$@"\n`);
	chmodSync(join(bin, "wrangler"), 0o755);
	return { dir, bin, account: join(base, "account") };
}

function recordedCalls(project: Project): { argv: string[]; stdin: string }[] {
	const path = join(project.account, "calls.jsonl");
	if (!existsSync(path)) return [];
	return readFileSync(path, "utf8")
		.trim()
		.split("\n")
		.filter((line) => line !== "")
		.map((line) => JSON.parse(line) as { argv: string[]; stdin: string });
}

function setup(project: Project, args: string[] = [], failAtCall?: number): Run {
	const before = recordedCalls(project).length;
	const env: NodeJS.ProcessEnv = {
		...process.env,
		PATH: `${project.bin}:${process.env.PATH ?? ""}`,
		WRANGLER: join(project.bin, "wrangler"),
		WRANGLER_STAND_IN_DIR: project.account,
		CI: "true",
		NO_COLOR: "1",
	};
	delete env.WRANGLER_STAND_IN_FAIL_AT;
	if (failAtCall !== undefined) env.WRANGLER_STAND_IN_FAIL_AT = String(before + failAtCall);
	const result = spawnSync(process.execPath, [SETUP, ...args], {
		cwd: project.dir,
		env,
		encoding: "utf8",
		stdio: ["ignore", "pipe", "pipe"],
		timeout: 60_000,
	});
	const calls = recordedCalls(project).slice(before);
	const secretsFiles: string[] = [];
	const commands = calls.map(({ argv }) =>
		argv
			.map((arg, index) => {
				if (argv[index - 1] !== "--secrets-file") return arg;
				secretsFiles.push(arg);
				return "<file>";
			})
			.join(" "),
	);
	return {
		status: result.status,
		stdout: result.stdout,
		stderr: result.stderr,
		commands,
		secretsFiles,
		stdins: calls.map((call) => call.stdin),
	};
}

function account(project: Project): Account {
	return JSON.parse(readFileSync(join(project.account, "state.json"), "utf8")) as Account;
}

function generatedConfig(project: Project): string {
	return readFileSync(join(project.dir, CONFIG), "utf8");
}

/** The [[d1_databases]] tables of the generated configuration, as binding, name and id. */
function d1Tables(config: string): { binding: string; name: string; id: string }[] {
	return [
		...config.matchAll(
			/\[\[d1_databases\]\]\nbinding = "([^"]+)"\ndatabase_name = "([^"]+)"\ndatabase_id = "([^"]+)"\nmigrations_dir = "migrations"\n/g,
		),
	].map((match) => ({ binding: match[1] ?? "", name: match[2] ?? "", id: match[3] ?? "" }));
}

function namespaceIds(config: string): string[] {
	return [...config.matchAll(/^namespace_id = "(\d+)"$/gm)].map((match) => match[1] ?? "");
}

const SECOND_RUN = [
	"d1 list --json",
	"queues info edgehook-deliveries",
	"queues info edgehook-deliveries-dlq",
	"queues info edgehook-deliveries-slow",
	`d1 migrations apply edgehook --remote --config ${BEFORE_DEPLOY_CONFIG}`,
	`secret list --config ${CONFIG}`,
	`deploy --config ${CONFIG}`,
	`d1 migrations apply edgehook --remote --config ${CONFIG}`,
];

describe("npm run setup", () => {
	it("provisions a new account with these commands, shows the generated admin key once and deploys it", () => {
		const project = newProject();
		const run = setup(project);
		expect(run.status, run.stdout + run.stderr).toBe(0);
		expect(run.commands).toEqual([
			"d1 list --json",
			"d1 create edgehook",
			"queues info edgehook-deliveries",
			"queues create edgehook-deliveries",
			"queues info edgehook-deliveries-dlq",
			"queues create edgehook-deliveries-dlq",
			"queues info edgehook-deliveries-slow",
			"queues create edgehook-deliveries-slow",
			`d1 migrations apply edgehook --remote --config ${BEFORE_DEPLOY_CONFIG}`,
			`secret list --config ${CONFIG}`,
			`deploy --config ${CONFIG} --secrets-file <file>`,
			`d1 migrations apply edgehook --remote --config ${CONFIG}`,
		]);
		// No call waited for an answer on stdin.
		expect(run.stdins.every((stdin) => stdin === "")).toBe(true);

		const state = account(project);
		const [database] = state.databases;
		expect(state.databases.map((candidate) => candidate.name)).toEqual(["edgehook"]);
		expect(database?.applied).toEqual(APPLIED);
		expect(state.queues.map((queue) => queue.queue_name).sort()).toEqual([
			"edgehook-deliveries",
			"edgehook-deliveries-dlq",
			"edgehook-deliveries-slow",
		]);

		const keys = [...run.stdout.matchAll(ADMIN_KEY)].map((match) => match[1]);
		expect(keys).toHaveLength(1);
		expect(state.workers.edgehook?.secrets.ADMIN_API_KEY).toBe(keys[0]);
		expect(state.workers.edgehook?.versions).toHaveLength(1);
		// The key went up in a file of its own, which is gone afterwards.
		expect(run.secretsFiles).toHaveLength(1);
		expect(existsSync(run.secretsFiles[0] ?? "")).toBe(false);

		const config = generatedConfig(project);
		expect(d1Tables(config)).toEqual([{ binding: "DB", name: "edgehook", id: database?.uuid }]);
		expect(config).not.toContain("00000000-0000-0000-0000-000000000000");
		// Everything else is wrangler.toml's, comments included, and wrangler.toml itself is untouched.
		expect(config).toContain(TRACKED.slice(TRACKED.indexOf("[[queues.producers]]")));
		expect(readFileSync(join(project.dir, "wrangler.toml"), "utf8")).toBe(TRACKED);
		expect(run.stdout).toContain(
			`edgehook: applied ${BEFORE_DEPLOY.length} (${BEFORE_DEPLOY[0]} … ${BEFORE_DEPLOY.at(-1)})`,
		);
		expect(run.stdout).toContain("deployed: version ");
		// The migrations that wait are applied after the deploy, and what applied the others is gone.
		expect(WAITING.length).toBeGreaterThan(0);
		expect(run.stdout).toContain(`Migrations that wait for the deploy (${WAITING.join(", ")})`);
		expect(run.stdout.indexOf("deployed: version ")).toBeLessThan(
			run.stdout.indexOf(`edgehook: applied ${WAITING.length} (${WAITING[0]} … ${WAITING.at(-1)})`),
		);
		expect(existsSync(join(project.dir, BEFORE_DEPLOY_CONFIG))).toBe(false);
		expect(existsSync(join(project.dir, ".wrangler/migrations-before-deploy"))).toBe(false);
	});

	it("run a second time, finds everything, creates nothing, applies no migration, shows no key and deploys the same", () => {
		const project = newProject();
		expect(setup(project).status).toBe(0);
		const configBefore = generatedConfig(project);
		const { workers: _workers, ...resourcesBefore } = account(project);

		const run = setup(project);
		expect(run.status, run.stdout + run.stderr).toBe(0);
		expect(run.commands).toEqual(SECOND_RUN);
		const { workers, ...resourcesAfter } = account(project);
		expect(resourcesAfter).toEqual(resourcesBefore);
		expect(generatedConfig(project)).toBe(configBefore);
		expect(run.stdout).toContain(`unchanged (D1: DB=edgehook;`);
		expect(run.stdout).toContain("edgehook: up to date");
		expect(run.stdout).toContain("cannot be shown again");
		expect([...run.stdout.matchAll(ADMIN_KEY)]).toHaveLength(0);
		expect(run.stdout).toContain("Created by this run: nothing.");
		expect(workers.edgehook?.versions).toHaveLength(2);
	});

	it("grows from 1 to 3 shards, each with its binding and every migration, and refuses to shrink", () => {
		const project = newProject();
		expect(setup(project).status).toBe(0);

		const grow = setup(project, ["--shards", "3"]);
		expect(grow.status, grow.stdout + grow.stderr).toBe(0);
		expect(grow.commands).toEqual([
			"d1 list --json",
			"d1 create edgehook-shard-2",
			"d1 create edgehook-shard-3",
			"queues info edgehook-deliveries",
			"queues info edgehook-deliveries-dlq",
			"queues info edgehook-deliveries-slow",
			`d1 migrations apply edgehook --remote --config ${BEFORE_DEPLOY_CONFIG}`,
			`d1 migrations apply edgehook-shard-2 --remote --config ${BEFORE_DEPLOY_CONFIG}`,
			`d1 migrations apply edgehook-shard-3 --remote --config ${BEFORE_DEPLOY_CONFIG}`,
			`secret list --config ${CONFIG}`,
			`deploy --config ${CONFIG}`,
			`d1 migrations apply edgehook --remote --config ${CONFIG}`,
			`d1 migrations apply edgehook-shard-2 --remote --config ${CONFIG}`,
			`d1 migrations apply edgehook-shard-3 --remote --config ${CONFIG}`,
		]);
		const state = account(project);
		expect(state.databases.map((database) => [database.name, database.applied])).toEqual([
			["edgehook", APPLIED],
			["edgehook-shard-2", APPLIED],
			["edgehook-shard-3", APPLIED],
		]);
		const uuid = (name: string): string | undefined => state.databases.find((database) => database.name === name)?.uuid;
		const threeShards = [
			{ binding: "DB", name: "edgehook", id: uuid("edgehook") },
			{ binding: "SHARD_2", name: "edgehook-shard-2", id: uuid("edgehook-shard-2") },
			{ binding: "SHARD_3", name: "edgehook-shard-3", id: uuid("edgehook-shard-3") },
		];
		expect(d1Tables(generatedConfig(project))).toEqual(threeShards);

		// Without --shards it keeps the three the configuration has.
		const again = setup(project);
		expect(again.status).toBe(0);
		expect(again.commands.filter((command) => command.includes("create"))).toEqual([]);
		expect(d1Tables(generatedConfig(project))).toEqual(threeShards);

		const shrink = setup(project, ["--shards", "2"]);
		expect(shrink.status).toBe(1);
		expect(shrink.commands).toEqual([]);
		expect(shrink.stderr).toContain(
			"--shards 2 would leave out edgehook-shard-3, which wrangler.production.toml already has: existing tenants live there",
		);
		expect(shrink.stderr).toContain("Nothing was changed. Run it with --shards 3 or more");
		expect(d1Tables(generatedConfig(project))).toEqual(threeShards);

		// A fresh clone has no generated configuration; the account's databases still count.
		const fresh: Project = { ...newProject(), account: project.account };
		const fromClone = setup(fresh, ["--shards", "1"]);
		expect(fromClone.status).toBe(1);
		expect(fromClone.commands).toEqual(["d1 list --json"]);
		expect(fromClone.stderr).toContain("edgehook-shard-2, edgehook-shard-3, which the account already has");
		expect(existsSync(join(fresh.dir, CONFIG))).toBe(false);
	});

	it("stops at a failed step naming what it created and how to resume, and the next run creates only the rest", () => {
		const project = newProject();
		// Call 6 is `queues create edgehook-deliveries-dlq`.
		const broken = setup(project, [], 6);
		expect(broken.status).toBe(1);
		expect(broken.commands.at(-1)).toBe("queues create edgehook-deliveries-dlq");
		const created = account(project).databases[0]?.uuid;
		expect(broken.stderr).toContain("[code: 10001]");
		expect(broken.stderr).toContain(
			"Setup stopped: `wrangler queues create edgehook-deliveries-dlq` failed (exit code 1)",
		);
		expect(broken.stderr).toContain(
			`Created by this run before it stopped: D1 database edgehook (${created}); queue edgehook-deliveries.`,
		);
		expect(broken.stderr).toContain("To resume, run `npm run setup` again");
		expect(existsSync(join(project.dir, CONFIG))).toBe(false);
		expect(account(project).workers).toEqual({});

		const resumed = setup(project);
		expect(resumed.status, resumed.stdout + resumed.stderr).toBe(0);
		expect(resumed.commands).toEqual([
			"d1 list --json",
			"queues info edgehook-deliveries",
			"queues info edgehook-deliveries-dlq",
			"queues create edgehook-deliveries-dlq",
			"queues info edgehook-deliveries-slow",
			"queues create edgehook-deliveries-slow",
			`d1 migrations apply edgehook --remote --config ${BEFORE_DEPLOY_CONFIG}`,
			`secret list --config ${CONFIG}`,
			`deploy --config ${CONFIG} --secrets-file <file>`,
			`d1 migrations apply edgehook --remote --config ${CONFIG}`,
		]);
		const state = account(project);
		expect(state.databases.map((database) => database.uuid)).toEqual([created]);
		expect(state.queues).toHaveLength(3);
	});

	it("says what became of the printed admin key when the deploy fails, and the resumed run sets one", () => {
		const project = newProject();
		const broken = setup(project, ["--shards", "2"], 13);
		expect(broken.commands.at(-1)).toBe(`deploy --config ${CONFIG} --secrets-file <file>`);
		expect(broken.status).toBe(1);
		expect([...broken.stdout.matchAll(ADMIN_KEY)]).toHaveLength(1);
		expect(broken.stderr).toContain("is stored only if the deploy uploaded it");
		expect(broken.stderr).toContain("To resume, run `npm run setup -- --shards 2` again");
		expect(existsSync(broken.secretsFiles[0] ?? "")).toBe(false);
		// The version before still runs, so what waits for the deploy was not applied.
		expect(account(project).databases.map((database) => database.applied)).toEqual([BEFORE_DEPLOY, BEFORE_DEPLOY]);

		const resumed = setup(project, ["--shards", "2"]);
		expect(resumed.status, resumed.stdout + resumed.stderr).toBe(0);
		const [key] = [...resumed.stdout.matchAll(ADMIN_KEY)].map((match) => match[1]);
		expect(account(project).workers.edgehook?.secrets.ADMIN_API_KEY).toBe(key);
		expect(account(project).databases.map((database) => database.applied)).toEqual([APPLIED, APPLIED]);
	});

	it("keeps wrangler.toml's rate-limit namespace ids, or numbers them from --ratelimit-namespace-base and keeps those", () => {
		const project = newProject();
		expect(setup(project).status).toBe(0);
		expect(namespaceIds(generatedConfig(project))).toEqual(["1001", "1002", "1003"]);
		expect(setup(project, ["--ratelimit-namespace-base", "2000"]).status).toBe(0);
		expect(namespaceIds(generatedConfig(project))).toEqual(["2001", "2002", "2003"]);
		expect(setup(project).status).toBe(0);
		expect(namespaceIds(generatedConfig(project))).toEqual(["2001", "2002", "2003"]);
		expect(namespaceIds(TRACKED)).toEqual(["1001", "1002", "1003"]);
	});

	it("refuses options it does not understand before calling wrangler", () => {
		const project = newProject();
		for (const args of [
			["--shards", "0"],
			["--shards", "two"],
			["--ratelimit-namespace-base", "-5"],
			["--shard", "2"],
		]) {
			const run = setup(project, args);
			expect(run.status, args.join(" ")).toBe(2);
			expect(run.stderr).toContain("Usage: npm run setup");
			expect(run.commands).toEqual([]);
		}
	});
});

describe("npm run deploy", () => {
	/** `npm run deploy` as package.json has it, in a copy of the project whose node_modules/.bin/wrangler is the stand-in. */
	function deploy(project: Project): Run & { output: string } {
		const before = recordedCalls(project).length;
		const result = spawnSync("npm", ["run", "--silent", "deploy"], {
			cwd: project.dir,
			env: { ...process.env, WRANGLER_STAND_IN_DIR: project.account, CI: "true", NO_COLOR: "1" },
			encoding: "utf8",
			stdio: ["ignore", "pipe", "pipe"],
			timeout: 60_000,
		});
		const commands = recordedCalls(project)
			.slice(before)
			.map(({ argv }) => argv.join(" "));
		const { stdout, stderr, status } = result;
		return { status, stdout, stderr, output: stdout + stderr, commands, secretsFiles: [], stdins: [] };
	}

	function deployableProject(): Project {
		const project = newProject();
		cpSync(join(ROOT, "package.json"), join(project.dir, "package.json"));
		cpSync(join(ROOT, "scripts"), join(project.dir, "scripts"), { recursive: true });
		mkdirSync(join(project.dir, "node_modules/.bin"), { recursive: true });
		cpSync(join(project.bin, "wrangler"), join(project.dir, "node_modules/.bin/wrangler"));
		return project;
	}

	it("refuses before wrangler is called when setup has not written the configuration", () => {
		const project = deployableProject();
		const run = deploy(project);
		expect(run.status).not.toBe(0);
		expect(run.output).toContain("wrangler.production.toml does not exist: run `npm run setup` first");
		expect(run.output).toContain("Nothing was deployed.");
		expect(run.commands).toEqual([]);
	});

	it("refuses a configuration with a placeholder shard id, naming it, and deploys setup's configuration", () => {
		const project = deployableProject();
		expect(setup(project, ["--shards", "2"]).status).toBe(0);
		const good = generatedConfig(project);
		const shard2 = d1Tables(good)[1]?.id ?? "";
		writeFileSync(join(project.dir, CONFIG), good.replace(shard2, "00000000-0000-0000-0000-000000000000"));
		const refused = deploy(project);
		expect(refused.status).not.toBe(0);
		expect(refused.output).toContain(
			"the D1 database SHARD_2 (edgehook-shard-2) still has the placeholder database_id 00000000-0000-0000-0000-000000000000",
		);
		expect(refused.commands).toEqual([]);

		writeFileSync(join(project.dir, CONFIG), good);
		const deployed = deploy(project);
		expect(deployed.status, deployed.output).toBe(0);
		expect(deployed.commands).toEqual([`deploy --config ${CONFIG}`]);
	});

	it("refuses a configuration older than wrangler.toml, and deploys again once setup has rewritten it", () => {
		const project = deployableProject();
		expect(setup(project).status).toBe(0);
		writeFileSync(
			join(project.dir, "wrangler.toml"),
			TRACKED.replace('RETENTION_DAYS = "30"', 'RETENTION_DAYS = "90"'),
		);
		const refused = deploy(project);
		expect(refused.status).not.toBe(0);
		expect(refused.output).toContain("wrangler.production.toml is older than wrangler.toml: run `npm run setup`");
		expect(refused.commands).toEqual([]);

		const rewritten = setup(project);
		expect(rewritten.status).toBe(0);
		expect(rewritten.stdout).toContain("updated (D1: DB=edgehook;");
		expect(generatedConfig(project)).toContain('RETENTION_DAYS = "90"');
		expect(deploy(project).status).toBe(0);
	});
});
