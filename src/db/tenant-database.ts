import { and, eq, gte, inArray, isNull, lt, lte, sql } from "drizzle-orm";
import { chunk, IDS_PER_STATEMENT } from "../lib/chunk";
import { ApiError, notFound } from "../lib/errors";
import { type Database, openDatabase } from "./client";
import { type TenantRow, tenants } from "./schema";
import { DEFAULT_TENANT_ID } from "./tenants";

/*
 * Where a tenant's data lives (docs/SCALING.md, "Shards"). The D1 binding DB
 * is the control database: the tenant list with each tenant's placement, the
 * API keys, and dashboard sign-outs. It is also the first data shard, and by
 * default the only one. Every further D1 binding named SHARD_<n> is another
 * data shard; every database has the same schema. A tenant is placed when it
 * is created and stays: this file is the only place that maps a tenant to a
 * database.
 *
 * A shard keeps a copy of each of its tenants' rows, so the consumer reads a
 * tenant's settings in the same round trip as its events, from its own shard.
 * The control row is the one that counts; writeTenantCopy says in which
 * order the two are written.
 */

/** The binding of the control database, also the first shard and the home of the default tenant. */
export const CONTROL_SHARD = "DB";
const SHARD_BINDING = /^SHARD_[0-9]+$/;

/**
 * How long an isolate trusts a tenant's placement and liveness: a deleted
 * tenant is refused by every isolate within this bound, as a revoked key is
 * (KEY_CACHE_SECONDS). The API never changes a placement; moving a tenant by
 * hand (docs/SCALING.md) must wait this long before its new shard is used.
 */
export const PLACEMENT_CACHE_SECONDS = 30;
const PLACEMENT_CACHE_LIMIT = 10_000;

interface KnownPlacement {
	/** Null: no live tenant has this id. */
	shard: string | null;
	checkedAt: number;
}

const placements = new Map<string, KnownPlacement>();

function isD1(value: unknown): value is D1Database {
	return (
		typeof value === "object" &&
		value !== null &&
		typeof Reflect.get(value, "prepare") === "function" &&
		typeof Reflect.get(value, "batch") === "function"
	);
}

/** Shard bindings in order: DB, then SHARD_2, SHARD_3, … by number. */
export function shardNames(env: Env): string[] {
	const extra = Object.keys(env)
		.filter((name) => SHARD_BINDING.test(name) && isD1(Reflect.get(env, name)))
		.sort((a, b) => Number(a.slice("SHARD_".length)) - Number(b.slice("SHARD_".length)));
	return [CONTROL_SHARD, ...extra];
}

/** The database of one shard binding; a tenant placed on a binding that was removed is an operator's error, answered 503. */
export function shardD1(env: Env, shard: string): D1Database {
	const d1: unknown = shard === CONTROL_SHARD || SHARD_BINDING.test(shard) ? Reflect.get(env, shard) : undefined;
	if (!isD1(d1)) {
		throw new ApiError(
			"unavailable",
			`this tenant's data is on the D1 binding ${shard}, which this deployment no longer has: bind it again in wrangler.toml`,
		);
	}
	return d1;
}

export function shardDatabase(env: Env, shard: string): Database {
	return openDatabase(shardD1(env, shard));
}

/** The database of the tenant list, placements and API keys, which no single tenant owns. */
export function controlDatabase(env: Env): Database {
	return openDatabase(env.DB);
}

/** Every shard with its binding's name, for jobs and reports that span the deployment. */
export function allTenantShards(env: Env): { name: string; d1: D1Database }[] {
	return shardNames(env).map((name) => ({ name, d1: shardD1(env, name) }));
}

/**
 * The shard of a live tenant, from this isolate's cache when it is fresh,
 * else from the control database. Answers 404 for a tenant that does not
 * exist or is deleted. The default tenant is always on DB and always live.
 */
export async function tenantShard(env: Env, tenantId: string): Promise<string> {
	if (tenantId === DEFAULT_TENANT_ID) return CONTROL_SHARD;
	await learnPlacements(env, [tenantId]);
	const shard = placements.get(tenantId)?.shard ?? null;
	if (shard === null) throw notFound("tenant", tenantId);
	return shard;
}

/**
 * Looks up, in one statement per IDS_PER_STATEMENT, the placements of the
 * tenants this isolate does not know (or has known too long), so a consumer
 * batch of many tenants on a cold cache costs the control database one
 * read, not one per tenant. tenantShard then answers from the cache.
 */
export async function learnPlacements(env: Env, tenantIds: readonly string[]): Promise<void> {
	const now = Date.now();
	const unknown = [...new Set(tenantIds)].filter((id) => {
		const cached = placements.get(id);
		return id !== DEFAULT_TENANT_ID && !(cached && now - cached.checkedAt < PLACEMENT_CACHE_SECONDS * 1000);
	});
	for (const part of chunk(unknown, IDS_PER_STATEMENT)) {
		const rows = await controlDatabase(env)
			.select({ id: tenants.id, shard: tenants.shard })
			.from(tenants)
			.where(and(inArray(tenants.id, part), isNull(tenants.deletedAt)));
		const found = new Map(rows.map((row) => [row.id, row.shard]));
		if (placements.size + part.length > PLACEMENT_CACHE_LIMIT) placements.clear();
		for (const id of part) placements.set(id, { shard: found.get(id) ?? null, checkedAt: now });
	}
}

/** Drops a tenant from this isolate's cache, e.g. right after it is created or deleted. */
export function forgetTenantPlacement(tenantId: string): void {
	placements.delete(tenantId);
}

/**
 * The shard a new tenant goes on: the one the operator names, or else the
 * one with the fewest live tenants among those NEW_TENANT_SHARDS opens
 * (every shard when it is empty). Counting reads the control database's
 * whole tenant list, once per tenant created, never on the delivery path.
 */
export async function chooseShard(env: Env, requested: string | undefined): Promise<string> {
	const bound = shardNames(env);
	if (requested !== undefined) {
		if (!bound.includes(requested)) {
			throw new ApiError(
				"validation_failed",
				`shard: ${requested} is not a D1 binding of this deployment; it has ${bound.join(", ")}`,
				[{ path: "shard", message: `must be one of ${bound.join(", ")}` }],
			);
		}
		return requested;
	}
	const open = openShards(env, bound);
	const counts = await controlDatabase(env)
		.select({ shard: tenants.shard, count: sql<number>`count(*)` })
		.from(tenants)
		.where(isNull(tenants.deletedAt))
		.groupBy(tenants.shard);
	const load = new Map(counts.map((row) => [row.shard, row.count]));
	// Ties go to the later shard: a new shard is empty, and the first one also carries the control data.
	let best = open[0] ?? CONTROL_SHARD;
	for (const shard of open) if ((load.get(shard) ?? 0) <= (load.get(best) ?? 0)) best = shard;
	return best;
}

/** The shards NEW_TENANT_SHARDS lets new tenants onto; names that are not bound are ignored. */
function openShards(env: Env, bound: readonly string[]): string[] {
	const listed = (env.NEW_TENANT_SHARDS ?? "").split(/[\s,]+/).filter((name) => name !== "");
	const open = listed.filter((name) => bound.includes(name));
	return open.length > 0 ? open : [...bound];
}

/**
 * Writes the shard's copy of a tenant row: the whole row, so a copy that
 * missed an earlier write catches up, unless the copy is already newer (two
 * changes racing: the later control row wins on both sides). A new tenant's
 * copy is written before its control row, so no placement names a shard
 * without its copy; changes write the control row first, the commit point,
 * and the copy after it: a failure in between answers 503, and the client's
 * retry brings the copy in line.
 */
export async function writeTenantCopy(env: Env, row: TenantRow, onlyIfNewer = false): Promise<void> {
	if (row.shard === CONTROL_SHARD) return;
	await shardDatabase(env, row.shard)
		.insert(tenants)
		.values(row)
		.onConflictDoUpdate({
			target: tenants.id,
			set: {
				name: row.name,
				settings: row.settings,
				updatedAt: row.updatedAt,
				deletedAt: row.deletedAt,
				shard: row.shard,
				uid: row.uid,
				metadata: row.metadata,
			},
			setWhere: onlyIfNewer
				? lt(tenants.updatedAt, sql`excluded.updated_at`)
				: lte(tenants.updatedAt, sql`excluded.updated_at`),
		});
}

/** How far back the sweeper looks for tenant changes whose copy may have missed its write. */
const COPY_REPAIR_WINDOW_MS = 10 * 60 * 1000;

/**
 * Writes again the copies, on `shard`, of live tenants changed in the last
 * COPY_REPAIR_WINDOW_MS whose copy is older than their control row: a change
 * whose copy write failed (the client got a 503 and never retried) reaches
 * its deliveries within a minute anyway. Run by the sweeper; a copy that is
 * current is not written, so this costs one control read per shard a minute.
 */
export async function repairTenantCopies(env: Env, shard: string, nowMs: number): Promise<number> {
	if (shard === CONTROL_SHARD) return 0;
	const changed = await controlDatabase(env)
		.select()
		.from(tenants)
		.where(
			and(eq(tenants.shard, shard), isNull(tenants.deletedAt), gte(tenants.updatedAt, nowMs - COPY_REPAIR_WINDOW_MS)),
		);
	for (const row of changed) await writeTenantCopy(env, row, true);
	return changed.length;
}

/** A live tenant's database, or null for a deleted or unknown tenant, whose background work simply ends. */
export async function liveTenantD1(env: Env, tenantId: string): Promise<D1Database | null> {
	try {
		return shardD1(env, await tenantShard(env, tenantId));
	} catch (error) {
		if (error instanceof ApiError && error.code === "not_found") return null;
		throw error;
	}
}

export async function liveTenantDatabase(env: Env, tenantId: string): Promise<Database | null> {
	const d1 = await liveTenantD1(env, tenantId);
	return d1 === null ? null : openDatabase(d1);
}
