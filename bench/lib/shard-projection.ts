/**
 * The shards scenario's projection from counted D1 queries to deployed
 * databases. Plain arithmetic with no imports, so that a unit test
 * (test/unit/shard-projection-unit.test.ts) runs it inside workerd.
 */

export interface ShardProjectionInput {
	/** D1 queries a data shard is asked per delivery, control traffic excluded. */
	dataQueriesPerDelivery: number | null;
	/** Control-database queries per delivery, as counted with one isolate. */
	controlQueriesPerDelivery: number | null;
	/** What one D1 database runs: one query at a time, about 1,000 a second at 1 ms each. */
	queriesPerSecondPerDatabase: number;
	targetDeliveriesPerSecond: number;
	/** The share of a database's queries/s a shard is planned to use, below 1 to keep headroom. */
	plannedUtilisation: number;
	/** How long an isolate trusts a key lookup or a tenant's placement. */
	cacheSeconds: number;
}

export interface ShardProjection {
	data_queries_per_delivery: number | null;
	queries_per_s_per_database: number;
	target_deliveries_per_s: number;
	planned_utilisation: number;
	deliveries_per_s_per_shard: number | null;
	shards_needed: number | null;
	shards_needed_at_planned_utilisation: number | null;
	/** The control database's queries/s at the target if its load grew with deliveries as counted here. */
	control_queries_per_s_at_target: number | null;
	control_share_of_one_database_at_target: number | null;
	/**
	 * The control database's real driver: each isolate reads each key and each
	 * tenant's placement at most once per cache period, whatever the deliveries.
	 * This many (isolate, key) and (isolate, tenant) pairs fill one database.
	 */
	cached_pairs_per_control_database: number;
}

function usable(value: number | null): value is number {
	return value !== null && Number.isFinite(value) && value > 0;
}

/** Deliveries/s one database carries when each delivery costs `queriesPerDelivery` of its queries. */
export function deliveriesPerSecondPerDatabase(
	queriesPerDelivery: number | null,
	queriesPerSecondPerDatabase: number,
): number | null {
	return usable(queriesPerDelivery) ? queriesPerSecondPerDatabase / queriesPerDelivery : null;
}

/**
 * Databases for `targetDeliveriesPerSecond`, each used up to `utilisation` of
 * its queries/s. Rounded up, after dropping floating-point dust: 10,000/s at
 * 1.2 queries and 1,000 queries/s is exactly 12, not 13.
 */
export function databasesNeeded(
	targetDeliveriesPerSecond: number,
	queriesPerDelivery: number | null,
	queriesPerSecondPerDatabase: number,
	utilisation = 1,
): number | null {
	if (!usable(queriesPerDelivery) || queriesPerSecondPerDatabase <= 0 || utilisation <= 0) return null;
	const exact = (targetDeliveriesPerSecond * queriesPerDelivery) / (queriesPerSecondPerDatabase * utilisation);
	return Math.ceil(Number(exact.toFixed(9)));
}

export function projectShards(input: ShardProjectionInput): ShardProjection {
	const controlPerSecond =
		input.controlQueriesPerDelivery === null ? null : input.controlQueriesPerDelivery * input.targetDeliveriesPerSecond;
	return {
		data_queries_per_delivery: input.dataQueriesPerDelivery,
		queries_per_s_per_database: input.queriesPerSecondPerDatabase,
		target_deliveries_per_s: input.targetDeliveriesPerSecond,
		planned_utilisation: input.plannedUtilisation,
		deliveries_per_s_per_shard: deliveriesPerSecondPerDatabase(
			input.dataQueriesPerDelivery,
			input.queriesPerSecondPerDatabase,
		),
		shards_needed: databasesNeeded(
			input.targetDeliveriesPerSecond,
			input.dataQueriesPerDelivery,
			input.queriesPerSecondPerDatabase,
		),
		shards_needed_at_planned_utilisation: databasesNeeded(
			input.targetDeliveriesPerSecond,
			input.dataQueriesPerDelivery,
			input.queriesPerSecondPerDatabase,
			input.plannedUtilisation,
		),
		control_queries_per_s_at_target: controlPerSecond,
		control_share_of_one_database_at_target:
			controlPerSecond === null ? null : controlPerSecond / input.queriesPerSecondPerDatabase,
		cached_pairs_per_control_database: input.queriesPerSecondPerDatabase * input.cacheSeconds,
	};
}
