import { z } from "@hono/zod-openapi";

/** Svix's paging parameters (../shared/SVIX-API.md section 3): `limit` 1–250, default 50. */
export const SvixListQuery = z.object({
	limit: z.coerce.number().int().min(1).max(250).default(50).openapi({ example: 50 }),
	iterator: z.string().min(1).max(512).optional(),
	order: z.enum(["ascending", "descending"]).optional(),
});

/** Svix's `order` in the native lists' words, or the native default when none was asked for. */
export function nativeOrder(order: "ascending" | "descending" | undefined): NativeOrder | undefined {
	if (order === undefined) return undefined;
	return order === "ascending" ? "asc" : "desc";
}

export interface SvixList<T> {
	data: T[];
	iterator: string | null;
	/** Left out where the native list reads one way only. */
	prevIterator?: string | null;
	done: boolean;
}

/**
 * Svix's list envelope over a native page that reads one way only (newest
 * first, with a cursor of its own): the native cursor is the iterator,
 * handed back as given, and the list is done when there is no next page.
 * `prevIterator`, optional in Svix's schema, is left out.
 */
export function svixList<T>(data: T[], nextCursor: string | null): SvixList<T> {
	return { data, iterator: nextCursor, done: nextCursor === null };
}

/** The list envelope's schema around an item schema, for the OpenAPI description. */
export function svixListSchema<T extends z.ZodType>(item: T, name: string) {
	return z
		.object({
			data: z.array(item),
			iterator: z.string().nullable(),
			prevIterator: z.string().nullable().optional(),
			done: z.boolean(),
		})
		.openapi(name);
}

/** A page of a native list, as the Svix paging reads it. */
export interface NativePage<T> {
	items: T[];
	/** Whether the native list has more in the order it was read. */
	more: boolean;
	/**
	 * Where the native list goes on, when that is not its last item: a
	 * filtered list reads past rows it does not show, even a whole page.
	 */
	next?: string | null;
}

export type NativeOrder = "asc" | "desc";

/**
 * Svix's paging over a native list whose cursor is an item's own id and that
 * reads both ways (`order` asc or desc): `iterator` is the last item's id,
 * `prevIterator` is `-` and the first item's id, and an iterator that starts
 * with `-` reads the page before that item (the native list in the other
 * order, turned back, so the page keeps the list's order), as Svix does.
 */
export async function pageBothWays<T, U>(
	iterator: string | undefined,
	order: NativeOrder,
	read: (order: NativeOrder, cursor: string | undefined) => Promise<NativePage<T>>,
	cursorOf: (item: T) => string,
	out: (item: T) => U,
): Promise<SvixList<U>> {
	const backwards = iterator?.startsWith("-") === true;
	const page = backwards
		? await read(order === "asc" ? "desc" : "asc", iterator?.slice(1))
		: await read(order, iterator);
	const items = backwards ? [...page.items].reverse() : page.items;
	const first = items[0];
	const last = items[items.length - 1];
	// A filtered list goes on from its own cursor: from the last item shown, a page of hidden rows would never end.
	const goesOn = page.more && page.next ? page.next : null;
	const lastShown = last === undefined ? null : cursorOf(last);
	const firstShown = first === undefined ? null : `-${cursorOf(first)}`;
	return {
		data: items.map(out),
		iterator: backwards ? lastShown : (goesOn ?? lastShown),
		prevIterator: backwards && goesOn !== null ? `-${goesOn}` : firstShown,
		done: !page.more,
	};
}
