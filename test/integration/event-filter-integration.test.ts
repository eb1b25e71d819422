import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import { filterMatches } from "../../src/db/subscribers";

/** Evaluates the SQL filter predicate in D1, exactly as ingest does for each endpoint. */
async function matches(filters: string[], eventType: string): Promise<boolean> {
	const [row] = await openDatabase(env.DB).all<{ matched: number }>(
		sql`SELECT EXISTS (SELECT 1 FROM json_each(${JSON.stringify(filters)}) f WHERE ${filterMatches(sql.raw("f.value"), sql`${eventType}`)}) AS matched`,
	);
	return row?.matched === 1;
}

describe("event filter matching (the SQL ingest fans out with)", () => {
	it("matches an exact type and nothing else", async () => {
		expect(await matches(["user.created"], "user.created")).toBe(true);
		expect(await matches(["user.created"], "user.deleted")).toBe(false);
		expect(await matches(["user.created"], "user.created.v2")).toBe(false);
		expect(await matches(["user.created"], "user")).toBe(false);
		expect(await matches(["user.created"], "User.created")).toBe(false);
	});

	it("matches user.* against every type below user", async () => {
		expect(await matches(["user.*"], "user.created")).toBe(true);
		expect(await matches(["user.*"], "user.profile.updated")).toBe(true);
	});

	it("does not match user.* against user itself or look-alike prefixes", async () => {
		expect(await matches(["user.*"], "user")).toBe(false);
		expect(await matches(["user.*"], "users.created")).toBe(false);
		expect(await matches(["user.*"], "user_created")).toBe(false);
		expect(await matches(["user.*"], "order.user.created")).toBe(false);
	});

	it("matches deeper wildcards only under their own prefix", async () => {
		expect(await matches(["user.profile.*"], "user.profile.updated")).toBe(true);
		expect(await matches(["user.profile.*"], "user.created")).toBe(false);
		expect(await matches(["user.profile.*"], "user.profile")).toBe(false);
	});

	it("matches everything with *", async () => {
		for (const type of ["user.created", "a", "order.item.shipped"]) {
			expect(await matches(["*"], type), type).toBe(true);
		}
	});

	it("matches when any filter in the list does", async () => {
		expect(await matches(["order.*", "user.created"], "user.created")).toBe(true);
		expect(await matches(["order.*", "user.created"], "order.paid")).toBe(true);
		expect(await matches(["order.*", "user.created"], "user.deleted")).toBe(false);
	});

	it("matches nothing with an empty list", async () => {
		expect(await matches([], "user.created")).toBe(false);
	});
});
