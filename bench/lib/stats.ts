/** Summary statistics over samples in milliseconds (or any unit). */
export interface Summary {
	count: number;
	min: number | null;
	mean: number | null;
	p50: number | null;
	p90: number | null;
	p99: number | null;
	max: number | null;
}

/** The value at quantile `q` (0..1) of ascending `sorted`, nearest-rank method. */
export function quantile(sorted: readonly number[], q: number): number | null {
	if (sorted.length === 0) return null;
	const rank = Math.ceil(q * sorted.length);
	const index = Math.min(sorted.length - 1, Math.max(0, rank - 1));
	return sorted[index] ?? null;
}

export function sortedCopy(values: readonly number[]): number[] {
	return [...values].sort((a, b) => a - b);
}

export function summarize(values: readonly number[]): Summary {
	const sorted = sortedCopy(values);
	const count = sorted.length;
	const total = sorted.reduce((sum, value) => sum + value, 0);
	return {
		count,
		min: sorted[0] ?? null,
		mean: count === 0 ? null : total / count,
		p50: quantile(sorted, 0.5),
		p90: quantile(sorted, 0.9),
		p99: quantile(sorted, 0.99),
		max: sorted[count - 1] ?? null,
	};
}

/** Least-squares slope of y over x; null with fewer than two distinct x. */
export function slope(points: ReadonlyArray<{ x: number; y: number }>): number | null {
	const n = points.length;
	if (n < 2) return null;
	const meanX = points.reduce((sum, p) => sum + p.x, 0) / n;
	const meanY = points.reduce((sum, p) => sum + p.y, 0) / n;
	let numerator = 0;
	let denominator = 0;
	for (const p of points) {
		numerator += (p.x - meanX) * (p.y - meanY);
		denominator += (p.x - meanX) ** 2;
	}
	return denominator === 0 ? null : numerator / denominator;
}

/** Rounds for the results file: keeps numbers readable without losing what matters. */
export function round(value: number | null | undefined, digits = 2): number | null {
	if (value === null || value === undefined || !Number.isFinite(value)) return null;
	const factor = 10 ** digits;
	return Math.round(value * factor) / factor;
}

export function roundSummary(summary: Summary, digits = 2): Summary {
	return {
		count: summary.count,
		min: round(summary.min, digits),
		mean: round(summary.mean, digits),
		p50: round(summary.p50, digits),
		p90: round(summary.p90, digits),
		p99: round(summary.p99, digits),
		max: round(summary.max, digits),
	};
}

/** A point of a latency distribution: the value `ms` at quantile `q`. */
export interface QuantilePoint {
	q: number;
	ms: number;
}

/** Quantiles dense towards the tail (…, 0.99, 0.992, …, 0.999, 1), as latency charts need them. */
const CHART_QUANTILES: readonly number[] = [
	...Array.from({ length: 45 }, (_, i) => i * 0.02),
	...Array.from({ length: 45 }, (_, i) => 0.9 + i * 0.002),
	...Array.from({ length: 45 }, (_, i) => 0.99 + i * 0.0002),
	1,
];

/** The distribution at quantiles dense towards the tail, for charts. */
export function quantilePoints(values: readonly number[]): QuantilePoint[] {
	const sorted = sortedCopy(values);
	if (sorted.length === 0) return [];
	return CHART_QUANTILES.map((q) => {
		const position = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
		return { q: round(q, 4) ?? q, ms: round(sorted[position], 2) ?? 0 };
	});
}
