/*
 * Server-rendered SVG charts of an endpoint's statistics: no library and no
 * script, so they work offline and under the dashboard's CSP. Colours come
 * from classes in assets.ts (inline styles are blocked). The geometry is
 * computed by plain functions so it can be tested without rendering.
 */

/** One bucket of GET /v1/webhooks/{id}/stats. */
export interface ChartBucket {
	start: string;
	succeeded: number;
	failed: number;
	p50_ms: number | null;
	p95_ms: number | null;
}

export type ChartWindow = "24h" | "7d";

export const CHART_WIDTH = 720;
export const CHART_HEIGHT = 200;
/** Room for the y axis labels on the left and the time labels below. */
export const MARGIN = { top: 12, right: 12, bottom: 24, left: 56 } as const;
const PLOT_WIDTH = CHART_WIDTH - MARGIN.left - MARGIN.right;
const PLOT_HEIGHT = CHART_HEIGHT - MARGIN.top - MARGIN.bottom;
const PLOT_BOTTOM = MARGIN.top + PLOT_HEIGHT;
/** The share of a bucket's slot its bar takes; the rest separates the bars. */
const BAR_SHARE = 0.7;

/** Two decimals are finer than a pixel and keep the markup short and stable. */
function round(value: number): number {
	return Math.round(value * 100) / 100;
}

/** The smallest 1, 2 or 5 times a power of ten at or above `value`: a scale top people read at a glance. */
export function niceMax(value: number): number {
	if (!(value > 0)) return 1;
	const power = 10 ** Math.floor(Math.log10(value));
	for (const step of [1, 2, 5, 10]) {
		if (step * power >= value) return step * power;
	}
	return 10 * power;
}

export interface BarLayout {
	index: number;
	start: string;
	x: number;
	width: number;
	/** The successes, from the axis up. */
	success: { y: number; height: number };
	/** The failures, stacked on the successes. */
	failure: { y: number; height: number };
}

/** Where each bucket's stacked bar goes, and the scale's top. */
export function barLayout(buckets: readonly ChartBucket[]): { max: number; bars: BarLayout[] } {
	const max = niceMax(Math.max(0, ...buckets.map((bucket) => bucket.succeeded + bucket.failed)));
	const slot = buckets.length === 0 ? PLOT_WIDTH : PLOT_WIDTH / buckets.length;
	const width = slot * BAR_SHARE;
	const bars = buckets.map((bucket, index) => {
		const successHeight = (bucket.succeeded / max) * PLOT_HEIGHT;
		const failureHeight = (bucket.failed / max) * PLOT_HEIGHT;
		return {
			index,
			start: bucket.start,
			x: round(MARGIN.left + index * slot + (slot - width) / 2),
			width: round(width),
			success: { y: round(PLOT_BOTTOM - successHeight), height: round(successHeight) },
			failure: { y: round(PLOT_BOTTOM - successHeight - failureHeight), height: round(failureHeight) },
		};
	});
	return { max, bars };
}

/** Points of one latency series; a bucket without attempts breaks the line. */
export function latencySegments(
	buckets: readonly ChartBucket[],
	pick: (bucket: ChartBucket) => number | null,
	max: number,
): { x: number; y: number }[][] {
	const slot = buckets.length === 0 ? PLOT_WIDTH : PLOT_WIDTH / buckets.length;
	const segments: { x: number; y: number }[][] = [];
	let current: { x: number; y: number }[] = [];
	buckets.forEach((bucket, index) => {
		const value = pick(bucket);
		if (value === null) {
			if (current.length > 0) segments.push(current);
			current = [];
			return;
		}
		current.push({
			x: round(MARGIN.left + index * slot + slot / 2),
			y: round(PLOT_BOTTOM - (Math.min(value, max) / max) * PLOT_HEIGHT),
		});
	});
	if (current.length > 0) segments.push(current);
	return segments;
}

export function latencyMax(buckets: readonly ChartBucket[]): number {
	return niceMax(Math.max(0, ...buckets.flatMap((bucket) => [bucket.p50_ms ?? 0, bucket.p95_ms ?? 0])));
}

export function formatMs(ms: number): string {
	if (ms >= 1000) return `${round(ms / 1000)} s`;
	// Below 10 ms a tenth shows, so a small scale's ticks do not all round to the same label.
	return ms < 10 ? `${Math.round(ms * 10) / 10} ms` : `${Math.round(ms)} ms`;
}

/** A bucket's start in UTC, as its axis label and table row say it. */
export function bucketLabel(start: string, window: ChartWindow): string {
	const iso = new Date(start).toISOString();
	return window === "24h" ? iso.slice(11, 16) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

/** Which buckets get a time label: every fourth hour over 24 h, each midnight (UTC) over 7 days. */
export function labelledBuckets(buckets: readonly ChartBucket[], window: ChartWindow): number[] {
	const picked: number[] = [];
	buckets.forEach((bucket, index) => {
		const hour = new Date(bucket.start).getUTCHours();
		if (window === "24h" ? hour % 4 === 0 : hour === 0) picked.push(index);
	});
	return picked;
}

function axisLabel(start: string, window: ChartWindow): string {
	const iso = new Date(start).toISOString();
	return window === "24h" ? iso.slice(11, 16) : iso.slice(5, 10);
}

const WINDOW_WORDS: Record<ChartWindow, { span: string; bucket: string }> = {
	"24h": { span: "the last 24 hours", bucket: "hour" },
	"7d": { span: "the last 7 days", bucket: "6 hours" },
};

function Axes(props: {
	buckets: readonly ChartBucket[];
	window: ChartWindow;
	max: number;
	format: (value: number) => string;
	whole: boolean;
	/** Nothing to measure: only the baseline, since a scale of nothing would be made up. */
	empty?: boolean;
}) {
	const slot = props.buckets.length === 0 ? PLOT_WIDTH : PLOT_WIDTH / props.buckets.length;
	// A count's scale has no half deliveries: a top of 1 or 5 gets no middle line.
	const ticks = props.empty
		? [0]
		: [0, props.max / 2, props.max].filter((tick) => !props.whole || Number.isInteger(tick));
	return (
		<g class="axes">
			{ticks.map((tick) => {
				const y = round(PLOT_BOTTOM - (tick / props.max) * PLOT_HEIGHT);
				return (
					<>
						<line class="grid" x1={MARGIN.left} x2={CHART_WIDTH - MARGIN.right} y1={y} y2={y} />
						<text class="tick-y" x={MARGIN.left - 6} y={y + 4} text-anchor="end">
							{props.format(tick)}
						</text>
					</>
				);
			})}
			{labelledBuckets(props.buckets, props.window).map((index) => {
				const bucket = props.buckets[index];
				if (!bucket) return null;
				return (
					<text
						class="tick-x"
						x={round(MARGIN.left + index * slot + slot / 2)}
						y={CHART_HEIGHT - 6}
						text-anchor="middle"
					>
						{axisLabel(bucket.start, props.window)}
					</text>
				);
			})}
		</g>
	);
}

function countLabel(value: number): string {
	return String(value);
}

export function deliverySummary(buckets: readonly ChartBucket[], window: ChartWindow): string {
	const succeeded = buckets.reduce((sum, bucket) => sum + bucket.succeeded, 0);
	const failed = buckets.reduce((sum, bucket) => sum + bucket.failed, 0);
	const words = WINDOW_WORDS[window];
	if (succeeded + failed === 0) return `No finished deliveries over ${words.span}.`;
	let busiest: ChartBucket | undefined;
	for (const bucket of buckets) {
		if (!busiest || bucket.succeeded + bucket.failed > busiest.succeeded + busiest.failed) busiest = bucket;
	}
	const peak = busiest
		? ` Busiest ${words.bucket}: from ${bucketLabel(busiest.start, window)} UTC, ${busiest.succeeded + busiest.failed}.`
		: "";
	return `Deliveries per ${words.bucket} over ${words.span}: ${succeeded} succeeded, ${failed} failed.${peak}`;
}

export function latencySummary(buckets: readonly ChartBucket[], window: ChartWindow): string {
	const p50 = buckets.flatMap((bucket) => (bucket.p50_ms === null ? [] : [bucket.p50_ms]));
	const p95 = buckets.flatMap((bucket) => (bucket.p95_ms === null ? [] : [bucket.p95_ms]));
	const words = WINDOW_WORDS[window];
	if (p50.length === 0) return `No attempts over ${words.span}, so no latency.`;
	return `Attempt latency per ${words.bucket} over ${words.span}: median (p50) from ${formatMs(Math.min(...p50))} to ${formatMs(Math.max(...p50))}, p95 up to ${formatMs(Math.max(...p95, ...p50))}.`;
}

/** Successes and failures per bucket, stacked. */
export function DeliveryChart(props: { buckets: readonly ChartBucket[]; window: ChartWindow }) {
	const { max, bars } = barLayout(props.buckets);
	const empty = bars.every((bar) => bar.success.height === 0 && bar.failure.height === 0);
	return (
		<svg
			class="chart"
			viewBox={`0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`}
			role="img"
			aria-label={deliverySummary(props.buckets, props.window)}
			xmlns="http://www.w3.org/2000/svg"
		>
			<Axes buckets={props.buckets} window={props.window} max={max} format={countLabel} whole />
			<g class="bars">
				{bars.map((bar) => (
					<>
						{bar.success.height > 0 ? (
							<rect
								class="bar-success"
								x={bar.x}
								y={bar.success.y}
								width={bar.width}
								height={bar.success.height}
								data-bucket={bar.start}
							/>
						) : null}
						{bar.failure.height > 0 ? (
							<rect
								class="bar-failure"
								x={bar.x}
								y={bar.failure.y}
								width={bar.width}
								height={bar.failure.height}
								data-bucket={bar.start}
							/>
						) : null}
					</>
				))}
			</g>
			{empty ? (
				<text
					class="chart-empty"
					x={MARGIN.left + PLOT_WIDTH / 2}
					y={MARGIN.top + PLOT_HEIGHT / 2}
					text-anchor="middle"
				>
					No deliveries in this window
				</text>
			) : null}
		</svg>
	);
}

function pointsOf(segment: readonly { x: number; y: number }[]): string {
	return segment.map((point) => `${point.x},${point.y}`).join(" ");
}

function Series(props: { segments: { x: number; y: number }[][]; kind: "p50" | "p95" }) {
	return (
		<g class={`series-${props.kind}`}>
			{props.segments.map((segment) =>
				segment.length === 1 && segment[0] ? (
					<circle cx={segment[0].x} cy={segment[0].y} r={3} />
				) : (
					<polyline points={pointsOf(segment)} />
				),
			)}
		</g>
	);
}

/** Median and p95 duration of the attempts per bucket. */
export function LatencyChart(props: { buckets: readonly ChartBucket[]; window: ChartWindow }) {
	const max = latencyMax(props.buckets);
	const p50 = latencySegments(props.buckets, (bucket) => bucket.p50_ms, max);
	const p95 = latencySegments(props.buckets, (bucket) => bucket.p95_ms, max);
	const empty = p50.length === 0 && p95.length === 0;
	return (
		<svg
			class="chart"
			viewBox={`0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`}
			role="img"
			aria-label={latencySummary(props.buckets, props.window)}
			xmlns="http://www.w3.org/2000/svg"
		>
			<Axes buckets={props.buckets} window={props.window} max={max} format={formatMs} whole={false} empty={empty} />
			<Series segments={p95} kind="p95" />
			<Series segments={p50} kind="p50" />
			{empty ? (
				<text
					class="chart-empty"
					x={MARGIN.left + PLOT_WIDTH / 2}
					y={MARGIN.top + PLOT_HEIGHT / 2}
					text-anchor="middle"
				>
					No attempts in this window
				</text>
			) : null}
		</svg>
	);
}

/** The charts' figures as a table, for screen readers and anyone who wants the numbers. */
export function ChartTable(props: { buckets: readonly ChartBucket[]; window: ChartWindow }) {
	return (
		<details>
			<summary>The figures as a table</summary>
			<table>
				<caption class="sr-only">{`Deliveries and latency per ${WINDOW_WORDS[props.window].bucket}`}</caption>
				<thead>
					<tr>
						<th scope="col">From (UTC)</th>
						<th scope="col">Succeeded</th>
						<th scope="col">Failed</th>
						<th scope="col">p50</th>
						<th scope="col">p95</th>
					</tr>
				</thead>
				<tbody>
					{props.buckets.map((bucket) => (
						<tr>
							<th scope="row">{bucketLabel(bucket.start, props.window)}</th>
							<td>{bucket.succeeded}</td>
							<td>{bucket.failed}</td>
							<td>{bucket.p50_ms === null ? "–" : formatMs(bucket.p50_ms)}</td>
							<td>{bucket.p95_ms === null ? "–" : formatMs(bucket.p95_ms)}</td>
						</tr>
					))}
				</tbody>
			</table>
		</details>
	);
}

/** Both charts with their legends and the table. */
export function StatsCharts(props: { buckets: readonly ChartBucket[]; window: ChartWindow }) {
	return (
		<div class="charts">
			<figure>
				<figcaption>
					Deliveries <span class="legend legend-success">succeeded</span>{" "}
					<span class="legend legend-failure">failed</span>
				</figcaption>
				<DeliveryChart buckets={props.buckets} window={props.window} />
			</figure>
			<figure>
				<figcaption>
					Attempt latency <span class="legend legend-p50">p50</span> <span class="legend legend-p95">p95</span>
				</figcaption>
				<LatencyChart buckets={props.buckets} window={props.window} />
			</figure>
			<ChartTable buckets={props.buckets} window={props.window} />
		</div>
	);
}
