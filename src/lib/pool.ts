export interface PerKeyLimit<T> {
	key: (item: T) => string;
	/** Read each time a slot frees, so it may change while the items run. */
	limit: (key: string) => number;
}

function assertLimit(limit: number): void {
	if (!Number.isInteger(limit) || limit < 1)
		throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
}

/**
 * Runs `work` over `items` with at most `limit` in flight, so one slow item
 * holds one slot and the rest keep flowing through the others. With
 * `perKey`, items sharing a key also hold at most `perKey.limit(key)` slots, so
 * many items for one slow destination cannot fill every slot; items are
 * started in order, skipping those whose key is at its limit.
 */
export async function forEachConcurrently<T>(
	items: readonly T[],
	limit: number,
	work: (item: T) => Promise<void>,
	perKey?: PerKeyLimit<T>,
): Promise<void> {
	assertLimit(limit);
	const waiting = [...items];
	const activePerKey = new Map<string, number>();
	let running = 0;
	const nextStartable = (): number => {
		if (!perKey) return waiting.length > 0 ? 0 : -1;
		return waiting.findIndex((item) => {
			const key = perKey.key(item);
			return (activePerKey.get(key) ?? 0) < perKey.limit(key);
		});
	};
	return new Promise<void>((resolve, reject) => {
		const launch = (): void => {
			while (running < limit) {
				const index = nextStartable();
				if (index < 0) break;
				const [item] = waiting.splice(index, 1) as [T];
				const key = perKey?.key(item);
				running++;
				if (key !== undefined) activePerKey.set(key, (activePerKey.get(key) ?? 0) + 1);
				work(item).then(() => {
					running--;
					if (key !== undefined) activePerKey.set(key, (activePerKey.get(key) ?? 1) - 1);
					launch();
				}, reject);
			}
			if (running === 0 && waiting.length === 0) resolve();
		};
		launch();
	});
}
