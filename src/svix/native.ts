import type { ExecutionContext } from "hono";
import type { Principal } from "../auth/authenticate";
import { actAs } from "../auth/internal";
import { ApiError, type ErrorCode } from "../lib/errors";
import { svixLocation } from "./errors";

/*
 * The Svix face is a translation of the native API, not a second
 * implementation of it: each of its operations calls the native routes
 * in-process, as the caller, so authentication, tenant scoping, validation,
 * limits and every business rule are the native ones, written once. The
 * face only renames fields, reshapes answers and adds what Svix's API
 * promises on top (uids in paths, idempotent POSTs, its paging envelope).
 */

/** The worker's own fetch handler, called in-process. */
export type ApiFetch = (request: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;

export type QueryValue = string | number | boolean | null | undefined;

export interface NativeRequest {
	method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
	/** A /v1 path, its segments already encoded. */
	path: string;
	query?: Record<string, QueryValue>;
	body?: unknown;
	/** The tenant the call acts on (X-Tenant-Id); omitted for deployment-wide routes. */
	tenantId?: string;
	headers?: Record<string, string>;
	/**
	 * Native field names and their Svix names, so a 422 names the field the
	 * caller sent (`events` → `eventTypes`).
	 */
	renames?: Readonly<Record<string, string>>;
}

export interface NativeAnswer<T> {
	status: number;
	body: T;
	headers: Headers;
}

const ERROR_CODES = new Set<string>([
	"invalid_json",
	"invalid_request",
	"validation_failed",
	"unauthorized",
	"forbidden",
	"not_found",
	"method_not_allowed",
	"conflict",
	"limit_reached",
	"payload_too_large",
	"unsupported_media_type",
	"rate_limited",
	"unavailable",
	"internal_error",
]);

function isErrorCode(code: unknown): code is ErrorCode {
	return typeof code === "string" && ERROR_CODES.has(code);
}

/** The native error an answer carries, as the ApiError it was thrown as, its field names in Svix's terms. */
function errorOf(status: number, body: unknown, headers: Headers, renames: Readonly<Record<string, string>>): ApiError {
	const envelope = typeof body === "object" && body !== null && "error" in body ? body.error : undefined;
	const fields = typeof envelope === "object" && envelope !== null ? (envelope as Record<string, unknown>) : {};
	const code = isErrorCode(fields.code) ? fields.code : status >= 500 ? "internal_error" : "invalid_request";
	const message = typeof fields.message === "string" ? fields.message : `the request failed with status ${status}`;
	let details = fields.details ?? null;
	if (code === "validation_failed" && Array.isArray(details)) {
		details = {
			svix: details.flatMap((problem: unknown) => {
				if (typeof problem !== "object" || problem === null) return [];
				const { field, message: msg } = problem as { field?: unknown; message?: unknown };
				if (typeof field !== "string" || typeof msg !== "string") return [];
				return [{ loc: svixLocation("body", field, renames), msg, type: "value_error" }];
			}),
		};
	}
	const carried: Record<string, string> = {};
	const retryAfter = headers.get("retry-after");
	if (retryAfter !== null) carried["retry-after"] = retryAfter;
	return new ApiError(code, message, details, carried);
}

function queryString(query: Record<string, QueryValue> | undefined): string {
	if (!query) return "";
	const params = new URLSearchParams();
	for (const [name, value] of Object.entries(query)) {
		if (value === undefined || value === null) continue;
		params.set(name, String(value));
	}
	const text = params.toString();
	return text === "" ? "" : `?${text}`;
}

/** A caller of the native API acting as one principal, for one Svix request. */
export class NativeClient {
	constructor(
		private readonly fetchApi: ApiFetch,
		private readonly env: Env,
		private readonly ctx: ExecutionContext,
		private readonly principal: Principal,
		private readonly requestId: string,
		/** The origin the caller reached, so native answers that build links (portal links) point where the caller can follow them. */
		private readonly origin = "http://edgehook.internal",
	) {}

	/** The native answer, or the ApiError it failed with (thrown by `call`), for callers that branch on a 404. */
	async attempt<T>(request: NativeRequest): Promise<NativeAnswer<T> | ApiError> {
		const headers: Record<string, string> = { "x-request-id": this.requestId, ...request.headers };
		if (request.tenantId !== undefined) headers["x-tenant-id"] = request.tenantId;
		let body: string | undefined;
		if (request.body !== undefined) {
			body = JSON.stringify(request.body);
			headers["content-type"] = "application/json";
		}
		const native = actAs(
			new Request(`${this.origin}${request.path}${queryString(request.query)}`, {
				method: request.method,
				headers,
				body,
			}),
			{ principal: this.principal, readOnly: false, rateLimitBucket: "counted" },
		);
		const response = await this.fetchApi(native, this.env, this.ctx);
		const text = await response.text();
		const parsed: unknown = text === "" ? null : JSON.parse(text);
		if (response.status >= 300) return errorOf(response.status, parsed, response.headers, request.renames ?? {});
		return { status: response.status, body: parsed as T, headers: response.headers };
	}

	/** The native answer; a native error is thrown, for the face to answer in Svix's shape. */
	async call<T>(request: NativeRequest): Promise<NativeAnswer<T>> {
		const answer = await this.attempt<T>(request);
		if (answer instanceof ApiError) throw answer;
		return answer;
	}
}
