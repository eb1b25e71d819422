/** A few helpers to write SVG charts by hand: no dependencies, readable output. */

export function escapeXml(text: string): string {
	return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

export function num(value: number): string {
	return Number(value.toFixed(1)).toString();
}

export interface TextOptions {
	anchor?: "start" | "middle" | "end";
	size?: number;
	weight?: "normal" | "bold";
	fill?: string;
	rotate?: number;
}

export function text(x: number, y: number, content: string, options: TextOptions = {}): string {
	const anchor = options.anchor ?? "start";
	const size = options.size ?? 12;
	const transform = options.rotate === undefined ? "" : ` transform="rotate(${options.rotate} ${num(x)} ${num(y)})"`;
	return (
		`<text x="${num(x)}" y="${num(y)}" text-anchor="${anchor}" font-size="${size}"` +
		`${options.weight === "bold" ? ' font-weight="bold"' : ""} fill="${options.fill ?? "#222"}"${transform}>${escapeXml(content)}</text>`
	);
}

export function line(x1: number, y1: number, x2: number, y2: number, stroke: string, width = 1, dash?: string): string {
	return `<line x1="${num(x1)}" y1="${num(y1)}" x2="${num(x2)}" y2="${num(y2)}" stroke="${stroke}" stroke-width="${width}"${dash === undefined ? "" : ` stroke-dasharray="${dash}"`}/>`;
}

export function rect(x: number, y: number, width: number, height: number, fill: string, title?: string): string {
	const inner = title === undefined ? "" : `<title>${escapeXml(title)}</title>`;
	return `<rect x="${num(x)}" y="${num(y)}" width="${num(Math.max(0, width))}" height="${num(Math.max(0, height))}" fill="${fill}">${inner}</rect>`;
}

export function polyline(
	points: ReadonlyArray<readonly [number, number]>,
	stroke: string,
	width = 2,
	dash?: string,
): string {
	if (points.length === 0) return "";
	const path = points.map(([x, y]) => `${num(x)},${num(y)}`).join(" ");
	return `<polyline points="${path}" fill="none" stroke="${stroke}" stroke-width="${width}" stroke-linejoin="round"${dash === undefined ? "" : ` stroke-dasharray="${dash}"`}/>`;
}

export function document(width: number, height: number, title: string, body: string[]): string {
	return [
		`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" role="img" aria-label="${escapeXml(title)}">`,
		`<title>${escapeXml(title)}</title>`,
		rect(0, 0, width, height, "#ffffff"),
		...body,
		"</svg>",
		"",
	].join("\n");
}

/** Ticks at 1, 2, 5 × 10^k within [min, max]. */
export function logTicks(min: number, max: number): number[] {
	const ticks: number[] = [];
	for (let exponent = Math.floor(Math.log10(min)); exponent <= Math.ceil(Math.log10(max)); exponent++) {
		for (const mantissa of [1, 2, 5]) {
			const value = mantissa * 10 ** exponent;
			if (value >= min && value <= max) ticks.push(value);
		}
	}
	return ticks;
}

/** About `count` round ticks from 0 to at least `max`. */
export function linearTicks(max: number, count = 5): number[] {
	if (!(max > 0)) return [0, 1];
	const raw = max / count;
	const magnitude = 10 ** Math.floor(Math.log10(raw));
	const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((candidate) => candidate >= raw) ?? raw;
	const ticks: number[] = [];
	for (let value = 0; value <= max + step * 0.999; value += step) ticks.push(Number(value.toPrecision(12)));
	return ticks;
}

export function formatMs(value: number): string {
	if (value >= 1000) return `${Number((value / 1000).toPrecision(3))} s`;
	return `${Number(value.toPrecision(3))} ms`;
}

export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f"];
