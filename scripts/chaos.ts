/**
 * `npm run chaos`: the real worker under `wrangler dev`, receivers on
 * 127.0.0.1 that fail in every common way, a few thousand events, a SIGKILL
 * midway; then every (event, endpoint) pair is accounted for and the checks
 * are printed as a table. Exits non-zero when a check fails.
 *
 * `npm run chaos -- --small`: the e2e suite's size (300 events, under 3 minutes).
 * CHAOS_EVENTS, CHAOS_SEED: override the number of events and the seed.
 * CHAOS_KILL_AT: the share of events accepted before the SIGKILL (default 0.5).
 * CHAOS_KEEP_STATE=1: keep the temporary directory (state, wrangler.log).
 *
 * `npm run chaos -- --flood`: batch ingest at a high rate, a SIGKILL when it
 * stops, and the time until every accepted event has arrived (scripts/chaos/flood.ts).
 * CHAOS_FLOOD_RATE (events/s offered, default 4000), CHAOS_FLOOD_SECONDS
 * (default 20), CHAOS_FLOOD_ENDPOINTS (default 2), CHAOS_FLOOD_IN_FLIGHT (batch
 * POSTs at once, default 12), CHAOS_FLOOD_GIVE_UP_MINUTES (default 15).
 */

import { fileURLToPath } from "node:url";
import { FLOOD_DEFAULTS, runFlood } from "./chaos/flood";
import { FULL_RUN, runChaos, SMALL_RUN } from "./chaos/run";
import { killLiveGroups } from "./chaos/worker";

const root = fileURLToPath(new URL("..", import.meta.url));
const size = process.argv.includes("--small") ? SMALL_RUN : FULL_RUN;
const events = Number(process.env.CHAOS_EVENTS ?? size.events);
const killAt = Number(process.env.CHAOS_KILL_AT ?? size.killAtFraction);
const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));

// wrangler runs in a process group of its own, which Ctrl-C does not reach.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
	process.once(signal, () => {
		killLiveGroups();
		console.error(`\nchaos run interrupted (${signal}); wrangler stopped, its temporary directory is left in place`);
		process.exit(130);
	});
}

/** A positive number from the environment, or the default when unset or not one. */
function positive(name: string, fallback: number): number {
	const value = Number(process.env[name] ?? "");
	return process.env[name] !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

const flood = process.argv.includes("--flood");

try {
	const report = flood
		? await runFlood({
				root,
				rate: positive("CHAOS_FLOOD_RATE", FLOOD_DEFAULTS.rate),
				sendSeconds: positive("CHAOS_FLOOD_SECONDS", FLOOD_DEFAULTS.sendSeconds),
				endpoints: Math.round(positive("CHAOS_FLOOD_ENDPOINTS", FLOOD_DEFAULTS.endpoints)),
				inFlight: Math.round(positive("CHAOS_FLOOD_IN_FLIGHT", FLOOD_DEFAULTS.inFlight)),
				giveUpMs: positive("CHAOS_FLOOD_GIVE_UP_MINUTES", FLOOD_DEFAULTS.giveUpMs / 60_000) * 60_000,
				keepState: process.env.CHAOS_KEEP_STATE === "1",
				log: (line) => console.log(line),
			})
		: await runChaos({
				...size,
				root,
				events: Number.isInteger(events) && events > 0 ? events : size.events,
				killAtFraction: killAt > 0 && killAt < 1 ? killAt : size.killAtFraction,
				seed: Number.isInteger(seed) ? seed : 1,
				keepState: process.env.CHAOS_KEEP_STATE === "1",
				log: (line) => console.log(line),
			});
	console.log(`\n${report.text}`);
	process.exitCode = report.passed ? 0 : 1;
} catch (error) {
	console.error(
		`\n${flood ? "flood" : "chaos"} run aborted: ${error instanceof Error ? error.message : String(error)}`,
	);
	process.exitCode = 1;
}
