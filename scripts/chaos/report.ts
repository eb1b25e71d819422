/** The chaos run's report as fixed-width text tables. */

import type { ChaosReport } from "./run";

/** A table with a header row and a rule under it; numbers right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly (string | number | null)[])[]): string {
	const cells = rows.map((row) => row.map((cell) => (cell === null ? "–" : String(cell))));
	const widths = header.map((title, column) =>
		Math.max(title.length, ...cells.map((row) => (row[column] ?? "").length)),
	);
	const numeric = header.map((_, column) =>
		rows.every((row) => typeof row[column] === "number" || row[column] === null),
	);
	const line = (row: readonly string[]): string =>
		row
			.map((cell, column) => {
				const width = widths[column] ?? cell.length;
				return numeric[column] ? cell.padStart(width) : cell.padEnd(width);
			})
			.join("  ")
			.trimEnd();
	return [line(header), widths.map((width) => "-".repeat(width)).join("  "), ...cells.map(line)].join("\n");
}

export function renderReport(report: Omit<ChaosReport, "text">): string {
	const parts: string[] = [];
	parts.push(`Chaos run (seed ${report.seed})`, "");
	parts.push(
		table(
			["when", "what"],
			report.timeline.map(([when, what]) => [when, what]),
		),
		"",
	);
	parts.push(
		table(
			[
				"endpoint",
				"behaviour",
				"pairs",
				"delivered",
				"failed",
				"pending",
				"lost",
				"attempts",
				"requests",
				"distinct ids",
				"repeats",
				"after 2xx",
				"circuit",
				"active",
			],
			report.rows.map((row) => [
				row.endpoint,
				row.behaviour,
				row.pairs,
				row.delivered,
				row.failed,
				row.pending,
				row.lost,
				row.attemptsMade,
				row.requests,
				row.distinctIds,
				row.repeats,
				row.afterSuccess,
				row.circuit,
				row.active ? "yes" : "no",
			]),
		),
		"",
	);
	if (report.failureReasons.length > 0) {
		parts.push(
			table(
				["failed pairs by reason", "pairs"],
				report.failureReasons.slice(0, 12).map(([reason, count]) => [reason, count]),
			),
			"",
		);
	}
	parts.push(
		table(
			["check", "result", "detail"],
			report.checks.map((check) => [check.name, check.passed ? "pass" : "FAIL", check.detail]),
		),
		"",
	);
	if (report.lostExamples.length > 0) parts.push("Lost pairs (first 10):", ...report.lostExamples, "");
	parts.push(report.passed ? "All checks passed." : "Some checks FAILED.");
	return parts.join("\n");
}
