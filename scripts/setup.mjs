// `npm run setup`: provisions a Cloudflare account for Edgehook with wrangler
// and deploys it. Every step first looks for what it would create, so a second
// run creates nothing, and a run that stopped half-way is resumed by running
// it again. See the README's Deploy section and docs/OPERATIONS.md.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, stripVTControlCharacters } from "node:util";
import { deployProblems } from "./check-deploy.mjs";
import {
	PRODUCTION_CONFIG,
	productionConfig,
	shardBinding,
	shardDatabaseName,
	shardOfBinding,
} from "./lib/production-config.mjs";
import { d1Databases, queueNames, rateLimits, workerName } from "./lib/wrangler-toml.mjs";

const TRACKED_CONFIG = "wrangler.toml";
const MIGRATIONS_DIR = "migrations";
/**
 * The first line of a migration that waits for the deploy: it takes away
 * something the version being replaced still uses while it runs
 * (docs/OPERATIONS.md, Upgrading).
 */
const AFTER_DEPLOY = /^-- Apply: after the deploy\b/;
/** What applies the other migrations first: a configuration and a copy of migrations/ without the waiting ones. */
const BEFORE_DEPLOY_CONFIG = "wrangler.before-deploy.toml";
const BEFORE_DEPLOY_MIGRATIONS = ".wrangler/migrations-before-deploy";
const ADMIN_KEY_SECRET = "ADMIN_API_KEY";
const USAGE = `Usage: npm run setup -- [--shards <n>] [--ratelimit-namespace-base <n>]

  --shards <n>                     D1 databases to spread tenants over (default: as many as
                                   ${PRODUCTION_CONFIG} or the account already has, else 1); never fewer
  --ratelimit-namespace-base <n>   namespace_id of the rate limiters: n+1, n+2, … in wrangler.toml's order
                                   (default: the ids ${PRODUCTION_CONFIG} has, else wrangler.toml's)

The wrangler it runs is \`npx wrangler\`, or the executable named by the WRANGLER environment variable.`;

/** A step that failed: what ran, and what wrangler printed. */
class SetupError extends Error {
	constructor(message, output = "") {
		super(message);
		this.output = output;
	}
}

/** What this run found and created, for the closing summary and for the message when a step fails. */
const record = { created: [], found: [] };
/** Set once a new admin key has been printed, so a failed deploy can say what became of it. */
let printedNewKey = false;
/** Set once the deploy is done, so a failure after it says that the new version runs. */
let afterDeploy = false;

function main() {
	const options = readOptions();
	const tracked = readFileSync(TRACKED_CONFIG, "utf8");
	const worker = workerName(tracked);
	const control = d1Databases(tracked).find((database) => database.binding === "DB");
	if (worker === undefined || control?.databaseName === undefined) {
		throw new SetupError(
			`${TRACKED_CONFIG} needs a top-level name and a [[d1_databases]] table bound as DB with a database_name`,
		);
	}
	const previous = existsSync(PRODUCTION_CONFIG) ? readFileSync(PRODUCTION_CONFIG, "utf8") : undefined;
	const configuredShards = previous === undefined ? 0 : highestShard(d1Databases(previous).map((d) => d.binding));
	if (options.shards !== undefined && options.shards < configuredShards)
		refuseFewerShards(options.shards, configuredShards, control.databaseName, PRODUCTION_CONFIG);

	step(1, "D1 databases");
	const listed = listDatabases();
	const accountShards = highestShard(
		listed.map((database) => {
			if (database.name === control.databaseName) return "DB";
			const match = new RegExp(`^${escapeRegExp(control.databaseName)}-shard-([1-9]\\d*)$`).exec(database.name);
			return match ? `SHARD_${match[1]}` : undefined;
		}),
	);
	const existingShards = Math.max(configuredShards, accountShards);
	if (options.shards !== undefined && options.shards < existingShards)
		refuseFewerShards(options.shards, existingShards, control.databaseName, "the account");
	const shards = options.shards ?? Math.max(existingShards, 1);
	const databases = [];
	for (let shard = 1; shard <= shards; shard++) {
		const databaseName = shardDatabaseName(control.databaseName, shard);
		databases.push({
			binding: shardBinding(shard),
			databaseName,
			databaseId: findOrCreateDatabase(databaseName, listed),
		});
	}

	step(2, "Queues");
	for (const queue of queueNames(tracked)) findOrCreateQueue(queue);

	step(3, `Configuration ${PRODUCTION_CONFIG}`);
	const rateLimitIds = chooseRateLimitIds(tracked, previous, options.ratelimitNamespaceBase);
	const generated = productionConfig(tracked, databases, rateLimitIds);
	const problems = deployProblems(generated, PRODUCTION_CONFIG);
	if (problems.length > 0)
		throw new SetupError(`the generated configuration cannot be deployed:\n${problems.join("\n")}`);
	const bindings = databases.map((database) => `${database.binding}=${database.databaseName}`).join(", ");
	const limits = Object.entries(rateLimitIds)
		.map(([name, id]) => `${name}=${id}`)
		.join(", ");
	if (generated === previous) {
		console.log(`  unchanged (D1: ${bindings}; rate-limit namespaces: ${limits})`);
	} else {
		writeFileSync(PRODUCTION_CONFIG, generated);
		console.log(
			`  ${previous === undefined ? "written" : "updated"} (D1: ${bindings}; rate-limit namespaces: ${limits})`,
		);
	}

	const waiting = migrationsAfterDeploy();
	step(4, "Migrations (every database, before the deploy)");
	applyBeforeDeploy(databases, waiting);

	step(5, `Secret ${ADMIN_KEY_SECRET}`);
	const newAdminKey = adminKeyToSet(worker);

	step(6, "Deploy");
	deploy(newAdminKey);

	if (waiting.length > 0) {
		step(7, `Migrations that wait for the deploy (${waiting.join(", ")})`);
		afterDeploy = true;
		for (const database of databases) applyMigrations(database.databaseName, PRODUCTION_CONFIG);
	}

	console.log("");
	console.log(`Done. Created by this run: ${record.created.length === 0 ? "nothing" : record.created.join("; ")}.`);
	console.log(`Already there: ${record.found.length === 0 ? "nothing" : record.found.join("; ")}.`);
	console.log("To upgrade later: git pull, npm ci, npm run setup (docs/OPERATIONS.md, Upgrading).");
}

function readOptions() {
	let values;
	try {
		({ values } = parseArgs({
			options: {
				shards: { type: "string" },
				"ratelimit-namespace-base": { type: "string" },
				help: { type: "boolean", short: "h" },
			},
		}));
	} catch (error) {
		console.error(`${error instanceof Error ? error.message : error}\n\n${USAGE}`);
		process.exit(2);
	}
	if (values.help) {
		console.log(USAGE);
		process.exit(0);
	}
	const wholeNumber = (text, flag, minimum) => {
		if (text === undefined) return undefined;
		if (!/^\d+$/.test(text) || Number(text) < minimum || !Number.isSafeInteger(Number(text))) {
			console.error(`${flag} takes a whole number of at least ${minimum}, not "${text}"\n\n${USAGE}`);
			process.exit(2);
		}
		return Number(text);
	};
	return {
		shards: wholeNumber(values.shards, "--shards", 1),
		ratelimitNamespaceBase: wholeNumber(values["ratelimit-namespace-base"], "--ratelimit-namespace-base", 0),
	};
}

function highestShard(bindings) {
	return Math.max(0, ...bindings.map(shardOfBinding).filter((shard) => shard !== undefined));
}

function escapeRegExp(text) {
	return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function refuseFewerShards(requested, existing, controlDatabaseName, where) {
	const kept = [];
	for (let shard = requested + 1; shard <= existing; shard++) kept.push(shardDatabaseName(controlDatabaseName, shard));
	console.error(
		`--shards ${requested} would leave out ${kept.join(", ")}, which ${where} already has: existing tenants live there, and a deployment without their bindings could not reach them.`,
	);
	console.error(`Nothing was changed. Run it with --shards ${existing} or more (or without --shards).`);
	process.exit(1);
}

function step(number, title) {
	console.log(`\n[${number}/6] ${title}`);
}

/** Runs wrangler without a terminal on stdin, so it never waits for an answer and takes its non-interactive defaults. */
function wrangler(args) {
	const [command, ...prefix] = process.env.WRANGLER ? [process.env.WRANGLER] : ["npx", "wrangler"];
	console.log(`  $ wrangler ${args.join(" ")}`);
	const env = { ...process.env };
	// A value in the environment would override the one in the secrets file given to `wrangler deploy`.
	delete env[ADMIN_KEY_SECRET];
	const result = spawnSync(command, [...prefix, ...args], {
		stdio: ["ignore", "pipe", "pipe"],
		encoding: "utf8",
		env,
		maxBuffer: 64 * 1024 * 1024,
	});
	if (result.error)
		throw new SetupError(`\`${[command, ...prefix].join(" ")}\` could not be started: ${result.error.message}`);
	// Colours, when wrangler decides on them, would split the text that the steps look for.
	const stdout = stripVTControlCharacters(result.stdout);
	return { status: result.status, stdout, output: `${stdout}${stripVTControlCharacters(result.stderr)}` };
}

function failed(args, result, what) {
	return new SetupError(
		`\`wrangler ${args.join(" ")}\` failed (exit code ${result.status})${what ? `: ${what}` : ""}`,
		result.output,
	);
}

function listDatabases() {
	const args = ["d1", "list", "--json"];
	const result = wrangler(args);
	if (result.status !== 0) throw failed(args, result);
	const start = result.stdout.indexOf("[");
	try {
		const databases = JSON.parse(result.stdout.slice(start));
		if (!Array.isArray(databases)) throw new Error("not a list");
		return databases.filter((database) => typeof database?.name === "string" && typeof database?.uuid === "string");
	} catch {
		throw failed(args, result, "its output is not the JSON list of databases");
	}
}

function findOrCreateDatabase(name, listed) {
	const existing = listed.find((database) => database.name === name);
	if (existing) {
		console.log(`  ${name}: exists (${existing.uuid})`);
		record.found.push(`D1 database ${name}`);
		return existing.uuid;
	}
	const args = ["d1", "create", name];
	const result = wrangler(args);
	if (result.status !== 0) throw failed(args, result);
	// The snippet wrangler prints after creating it, in the config's format: TOML `database_id = "…"` or JSON `"database_id": "…"`.
	const id = /"?database_id"?\s*[=:]\s*"([0-9a-f-]{36})"/i.exec(result.output)?.[1];
	if (id === undefined) throw failed(args, result, "its output names no database_id");
	console.log(`  ${name}: created (${id})`);
	record.created.push(`D1 database ${name} (${id})`);
	return id;
}

function findOrCreateQueue(name) {
	// `queues info` asks for the queue by name; `queues list` shows one page of the account's queues only.
	const infoArgs = ["queues", "info", name];
	const info = wrangler(infoArgs);
	if (info.status === 0) {
		console.log(`  ${name}: exists`);
		record.found.push(`queue ${name}`);
		return;
	}
	if (!info.output.includes(`Queue "${name}" does not exist`)) throw failed(infoArgs, info);
	const createArgs = ["queues", "create", name];
	const created = wrangler(createArgs);
	if (created.status !== 0) throw failed(createArgs, created);
	console.log(`  ${name}: created`);
	record.created.push(`queue ${name}`);
}

function chooseRateLimitIds(tracked, previous, base) {
	const previousIds = Object.fromEntries(rateLimits(previous ?? "").map((limit) => [limit.name, limit.namespaceId]));
	return Object.fromEntries(
		rateLimits(tracked).map((limit, index) => [
			limit.name,
			base !== undefined ? String(base + index + 1) : (previousIds[limit.name] ?? limit.namespaceId),
		]),
	);
}

/** The migrations whose head says they wait for the deploy. */
function migrationsAfterDeploy() {
	return readdirSync(MIGRATIONS_DIR)
		.filter((file) => file.endsWith(".sql") && AFTER_DEPLOY.test(readFileSync(join(MIGRATIONS_DIR, file), "utf8")))
		.sort();
}

/**
 * Applies every migration but the waiting ones: wrangler applies all of a
 * directory's, so it is given a copy of migrations/ without them, through a
 * configuration of its own that is the production one but for that
 * directory. Both are removed afterwards.
 */
function applyBeforeDeploy(databases, waiting) {
	if (waiting.length === 0) {
		for (const database of databases) applyMigrations(database.databaseName, PRODUCTION_CONFIG);
		return;
	}
	const production = readFileSync(PRODUCTION_CONFIG, "utf8");
	const directory = `migrations_dir = "${MIGRATIONS_DIR}"`;
	if (!production.includes(directory)) throw new SetupError(`${PRODUCTION_CONFIG} has no ${directory}`);
	rmSync(BEFORE_DEPLOY_MIGRATIONS, { recursive: true, force: true });
	mkdirSync(BEFORE_DEPLOY_MIGRATIONS, { recursive: true });
	try {
		for (const file of readdirSync(MIGRATIONS_DIR))
			if (file.endsWith(".sql") && !waiting.includes(file))
				cpSync(join(MIGRATIONS_DIR, file), join(BEFORE_DEPLOY_MIGRATIONS, file));
		writeFileSync(
			BEFORE_DEPLOY_CONFIG,
			production.replaceAll(directory, `migrations_dir = "${BEFORE_DEPLOY_MIGRATIONS}"`),
		);
		for (const database of databases) applyMigrations(database.databaseName, BEFORE_DEPLOY_CONFIG);
	} finally {
		rmSync(BEFORE_DEPLOY_CONFIG, { force: true });
		rmSync(BEFORE_DEPLOY_MIGRATIONS, { recursive: true, force: true });
	}
}

function applyMigrations(databaseName, config) {
	const args = ["d1", "migrations", "apply", databaseName, "--remote", "--config", config];
	const result = wrangler(args);
	if (result.status !== 0) throw failed(args, result);
	// wrangler prints its table again after each migration; a name marked ✅ in any of them was applied.
	const applied = [
		...new Set([...result.output.matchAll(/│\s*(\d{4}_[^\s│]+\.sql)\s*│\s*✅/g)].map((match) => match[1])),
	];
	if (applied.length > 0) {
		console.log(`  ${databaseName}: applied ${applied.length} (${applied[0]} … ${applied.at(-1)})`);
		record.created.push(`${applied.length} migration(s) on ${databaseName}`);
	} else if (result.output.includes("No migrations to apply")) {
		console.log(`  ${databaseName}: up to date`);
	} else {
		throw failed(args, result, "it reported neither applied migrations nor that there were none to apply");
	}
}

/** A new admin key when the Worker has none (it does not exist yet, or lacks the secret); undefined when it has one. */
function adminKeyToSet(worker) {
	const args = ["secret", "list", "--config", PRODUCTION_CONFIG];
	const result = wrangler(args);
	let names;
	if (result.status === 0) {
		try {
			names = JSON.parse(result.stdout.slice(result.stdout.indexOf("["))).map((secret) => secret.name);
		} catch {
			throw failed(args, result, "its output is not the JSON list of secrets");
		}
	} else if (result.output.includes(`Worker "${worker}"`) && result.output.includes("not found")) {
		names = [];
	} else {
		throw failed(args, result);
	}
	if (names.includes(ADMIN_KEY_SECRET)) {
		console.log(
			`  already set on the Worker ${worker}: kept. Cloudflare never gives a secret back, so it cannot be shown again;`,
		);
		console.log(
			`  if it is lost, set a new one: npx wrangler secret put ${ADMIN_KEY_SECRET} --config ${PRODUCTION_CONFIG}`,
		);
		record.found.push(`secret ${ADMIN_KEY_SECRET}`);
		return undefined;
	}
	const key = randomBytes(32).toString("hex");
	console.log(`  not set: generated one. It is shown this once; store it in your password manager now:`);
	console.log(`\n  ${ADMIN_KEY_SECRET}=${key}\n`);
	console.log("  The deploy below stores it as the Worker's secret.");
	printedNewKey = true;
	return key;
}

function deploy(newAdminKey) {
	const problems = deployProblems(readFileSync(PRODUCTION_CONFIG, "utf8"), PRODUCTION_CONFIG);
	if (problems.length > 0) throw new SetupError(`${problems.join("\n")}\nNothing was deployed.`);
	const args = ["deploy", "--config", PRODUCTION_CONFIG];
	// A Worker that does not exist yet cannot be given a secret beforehand: it goes up with the first version.
	const secretsDirectory = newAdminKey === undefined ? undefined : mkdtempSync(join(tmpdir(), "edgehook-setup-"));
	try {
		if (secretsDirectory !== undefined) {
			const secretsFile = join(secretsDirectory, "secrets.json");
			writeFileSync(secretsFile, JSON.stringify({ [ADMIN_KEY_SECRET]: newAdminKey }), { mode: 0o600 });
			args.push("--secrets-file", secretsFile);
		}
		const result = wrangler(args);
		if (result.status !== 0) throw failed(args, result);
		const version = /Current Version ID:\s*(\S+)/.exec(result.output)?.[1];
		const urls = [...result.output.matchAll(/^\s*(https:\/\/\S+)\s*$/gm)].map((match) => match[1]);
		console.log(`  deployed${version ? `: version ${version}` : ""}${urls.length > 0 ? `, ${urls.join(" ")}` : ""}`);
		if (newAdminKey !== undefined) record.created.push(`secret ${ADMIN_KEY_SECRET}`);
	} finally {
		if (secretsDirectory !== undefined) rmSync(secretsDirectory, { recursive: true, force: true });
	}
}

function resumeCommand() {
	const flags = process.argv.slice(2);
	return `npm run setup${flags.length > 0 ? ` -- ${flags.join(" ")}` : ""}`;
}

try {
	main();
} catch (error) {
	if (!(error instanceof SetupError)) throw error;
	if (error.output.trim() !== "") {
		console.error("\n  wrangler said:");
		console.error(
			error.output
				.trimEnd()
				.split("\n")
				.map((line) => `  | ${line}`)
				.join("\n"),
		);
	}
	console.error(`\nSetup stopped: ${error.message}`);
	console.error(
		`Created by this run before it stopped: ${record.created.length === 0 ? "nothing" : record.created.join("; ")}.`,
	);
	if (record.found.length > 0) console.error(`Already there: ${record.found.join("; ")}.`);
	if (/wrangler login|CLOUDFLARE_API_TOKEN|not authenticated|Authentication error/i.test(error.output)) {
		console.error("Log in with `npx wrangler login` (or set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID) first.");
	}
	if (printedNewKey) {
		console.error(
			`The ${ADMIN_KEY_SECRET} printed above is stored only if the deploy uploaded it: if \`npx wrangler secret list --config ${PRODUCTION_CONFIG}\` lists it, keep that key; if not, the next run generates a new one.`,
		);
	}
	if (afterDeploy) {
		console.error(
			"The new version is deployed and works without the migrations that wait for the deploy; each one's head says what it takes away meanwhile.",
		);
	}
	console.error(
		`Nothing is undone. To resume, run \`${resumeCommand()}\` again: it finds what exists, creates only what is missing, and goes on from there.`,
	);
	process.exit(1);
}
