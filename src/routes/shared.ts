import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Principal } from "../auth/authenticate";
import type { Database } from "../db/client";
import { deploymentProblems, describeIssues, validationFailed } from "./validation";

export interface AppEnv {
	Bindings: Env;
	Variables: {
		requestId: string;
		principal: Principal;
		/**
		 * A read-only portal's in-process call (src/auth/internal.ts): it sees no
		 * credentials, so what the routes answer masks them (endpoint URLs too).
		 */
		readOnly: boolean;
		/** The tenant the request acts on: the key's own, or the one the admin key names. */
		tenantId: string;
		/** The tenant's database (src/db/tenant-database.ts). */
		db: Database;
	};
}

/** Every validation failure becomes one 422 listing each field and why, in plain words. */
export function createRouter() {
	return new OpenAPIHono<AppEnv>({
		defaultHook: (result, c) => {
			if (!result.success) {
				// The validator passes the input it checked as `data`; the hook's type leaves it out.
				const input = "data" in result ? result.data : undefined;
				const problems = describeIssues(result.error.issues, input, result.target);
				const extra = result.target === "json" ? deploymentProblems(input, c.env.ENVIRONMENT, problems) : [];
				throw validationFailed([...problems, ...extra]);
			}
		},
	});
}

export const ErrorSchema = z
	.object({
		error: z.object({
			code: z.string().openapi({ example: "validation_failed" }),
			message: z.string(),
			details: z.unknown(),
		}),
	})
	.openapi("Error");

const ERROR_DESCRIPTIONS: Record<number, string> = {
	400: "Malformed request",
	401: "Missing or wrong API key",
	403: "The key may not do this",
	404: "Not found in this tenant",
	409: "Conflicts with the current state",
	413: "Payload too large",
	415: "Body is not application/json",
	422: "Validation failed",
	429: "Too many requests for this key; see Retry-After",
	503: "Temporarily unavailable",
};

/**
 * OpenAPI response entries for the error statuses a route can answer. Every
 * /v1 route can also answer 403 (a tenant key naming another tenant) and 429
 * (a tenant key past its rate limit), so those are always listed.
 */
export function errorResponses(...statuses: number[]) {
	return Object.fromEntries(
		[...new Set([...statuses, 403, 429])]
			.sort((a, b) => a - b)
			.map((status) => [
				status,
				{
					description: ERROR_DESCRIPTIONS[status] ?? "Error",
					content: { "application/json": { schema: ErrorSchema } },
				},
			]),
	);
}

export function jsonContent<T extends z.ZodType>(schema: T, description: string) {
	return { description, content: { "application/json": { schema } } };
}

export function jsonBody<T extends z.ZodType>(schema: T) {
	return { required: true, content: { "application/json": { schema } } };
}

export const PaginationQuery = z.object({
	limit: z.coerce.number().int().min(1).max(250).default(50).openapi({ example: 50 }),
	cursor: z.string().max(200).optional(),
});

export const IdParam = z.object({ id: z.string().min(1).max(100) });

const DATE_TIME_MESSAGE = "must be an ISO 8601 date-time with a time zone, such as 2026-05-01T12:00:00Z";

/** An ISO 8601 date-time with a time zone; a malformed one gets the format hint, a missing one stays "is required". */
export function isoDateTime() {
	return z.iso
		.datetime({ offset: true, error: (issue) => (issue.code === "invalid_format" ? DATE_TIME_MESSAGE : undefined) })
		.max(64);
}

/** An optional date-time in a query. */
export const DateTimeQuery = (description: string) =>
	isoDateTime().optional().openapi({ description, example: "2026-05-01T00:00:00Z" });

export function iso(ms: number): string;
export function iso(ms: number | null): string | null;
export function iso(ms: number | null): string | null {
	return ms === null ? null : new Date(ms).toISOString();
}
