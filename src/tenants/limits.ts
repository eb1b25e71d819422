import { eq } from "drizzle-orm";
import { tenants } from "../db/schema";
import { controlDatabase } from "../db/tenant-database";
import { ApiError } from "../lib/errors";

/** How many of each a tenant may keep; only the admin key's /v1/tenants routes change them. */
export interface TenantLimits {
	max_endpoints: number;
	max_event_types: number;
	max_templates: number;
}

export type TenantLimitName = keyof TenantLimits;

/** The limits the operator set for one tenant; a missing one is the default. */
export type TenantLimitOverrides = Partial<TenantLimits>;

/*
 * The defaults, for a tenant the operator has not given its own:
 * - endpoints 250: every endpoint subscribed to a type gets each of its events,
 *   so this bounds one event at 250 deliveries and a 100-event batch at 25,000,
 *   while leaving room for an endpoint per service, environment and customer
 *   system of even a large integration.
 * - event types 500: the catalog documents what a tenant sends; the largest
 *   public webhook catalogs hold a few hundred types, and each entry may carry
 *   a schema and an example of up to 256 KiB.
 * - templates 200: every delivery batch reads all of its tenants' templates
 *   (src/queue/context.ts), each up to 16 KiB, so this bounds that read at
 *   about 3 MiB; it is three channels times 66 event types, the cap that held
 *   before limits were per tenant.
 */
export const DEFAULT_TENANT_LIMITS: Readonly<TenantLimits> = {
	max_endpoints: 250,
	max_event_types: 500,
	max_templates: 200,
};

/*
 * The most the operator may set. An event row stores its fan-out as a JSON
 * list of endpoint ids (about 24 bytes each), so 10,000 endpoints keep it
 * near 240 KB, well inside D1's row limit; 1,000 templates keep the batch's
 * template read under 16 MiB.
 */
export const TENANT_LIMIT_CEILINGS: Readonly<TenantLimits> = {
	max_endpoints: 10_000,
	max_event_types: 10_000,
	max_templates: 1_000,
};

/** Where the overrides live in the tenant row's `settings` JSON, beside the delivery settings. */
export const LIMITS_KEY = "limits";

const LIMIT_NAMES = Object.keys(DEFAULT_TENANT_LIMITS) as TenantLimitName[];

/** The overrides stored in a tenant row's settings; anything that is not a whole number is ignored. */
export function storedLimitOverrides(settingsJson: string): TenantLimitOverrides {
	const parsed: unknown = JSON.parse(settingsJson);
	if (typeof parsed !== "object" || parsed === null) return {};
	const stored: unknown = (parsed as Record<string, unknown>)[LIMITS_KEY];
	if (typeof stored !== "object" || stored === null) return {};
	const overrides: TenantLimitOverrides = {};
	for (const name of LIMIT_NAMES) {
		const value: unknown = (stored as Record<string, unknown>)[name];
		if (typeof value === "number" && Number.isInteger(value) && value >= 0) overrides[name] = value;
	}
	return overrides;
}

export function effectiveLimits(overrides: TenantLimitOverrides): TenantLimits {
	return { ...DEFAULT_TENANT_LIMITS, ...overrides };
}

/** The overrides after a PATCH: named limits replaced, null ones back to the default, the rest kept. */
export function patchedLimitOverrides(
	current: TenantLimitOverrides,
	patch: { [Name in TenantLimitName]?: number | null } | undefined,
): TenantLimitOverrides {
	const merged: TenantLimitOverrides = { ...current };
	for (const name of LIMIT_NAMES) {
		const value = patch?.[name];
		if (value === null) delete merged[name];
		else if (value !== undefined) merged[name] = value;
	}
	return merged;
}

/** The settings column's JSON: the delivery settings, with the overrides under LIMITS_KEY when there are any. */
export function storedTenantSettings(settings: object, overrides: TenantLimitOverrides): string {
	return JSON.stringify(Object.keys(overrides).length === 0 ? settings : { ...settings, [LIMITS_KEY]: overrides });
}

/**
 * A tenant's limits, read from its row by primary key. `default` has a row
 * from the first migration; a tenant without one (none exists today) gets
 * the defaults rather than no limit. Read before the create, in a statement of
 * its own: a limit the operator changes in between applies from the next
 * create on, while the count is taken inside the create's own INSERT.
 */
export async function tenantLimits(env: Env, tenantId: string): Promise<TenantLimits> {
	const [row] = await controlDatabase(env)
		.select({ settings: tenants.settings })
		.from(tenants)
		.where(eq(tenants.id, tenantId));
	return effectiveLimits(row ? storedLimitOverrides(row.settings) : {});
}

const NOUNS: Record<TenantLimitName, string> = {
	max_endpoints: "endpoints",
	max_event_types: "event types",
	max_templates: "templates",
};

/** The answer to a create past the limit: which limit, its value, and who can raise it. */
export function limitReached(name: TenantLimitName, limit: number): ApiError {
	return new ApiError(
		"limit_reached",
		`this tenant has reached its limit of ${limit} ${NOUNS[name]} (${name}); delete one, or ask the operator to raise the limit`,
		{ limit: name, value: limit },
	);
}
