/** What one attempt's response means for the delivery. */
export type AttemptVerdict =
	| { kind: "success" }
	| { kind: "retry"; retryAfterSeconds: number | null }
	/** 410 Gone: the receiver asks us to stop; the endpoint gets disabled. */
	| { kind: "gone" };

/**
 * `Retry-After` as seconds from now: delta-seconds or an HTTP date. Anything
 * else is ignored; Date.parse alone would read "3600.5" as the year 3600.
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | null {
	if (value === null) return null;
	const trimmed = value.trim();
	if (/^\d+$/.test(trimmed)) return Number(trimmed);
	if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(trimmed)) return null;
	const date = Date.parse(trimmed);
	if (Number.isNaN(date)) return null;
	return Math.max(0, Math.ceil((date - nowMs) / 1000));
}

/** Any 2xx is success; redirects are not followed, so a 3xx is a failure like any other. */
export function classifyResponse(status: number, retryAfterHeader: string | null, nowMs: number): AttemptVerdict {
	if (status >= 200 && status < 300) return { kind: "success" };
	if (status === 410) return { kind: "gone" };
	const honoursRetryAfter = status === 429 || status === 503;
	return { kind: "retry", retryAfterSeconds: honoursRetryAfter ? parseRetryAfter(retryAfterHeader, nowMs) : null };
}
