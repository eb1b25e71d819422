import { type ApiError, retryAfter } from "../lib/errors";
import { SVIX_MESSAGE_CREATE_PATH } from "../svix/paths";

/** The period of both limiters in wrangler.toml; a refused caller is told to wait this long. */
const RATE_LIMIT_PERIOD_SECONDS = 10;

function isIngest(method: string, path: string): boolean {
	return (
		method === "POST" && (path === "/v1/events" || path === "/v1/events/batch" || SVIX_MESSAGE_CREATE_PATH.test(path))
	);
}

/**
 * Counts the request against its key's limit (Cloudflare's Rate Limiting
 * binding; limits in wrangler.toml): sending events has its own, larger
 * budget, so management calls cannot starve ingest and the other way round.
 */
export async function enforceRateLimit(env: Env, keyId: string, method: string, path: string): Promise<void> {
	const ingest = isIngest(method, path);
	const limiter = ingest ? env.INGEST_RATE_LIMITER : env.MANAGEMENT_RATE_LIMITER;
	const { success } = await limiter.limit({ key: keyId });
	if (success) return;
	throw retryAfter(
		"rate_limited",
		`too many ${ingest ? "events" : "requests"} for this API key; retry after ${RATE_LIMIT_PERIOD_SECONDS} seconds`,
		RATE_LIMIT_PERIOD_SECONDS,
	);
}

/** The period of AUTH_FAILURE_RATE_LIMITER in wrangler.toml: an address over its limit waits this long. */
export const AUTH_FAILURE_PERIOD_SECONDS = 60;
/** Addresses this isolate saw go over their limit, until when (ms); checked before any key is compared. */
const throttledUntil = new Map<string, number>();
const THROTTLED_ADDRESSES_LIMIT = 10_000;

/**
 * The caller's address as Cloudflare's edge reports it (a client cannot set
 * this header in production). Local runs without the edge share one bucket.
 */
export function clientAddress(request: Request): string {
	return request.headers.get("cf-connecting-ip") ?? "unknown";
}

export function authThrottled(): ApiError {
	return retryAfter(
		"rate_limited",
		`too many failed sign-ins from this address; retry after ${AUTH_FAILURE_PERIOD_SECONDS} seconds`,
		AUTH_FAILURE_PERIOD_SECONDS,
	);
}

/**
 * Whether `address` must wait before trying a key again. Checked before the
 * key is compared, so that even the right key is refused while it waits:
 * otherwise the throttle would slow a guesser's errors but not its successes.
 */
export function isAuthThrottled(address: string, now = Date.now()): boolean {
	const until = throttledUntil.get(address);
	if (until === undefined) return false;
	if (until > now) return true;
	throttledUntil.delete(address);
	return false;
}

/**
 * Counts a failed authentication from `address` (a wrong API key, admin key
 * or sign-in); returns true when that took the address over its limit, from
 * when on this isolate refuses it outright for a period. Other isolates learn
 * it at their next failure from it, since the limiter's count is shared.
 */
export async function countFailedAuth(env: Env, address: string, now = Date.now()): Promise<boolean> {
	const { success } = await env.AUTH_FAILURE_RATE_LIMITER.limit({ key: address });
	if (success) return false;
	if (throttledUntil.size >= THROTTLED_ADDRESSES_LIMIT) throttledUntil.clear();
	throttledUntil.set(address, now + AUTH_FAILURE_PERIOD_SECONDS * 1000);
	return true;
}
