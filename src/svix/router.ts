import { OpenAPIHono, z } from "@hono/zod-openapi";
import { ApiError } from "../lib/errors";
import { type AppEnv, isoDateTime } from "../routes/shared";
import { describeIssues, summarize } from "../routes/validation";
import type { SvixFieldError } from "./errors";
import type { NativeClient } from "./native";

export interface SvixEnv {
	Bindings: Env;
	Variables: AppEnv["Variables"] & {
		/** The native API, called in-process as this request's caller (src/svix/native.ts). */
		native: NativeClient;
	};
}

const LOCATION_OF_TARGET: Record<string, string> = { json: "body", query: "query", param: "path", header: "header" };

/** A router of the Svix face: a failed validation answers Svix's 422, naming each field by its location. */
export function createSvixRouter() {
	return new OpenAPIHono<SvixEnv>({
		defaultHook: (result) => {
			if (result.success) return;
			const input = "data" in result ? result.data : undefined;
			const problems = describeIssues(result.error.issues, input, result.target);
			const part = LOCATION_OF_TARGET[result.target] ?? result.target;
			const detail: SvixFieldError[] = problems.map((problem) => ({
				loc: problem.field === part ? [part] : [part, ...problem.field.split(".")],
				msg: problem.message,
				type: "value_error",
			}));
			throw new ApiError("validation_failed", `the request is not valid: ${summarize(problems)}`, { svix: detail });
		},
	});
}

/** A point in time as Svix sends one: ISO 8601 with a zone (the JS client sends `toISOString()`). */
export const SvixDateTime = isoDateTime().openapi({ example: "2026-05-01T00:00:00Z" });

/** Svix's error body, for the OpenAPI description of the face. */
export const SvixHttpError = z
	.object({ code: z.string().openapi({ example: "not_found" }), detail: z.string() })
	.openapi("SvixHttpError");

export const SvixValidationError = z
	.object({
		detail: z.array(z.object({ loc: z.array(z.string()), msg: z.string(), type: z.string() })),
	})
	.openapi("SvixHTTPValidationError");

const DESCRIPTIONS: Record<number, string> = {
	400: "Malformed request",
	401: "Missing or wrong token",
	403: "The token may not do this",
	404: "Not found",
	409: "Conflicts with an existing object",
	413: "Payload too large",
	422: "Validation failed",
	429: "Too many requests; see Retry-After",
};

/** OpenAPI entries for the error statuses an operation of the face answers (401, 403, 404, 422 and 429 always). */
export function svixErrors(...statuses: number[]) {
	return Object.fromEntries(
		[...new Set([...statuses, 401, 403, 404, 422, 429])]
			.sort((a, b) => a - b)
			.map((status) => [
				status,
				{
					description: DESCRIPTIONS[status] ?? "Error",
					content: { "application/json": { schema: status === 422 ? SvixValidationError : SvixHttpError } },
				},
			]),
	);
}

/** The JSON body of an operation, for its route definition. */
export function svixJson<T extends z.ZodType>(schema: T, description: string) {
	return { description, content: { "application/json": { schema } } };
}

/** A request body that the SDK may leave out (rotate, app-portal access): absent means `{}`. */
export function optionalJsonBody<T extends z.ZodType>(schema: T) {
	return { required: false, content: { "application/json": { schema } } };
}

export function requiredJsonBody<T extends z.ZodType>(schema: T) {
	return { required: true, content: { "application/json": { schema } } };
}
