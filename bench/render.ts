/**
 * Redraws docs/BENCHMARKS.md and the charts from bench/results/latest.json
 * without measuring again (after a change to the report code):
 * `npx tsx bench/render.ts`. The target checks are re-evaluated; the
 * measurements are left as they are.
 */
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchResults } from "./lib/results";
import { evaluateTargets } from "./lib/targets";
import { writeCharts } from "./report/charts";
import { writeMarkdown } from "./report/markdown";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

async function main(): Promise<void> {
	const path = join(ROOT, "bench", "results", "latest.json");
	const results = JSON.parse(await readFile(path, "utf8")) as BenchResults;
	// Results written before the ordered, dead-endpoint and shards scenarios existed lack their fields.
	results.ordered ??= null;
	results.dead_endpoint ??= null;
	results.shards ??= null;
	results.targets = evaluateTargets(results);
	await writeFile(path, `${JSON.stringify(results, null, "\t")}\n`);
	const charts = await writeCharts(ROOT, results);
	const markdown = await writeMarkdown(ROOT, results, charts);
	process.stdout.write(`wrote ${markdown} and ${charts.map((chart) => chart.path).join(", ")}\n`);
}

main().catch((error: unknown) => {
	process.stderr.write(`render failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
	process.exit(1);
});
