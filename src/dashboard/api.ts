import type { ExecutionContext } from "hono";
import type { Principal } from "../auth/authenticate";
import { actAs } from "../auth/internal";
import type { Session } from "./session";

/** The worker's own fetch handler, which the dashboard calls in-process. */
export type ApiFetch = (request: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;

/** One problem the API found with a field, as in its 422 `details`. */
export interface FieldProblem {
	field: string;
	message: string;
}

export interface ApiFailure {
	ok: false;
	status: number;
	code: string;
	message: string;
	/** Field problems of a 422, keyed by field path (`url`, `events.0`, `retry_schedule`). */
	fields: Record<string, string>;
}

export type ApiResult<T> = { ok: true; status: number; data: T } | ApiFailure;

/** Who the API sees: the key's principal, or for a portal session its tenant alone. */
export function principalOf(session: Session): Principal {
	if (session.role === "admin") return { kind: "admin" };
	const tenantId = session.tenantId ?? "";
	// A portal link made with the admin key carries no key: such sessions share one rate-limit bucket per tenant.
	return { kind: "tenant", tenantId, keyId: session.keyId ?? `portal:${tenantId}` };
}

function fieldsOf(details: unknown): Record<string, string> {
	const fields: Record<string, string> = {};
	if (!Array.isArray(details)) return fields;
	for (const detail of details) {
		if (typeof detail !== "object" || detail === null) continue;
		const { field, message } = detail as Partial<FieldProblem>;
		if (typeof field !== "string" || typeof message !== "string") continue;
		fields[field] = fields[field] ? `${fields[field]}; ${message}` : message;
	}
	return fields;
}

export interface ApiCaller {
	get<T>(path: string): Promise<ApiResult<T>>;
	send<T>(method: "POST" | "PUT" | "PATCH" | "DELETE", path: string, body?: unknown): Promise<ApiResult<T>>;
}

/**
 * An API client acting as the session's principal on `tenantId` (the admin
 * names it with X-Tenant-Id, as an API client would). A read-only session can
 * only read and sees no credentials: the pages offer no actions to it, and
 * the API refuses any that slip through and masks what it answers.
 */
export function apiFor(
	fetchApi: ApiFetch,
	env: Env,
	ctx: ExecutionContext,
	origin: string,
	session: Session,
	tenantId: string | null,
): ApiCaller {
	const principal = principalOf(session);
	const call = async <T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> => {
		const headers = new Headers({ accept: "application/json" });
		if (tenantId !== null && session.role === "admin") headers.set("x-tenant-id", tenantId);
		if (body !== undefined) headers.set("content-type", "application/json");
		const request = actAs(
			new Request(new URL(path, origin), {
				method,
				headers,
				body: body === undefined ? null : JSON.stringify(body),
			}),
			{ principal, readOnly: session.readOnly },
		);
		const response = await fetchApi(request, env, ctx);
		const text = await response.text();
		let json: unknown = null;
		if (text !== "") {
			try {
				json = JSON.parse(text);
			} catch {
				json = null;
			}
		}
		if (response.ok) return { ok: true, status: response.status, data: json as T };
		const error =
			typeof json === "object" && json !== null && "error" in json && typeof json.error === "object" && json.error
				? (json.error as { code?: unknown; message?: unknown; details?: unknown })
				: {};
		return {
			ok: false,
			status: response.status,
			code: typeof error.code === "string" ? error.code : "error",
			message: typeof error.message === "string" ? error.message : `the API answered ${response.status}`,
			fields: fieldsOf(error.details),
		};
	};
	return {
		get: (path) => call("GET", path),
		send: (method, path, body) => call(method, path, body),
	};
}
