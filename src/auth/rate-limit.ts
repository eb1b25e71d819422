import { ApiError } from "../lib/errors";

/** The period of both limiters in wrangler.toml; a refused caller is told to wait this long. */
const RATE_LIMIT_PERIOD_SECONDS = 10;

function isIngest(method: string, path: string): boolean {
	return method === "POST" && (path === "/v1/events" || path === "/v1/events/batch");
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
	throw new ApiError(
		"rate_limited",
		`too many ${ingest ? "events" : "requests"} for this API key; retry after ${RATE_LIMIT_PERIOD_SECONDS} seconds`,
		{ retry_after_seconds: RATE_LIMIT_PERIOD_SECONDS },
		{ "retry-after": String(RATE_LIMIT_PERIOD_SECONDS) },
	);
}
