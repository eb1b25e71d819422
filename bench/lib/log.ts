/** Progress lines on stdout, each prefixed with the time since the bench started. */
const started = performance.now();

export function elapsedSeconds(): number {
	return (performance.now() - started) / 1000;
}

export function progress(message: string): void {
	const seconds = elapsedSeconds().toFixed(1).padStart(6, " ");
	process.stdout.write(`[bench ${seconds}s] ${message}\n`);
}

/** Formats a number for progress lines: at most `digits` decimals, no trailing noise. */
export function fmt(value: number | null | undefined, digits = 1): string {
	if (value === null || value === undefined || !Number.isFinite(value)) return "n/a";
	return Number(value.toFixed(digits)).toLocaleString("en-US", { maximumFractionDigits: digits });
}
