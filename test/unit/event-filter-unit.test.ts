import { describe, expect, it } from "vitest";
import { EVENT_FILTER_PATTERN } from "../../src/delivery/event-filter";

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
