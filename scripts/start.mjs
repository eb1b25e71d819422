// `npm start`: everything a new user needs to run Edgehook locally, in order.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { pipeRedacted } from "./lib/redact-log.mjs";
import { d1Databases } from "./lib/wrangler-toml.mjs";

const DEV_VARS = ".dev.vars";
const BASE_URL = "http://127.0.0.1:8787";
/** The crons of wrangler.toml, used when its `crons = [...]` line cannot be read. */
const DEFAULT_CRONS = ["17 3 * * *", "* * * * *"];

if (!existsSync(DEV_VARS)) {
	copyFileSync(".dev.vars.example", DEV_VARS);
	console.log(`Created ${DEV_VARS} from .dev.vars.example`);
}
const adminKey = /^ADMIN_API_KEY=(.*)$/m.exec(readFileSync(DEV_VARS, "utf8"))?.[1]?.trim();

// Every database gets the one schema: DB and each shard wrangler.toml adds (SHARD_2, …).
for (const { binding } of d1Databases(readFileSync("wrangler.toml", "utf8"))) if (binding) applyMigrations(binding);
console.log("\nEdgehook is starting on http://127.0.0.1:8787 …");

/** What a new user needs, printed once the worker answers, so it is the last thing on screen. */
function printWelcome() {
	console.log("");
	console.log(`Edgehook is running on ${BASE_URL}`);
	console.log(`Dashboard: ${BASE_URL} (sign in with the admin key below)`);
	console.log(`Local admin key (from ${DEV_VARS}): ${adminKey ?? "(ADMIN_API_KEY is missing from .dev.vars)"}`);
	console.log(`Try: curl -H "Authorization: Bearer ${adminKey ?? "<key>"}" ${BASE_URL}/v1/webhooks`);
	console.log("Stop it with Ctrl-C.\n");
}

/**
 * Applies the migrations to one local database and says so in one line;
 * wrangler's own tables are shown only when something fails.
 */
function applyMigrations(binding) {
	// No stdin: wrangler then takes its defaults instead of asking for confirmation.
	const result = spawnSync("npx", ["wrangler", "d1", "migrations", "apply", binding, "--local"], {
		stdio: ["ignore", "pipe", "pipe"],
		encoding: "utf8",
	});
	const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
	if (result.status !== 0) {
		process.stderr.write(output);
		console.error(`\nApplying the migrations to the local database ${binding} failed (exit code ${result.status})`);
		process.exit(result.status ?? 1);
	}
	const applied = [...new Set([...output.matchAll(/│\s*(\d{4}_[^\s│]+\.sql)\s*│\s*✅/g)].map((match) => match[1]))];
	console.log(
		applied.length === 0
			? `Migrations: local database ${binding} is up to date`
			: `Migrations: applied ${applied.length} to local database ${binding} (${applied[0]} … ${applied.at(-1)})`,
	);
}

// wrangler's output goes through a filter that drops portal tokens from its request lines; keyboard
// shortcuts still reach it, and colour stays on when this terminal has it.
const dev = spawn("npx", ["wrangler", "dev", "--ip", "127.0.0.1", "--port", "8787"], {
	stdio: ["inherit", "pipe", "pipe"],
	env: process.stdout.isTTY ? { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? "1" } : process.env,
});
pipeRedacted(dev.stdout, process.stdout);
pipeRedacted(dev.stderr, process.stderr);
const stopCrons = fireCronsLocally(readCrons());
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => {
	stopCrons();
	process.exit(code ?? 0);
});

/*
 * wrangler dev never fires cron triggers, and Edgehook relies on them: the
 * every-minute one resumes stalled tenant purges and runs the sweeper that
 * re-sends lost deliveries (after `wrangler dev` is killed, say, the local
 * queue's messages are gone). So this script fires them itself, on their
 * schedule in UTC, through wrangler's local trigger endpoint.
 */

function readCrons() {
	const line = /^\s*crons\s*=\s*\[([^\]]*)\]/m.exec(readFileSync("wrangler.toml", "utf8"));
	const crons = line ? [...line[1].matchAll(/"([^"]+)"/g)].map((match) => match[1]) : [];
	return crons.length > 0 ? crons : DEFAULT_CRONS;
}

/**
 * Whether `cron` fires in the minute of `date` (UTC). Fields take `*`,
 * numbers, `a-b`, lists and `/step`; the day of week must be `*`: Edgehook's
 * crons need nothing more, and Cloudflare numbers weekdays its own way.
 */
function cronMatches(cron, date) {
	if (!isSupported(cron)) return false;
	const fields = cron.trim().split(/\s+/);
	return (
		fieldMatches(fields[0], date.getUTCMinutes(), 0, 59) &&
		fieldMatches(fields[1], date.getUTCHours(), 0, 23) &&
		fieldMatches(fields[2], date.getUTCDate(), 1, 31) &&
		fieldMatches(fields[3], date.getUTCMonth() + 1, 1, 12)
	);
}

function fieldMatches(field, value, lowest, highest) {
	return field.split(",").some((part) => {
		const [range, stepText] = part.split("/");
		const step = stepText === undefined ? 1 : Number(stepText);
		let [from, to] = [lowest, highest];
		if (range.includes("-")) [from, to] = range.split("-").map(Number);
		else if (range !== "*") [from, to] = [Number(range), stepText === undefined ? Number(range) : highest];
		return value >= from && value <= to && (value - from) % step === 0;
	});
}

function isSupported(cron) {
	const fields = cron.trim().split(/\s+/);
	return fields.length === 5 && fields[4] === "*" && fields.slice(0, 4).every((field) => /^[\d*,/-]+$/.test(field));
}

/** Starts firing `crons` once wrangler answers /healthz; returns what stops it. */
function fireCronsLocally(crons) {
	let timer;
	let stopped = false;
	const later = (callback, delayMs) => {
		if (stopped) return;
		timer = setTimeout(callback, delayMs);
		// The dev server keeps this process alive; the timers must not.
		timer.unref();
	};
	const fire = async (cron) => {
		try {
			const response = await fetch(`${BASE_URL}/cdn-cgi/local/scheduled?cron=${encodeURIComponent(cron)}`, {
				signal: AbortSignal.timeout(55_000),
			});
			if (!response.ok) console.error(`cron "${cron}": the worker answered ${response.status}`);
			await response.body?.cancel();
		} catch (error) {
			console.error(`cron "${cron}" could not be fired: ${error instanceof Error ? error.message : error}`);
		}
	};
	// Aligned to the start of each minute, like Cloudflare, and recomputed each time so it does not drift.
	let lastMinute = 0;
	const tick = () => {
		const minute = Math.round(Date.now() / 60_000) * 60_000;
		// A timer that fires a hair early would otherwise fire the same minute twice.
		if (minute !== lastMinute) {
			lastMinute = minute;
			for (const cron of crons) if (cronMatches(cron, new Date(minute))) void fire(cron);
		}
		later(tick, 60_000 - (Date.now() % 60_000));
	};
	const waitForHealth = async () => {
		try {
			const response = await fetch(`${BASE_URL}/healthz`, { signal: AbortSignal.timeout(2_000) });
			await response.body?.cancel();
			if (response.ok) {
				const unsupported = crons.filter((cron) => !isSupported(cron));
				console.log(
					`Cron triggers ${crons.map((cron) => `"${cron}"`).join(", ")} are fired locally by npm start: checked at the start of every minute (UTC), since wrangler dev does not fire them.`,
				);
				if (unsupported.length > 0) console.error(`Not fired locally (unsupported syntax): ${unsupported.join(", ")}`);
				printWelcome();
				later(tick, 60_000 - (Date.now() % 60_000));
				return;
			}
		} catch {
			// Not listening yet.
		}
		later(() => void waitForHealth(), 1_000);
	};
	void waitForHealth();
	return () => {
		stopped = true;
		clearTimeout(timer);
	};
}
