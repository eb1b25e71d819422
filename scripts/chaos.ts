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
 */

import { fileURLToPath } from "node:url";
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

try {
	const report = await runChaos({
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
	console.error(`\nchaos run aborted: ${error instanceof Error ? error.message : String(error)}`);
	process.exitCode = 1;
}
