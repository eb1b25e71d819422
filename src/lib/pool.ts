/**
 * Runs `work` over `items` with at most `limit` in flight, so one slow item
 * holds one slot and the rest keep flowing through the others.
 */
export async function forEachConcurrently<T>(
	items: readonly T[],
	limit: number,
	work: (item: T) => Promise<void>,
): Promise<void> {
	if (!Number.isInteger(limit) || limit < 1)
		throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
	let next = 0;
	const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
		while (next < items.length) {
			const item = items[next++] as T;
			await work(item);
		}
	});
	await Promise.all(lanes);
}
