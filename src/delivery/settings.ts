import { LIMITS_KEY } from "../tenants/limits";
import { DEFAULT_RETRY_SCHEDULE, parseRetrySchedule } from "./retry-policy";

/** Per-tenant delivery settings (SPEC "Tenants"); every field is optional. */
export interface TenantSettings {
	signature_header?: string;
	signature_prefix?: "sha256=" | "";
	user_agent?: string;
	retry_schedule?: number[];
	timeout_ms?: number;
	/** The header style endpoints created through the Svix face get (src/svix); `svix` when missing. */
	svix_header_style?: "svix" | "webhook";
}

/** What Svix sends, so receivers written against Svix verify without a change. */
export const DEFAULT_SVIX_HEADER_STYLE = "svix";

export const DEFAULT_SIGNATURE_HEADER = "X-Webhook-Signature";
export const DEFAULT_SIGNATURE_PREFIX = "sha256=";
export const DEFAULT_TIMEOUT_MS = 30_000;
export const MAX_TIMEOUT_MS = 120_000;
/**
 * Attempts in flight at once to an endpoint that sets no `max_concurrency`.
 * Ten is what a small receiver (a few workers or threads) usually takes in
 * parallel; within one consumer invocation the platform's six outbound
 * connections are the limit anyway (docs/SCALING.md, "Slow receivers").
 */
export const DEFAULT_MAX_CONCURRENCY = 10;
/** Beyond this one endpoint would hold the connections of dozens of consumer invocations. */
export const MAX_MAX_CONCURRENCY = 100;

export interface DeploymentDefaults {
	retrySchedule: readonly number[];
	timeoutMs: number;
	/** ENVIRONMENT: decides which target URLs are allowed (src/delivery/target-url.ts). */
	environment: string;
}

/** Deployment-wide defaults from the vars; a malformed var falls back to the built-in value. */
export function deploymentDefaults(env: {
	RETRY_SCHEDULE?: string;
	DELIVERY_TIMEOUT_MS?: string;
	ENVIRONMENT?: string;
}): DeploymentDefaults {
	const schedule = parseRetrySchedule(env.RETRY_SCHEDULE) ?? DEFAULT_RETRY_SCHEDULE;
	const timeout = Number(env.DELIVERY_TIMEOUT_MS);
	const timeoutMs =
		Number.isInteger(timeout) && timeout > 0 && timeout <= MAX_TIMEOUT_MS ? timeout : DEFAULT_TIMEOUT_MS;
	return { retrySchedule: schedule, timeoutMs, environment: env.ENVIRONMENT ?? "production" };
}

export interface EndpointOverrides {
	retrySchedule: readonly number[] | null;
	timeoutMs: number | null;
}

/** The most specific setting wins: endpoint, then tenant, then deployment. */
export function effectiveDeliveryPolicy(
	defaults: DeploymentDefaults,
	tenant: TenantSettings,
	endpoint: EndpointOverrides,
): { retrySchedule: readonly number[]; timeoutMs: number } {
	return {
		retrySchedule: endpoint.retrySchedule ?? tenant.retry_schedule ?? defaults.retrySchedule,
		timeoutMs: endpoint.timeoutMs ?? tenant.timeout_ms ?? defaults.timeoutMs,
	};
}

/** The delivery settings of a tenant row's settings JSON, without the operator's limits stored beside them. */
export function parseTenantSettings(json: string): TenantSettings {
	const parsed: unknown = JSON.parse(json);
	if (typeof parsed !== "object" || parsed === null) return {};
	const settings: Record<string, unknown> = { ...parsed };
	delete settings[LIMITS_KEY];
	return settings as TenantSettings;
}
