import { describe, expect, it } from "vitest";
import {
	barLayout,
	type ChartBucket,
	ChartTable,
	DeliveryChart,
	formatMs,
	LatencyChart,
	labelledBuckets,
	latencyMax,
	latencySegments,
	niceMax,
} from "../../src/dashboard/chart";

const HOUR = 60 * 60 * 1000;

function bucket(
	start: number,
	succeeded: number,
	failed: number,
	p50: number | null = null,
	p95: number | null = null,
) {
	return { start: new Date(start).toISOString(), succeeded, failed, p50_ms: p50, p95_ms: p95 } satisfies ChartBucket;
}

/** `count` buckets `size` apart from `from`, all empty. */
function emptyBuckets(from: number, count: number, size: number): ChartBucket[] {
	return Array.from({ length: count }, (_, index) => bucket(from + index * size, 0, 0));
}

/** hono/jsx renders a node with toString(), a promise when something in it is async. */
async function html(node: { toString(): string | Promise<string> }): Promise<string> {
	return await node.toString();
}

function tags(markup: string, name: string): string[] {
	return markup.match(new RegExp(`<${name}\\b[^>]*>`, "g")) ?? [];
}

function attribute(tag: string, name: string): string | undefined {
	return tag.match(new RegExp(`\\s${name}="([^"]*)"`))?.[1];
}

const T0 = Date.parse("2026-05-01T12:00:00Z");
/** Four hourly buckets: 2 successes; 1 and 1; none; 4 and 1. The tallest bar (5) fills the plot. */
const KNOWN = [bucket(T0, 2, 0), bucket(T0 + HOUR, 1, 1), bucket(T0 + 2 * HOUR, 0, 0), bucket(T0 + 3 * HOUR, 4, 1)];

describe("niceMax", () => {
	it("rounds a scale's top up to 1, 2 or 5 times a power of ten", () => {
		expect([0, 1, 3, 5, 7, 11, 120, 0.3].map(niceMax)).toEqual([1, 1, 5, 5, 10, 20, 200, 0.5]);
	});
});

describe("barLayout", () => {
	// Plot: x from 56 to 708 (652 wide), y from 12 down to 176 (164 high); 4 slots of 163, bars 70 % of a slot.
	it("places stacked bars for known buckets", () => {
		const { max, bars } = barLayout(KNOWN);
		expect(max).toBe(5);
		expect(bars.map((bar) => bar.x)).toEqual([80.45, 243.45, 406.45, 569.45]);
		expect(bars.every((bar) => bar.width === 114.1)).toBe(true);
		expect(bars[0]?.success).toEqual({ y: 110.4, height: 65.6 });
		expect(bars[0]?.failure).toEqual({ y: 110.4, height: 0 });
		expect(bars[1]?.success).toEqual({ y: 143.2, height: 32.8 });
		expect(bars[1]?.failure).toEqual({ y: 110.4, height: 32.8 });
		expect(bars[2]?.success.height).toBe(0);
		expect(bars[3]?.success).toEqual({ y: 44.8, height: 131.2 });
		// The tallest bar reaches the top of the plot exactly.
		expect(bars[3]?.failure).toEqual({ y: 12, height: 32.8 });
	});
});

describe("DeliveryChart", () => {
	it("draws one rect per non-empty part of a bar, with the layout's geometry", async () => {
		const svg = await html(DeliveryChart({ buckets: KNOWN, window: "24h" }));
		const rects = tags(svg, "rect");
		expect(rects).toHaveLength(5);
		const successes = rects.filter((rect) => attribute(rect, "class") === "bar-success");
		const failures = rects.filter((rect) => attribute(rect, "class") === "bar-failure");
		expect(successes.map((rect) => [attribute(rect, "x"), attribute(rect, "y"), attribute(rect, "height")])).toEqual([
			["80.45", "110.4", "65.6"],
			["243.45", "143.2", "32.8"],
			["569.45", "44.8", "131.2"],
		]);
		expect(failures.map((rect) => [attribute(rect, "x"), attribute(rect, "y"), attribute(rect, "height")])).toEqual([
			["243.45", "110.4", "32.8"],
			["569.45", "12", "32.8"],
		]);
		expect(svg).not.toContain("No deliveries in this window");
	});

	it("is an image whose accessible name sums the figures", async () => {
		const svg = await html(DeliveryChart({ buckets: KNOWN, window: "24h" }));
		const root = tags(svg, "svg")[0] ?? "";
		expect(attribute(root, "role")).toBe("img");
		expect(attribute(root, "aria-label")).toBe(
			"Deliveries per hour over the last 24 hours: 7 succeeded, 2 failed. Busiest hour: from 15:00 UTC, 5.",
		);
	});

	it("labels the count axis with whole numbers only", async () => {
		const svg = await html(DeliveryChart({ buckets: KNOWN, window: "24h" }));
		const axisLabels = tags(svg, "text")
			.filter((text) => attribute(text, "text-anchor") === "end")
			.map((text) => attribute(text, "y"));
		// 0 and 5 at the bottom and the top; no line for 2.5.
		expect(axisLabels).toEqual(["180", "16"]);
		expect(svg).toMatch(/text-anchor="end">0<\/text>/);
		expect(svg).toMatch(/text-anchor="end">5<\/text>/);
		expect(svg).not.toContain("2.5");
	});

	it("says so when the window is empty, and draws no bars", async () => {
		for (const buckets of [[], emptyBuckets(T0, 24, HOUR)]) {
			const svg = await html(DeliveryChart({ buckets, window: "24h" }));
			expect(tags(svg, "rect")).toHaveLength(0);
			expect(svg).toContain("No deliveries in this window");
			expect(attribute(tags(svg, "svg")[0] ?? "", "aria-label")).toBe("No finished deliveries over the last 24 hours.");
		}
	});

	it("labels every fourth hour over 24 h and each UTC midnight over 7 days", async () => {
		const day = emptyBuckets(T0, 24, HOUR);
		expect(labelledBuckets(day, "24h")).toEqual([0, 4, 8, 12, 16, 20]);
		const daySvg = await html(DeliveryChart({ buckets: day, window: "24h" }));
		const dayLabels = [...daySvg.matchAll(/class="tick-x"[^>]*>([^<]*)<\/text>/g)].map((match) => match[1]);
		expect(dayLabels).toEqual(["12:00", "16:00", "20:00", "00:00", "04:00", "08:00"]);

		const week = emptyBuckets(Date.parse("2026-04-24T06:00:00Z"), 28, 6 * HOUR);
		const weekSvg = await html(DeliveryChart({ buckets: week, window: "7d" }));
		const weekLabels = [...weekSvg.matchAll(/class="tick-x"[^>]*>([^<]*)<\/text>/g)].map((match) => match[1]);
		expect(weekLabels).toEqual(["04-25", "04-26", "04-27", "04-28", "04-29", "04-30", "05-01"]);
	});
});

describe("latency", () => {
	const buckets = [
		bucket(T0, 1, 0, 100, 300),
		bucket(T0 + HOUR, 1, 0, 200, 900),
		bucket(T0 + 2 * HOUR, 0, 0, null, null),
		bucket(T0 + 3 * HOUR, 1, 0, 50, 1500),
	];

	it("scales to the slowest p95 and breaks the line where a bucket had no attempt", () => {
		expect(latencyMax(buckets)).toBe(2000);
		const p95 = latencySegments(buckets, (entry) => entry.p95_ms, 2000);
		expect(p95).toEqual([
			[
				{ x: 137.5, y: 151.4 },
				{ x: 300.5, y: 102.2 },
			],
			[{ x: 626.5, y: 53 }],
		]);
	});

	it("draws a polyline per run and a dot for a lone bucket", async () => {
		const svg = await html(LatencyChart({ buckets, window: "24h" }));
		expect(tags(svg, "polyline").map((line) => attribute(line, "points"))).toEqual([
			"137.5,151.4 300.5,102.2",
			"137.5,167.8 300.5,159.6",
		]);
		expect(tags(svg, "circle").map((dot) => [attribute(dot, "cx"), attribute(dot, "cy")])).toEqual([
			["626.5", "53"],
			["626.5", "171.9"],
		]);
		expect(svg).toContain(">2 s</text>");
		expect(svg).toContain(">1 s</text>");
		expect(attribute(tags(svg, "svg")[0] ?? "", "aria-label")).toBe(
			"Attempt latency per hour over the last 24 hours: median (p50) from 50 ms to 200 ms, p95 up to 1.5 s.",
		);
	});

	it("has a message and no lines without attempts", async () => {
		const svg = await html(LatencyChart({ buckets: emptyBuckets(T0, 24, HOUR), window: "24h" }));
		expect(tags(svg, "polyline")).toHaveLength(0);
		expect(tags(svg, "circle")).toHaveLength(0);
		expect(svg).toContain("No attempts in this window");
		// No made-up scale: the baseline alone, labelled 0 ms.
		expect(tags(svg, "text").filter((text) => attribute(text, "class") === "tick-y")).toHaveLength(1);
		expect(svg).toContain(">0 ms</text>");
		expect(svg).not.toContain(">1 ms</text>");
	});

	it("labels a scale under a millisecond with tenths, not three roundings to the same label", async () => {
		const buckets = emptyBuckets(T0, 24, HOUR).map((bucket, index) =>
			index === 3 ? { ...bucket, succeeded: 1, p50_ms: 0.3, p95_ms: 0.4 } : bucket,
		);
		const svg = await html(LatencyChart({ buckets, window: "24h" }));
		for (const label of [">0 ms</text>", ">0.3 ms</text>", ">0.5 ms</text>"]) expect(svg).toContain(label);
	});

	it("formats durations", () => {
		expect([0, 0.25, 4.56, 12.4, 999, 1000, 1500, 62_345].map(formatMs)).toEqual([
			"0 ms",
			"0.3 ms",
			"4.6 ms",
			"12 ms",
			"999 ms",
			"1 s",
			"1.5 s",
			"62.35 s",
		]);
	});
});

describe("ChartTable", () => {
	it("gives every bucket's figures in a table with headers", async () => {
		const table = await html(ChartTable({ buckets: KNOWN.slice(0, 2), window: "24h" }));
		expect(tags(table, "th").filter((th) => attribute(th, "scope") === "col")).toHaveLength(5);
		const rows = [...table.matchAll(/<tr><th scope="row">([^<]*)<\/th>((?:<td>[^<]*<\/td>)*)<\/tr>/g)].map((match) => [
			match[1],
			[...(match[2] ?? "").matchAll(/<td>([^<]*)<\/td>/g)].map((cell) => cell[1]),
		]);
		expect(rows).toEqual([
			["12:00", ["2", "0", "–", "–"]],
			["13:00", ["1", "1", "–", "–"]],
		]);
	});
});
