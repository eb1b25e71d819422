import { z } from "@hono/zod-openapi";
import type { ApiKeyRow, TenantRow } from "../../db/schema";
import { DEFAULT_TENANT_ID } from "../../db/tenants";
import { SIGNATURE_HEADER_FORBIDDEN } from "../../delivery/request";
import { parseTenantSettings } from "../../delivery/settings";
import { ID_PREFIX } from "../../lib/ids";
import {
	DEFAULT_TENANT_LIMITS,
	effectiveLimits,
	storedLimitOverrides,
	TENANT_LIMIT_CEILINGS,
	type TenantLimitName,
} from "../../tenants/limits";
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

const SvixHeaderStyle = z.enum(["svix", "webhook"]).openapi({
	description:
		"The signature headers of endpoints created through the Svix-compatible API (/api/v1): svix-* (default) or webhook-*",
});

/** A Svix application's `throttleRate` (uint16 ≥ 1), kept for Svix clients. */
export const ThrottleRate = z.number().int().min(1).max(65535).openapi({
	description:
		"Messages a second for the tenant as a whole (a Svix application's `throttleRate`). Stored and returned; Edgehook paces each endpoint by its own `rate_limit_per_second` instead",
	example: 100,
});

/** How a tenant's deliveries are signed and paced; every field optional, defaults in the README. */
export const TenantSettingsSchema = z
	.strictObject({
		signature_header: SignatureHeader.optional(),
		signature_prefix: SignaturePrefix.optional(),
		user_agent: UserAgent.optional(),
		retry_schedule: RetrySchedule.optional(),
		timeout_ms: TimeoutMs.optional(),
		svix_header_style: SvixHeaderStyle.optional(),
		throttle_rate: ThrottleRate.optional(),
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
		svix_header_style: SvixHeaderStyle.nullable().optional(),
		throttle_rate: ThrottleRate.nullable().optional(),
	})
	.openapi("TenantSettingsPatch");

function limitValue(name: TenantLimitName, noun: string) {
	return z
		.number()
		.int()
		.min(0)
		.max(TENANT_LIMIT_CEILINGS[name])
		.openapi({
			description: `Most ${noun} the tenant may keep (default ${DEFAULT_TENANT_LIMITS[name]}); 0 allows none`,
			example: DEFAULT_TENANT_LIMITS[name],
		});
}

const MaxEndpoints = limitValue("max_endpoints", "endpoints");
const MaxEventTypes = limitValue("max_event_types", "event types");
const MaxTemplates = limitValue("max_templates", "templates");

/** The limits a tenant has, its own or the defaults. */
export const TenantLimitsSchema = z
	.object({ max_endpoints: MaxEndpoints, max_event_types: MaxEventTypes, max_templates: MaxTemplates })
	.openapi("TenantLimits");

/** Limits given when a tenant is created; a missing one is the default. */
const TenantLimitsIn = z
	.strictObject({
		max_endpoints: MaxEndpoints.optional(),
		max_event_types: MaxEventTypes.optional(),
		max_templates: MaxTemplates.optional(),
	})
	.openapi("TenantLimitsIn");

/** A PATCH changes the limits it names; null puts one back to its default. */
const TenantLimitsPatch = z
	.strictObject({
		max_endpoints: MaxEndpoints.nullable().optional(),
		max_event_types: MaxEventTypes.nullable().optional(),
		max_templates: MaxTemplates.nullable().optional(),
	})
	.openapi("TenantLimitsPatch");

export const TenantName = z.string().min(1).max(200).openapi({ example: "Acme Corp" });

const ShardName = z
	.string()
	.regex(/^(DB|SHARD_[0-9]+)$/, "must be DB or SHARD_<n>, the name of a D1 binding")
	.openapi({
		description:
			"The D1 binding that holds the tenant's data: DB (the first database) or SHARD_<n>. Chosen when the tenant is created and kept",
		example: "SHARD_2",
	});

/** Svix's uid rule (1–256 of letters, digits, `-`, `_`, `.`), minus the values an id takes, so a path value is one or the other. */
export const TenantUid = z
	.string()
	.min(1)
	.max(256)
	.regex(/^[a-zA-Z0-9\-_.]+$/, "must be letters, digits, -, _ or .")
	.refine(
		(uid) => !uid.startsWith(ID_PREFIX.tenant),
		`may not start with ${ID_PREFIX.tenant}, the prefix of tenant ids`,
	)
	.refine((uid) => uid !== DEFAULT_TENANT_ID, `may not be ${DEFAULT_TENANT_ID}, the id of the built-in tenant`)
	.openapi({
		description:
			"Your own unique name for the tenant (a Svix application's `uid`); usable in /v1/tenants/{id} in place of the id. Freed when the tenant is deleted",
		example: "acme-corp",
	});

/** At most this many bytes of metadata JSON per tenant: it is returned with every read of the tenant. */
export const MAX_METADATA_BYTES = 16 * 1024;

export const TenantMetadata = z
	.record(z.string().max(256), z.string())
	.refine(
		(metadata) => new TextEncoder().encode(JSON.stringify(metadata)).length <= MAX_METADATA_BYTES,
		`must be at most ${MAX_METADATA_BYTES} bytes as JSON`,
	)
	.openapi({ description: "Your own strings, returned as given", example: { plan: "enterprise" } });

/** A tenant named in a path: by its id, or by its uid. */
export const TenantRef = z.object({
	id: z
		.string()
		.min(1)
		.max(256)
		.openapi({ description: "The tenant's id, or its uid", example: "ten_3k9x2m7q1c8v4b6n" }),
});

export const TenantIn = z
	.strictObject({
		name: TenantName,
		uid: TenantUid.optional(),
		metadata: TenantMetadata.optional(),
		settings: TenantSettingsSchema.optional(),
		limits: TenantLimitsIn.optional(),
		shard: ShardName.optional().openapi({
			description:
				"Where to put the tenant's data; left out, the shard with the fewest tenants among NEW_TENANT_SHARDS. It cannot be changed later through the API",
		}),
	})
	.openapi("TenantIn");

export const TenantPatch = z
	.strictObject({
		name: TenantName.optional(),
		uid: TenantUid.nullable().optional().openapi({ description: "A new uid; null removes it" }),
		metadata: TenantMetadata.optional().openapi({ description: "Replaces the stored metadata" }),
		settings: TenantSettingsPatch.optional(),
		limits: TenantLimitsPatch.optional(),
	})
	.openapi("TenantPatch");

/**
 * What any key may change about its own tenant: what a Svix application
 * holds. Delivery settings but throttle_rate, and limits, stay the admin
 * key's, through /v1/tenants/{id}.
 */
export const OwnTenantPatch = z
	.strictObject({
		name: TenantName.optional(),
		uid: TenantUid.nullable().optional().openapi({ description: "A new uid; null removes it" }),
		metadata: TenantMetadata.optional().openapi({ description: "Replaces the stored metadata" }),
		settings: z.strictObject({ throttle_rate: ThrottleRate.nullable().optional() }).optional(),
	})
	.openapi("OwnTenantPatch");

export const TenantOut = z
	.object({
		id: z.string().openapi({ example: "ten_3k9x2m7q1c8v4b6n" }),
		name: z.string(),
		uid: z.string().nullable(),
		metadata: z.record(z.string(), z.string()),
		settings: TenantSettingsSchema,
		limits: TenantLimitsSchema,
		shard: ShardName,
		created_at: z.string(),
		updated_at: z.string(),
	})
	.openapi("TenantOut");

export function tenantOut(row: TenantRow): z.infer<typeof TenantOut> {
	return {
		id: row.id,
		name: row.name,
		uid: row.uid,
		metadata: parseMetadata(row.metadata),
		settings: parseTenantSettings(row.settings),
		limits: effectiveLimits(storedLimitOverrides(row.settings)),
		shard: row.shard,
		created_at: iso(row.createdAt),
		updated_at: iso(Math.max(row.updatedAt, row.createdAt)),
	};
}

function parseMetadata(json: string): Record<string, string> {
	const parsed: unknown = JSON.parse(json);
	return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
		? (parsed as Record<string, string>)
		: {};
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
