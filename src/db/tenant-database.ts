import { type Database, openDatabase } from "./client";

/*
 * Where a tenant's data lives. Today every tenant is in the one D1 database
 * bound as DB; these functions are the only places that say so, so spreading
 * tenants over several databases later changes this file and nothing else.
 * A tenant's settings row is read together with its data (one round trip in
 * the consumer), so a shard would carry its own tenants' rows.
 */

/** The D1 database holding the tenant's endpoints, events, deliveries and event types. */
export function tenantD1(env: Env, _tenantId: string): D1Database {
	return env.DB;
}

export function tenantDatabase(env: Env, tenantId: string): Database {
	return openDatabase(tenantD1(env, tenantId));
}

/** The database of the tenant list and the API keys, which no single tenant owns. */
export function controlDatabase(env: Env): Database {
	return openDatabase(env.DB);
}

/** Every database that holds tenant data, for jobs that span the deployment, such as retention. */
export function allTenantD1s(env: Env): D1Database[] {
	return allTenantShards(env).map((shard) => shard.d1);
}

/** The same databases with the names of their bindings, for reports per database (GET /v1/health). */
export function allTenantShards(env: Env): { name: string; d1: D1Database }[] {
	return [{ name: "DB", d1: env.DB }];
}
