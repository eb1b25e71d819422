import { eq } from "drizzle-orm";
import { type TemplateLookup, templateKey } from "../channels/render";
import type { Database } from "./client";
import { templates } from "./schema";

/** Every template of the tenant, as the consumer looks them up. */
export async function tenantTemplates(db: Database, tenantId: string): Promise<TemplateLookup> {
	const rows = await db
		.select({ channel: templates.channel, eventType: templates.eventType, expression: templates.expression })
		.from(templates)
		.where(eq(templates.tenantId, tenantId));
	return new Map(rows.map((row) => [templateKey(tenantId, row.channel, row.eventType), row.expression]));
}
