import { describe, expect, it } from "vitest";
import { EVENT_FILTER_PATTERN, matchesEventFilter } from "../../src/delivery/event-filter";

describe("matchesEventFilter", () => {
	it("matches an exact type and nothing else", () => {
		expect(matchesEventFilter(["user.created"], "user.created")).toBe(true);
		expect(matchesEventFilter(["user.created"], "user.deleted")).toBe(false);
		expect(matchesEventFilter(["user.created"], "user.created.v2")).toBe(false);
		expect(matchesEventFilter(["user.created"], "user")).toBe(false);
		expect(matchesEventFilter(["user.created"], "User.created")).toBe(false);
	});

	it("matches user.* against every type below user", () => {
		expect(matchesEventFilter(["user.*"], "user.created")).toBe(true);
		expect(matchesEventFilter(["user.*"], "user.profile.updated")).toBe(true);
	});

	it("does not match user.* against user itself or look-alike prefixes", () => {
		expect(matchesEventFilter(["user.*"], "user")).toBe(false);
		expect(matchesEventFilter(["user.*"], "users.created")).toBe(false);
		expect(matchesEventFilter(["user.*"], "user_created")).toBe(false);
		expect(matchesEventFilter(["user.*"], "order.user.created")).toBe(false);
	});

	it("matches deeper wildcards only under their own prefix", () => {
		expect(matchesEventFilter(["user.profile.*"], "user.profile.updated")).toBe(true);
		expect(matchesEventFilter(["user.profile.*"], "user.created")).toBe(false);
		expect(matchesEventFilter(["user.profile.*"], "user.profile")).toBe(false);
	});

	it("matches everything with *", () => {
		for (const type of ["user.created", "a", "order.item.shipped"]) {
			expect(matchesEventFilter(["*"], type), type).toBe(true);
		}
	});

	it("matches when any filter in the list does", () => {
		expect(matchesEventFilter(["order.*", "user.created"], "user.created")).toBe(true);
		expect(matchesEventFilter(["order.*", "user.created"], "order.paid")).toBe(true);
		expect(matchesEventFilter(["order.*", "user.created"], "user.deleted")).toBe(false);
	});

	it("matches nothing with an empty list", () => {
		expect(matchesEventFilter([], "user.created")).toBe(false);
	});
});

describe("EVENT_FILTER_PATTERN", () => {
	it.each([
		"*",
		"user",
		"user.created",
		"user.*",
		"user.profile.*",
		"user.profile.updated",
		"order_item-v2:created",
		"A1.b2",
	])("accepts %s", (filter) => {
		expect(EVENT_FILTER_PATTERN.test(filter)).toBe(true);
	});

	it.each([
		"",
		".",
		"user.",
		".user",
		"user..created",
		"user*",
		"*.created",
		"user.*.created",
		"**",
		"user.**",
		"user.*.*",
		"*user",
		"user created",
		"user/created",
		"ünicode.event",
		" user.created",
		"user.created\n",
	])("rejects %j", (filter) => {
		expect(EVENT_FILTER_PATTERN.test(filter)).toBe(false);
	});
});
