import { describe, expect, it } from "vitest";
import { groupBy } from "../../src/lib/group";

describe("groupBy", () => {
	it("keeps keys in the order they first appear and items in their order within a group", () => {
		const grouped = groupBy(["b1", "a1", "b2", "c1", "a2"], (item) => item.charAt(0));
		expect([...grouped]).toEqual([
			["b", ["b1", "b2"]],
			["a", ["a1", "a2"]],
			["c", ["c1"]],
		]);
	});

	it("gives an empty map for no items, and takes any key, numbers included", () => {
		expect(groupBy([], (item: number) => item).size).toBe(0);
		expect([...groupBy([1.2, 1.7, 2.1], Math.floor)]).toEqual([
			[1, [1.2, 1.7]],
			[2, [2.1]],
		]);
	});
});
