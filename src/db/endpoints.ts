import { and, eq } from "drizzle-orm";
import { notFound } from "../lib/errors";
import type { Database } from "./client";
import { type EndpointRow, endpoints } from "./schema";

/** The endpoint, or a 404 when it does not exist in this tenant. */
export async function getEndpointOr404(db: Database, tenantId: string, id: string): Promise<EndpointRow> {
	const [row] = await db
		.select()
		.from(endpoints)
		.where(and(eq(endpoints.tenantId, tenantId), eq(endpoints.id, id)));
	if (!row) throw notFound("webhook", id);
	return row;
}
