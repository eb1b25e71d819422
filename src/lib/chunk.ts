/** Splits `items` into runs of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
	const chunks: T[][] = [];
	for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
	return chunks;
}

/** Keeps `inArray` lists under D1's 100 bound parameters per statement, with room for other conditions. */
export const IDS_PER_STATEMENT = 90;
