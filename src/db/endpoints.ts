import { and, eq, or } from "drizzle-orm";
import { ApiError, notFound } from "../lib/errors";
import type { Database } from "./client";
import { type EndpointRow, endpoints } from "./schema";

/**
 * The endpoint a path names, by its id or by its uid, or a 404 when neither
 * exists in this tenant. A uid may not take the id prefix (hook_), so the
 * two can never name different endpoints; both lookups are index reads (the
 * primary key and endpoints_uid_unique).
 */
export async function getEndpointOr404(db: Database, tenantId: string, idOrUid: string): Promise<EndpointRow> {
	const [row] = await db
		.select()
		.from(endpoints)
		.where(and(eq(endpoints.tenantId, tenantId), or(eq(endpoints.id, idOrUid), eq(endpoints.uid, idOrUid))));
	if (!row) throw notFound("webhook", idOrUid);
	return row;
}

/** Whether a write failed on endpoints_uid_unique: another endpoint of the tenant has that uid. */
function isUidConflict(error: unknown): boolean {
	for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) {
		if (/UNIQUE constraint failed: endpoints\.tenant_id, endpoints\.uid/.test(cause.message)) return true;
	}
	return false;
}

/** Runs an endpoint write, answering 409 when the uid it sets is another endpoint's. */
export async function withUniqueUid<T>(uid: string | null | undefined, write: () => Promise<T>): Promise<T> {
	try {
		return await write();
	} catch (error) {
		if (typeof uid === "string" && isUidConflict(error)) {
			throw new ApiError("conflict", `another endpoint of this tenant already has the uid ${uid}`);
		}
		throw error;
	}
}
