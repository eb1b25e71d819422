import { z } from "@hono/zod-openapi";

/** Svix's paging parameters (../shared/SVIX-API.md section 3): `limit` 1–250, default 50. */
export const SvixListQuery = z.object({
	limit: z.coerce.number().int().min(1).max(250).default(50).openapi({ example: 50 }),
	iterator: z.string().min(1).max(512).optional(),
	order: z.enum(["ascending", "descending"]).optional(),
});

/** Svix's `order` in the native lists' words, or the native default when none was asked for. */
export function nativeOrder(order: "ascending" | "descending" | undefined): "asc" | "desc" | undefined {
	if (order === undefined) return undefined;
	return order === "ascending" ? "asc" : "desc";
}

export interface SvixList<T> {
	data: T[];
	iterator: string | null;
	done: boolean;
}

/**
 * Svix's list envelope over a native page: the native cursor is the
 * iterator, handed back as given, and the list is done when there is no
 * next page. (`prevIterator` is optional in Svix's schema and left out:
 * the native lists page one way.)
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
