import { exports } from "cloudflare:workers";

export const ADMIN_KEY = "test-admin-key";

/** Calls the worker's own fetch handler, as a client on the network would. */
export async function api(
	method: string,
	path: string,
	options: { body?: unknown; rawBody?: string; headers?: Record<string, string>; auth?: string | null } = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
	const headers: Record<string, string> = { ...options.headers };
	if (options.auth !== null) headers.authorization = `Bearer ${options.auth ?? ADMIN_KEY}`;
	let body: string | undefined = options.rawBody;
	if (options.body !== undefined) {
		body = JSON.stringify(options.body);
		headers["content-type"] ??= "application/json";
	}
	const response = await exports.default.fetch(`http://edgehook.test${path}`, { method, headers, body });
	const text = await response.text();
	let parsed: unknown = text;
	try {
		parsed = JSON.parse(text);
	} catch {
		// Not JSON (e.g. /docs): keep the text.
	}
	return { status: response.status, body: parsed, headers: response.headers };
}

/** Narrows an API body to a record for property access in assertions. */
export function record(value: unknown): Record<string, unknown> {
	if (typeof value !== "object" || value === null || Array.isArray(value))
		throw new Error(`not an object: ${JSON.stringify(value)}`);
	return value as Record<string, unknown>;
}
