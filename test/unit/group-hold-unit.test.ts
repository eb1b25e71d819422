import { describe, expect, it } from "vitest";
import { groupHoldMs } from "../../src/routes/events/group-commit";

describe("how long a group of single-event requests waits for company", () => {
	it("does not wait for a tenant's first event, nor for one whose events come 10 ms or more apart", () => {
		expect(groupHoldMs(null, 1)).toBe(0);
		expect(groupHoldMs(10, 1)).toBe(0);
		expect(groupHoldMs(250, 3)).toBe(0);
	});

	it("waits 4 ms when the tenant's events come closer together and the group has room", () => {
		expect(groupHoldMs(9.9, 1)).toBe(4);
		expect(groupHoldMs(0, 99)).toBe(4);
	});

	it("does not wait with a full group: 100 events, what a batch request holds", () => {
		expect(groupHoldMs(0, 100)).toBe(0);
	});
});
