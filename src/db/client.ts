import { drizzle } from "drizzle-orm/d1";

export type Database = ReturnType<typeof openDatabase>;

/**
 * A drizzle handle over D1. Without a `schema` option on purpose: the
 * relational query API is unused, and building its table config took a
 * measurable share of every request's CPU in profiles.
 */
export function openDatabase(d1: D1Database) {
	return drizzle(d1);
}
