import { and, eq, isNull } from "drizzle-orm";
import { notFound } from "../lib/errors";
import type { Database } from "./client";
import { type TenantRow, tenants } from "./schema";

/** The built-in tenant the admin key acts on without X-Tenant-Id; it cannot be deleted. */
export const DEFAULT_TENANT_ID = "default";

/** A live tenant, or a 404: a deleted one is gone as far as the API is concerned. */
export async function getTenantOr404(db: Database, id: string): Promise<TenantRow> {
	const [row] = await db
		.select()
		.from(tenants)
		.where(and(eq(tenants.id, id), isNull(tenants.deletedAt)));
	if (!row) throw notFound("tenant", id);
	return row;
}
