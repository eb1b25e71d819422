import { and, eq, inArray } from "drizzle-orm";
import { chunk, IDS_PER_STATEMENT } from "../lib/chunk";
import type { Database } from "./client";
import { deliveries } from "./schema";

/**
 * Marks as failed the pending deliveries whose retries were cancelled, e.g.
 * because their endpoint was deleted or answered 410.
 */
export async function failCancelledDeliveries(
	db: Database,
	tenantId: string,
	deliveryIds: readonly string[],
	reason: string,
): Promise<void> {
	const now = Date.now();
	for (const ids of chunk(deliveryIds, IDS_PER_STATEMENT)) {
		await db
			.update(deliveries)
			.set({ status: "failed", nextAttemptAt: null, error: reason, updatedAt: now })
			.where(and(eq(deliveries.tenantId, tenantId), inArray(deliveries.id, ids), eq(deliveries.status, "pending")));
	}
}
