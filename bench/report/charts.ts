import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { BenchResults } from "../lib/results";
import type { QuantilePoint } from "../lib/stats";
import { document, formatMs, line, linearTicks, logTicks, num, PALETTE, polyline, rect, text } from "./svg";

export interface Chart {
	/** Path relative to the repository root. */
	path: string;
	title: string;
}

interface Series {
	label: string;
	quantiles: QuantilePoint[];
}

/** Cumulative distributions of every latency the bench measured, on a log time axis. */
export function latencyChart(results: BenchResults): string {
	const series: Series[] = [];
	const add = (label: string, quantiles: QuantilePoint[] | undefined): void => {
		if (quantiles !== undefined && quantiles.length > 1) series.push({ label, quantiles });
	};
	add("GET /healthz, concurrency 16 (request → response)", results.ingest?.latency_quantiles_ms.noop);
	add("POST /v1/events, concurrency 16 (request → 202)", results.ingest?.latency_quantiles_ms.events);
	const e2e = results.e2e;
	if (e2e !== null) {
		add(`202 → arrival, ${e2e.rate_per_s} events/s, 1 endpoint`, e2e.run.latency_quantiles_ms);
		add(`202 → arrival, ${e2e.low_rate.rate_per_s} events/s, 1 endpoint`, e2e.low_rate.run.latency_quantiles_ms);
	}
	const fan100 = results.fanout.find((level) => level.endpoints === 100);
	if (fan100 !== undefined) {
		add(`202 → arrival, fan-out 100 (${num(fan100.offered_events_per_s)} events/s)`, fan100.run.latency_quantiles_ms);
	}
	const iso = results.isolation;
	if (iso !== null) {
		add(`202 → arrival, fan-out 10 at ${num(iso.offered_events_per_s)} events/s`, iso.baseline.latency_quantiles_ms);
		add("the same, healthy endpoints beside a hanging one", iso.run.latency_quantiles_ms);
	}

	const width = 900;
	const height = 520;
	const left = 70;
	const right = 20;
	const top = 50;
	const bottom = 70 + 18 * Math.ceil(series.length / 2);
	const plotWidth = width - left - right;
	const plotHeight = height - top - bottom;
	const all = series.flatMap((item) => item.quantiles.map((point) => point.ms));
	const floor = 0.1;
	const minX = Math.max(floor, Math.min(...all.filter((value) => value > 0), 1));
	const maxX = Math.max(minX * 10, ...all);
	const lowX = 10 ** Math.floor(Math.log10(minX));
	const highX = 10 ** Math.ceil(Math.log10(maxX));
	const x = (value: number): number =>
		left +
		((Math.log10(Math.max(value, lowX)) - Math.log10(lowX)) / (Math.log10(highX) - Math.log10(lowX))) * plotWidth;
	// Tail-stretching axis: equal steps for p0→p90, p90→p99, p99→p99.9; the maximum sits one step above p99.9.
	const tail = (q: number): number => (q >= 1 ? 3.4 : Math.min(3, -Math.log10(1 - q)));
	const y = (q: number): number => top + (1 - tail(q) / 3.4) * plotHeight;

	const body: string[] = [
		text(width / 2, 24, "Latency distribution (log time axis; percentile axis stretched towards the tail)", {
			anchor: "middle",
			size: 15,
			weight: "bold",
		}),
	];
	for (const tick of logTicks(lowX, highX)) {
		body.push(line(x(tick), top, x(tick), top + plotHeight, "#e5e5e5"));
		body.push(text(x(tick), top + plotHeight + 16, formatMs(tick), { anchor: "middle", size: 11, fill: "#555" }));
	}
	const quantileTicks: [number, string][] = [
		[0, "p0"],
		[0.5, "p50"],
		[0.75, "p75"],
		[0.9, "p90"],
		[0.99, "p99"],
		[0.999, "p99.9"],
		[1, "max"],
	];
	for (const [quantile, label] of quantileTicks) {
		const dashed = quantile === 0.5 || quantile === 0.99;
		body.push(
			line(
				left,
				y(quantile),
				left + plotWidth,
				y(quantile),
				dashed ? "#999" : "#eeeeee",
				1,
				dashed ? "4 3" : undefined,
			),
		);
		body.push(text(left - 6, y(quantile) + 4, label, { anchor: "end", size: 11, fill: "#555" }));
	}
	body.push(line(left, top + plotHeight, left + plotWidth, top + plotHeight, "#333"));
	body.push(line(left, top, left, top + plotHeight, "#333"));
	body.push(text(left + plotWidth / 2, top + plotHeight + 36, "latency", { anchor: "middle", size: 12 }));
	series.forEach((item, index) => {
		const color = PALETTE[index % PALETTE.length] ?? "#000";
		const points = item.quantiles.map((point): [number, number] => [x(point.ms), y(point.q)]);
		body.push(polyline(points, color, 2));
		const legendX = left + (index % 2) * (plotWidth / 2);
		const legendY = top + plotHeight + 58 + Math.floor(index / 2) * 18;
		body.push(line(legendX, legendY - 4, legendX + 22, legendY - 4, color, 3));
		body.push(text(legendX + 28, legendY, item.label, { size: 11 }));
	});
	body.push(
		text(
			width - right,
			height - 8,
			`values below ${lowX} ms (arrivals before the 202 reached the sender) are drawn at ${lowX} ms`,
			{
				anchor: "end",
				size: 10,
				fill: "#777",
			},
		),
	);
	return document(width, height, "Edgehook latency distribution", body);
}

/** Delivered against offered deliveries/s per fan-out level, and each level's backlog over time. */
export function fanoutChart(results: BenchResults): string {
	const width = 900;
	const height = 420;
	const top = 60;
	const bottom = 70;
	const plotHeight = height - top - bottom;
	const body: string[] = [
		text(width / 2, 24, "Fan-out throughput (local wrangler dev)", { anchor: "middle", size: 16, weight: "bold" }),
	];

	// Left: bars.
	const left = 70;
	const barsWidth = 400;
	const levels = results.fanout;
	const target = 1000;
	const maxY = Math.max(
		target * 1.15,
		...levels.map((level) => level.run.offered_deliveries_per_s ?? 0),
		...levels.map((level) => level.deliveries_per_s ?? 0),
	);
	const ticks = linearTicks(maxY);
	const topTick = ticks[ticks.length - 1] ?? maxY;
	const yBar = (value: number): number => top + plotHeight - (value / topTick) * plotHeight;
	for (const tick of ticks) {
		body.push(line(left, yBar(tick), left + barsWidth, yBar(tick), "#eeeeee"));
		body.push(text(left - 6, yBar(tick) + 4, num(tick), { anchor: "end", size: 11, fill: "#555" }));
	}
	body.push(text(18, top + plotHeight / 2, "deliveries per second", { anchor: "middle", size: 12, rotate: -90 }));
	const group = levels.length > 0 ? barsWidth / levels.length : barsWidth;
	levels.forEach((level, index) => {
		const center = left + group * index + group / 2;
		const barWidth = Math.min(48, group / 3);
		const offered = level.run.offered_deliveries_per_s ?? 0;
		const achieved = level.deliveries_per_s ?? 0;
		body.push(
			rect(
				center - barWidth,
				yBar(offered),
				barWidth,
				top + plotHeight - yBar(offered),
				"#c6dbef",
				`offered ${num(offered)}/s`,
			),
		);
		body.push(
			rect(
				center,
				yBar(achieved),
				barWidth,
				top + plotHeight - yBar(achieved),
				"#1f77b4",
				`delivered ${num(achieved)}/s`,
			),
		);
		body.push(
			text(center - barWidth / 2, yBar(offered) - 4, String(Math.round(offered)), {
				anchor: "middle",
				size: 10,
				fill: "#555",
			}),
		);
		body.push(
			text(center + barWidth / 2, yBar(achieved) - 4, String(Math.round(achieved)), {
				anchor: "middle",
				size: 10,
				weight: "bold",
			}),
		);
		body.push(
			text(center, top + plotHeight + 16, `${level.endpoints} endpoint${level.endpoints === 1 ? "" : "s"}`, {
				anchor: "middle",
				size: 12,
			}),
		);
		body.push(
			text(center, top + plotHeight + 32, level.backlog_growing ? "backlog growing" : "backlog steady", {
				anchor: "middle",
				size: 11,
				fill: level.backlog_growing ? "#d62728" : "#2ca02c",
			}),
		);
	});
	body.push(line(left, yBar(target), left + barsWidth, yBar(target), "#d62728", 1.5, "6 4"));
	body.push(
		text(left + 4, yBar(target) - 5, "target at fan-out 100: 1,000/s", {
			anchor: "start",
			size: 10,
			fill: "#d62728",
		}),
	);
	body.push(line(left, top, left, top + plotHeight, "#333"));
	body.push(line(left, top + plotHeight, left + barsWidth, top + plotHeight, "#333"));
	body.push(rect(left, height - 22, 12, 10, "#c6dbef"));
	body.push(text(left + 16, height - 13, "offered", { size: 11 }));
	body.push(rect(left + 80, height - 22, 12, 10, "#1f77b4"));
	body.push(text(left + 96, height - 13, "delivered (between warm-up and last send)", { size: 11 }));

	// Right: backlog over time.
	const left2 = 560;
	const width2 = width - left2 - 20;
	const maxT = Math.max(1, ...levels.flatMap((level) => level.run.backlog_samples.map((point) => point.t_ms / 1000)));
	const maxBacklog = Math.max(
		10,
		...levels.flatMap((level) => level.run.backlog_samples.map((point) => point.backlog)),
	);
	const backlogTicks = linearTicks(maxBacklog, 4);
	const topBacklog = backlogTicks[backlogTicks.length - 1] ?? maxBacklog;
	const timeTicks = linearTicks(maxT, 5);
	const topTime = timeTicks[timeTicks.length - 1] ?? maxT;
	const xt = (seconds: number): number => left2 + (seconds / topTime) * width2;
	const yb = (value: number): number => top + plotHeight - (Math.max(0, value) / topBacklog) * plotHeight;
	body.push(text(left2 + width2 / 2, top - 14, "backlog (deliveries not yet arrived)", { anchor: "middle", size: 12 }));
	for (const tick of backlogTicks) {
		body.push(line(left2, yb(tick), left2 + width2, yb(tick), "#eeeeee"));
		body.push(text(left2 - 6, yb(tick) + 4, num(tick), { anchor: "end", size: 11, fill: "#555" }));
	}
	for (const tick of timeTicks) {
		body.push(text(xt(tick), top + plotHeight + 16, `${num(tick)} s`, { anchor: "middle", size: 11, fill: "#555" }));
	}
	body.push(line(left2, top, left2, top + plotHeight, "#333"));
	body.push(line(left2, top + plotHeight, left2 + width2, top + plotHeight, "#333"));
	levels.forEach((level, index) => {
		const color = PALETTE[index % PALETTE.length] ?? "#000";
		body.push(
			polyline(
				level.run.backlog_samples.map((point): [number, number] => [xt(point.t_ms / 1000), yb(point.backlog)]),
				color,
				2,
			),
		);
		body.push(line(left2 + index * 100, height - 17, left2 + index * 100 + 20, height - 17, color, 3));
		body.push(text(left2 + index * 100 + 26, height - 13, `fan-out ${level.endpoints}`, { size: 11 }));
	});
	body.push(
		text(left2 + width2 / 2, top + plotHeight + 34, "time since the first event", { anchor: "middle", size: 11 }),
	);
	return document(width, height, "Edgehook fan-out throughput", body);
}

export async function writeCharts(root: string, results: BenchResults): Promise<Chart[]> {
	const charts: Array<Chart & { svg: string }> = [
		{ path: "docs/bench-latency.svg", title: "Latency distribution", svg: latencyChart(results) },
		{ path: "docs/bench-fanout.svg", title: "Throughput against fan-out", svg: fanoutChart(results) },
	];
	for (const chart of charts) await writeFile(join(root, chart.path), chart.svg);
	return charts.map(({ path, title }) => ({ path, title }));
}
