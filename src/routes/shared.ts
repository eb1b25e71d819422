import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Database } from "../db/client";
import { ApiError } from "../lib/errors";

export interface AppEnv {
	Bindings: Env;
	Variables: {
		requestId: string;
		tenantId: string;
		db: Database;
	};
}

/** Every validation failure becomes one 422 listing each field and why. */
export function createRouter() {
	return new OpenAPIHono<AppEnv>({
		defaultHook: (result) => {
			if (!result.success) {
				const details = result.error.issues.map((issue) => ({
					field: issue.path.map(String).join(".") || result.target,
					message: issue.message,
				}));
				const summary = details.map((detail) => `${detail.field}: ${detail.message}`).join("; ");
				throw new ApiError("validation_failed", `Invalid ${result.target}: ${summary}`, details);
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
	404: "Not found in this tenant",
	409: "Conflicts with the current state",
	413: "Payload too large",
	415: "Body is not application/json",
	422: "Validation failed",
	503: "Temporarily unavailable",
};

/** OpenAPI response entries for the error statuses a route can answer. */
export function errorResponses(...statuses: number[]) {
	return Object.fromEntries(
		statuses.map((status) => [
			status,
			{ description: ERROR_DESCRIPTIONS[status] ?? "Error", content: { "application/json": { schema: ErrorSchema } } },
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

export function iso(ms: number): string;
export function iso(ms: number | null): string | null;
export function iso(ms: number | null): string | null {
	return ms === null ? null : new Date(ms).toISOString();
}
