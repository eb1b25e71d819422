/**
 * Event filters: an exact type (`user.created`), a prefix wildcard
 * (`user.*`, which matches `user.created` and `user.profile.updated` but not
 * `user` itself) or `*` for everything.
 */
export const EVENT_FILTER_PATTERN = /^(\*|[A-Za-z0-9_\-:]+(\.[A-Za-z0-9_\-:]+)*(\.\*)?)$/;

export function matchesEventFilter(filters: readonly string[], eventType: string): boolean {
	for (const filter of filters) {
		if (filter === "*" || filter === eventType) return true;
		if (filter.endsWith(".*") && eventType.startsWith(filter.slice(0, -1))) return true;
	}
	return false;
}
