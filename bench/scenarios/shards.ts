import type { BenchContext, BenchEndpoint } from "../lib/context";
import { Client } from "../lib/http";
import { fixedRate, until } from "../lib/load";
import { fmt, progress } from "../lib/log";
import { projectShards, type ShardProjection } from "../lib/shard-projection";
import { round } from "../lib/stats";
import { busiestThreadMs, type DatabaseMetrics, type Metrics, metricsDelta } from "../lib/worker";

export interface ShardsConfig {
	/** Events per POST /v1/events/batch: each request queues this many jobs at once, so consumer batches fill. */
	eventsPerRequest: number;
	/** Events/s offered to each loaded tenant, with its own key (INGEST_RATE_LIMITER allows 500 requests/s per key). */
	eventsPerSecondPerTenant: number;
	/** How long the phase with every shard's tenant loaded sends. */
	spreadMs: number;
	/**
	 * The phase without load on DB sends for the key and placement caches'
	 * lifetime plus this, so every cached entry it uses is read again within it
	 * and the control database's count includes those refreshes.
	 */
	controlExtraMs: number;
	/** How long to wait after the last send for the deliveries. */
	drainMs: number;
	/** D1 runs one query at a time, about 1,000/s at 1 ms each (docs/SCALING.md, "What that gives per database"). */
	queriesPerSecondPerDatabase: number;
	/** The target at fan-out 1 (docs/SCALING.md, "The targets"). */
	targetDeliveriesPerSecond: number;
	/** A shard planned at two thirds of its queries/s keeps headroom, as docs/SCALING.md plans. */
	plannedUtilisation: number;
}

export const SHARDS_CONFIG: ShardsConfig = {
	eventsPerRequest: 10,
	eventsPerSecondPerTenant: 100,
	spreadMs: 12_000,
	controlExtraMs: 2_000,
	drainMs: 60_000,
	queriesPerSecondPerDatabase: 1_000,
	targetDeliveriesPerSecond: 10_000,
	plannedUtilisation: 2 / 3,
};

/** One shard's counted D1 work in a phase, and the deliveries of its tenant. */
export interface ShardCounts {
	binding: string;
	tenant_id: string;
	loaded: boolean;
	deliveries: number;
	d1_queries: number;
	d1_rows_read: number;
	d1_rows_written: number;
	queries_per_delivery: number | null;
	rows_read_per_delivery: number | null;
	rows_written_per_delivery: number | null;
	/** At the configured queries/s per database and this shard's own queries per delivery (on DB, control traffic included). */
	deliveries_per_s_at_limit: number | null;
}

export interface ShardsPhase {
	label: string;
	loaded_shards: string[];
	events_per_s_offered: number;
	requests_per_s_offered: number;
	requests_per_s_achieved: number | null;
	events_accepted: number;
	send_errors: number;
	first_send_error: string | null;
	deliveries: number;
	missing: number;
	/** From the first send to the last arrival at a receiver. */
	duration_ms: number | null;
	deliveries_per_s: number | null;
	/** From the counters' reset to their reading: the window the control database's count covers. */
	counted_ms: number;
	queue_batches: number;
	mean_batch_size: number | null;
	workerd_busiest_thread_share: number | null;
	counters: Metrics;
	shards: ShardCounts[];
	/** Where the counters disagree with what the receivers saw, or the phase did not finish. */
	checks: string[];
}

export interface ShardsControl {
	method: string;
	queries: number;
	rows_read: number;
	rows_written: number;
	counted_s: number;
	/** DB's share of every D1 query of the phase without load on DB. */
	share_of_queries: number | null;
	queries_per_delivery: number | null;
	queries_per_s: number | null;
	/** With one isolate, at most one read per key and per tenant in use per cache period, and one last-used write per key. */
	expected_at_most: number;
	/**
	 * The phase with every shard sending: DB's queries beyond what its tenant's
	 * deliveries cost at the other shards' queries per delivery. The tenants
	 * send alike and share the consumer's batches, so that excess is DB's
	 * control traffic (up to the noise between shards).
	 */
	excess_on_db_in_spread: number | null;
}

export interface ShardsResult {
	shards: string[];
	events_per_request: number;
	key_cache_seconds: number;
	placement_cache_seconds: number;
	spread: ShardsPhase;
	control_idle: ShardsPhase;
	control: ShardsControl;
	/** The projection's basis: the shards that hold no control data, pooled over the spread phase. */
	projection_basis: string;
	projection: ShardProjection;
}

interface ShardTenant {
	binding: string;
	id: string;
	client: Client;
	eventType: string;
	endpoint: BenchEndpoint;
	accepted: number;
}

const per = (value: number, deliveries: number, digits = 4): number | null =>
	deliveries > 0 ? round(value / deliveries, digits) : null;

async function createTenant(ctx: BenchContext, binding: string): Promise<ShardTenant> {
	const tenant = await ctx.client.json<{ id: string; shard: string }>("POST", "/v1/tenants", 201, {
		name: `bench shards ${binding}`,
		shard: binding,
	});
	if (tenant.shard !== binding) throw new Error(`tenant ${tenant.id} was placed on ${tenant.shard}, not ${binding}`);
	const key = await ctx.client.json<{ key: string }>("POST", `/v1/tenants/${tenant.id}/api-keys`, 201, {
		name: "bench shards",
	});
	const client = new Client({ baseUrl: ctx.worker.baseUrl, apiKey: key.key, maxSockets: 16 });
	const eventType = ctx.eventType(`shards-${binding.toLowerCase()}`);
	const receiver = ctx.receivers.add(`shards-${binding.toLowerCase()}`);
	const created = await client.json<{ id: string }>("POST", "/v1/webhooks", 201, {
		url: receiver.url,
		events: [eventType],
	});
	return { binding, id: tenant.id, client, eventType, endpoint: { id: created.id, receiver }, accepted: 0 };
}

function arrivalsSince(tenant: ShardTenant, since: number): { count: number; last: number | null } {
	let count = 0;
	let last: number | null = null;
	for (const arrival of tenant.endpoint.receiver.arrivals) {
		if (arrival.at < since || arrival.nth !== 1) continue;
		count++;
		last = last === null ? arrival.at : Math.max(last, arrival.at);
	}
	return { count, last };
}

async function runPhase(
	ctx: BenchContext,
	label: string,
	tenants: readonly ShardTenant[],
	loaded: readonly ShardTenant[],
	sendMs: number,
	config: ShardsConfig,
): Promise<ShardsPhase> {
	const eventsPerSecond = loaded.length * config.eventsPerSecondPerTenant;
	const requestsPerSecond = eventsPerSecond / config.eventsPerRequest;
	progress(
		`  shards ${label}: load on ${loaded.map((tenant) => tenant.binding).join(", ")}: ${fmt(eventsPerSecond, 0)} events/s ` +
			`as ${fmt(requestsPerSecond, 0)} batches/s of ${config.eventsPerRequest}, each tenant with its own key, for ${fmt(sendMs / 1000, 0)} s`,
	);
	await ctx.settle(`shards ${label} set-up`);
	await ctx.worker.resetMetrics();
	const countedFrom = performance.now();
	const start = await ctx.worker.metricsByDatabase();
	if (start === null) throw new Error("the worker does not serve /_bench/metrics (BENCH_METERING)");
	for (const tenant of tenants) tenant.accepted = 0;
	const cpuBefore = ctx.worker.cpu();
	const firstSend = performance.now();
	const load = await fixedRate({
		ratePerSecond: requestsPerSecond,
		maxMs: sendMs,
		maxCount: Math.ceil((requestsPerSecond * sendMs) / 1000),
		maxInFlight: 32,
		send: async (index) => {
			const tenant = loaded[index % loaded.length];
			if (tenant === undefined) return;
			const events = Array.from({ length: config.eventsPerRequest }, (_, offset) => ({
				type: tenant.eventType,
				data: { n: index * config.eventsPerRequest + offset, bench: true },
			}));
			const exchange = await tenant.client.send("POST", "/v1/events/batch", { events });
			if (exchange.status !== 202) {
				throw new Error(`POST /v1/events/batch → HTTP ${exchange.status}: ${exchange.body.slice(0, 300)}`);
			}
			tenant.accepted += (JSON.parse(exchange.body) as { events: unknown[] }).events.length;
		},
	});
	if (load.errors > 0) progress(`  shards ${label}: ${load.errors} batches not accepted (${load.firstError})`);
	const accepted = loaded.reduce((sum, tenant) => sum + tenant.accepted, 0);
	const delivered = (): number => loaded.reduce((sum, tenant) => sum + arrivalsSince(tenant, firstSend).count, 0);
	await until(() => delivered() >= accepted, config.drainMs, 100);
	const idle = await ctx.settle(`shards ${label}`, 30_000, 1_500);
	const cpuAfter = ctx.worker.cpu();
	const end = await ctx.worker.metricsByDatabase();
	const countedMs = performance.now() - countedFrom;
	if (end === null) throw new Error("the worker stopped serving /_bench/metrics");

	const counters = metricsDelta(end.totals, start.totals);
	const byDatabase = databaseDelta(end.byDatabase, start.byDatabase);
	const shards = tenants.map((tenant): ShardCounts => {
		const counts = byDatabase[tenant.binding] ?? { d1_queries: 0, d1_rows_read: 0, d1_rows_written: 0 };
		const deliveries = arrivalsSince(tenant, firstSend).count;
		const queriesPerDelivery = per(counts.d1_queries, deliveries);
		return {
			binding: tenant.binding,
			tenant_id: tenant.id,
			loaded: loaded.includes(tenant),
			deliveries,
			...counts,
			queries_per_delivery: queriesPerDelivery,
			rows_read_per_delivery: per(counts.d1_rows_read, deliveries),
			rows_written_per_delivery: per(counts.d1_rows_written, deliveries),
			deliveries_per_s_at_limit:
				queriesPerDelivery === null || queriesPerDelivery === 0
					? null
					: round(config.queriesPerSecondPerDatabase / queriesPerDelivery, 0),
		};
	});
	const deliveries = shards.reduce((sum, shard) => sum + shard.deliveries, 0);
	const lastArrival = tenants.reduce<number | null>((last, tenant) => {
		const at = arrivalsSince(tenant, firstSend).last;
		return at === null ? last : Math.max(last ?? at, at);
	}, null);
	const durationMs = lastArrival === null ? null : lastArrival - firstSend;
	const busiest = busiestThreadMs(cpuBefore, cpuAfter);
	const arrivals = tenants.reduce(
		(sum, tenant) => sum + tenant.endpoint.receiver.arrivals.filter((arrival) => arrival.at >= firstSend).length,
		0,
	);
	const checks = phaseChecks(counters, byDatabase, shards, { accepted, deliveries, arrivals, idle });
	for (const problem of checks) progress(`  shards ${label}: check: ${problem}`);
	const phase: ShardsPhase = {
		label,
		loaded_shards: loaded.map((tenant) => tenant.binding),
		events_per_s_offered: eventsPerSecond,
		requests_per_s_offered: requestsPerSecond,
		requests_per_s_achieved: round(load.achievedRatePerSecond, 1),
		events_accepted: accepted,
		send_errors: load.errors,
		first_send_error: load.firstError,
		deliveries,
		missing: Math.max(0, accepted - deliveries),
		duration_ms: durationMs === null ? null : round(durationMs, 0),
		deliveries_per_s: durationMs === null || durationMs <= 0 ? null : round((deliveries * 1000) / durationMs, 1),
		counted_ms: round(countedMs, 0) ?? countedMs,
		queue_batches: counters.queue_batches,
		mean_batch_size:
			counters.queue_batches > 0 ? round(counters.queue_messages_consumed / counters.queue_batches, 1) : null,
		workerd_busiest_thread_share: durationMs === null || durationMs <= 0 ? null : round(busiest / durationMs, 2),
		counters,
		shards,
		checks,
	};
	progress(
		`  shards ${label}: ${deliveries} deliveries in ${fmt((durationMs ?? Number.NaN) / 1000, 1)} s, ${fmt(phase.deliveries_per_s, 0)}/s; ` +
			`consumer batches of ${fmt(phase.mean_batch_size, 1)} on average; ` +
			shards
				.map(
					(shard) =>
						`${shard.binding} ${shard.d1_queries} queries (${fmt(shard.queries_per_delivery, 3)}/delivery), ` +
						`${shard.d1_rows_read} rows read, ${shard.d1_rows_written} written`,
				)
				.join("; "),
	);
	return phase;
}

function databaseDelta(after: DatabaseMetrics, before: DatabaseMetrics): DatabaseMetrics {
	const delta: DatabaseMetrics = {};
	for (const [binding, counts] of Object.entries(after)) {
		const base = before[binding];
		delta[binding] = {
			d1_queries: counts.d1_queries - (base?.d1_queries ?? 0),
			d1_rows_read: counts.d1_rows_read - (base?.d1_rows_read ?? 0),
			d1_rows_written: counts.d1_rows_written - (base?.d1_rows_written ?? 0),
		};
	}
	return delta;
}

function phaseChecks(
	counters: Metrics,
	byDatabase: DatabaseMetrics,
	shards: readonly ShardCounts[],
	seen: { accepted: number; deliveries: number; arrivals: number; idle: boolean },
): string[] {
	const problems: string[] = [];
	if (seen.deliveries < seen.accepted) {
		problems.push(`${seen.accepted - seen.deliveries} of ${seen.accepted} deliveries did not arrive within the wait`);
	}
	if (!seen.idle) problems.push("the worker was still busy when the counters were read");
	const split = Object.values(byDatabase).reduce((sum, counts) => sum + counts.d1_queries, 0);
	if (split !== counters.d1_queries) {
		problems.push(`${counters.d1_queries} D1 queries counted in all, but ${split} split by database`);
	}
	const unknown = Object.keys(byDatabase).filter((binding) => !shards.some((shard) => shard.binding === binding));
	if (unknown.length > 0) problems.push(`D1 queries on bindings without a bench tenant: ${unknown.join(", ")}`);
	if (counters.attempts_made !== seen.arrivals) {
		problems.push(`${counters.attempts_made} attempts counted, ${seen.arrivals} requests arrived at the receivers`);
	}
	if (counters.attempts_succeeded !== seen.deliveries) {
		problems.push(`${counters.attempts_succeeded} successful attempts counted, ${seen.deliveries} deliveries arrived`);
	}
	if (counters.queue_messages_consumed !== counters.queue_messages_sent) {
		problems.push(
			`${counters.queue_messages_sent} queue messages sent but ${counters.queue_messages_consumed} consumed`,
		);
	}
	if (counters.worker_scheduled_invocations > 0) {
		problems.push(
			`${counters.worker_scheduled_invocations} cron invocations ran during the phase and are in the counts`,
		);
	}
	for (const shard of shards) {
		if (!shard.loaded && shard.deliveries > 0) {
			problems.push(`${shard.binding}'s tenant got ${shard.deliveries} deliveries without load`);
		}
	}
	return problems;
}

/** What the control database is asked: counted with DB's tenant idle, so every query on DB is control traffic. */
function controlFigures(
	spread: ShardsPhase,
	idle: ShardsPhase,
	loadedInIdle: number,
	cacheSeconds: { key: number; placement: number },
): ShardsControl {
	const control = idle.shards.find((shard) => shard.binding === "DB");
	const queries = control?.d1_queries ?? 0;
	const countedS = idle.counted_ms / 1000;
	const totalQueries = idle.shards.reduce((sum, shard) => sum + shard.d1_queries, 0);
	const perSecond = countedS > 0 ? queries / countedS : null;
	// Each loaded key and tenant: one lookup per cache period begun in the window, and a key one last-used write.
	const keyReads = Math.floor(countedS / cacheSeconds.key) + 1;
	const placementReads = Math.floor(countedS / cacheSeconds.placement) + 1;
	const expectedAtMost = loadedInIdle * (keyReads + 1 + placementReads);
	const dbInSpread = spread.shards.find((shard) => shard.binding === "DB");
	const others = spread.shards.filter((shard) => shard.binding !== "DB");
	const othersQueries = others.reduce((sum, shard) => sum + shard.d1_queries, 0);
	const othersDeliveries = others.reduce((sum, shard) => sum + shard.deliveries, 0);
	return {
		method:
			"A phase with load on every shard but DB: DB's tenant and the default tenant send nothing, so every query DB is asked " +
			"in it is control traffic (key lookups, tenant placements, last-used writes). In the phase with load on every shard, " +
			"the tenants send alike and share the consumer's batches, so DB's queries beyond its tenant's deliveries at the other " +
			"shards' queries per delivery are its control traffic there.",
		queries,
		rows_read: control?.d1_rows_read ?? 0,
		rows_written: control?.d1_rows_written ?? 0,
		counted_s: round(countedS, 1) ?? countedS,
		share_of_queries: totalQueries > 0 ? round(queries / totalQueries, 5) : null,
		queries_per_delivery: per(queries, idle.deliveries, 6),
		queries_per_s: round(perSecond, 3),
		expected_at_most: expectedAtMost,
		excess_on_db_in_spread:
			dbInSpread === undefined || othersDeliveries === 0
				? null
				: round(dbInSpread.d1_queries - (othersQueries / othersDeliveries) * dbInSpread.deliveries, 1),
	};
}

/**
 * Tenants on every local shard under load: per shard the counted D1 queries
 * and rows and what they are per delivery, deliveries/s, the control
 * database's share, and what the counts project for deployed databases.
 */
export async function runShards(ctx: BenchContext, config: ShardsConfig = SHARDS_CONFIG): Promise<ShardsResult> {
	const bindings = [...ctx.worker.shards];
	if (bindings.length < 2 || bindings[0] !== "DB") {
		throw new Error(
			`the worker binds ${bindings.join(", ") || "no D1 database"}: the scenario needs DB and a SHARD_<n>`,
		);
	}
	const cacheSeconds = { key: ctx.constants.key_cache_seconds, placement: ctx.constants.placement_cache_seconds };
	progress(`shards: one tenant on each of ${bindings.join(", ")}, fan-out 1, batch ingest with tenant keys`);
	const tenants: ShardTenant[] = [];
	try {
		for (const binding of bindings) tenants.push(await createTenant(ctx, binding));
		const spread = await runPhase(ctx, "every shard", tenants, tenants, config.spreadMs, config);
		const withoutDb = tenants.filter((tenant) => tenant.binding !== "DB");
		const controlMs = Math.max(cacheSeconds.key, cacheSeconds.placement) * 1000 + config.controlExtraMs;
		const idle = await runPhase(ctx, "DB idle", tenants, withoutDb, controlMs, config);
		const control = controlFigures(spread, idle, withoutDb.length, cacheSeconds);
		if (control.queries > control.expected_at_most) {
			idle.checks.push(
				`DB was asked ${control.queries} queries with its tenant idle, more than the ${control.expected_at_most} the caches allow with one isolate`,
			);
		}
		const dataShards = spread.shards.filter((shard) => shard.binding !== "DB");
		const dataQueries = dataShards.reduce((sum, shard) => sum + shard.d1_queries, 0);
		const dataDeliveries = dataShards.reduce((sum, shard) => sum + shard.deliveries, 0);
		const projection = projectShards({
			dataQueriesPerDelivery: per(dataQueries, dataDeliveries),
			controlQueriesPerDelivery: control.queries_per_delivery,
			queriesPerSecondPerDatabase: config.queriesPerSecondPerDatabase,
			targetDeliveriesPerSecond: config.targetDeliveriesPerSecond,
			plannedUtilisation: config.plannedUtilisation,
			cacheSeconds: Math.min(cacheSeconds.key, cacheSeconds.placement),
		});
		progress(
			`  shards: control database: ${control.queries} queries in ${fmt(control.counted_s, 0)} s with DB's tenant idle ` +
				`(${fmt((control.share_of_queries ?? Number.NaN) * 100, 3)} % of all, at most ${control.expected_at_most} expected); ` +
				`data ${fmt(projection.data_queries_per_delivery, 3)} queries/delivery → ${fmt(projection.deliveries_per_s_per_shard, 0)} ` +
				`deliveries/s per database at ${fmt(config.queriesPerSecondPerDatabase, 0)} queries/s, ${projection.shards_needed ?? "n/a"} ` +
				`shards for ${fmt(config.targetDeliveriesPerSecond, 0)}/s (${projection.shards_needed_at_planned_utilisation ?? "n/a"} at ` +
				`${fmt(config.plannedUtilisation * 100, 0)} %)`,
		);
		return {
			shards: bindings,
			events_per_request: config.eventsPerRequest,
			key_cache_seconds: cacheSeconds.key,
			placement_cache_seconds: cacheSeconds.placement,
			spread,
			control_idle: idle,
			control,
			projection_basis: `${dataShards.map((shard) => shard.binding).join(" and ")} with every shard sending (they hold no control data)`,
			projection,
		};
	} finally {
		for (const tenant of tenants) {
			await tenant.client.send("DELETE", `/v1/webhooks/${tenant.endpoint.id}`).catch(() => undefined);
			tenant.client.close();
		}
	}
}
