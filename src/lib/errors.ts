import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** The closed set of error codes the API answers with. */
export type ErrorCode =
	| "invalid_json"
	| "invalid_request"
	| "validation_failed"
	| "unauthorized"
	| "forbidden"
	| "not_found"
	| "method_not_allowed"
	| "conflict"
	| "limit_reached"
	| "payload_too_large"
	| "unsupported_media_type"
	| "rate_limited"
	| "unavailable"
	| "internal_error";

const STATUS_OF: Record<ErrorCode, ContentfulStatusCode> = {
	invalid_json: 400,
	invalid_request: 400,
	validation_failed: 422,
	unauthorized: 401,
	forbidden: 403,
	not_found: 404,
	method_not_allowed: 405,
	conflict: 409,
	/*
	 * 409, not 403 or 422: the request is allowed and valid, it conflicts with
	 * the tenant's current count, and deleting one or the operator raising the
	 * limit makes the same request succeed. 403 reads as a key problem and 422
	 * as a field problem; 429 would tell clients to retry. Its own code tells it
	 * apart from the other 409s (a name already taken).
	 */
	limit_reached: 409,
	payload_too_large: 413,
	unsupported_media_type: 415,
	rate_limited: 429,
	unavailable: 503,
	internal_error: 500,
};

/** The one error type of the API; `app.onError` turns it into the JSON envelope. */
export class ApiError extends Error {
	readonly code: ErrorCode;
	readonly status: ContentfulStatusCode;
	readonly details: unknown;
	/** Headers the answer carries, such as a 429's Retry-After. */
	readonly headers: Record<string, string>;

	constructor(code: ErrorCode, message: string, details?: unknown, headers: Record<string, string> = {}) {
		super(message);
		this.code = code;
		this.status = STATUS_OF[code];
		this.details = details ?? null;
		this.headers = headers;
	}
}

/**
 * A refusal Hono raised itself (a body it could not read as JSON, say) as
 * the API's own error with Hono's status, or null for one that is not the
 * client's fault.
 */
export function clientErrorOf(error: unknown): { apiError: ApiError; status: ContentfulStatusCode } | null {
	if (!(error instanceof HTTPException) || error.status >= 500) return null;
	const code: ErrorCode =
		error.status === 400 ? "invalid_json" : error.status === 415 ? "unsupported_media_type" : "invalid_request";
	return { apiError: new ApiError(code, error.message || "the request could not be read"), status: error.status };
}

export function notFound(resource: string, id: string): ApiError {
	return new ApiError("not_found", `${resource} ${id} was not found`);
}

export function errorBody(error: ApiError): { error: { code: ErrorCode; message: string; details: unknown } } {
	return { error: { code: error.code, message: error.message, details: error.details } };
}

/** How long a client is told to wait when D1 or a queue failed under its request. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/** An error to send again after `seconds`: its Retry-After header and `details.retry_after_seconds` both say when. */
export function retryAfter(
	code: "rate_limited" | "unavailable",
	message: string,
	seconds: number,
	details: Record<string, unknown> = {},
): ApiError {
	return new ApiError(code, message, { retry_after_seconds: seconds, ...details }, { "retry-after": String(seconds) });
}

/** A 503 for a request that D1 or a queue failed: nothing of it was kept, and sending it again is safe. */
export function platformUnavailable(what: string): ApiError {
	return retryAfter(
		"unavailable",
		`${what} is unavailable right now; nothing was stored: retry in ${UNAVAILABLE_RETRY_AFTER_SECONDS} seconds`,
		UNAVAILABLE_RETRY_AFTER_SECONDS,
	);
}

/**
 * Runs `work`, which reads or writes through D1 or a queue, and answers a
 * failure of theirs (overloaded, unreachable, reset) with a 503 to retry
 * rather than a 500. The API's own errors pass through unchanged.
 */
export async function orUnavailable<T>(what: string, work: () => Promise<T>): Promise<T> {
	try {
		return await work();
	} catch (error) {
		if (error instanceof ApiError) throw error;
		console.error(`${what} failed`, error);
		throw platformUnavailable(what);
	}
}
