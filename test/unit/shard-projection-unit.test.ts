import { describe, expect, it } from "vitest";
import { databasesNeeded, deliveriesPerSecondPerDatabase, projectShards } from "../../bench/lib/shard-projection";

describe("the shards scenario's projection", () => {
	it("gives docs/SCALING.md's figures: 5 queries per delivery is 200/s a database and 50 databases for 10,000/s", () => {
		expect(deliveriesPerSecondPerDatabase(5, 1000)).toBe(200);
		expect(databasesNeeded(10_000, 5, 1000)).toBe(50);
	});

	it("needs 12 databases at 1.2 queries per delivery, 18 at two thirds of each", () => {
		expect(databasesNeeded(10_000, 1.2, 1000)).toBe(12);
		expect(databasesNeeded(10_000, 1.2, 1000, 2 / 3)).toBe(18);
	});

	it("does not round floating-point dust up to one more database", () => {
		// 10,000 × 4.2 / (1,000 × 2/3) is 63 exactly, and 63.00000000000001 in floating point.
		expect(databasesNeeded(10_000, 4.2, 1000, 2 / 3)).toBe(63);
	});

	it("rounds a fraction of a database up", () => {
		expect(databasesNeeded(10_000, 0.53, 1000)).toBe(6);
		expect(databasesNeeded(100, 0.53, 1000)).toBe(1);
	});

	it("has no figure for a count that is missing, zero or not finite", () => {
		for (const queries of [null, 0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
			expect(deliveriesPerSecondPerDatabase(queries, 1000)).toBeNull();
			expect(databasesNeeded(10_000, queries, 1000)).toBeNull();
		}
	});

	it("scales the control database's counted share with deliveries, and its cache bound with the cache period", () => {
		const projection = projectShards({
			dataQueriesPerDelivery: 2.5,
			controlQueriesPerDelivery: 0.0004,
			queriesPerSecondPerDatabase: 1000,
			targetDeliveriesPerSecond: 10_000,
			plannedUtilisation: 2 / 3,
			cacheSeconds: 30,
		});
		expect(projection.deliveries_per_s_per_shard).toBe(400);
		expect(projection.shards_needed).toBe(25);
		expect(projection.shards_needed_at_planned_utilisation).toBe(38);
		expect(projection.control_queries_per_s_at_target).toBeCloseTo(4, 9);
		expect(projection.control_share_of_one_database_at_target).toBeCloseTo(0.004, 9);
		expect(projection.cached_pairs_per_control_database).toBe(30_000);
	});
});
