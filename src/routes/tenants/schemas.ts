import { z } from "@hono/zod-openapi";
import type { ApiKeyRow, TenantRow } from "../../db/schema";
import { SIGNATURE_HEADER_FORBIDDEN } from "../../delivery/request";
import { parseTenantSettings } from "../../delivery/settings";
import { iso } from "../shared";
import { HEADER_NAME, RetrySchedule, TimeoutMs } from "../webhooks/schemas";

const SignatureHeader = z
	.string()
	.min(1)
	.max(100)
	.regex(HEADER_NAME, "must be a valid header name")
	.refine(
		(name) => !SIGNATURE_HEADER_FORBIDDEN.has(name.toLowerCase()),
		"may not be a header Edgehook sets itself (content-type, user-agent, webhook-*, X-Webhook-ID, X-Webhook-Timestamp) or a connection header",
	)
	.openapi({ example: "X-Khaleeji-Signature" });

const SignaturePrefix = z
	.enum(["sha256=", ""])
	.openapi({ description: "Put before the hex signature: `sha256=` or nothing" });

const UserAgent = z
	.string()
	.min(1)
	.max(256)
	.regex(/^[\x20-\x7e]+$/, "must be printable ASCII")
	.openapi({ example: "KYC-Webhooks/1.0" });

/** How a tenant's deliveries are signed and paced; every field optional, defaults in the README. */
export const TenantSettingsSchema = z
	.strictObject({
		signature_header: SignatureHeader.optional(),
		signature_prefix: SignaturePrefix.optional(),
		user_agent: UserAgent.optional(),
		retry_schedule: RetrySchedule.optional(),
		timeout_ms: TimeoutMs.optional(),
	})
	.openapi("TenantSettings");

/** A PATCH changes the fields it names; null puts a field back to its default. */
const TenantSettingsPatch = z
	.strictObject({
		signature_header: SignatureHeader.nullable().optional(),
		signature_prefix: SignaturePrefix.nullable().optional(),
		user_agent: UserAgent.nullable().optional(),
		retry_schedule: RetrySchedule.nullable().optional(),
		timeout_ms: TimeoutMs.nullable().optional(),
	})
	.openapi("TenantSettingsPatch");

const TenantName = z.string().min(1).max(200).openapi({ example: "Acme Corp" });

export const TenantIn = z
	.strictObject({ name: TenantName, settings: TenantSettingsSchema.optional() })
	.openapi("TenantIn");

export const TenantPatch = z
	.strictObject({ name: TenantName.optional(), settings: TenantSettingsPatch.optional() })
	.openapi("TenantPatch");

export const TenantOut = z
	.object({
		id: z.string().openapi({ example: "ten_3k9x2m7q1c8v4b6n" }),
		name: z.string(),
		settings: TenantSettingsSchema,
		created_at: z.string(),
		updated_at: z.string(),
	})
	.openapi("TenantOut");

export function tenantOut(row: TenantRow): z.infer<typeof TenantOut> {
	return {
		id: row.id,
		name: row.name,
		settings: parseTenantSettings(row.settings),
		created_at: iso(row.createdAt),
		updated_at: iso(Math.max(row.updatedAt, row.createdAt)),
	};
}

/** The settings after a PATCH: named fields replaced, null ones removed, the rest kept. */
export function patchedSettings(
	current: string,
	patch: z.infer<typeof TenantSettingsPatch> | undefined,
): z.infer<typeof TenantSettingsSchema> {
	const merged: Record<string, unknown> = { ...parseTenantSettings(current) };
	for (const [name, value] of Object.entries(patch ?? {})) {
		if (value === null) delete merged[name];
		else if (value !== undefined) merged[name] = value;
	}
	return merged as z.infer<typeof TenantSettingsSchema>;
}

export const ApiKeyIn = z.strictObject({ name: z.string().min(1).max(200).openapi({ example: "production backend" }) });

export const ApiKeyOut = z
	.object({
		id: z.string().openapi({ example: "key_3k9x2m7q1c8v4b6n" }),
		name: z.string(),
		prefix: z.string().openapi({ description: "The key's first characters", example: "ehk_Xq3vB9kd" }),
		created_at: z.string(),
		last_used_at: z.string().nullable().openapi({ description: "Updated at most once an hour" }),
	})
	.openapi("ApiKeyOut");

export const ApiKeyCreated = ApiKeyOut.extend({
	key: z.string().openapi({ description: "The key in full; it is shown only this once" }),
}).openapi("ApiKeyCreated");

export function apiKeyOut(row: ApiKeyRow): z.infer<typeof ApiKeyOut> {
	return {
		id: row.id,
		name: row.name,
		prefix: row.prefix,
		created_at: iso(row.createdAt),
		last_used_at: iso(row.lastUsedAt),
	};
}
