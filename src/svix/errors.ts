import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ApiError, type ErrorCode } from "../lib/errors";
import type { FieldProblem } from "../routes/validation";

/*
 * Svix's error shapes (../shared/SVIX-API.md section 6): `{code, detail}` for
 * every 4xx but 422, and `{detail: [{loc, msg, type}]}` for 422. The SDKs
 * read these fields into their ApiException, so the face answers in them.
 */

/** One field problem as Svix reports it: where (`body`, `query` or `path`, then the field's path), what, and its kind. */
export interface SvixFieldError {
	loc: string[];
	msg: string;
	type: string;
}

export type SvixErrorBody = { code: string; detail: string } | { detail: SvixFieldError[] };

/** The codes Svix answers with for the native API's errors. */
const SVIX_CODE_OF: Partial<Record<ErrorCode, string>> = {
	invalid_json: "generic_error",
	invalid_request: "generic_error",
	unauthorized: "authentication_failed",
	forbidden: "insufficient access",
	not_found: "not_found",
	conflict: "conflict",
	limit_reached: "conflict",
	payload_too_large: "payload_too_large",
	unsupported_media_type: "generic_error",
	method_not_allowed: "generic_error",
};

/** A field problem at `loc` (e.g. `["body", "url"]`), answered as a Svix 422. */
export function svixInvalid(loc: string[], msg: string, type = "value_error"): ApiError {
	return new ApiError("validation_failed", msg, { svix: [{ loc, msg, type }] satisfies SvixFieldError[] });
}

/** Where a native field problem sits in Svix's terms: `events.0` of the body becomes `["body", "eventTypes", "0"]` with a rename. */
export function svixLocation(
	part: "body" | "query" | "path",
	field: string,
	renames: Readonly<Record<string, string>> = {},
): string[] {
	const [head = "", ...rest] = field === "" ? [] : field.split(".");
	if (head === "") return [part];
	return [part, renames[head] ?? head, ...rest];
}

function isFieldProblem(value: unknown): value is FieldProblem {
	if (typeof value !== "object" || value === null) return false;
	const { field, message } = value as Partial<FieldProblem>;
	return typeof field === "string" && typeof message === "string";
}

function isSvixFieldError(value: unknown): value is SvixFieldError {
	if (typeof value !== "object" || value === null) return false;
	const { loc, msg, type } = value as Partial<SvixFieldError>;
	return Array.isArray(loc) && typeof msg === "string" && typeof type === "string";
}

/** The 422 detail list of a validation failure, whichever face found it. */
function fieldErrorsOf(error: ApiError): SvixFieldError[] {
	const details = error.details;
	if (typeof details === "object" && details !== null && "svix" in details) {
		const given = (details as { svix: unknown }).svix;
		if (Array.isArray(given) && given.every(isSvixFieldError)) return given;
	}
	if (Array.isArray(details)) {
		const problems = details.filter(isFieldProblem);
		if (problems.length > 0) {
			return problems.map((problem) => ({
				loc: svixLocation("body", problem.field),
				msg: problem.message,
				type: "value_error",
			}));
		}
	}
	return [{ loc: ["body"], msg: error.message, type: "value_error" }];
}

/** The status, body and headers the Svix face answers an error with. */
export function svixErrorAnswer(error: ApiError): {
	status: ContentfulStatusCode;
	body: SvixErrorBody;
	headers: Record<string, string>;
} {
	if (error.code === "validation_failed") {
		return { status: 422, body: { detail: fieldErrorsOf(error) }, headers: error.headers };
	}
	// Svix reports a body that is not JSON as a 422 on the body, not a 400.
	if (error.code === "invalid_json") {
		return {
			status: 422,
			body: { detail: [{ loc: ["body"], msg: error.message, type: "value_error.jsondecode" }] },
			headers: error.headers,
		};
	}
	return {
		status: error.status,
		body: { code: svixCodeOf(error), detail: error.message },
		headers: error.headers,
	};
}

/** An error whose Svix code is more specific than its native one (`event_type_exists` for a 409, say). */
export function svixCoded(code: ErrorCode, svixCode: string, message: string): ApiError {
	return new ApiError(code, message, { svix_code: svixCode });
}

function svixCodeOf(error: ApiError): string {
	const details = error.details;
	if (typeof details === "object" && details !== null && "svix_code" in details) {
		const given = (details as { svix_code: unknown }).svix_code;
		if (typeof given === "string") return given;
	}
	return SVIX_CODE_OF[error.code] ?? error.code;
}

/** Whether a path is answered by the Svix face, whose errors take Svix's shapes. */
export function isSvixPath(path: string): boolean {
	return path === "/api/v1" || path.startsWith("/api/v1/");
}
