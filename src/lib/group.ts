/**
 * Items grouped by a key, in the order each key first appears and, within a
 * group, in the items' order. (Map.groupBy does this too, but the runtime's
 * TypeScript library here is ES2023.)
 */
export function groupBy<T, K>(items: Iterable<T>, keyOf: (item: T) => K): Map<K, T[]> {
	const groups = new Map<K, T[]>();
	for (const item of items) {
		const key = keyOf(item);
		const group = groups.get(key);
		if (group) group.push(item);
		else groups.set(key, [item]);
	}
	return groups;
}
