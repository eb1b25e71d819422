import { and, eq, isNull, sql } from "drizzle-orm";
import { ApiError, notFound } from "../lib/errors";
import { ID_PREFIX } from "../lib/ids";
import type { Database } from "./client";
import { rowWhere } from "./limited-insert";
import { endpoints, type TenantRow, tenants, tenantUids } from "./schema";

/** The built-in tenant the admin key acts on without X-Tenant-Id; it cannot be deleted. */
export const DEFAULT_TENANT_ID = "default";

/**
 * Whether a path value names a tenant by id rather than by uid. A uid may
 * not take the id prefix, nor be `default`, so the two never overlap.
 */
export function isTenantIdShaped(value: string): boolean {
	return value === DEFAULT_TENANT_ID || value.startsWith(ID_PREFIX.tenant);
}

/** A live tenant, or a 404: a deleted one is gone as far as the API is concerned. */
export async function getTenantOr404(db: Database, id: string): Promise<TenantRow> {
	const [row] = await db
		.select()
		.from(tenants)
		.where(and(eq(tenants.id, id), isNull(tenants.deletedAt)));
	if (!row) throw notFound("tenant", id);
	return row;
}

/** The id of the tenant that claims `uid` in the control database, or null. */
export async function tenantIdOfUid(control: Database, uid: string): Promise<string | null> {
	const [row] = await control.select({ tenantId: tenantUids.tenantId }).from(tenantUids).where(eq(tenantUids.uid, uid));
	return row?.tenantId ?? null;
}

/** A live tenant named by its id or its uid (read from the control database), or a 404 naming what was asked for. */
export async function getTenantByRefOr404(control: Database, idOrUid: string): Promise<TenantRow> {
	const id = isTenantIdShaped(idOrUid) ? idOrUid : await tenantIdOfUid(control, idOrUid);
	if (id === null) throw notFound("tenant", idOrUid);
	try {
		return await getTenantOr404(control, id);
	} catch (error) {
		if (error instanceof ApiError && error.code === "not_found") throw notFound("tenant", idOrUid);
		throw error;
	}
}

export function uidTaken(uid: string): ApiError {
	return new ApiError("conflict", `uid ${uid} is already taken by another tenant`);
}

/** Whether `tenantId` holds the claim on `uid`: the condition every write of a tenant's uid is made under. */
function holdsClaim(uid: string, tenantId: string) {
	return sql`exists (select 1 from ${tenantUids} where ${tenantUids.uid} = ${uid} and ${tenantUids.tenantId} = ${tenantId})`;
}

/**
 * Inserts a tenant's control row together with the claim on its uid, in one
 * D1 batch (one transaction): the claim is taken only if the uid is free,
 * and the row is inserted only if the claim is this tenant's, so a taken
 * uid stores nothing. Answers null when the uid was taken.
 */
export async function insertTenantClaimingUid(control: Database, row: TenantRow): Promise<TenantRow | null> {
	if (row.uid === null) {
		const [inserted] = await control.insert(tenants).values(row).returning();
		return inserted ?? null;
	}
	const [, inserted] = await control.batch([
		control.insert(tenantUids).values({ uid: row.uid, tenantId: row.id }).onConflictDoNothing(),
		control
			.insert(tenants)
			.select(rowWhere(tenants, row, holdsClaim(row.uid, row.id)))
			.returning(),
	]);
	return inserted[0] ?? null;
}

export type TenantChanges = Pick<TenantRow, "name" | "settings" | "metadata" | "uid" | "updatedAt">;

/**
 * Writes a live tenant's changes to its control row. A new uid is claimed,
 * and the old claim released, in the same batch as the row: the row takes
 * the new uid only if its claim is this tenant's, and a claim goes only once
 * the row no longer names it, so no failure in between leaves a tenant with
 * a uid it does not hold or a claim it does not use. Answers null when the
 * new uid is taken or the tenant is gone (the caller tells which).
 */
export async function updateTenantClaimingUid(
	control: Database,
	existing: TenantRow,
	changes: TenantChanges,
): Promise<TenantRow | null> {
	const live = and(eq(tenants.id, existing.id), isNull(tenants.deletedAt));
	if (changes.uid === existing.uid) {
		const [row] = await control.update(tenants).set(changes).where(live).returning();
		return row ?? null;
	}
	const oldUid = existing.uid;
	const currentUid = sql`(select ${tenants.uid} from ${tenants} where ${tenants.id} = ${existing.id})`;
	// The old claim, once the row no longer names it.
	const releaseOld = control
		.delete(tenantUids)
		.where(
			and(
				eq(tenantUids.uid, oldUid ?? ""),
				eq(tenantUids.tenantId, existing.id),
				sql`coalesce(${currentUid}, '') <> ${oldUid ?? ""}`,
			),
		);
	const newUid = changes.uid;
	if (newUid === null) {
		const [updated] = await control.batch([control.update(tenants).set(changes).where(live).returning(), releaseOld]);
		return updated[0] ?? null;
	}
	const [, updated] = await control.batch([
		control.insert(tenantUids).values({ uid: newUid, tenantId: existing.id }).onConflictDoNothing(),
		control
			.update(tenants)
			.set(changes)
			.where(and(live, holdsClaim(newUid, existing.id)))
			.returning(),
		releaseOld,
		// The new claim, if the row did not take it (the tenant was deleted meanwhile).
		control
			.delete(tenantUids)
			.where(
				and(
					eq(tenantUids.uid, newUid),
					eq(tenantUids.tenantId, existing.id),
					sql`not exists (select 1 from ${tenants} where ${tenants.id} = ${existing.id} and ${tenants.uid} = ${newUid} and ${tenants.deletedAt} is null)`,
				),
			),
	]);
	return updated[0] ?? null;
}

/** Marks a tenant deleted and gives its uid back, in one batch, so the uid is free the moment the tenant answers 404. */
export async function markTenantDeleted(control: Database, existing: TenantRow, nowMs: number): Promise<void> {
	await control.batch([
		control.update(tenants).set({ deletedAt: nowMs, updatedAt: nowMs, uid: null }).where(eq(tenants.id, existing.id)),
		control.delete(tenantUids).where(and(eq(tenantUids.tenantId, existing.id), eq(tenantUids.uid, existing.uid ?? ""))),
	]);
}

/**
 * Of `tenantIds` (all on the shard `db` opens), those with at least one
 * endpoint, and those with at least one disabled one. Each tenant costs a
 * walk of its own range of the endpoints key, stopping at the first match:
 * a row for the first question, at most its endpoints for the second.
 */
export async function endpointPresence(
	db: Database,
	tenantIds: readonly string[],
): Promise<{ withEndpoints: Set<string>; withDisabled: Set<string> }> {
	if (tenantIds.length === 0) return { withEndpoints: new Set(), withDisabled: new Set() };
	const ids = JSON.stringify(tenantIds);
	const rows = await db.all<{ tenant_id: string; disabled: number }>(sql`
		SELECT ids.value AS tenant_id,
			EXISTS (SELECT 1 FROM ${endpoints} WHERE ${endpoints.tenantId} = ids.value AND ${endpoints.active} = 0) AS disabled
		FROM json_each(${ids}) AS ids
		WHERE EXISTS (SELECT 1 FROM ${endpoints} WHERE ${endpoints.tenantId} = ids.value)`);
	return {
		withEndpoints: new Set(rows.map((row) => row.tenant_id)),
		withDisabled: new Set(rows.filter((row) => row.disabled === 1).map((row) => row.tenant_id)),
	};
}
