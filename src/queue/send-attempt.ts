export const RESPONSE_BODY_LIMIT = 4096;

export interface OutboundRequest {
	url: string;
	headers: Record<string, string>;
	body: string;
	timeoutMs: number;
}

export interface AttemptResult {
	startedAtMs: number;
	durationMs: number;
	statusCode: number | null;
	/** First 4 KiB of the response body, decoded as UTF-8. */
	responseBody: string | null;
	retryAfter: string | null;
	error: string | null;
}

async function readPrefix(response: Response, limit: number): Promise<string> {
	if (!response.body) return "";
	// A body that says it is small is read whole, which is much cheaper than a reader loop.
	const declared = Number(response.headers.get("content-length") ?? Number.NaN);
	if (declared <= limit) return response.text();
	const reader = response.body.getReader();
	const chunks: Uint8Array[] = [];
	let size = 0;
	try {
		while (size < limit) {
			const { done, value } = await reader.read();
			if (done) break;
			chunks.push(value);
			size += value.byteLength;
		}
	} finally {
		// Releasing the connection early matters: a worker holds only six at once.
		await reader.cancel().catch(() => undefined);
	}
	const joined = new Uint8Array(Math.min(size, limit));
	let offset = 0;
	for (const chunk of chunks) {
		const take = Math.min(chunk.byteLength, joined.byteLength - offset);
		joined.set(chunk.subarray(0, take), offset);
		offset += take;
		if (offset >= joined.byteLength) break;
	}
	return new TextDecoder().decode(joined);
}

function describeError(error: unknown, timeoutMs: number): string {
	if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
		return `timeout after ${timeoutMs} ms`;
	}
	return error instanceof Error ? error.message : String(error);
}

/**
 * One HTTP attempt. Never throws: every outcome, including timeouts and
 * connection errors, comes back as a result to be recorded. Redirects are
 * not followed, so a 3xx is reported as it is.
 */
export async function sendAttempt(request: OutboundRequest): Promise<AttemptResult> {
	const startedAtMs = Date.now();
	const signal = AbortSignal.timeout(request.timeoutMs);
	try {
		const response = await fetch(request.url, {
			method: "POST",
			headers: request.headers,
			body: request.body,
			redirect: "manual",
			signal,
		});
		const responseBody = await readPrefix(response, RESPONSE_BODY_LIMIT);
		return {
			startedAtMs,
			durationMs: Date.now() - startedAtMs,
			statusCode: response.status,
			responseBody,
			retryAfter: response.headers.get("retry-after"),
			error: null,
		};
	} catch (error) {
		return {
			startedAtMs,
			durationMs: Date.now() - startedAtMs,
			statusCode: null,
			responseBody: null,
			retryAfter: null,
			error: describeError(error, request.timeoutMs),
		};
	}
}
