import { eq } from "drizzle-orm";
import { type TemplateLookup, templateLookup } from "../channels/render";
import type { Database } from "./client";
import { templates } from "./schema";

/** Every template of the tenant, as the consumer looks them up. */
export async function tenantTemplates(db: Database, tenantId: string): Promise<TemplateLookup> {
	return templateLookup(await db.select().from(templates).where(eq(templates.tenantId, tenantId)));
}
