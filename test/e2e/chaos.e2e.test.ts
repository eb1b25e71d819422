/**
 * The chaos run at a small size (scripts/chaos/run.ts; `npm run chaos` is the
 * full one): a `wrangler dev` of its own, next to the suite's shared one, on
 * other ports and its own state; receivers that fail in every common way; a
 * SIGKILL of the worker midway and a restart on the same state; the sweeper
 * fired by hand. Every (event, endpoint) pair must be accounted for.
 *
 * CHAOS_SEED replays a run's random answers; the seed is in the report.
 */

import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runChaos, SMALL_RUN } from "../../scripts/chaos/run";

const root = fileURLToPath(new URL("../..", import.meta.url));

describe("chaos: kill -9 midway through a stream of events to misbehaving receivers", () => {
	it(
		"accounts for every (event, endpoint) pair and passes every check",
		async () => {
			const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
			const report = await runChaos({
				...SMALL_RUN,
				root,
				seed,
				keepState: process.env.E2E_KEEP_STATE === "1",
				log: (line) => {
					if (process.env.E2E_WRANGLER_LOG === "1") process.stderr.write(`${line}\n`);
				},
			});
			console.log(report.text);
			const failed = report.checks.filter((check) => !check.passed).map((check) => `${check.name}: ${check.detail}`);
			expect(failed, report.text).toEqual([]);
		},
		SMALL_RUN.budgetMs + 30_000,
	);
});
