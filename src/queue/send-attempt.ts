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

/**
 * Cloudflare answers a fetch to a host name that does not resolve with a 530
 * whose body starts with this code, rather than failing the fetch.
 */
const ORIGIN_DNS_ERROR = /^error code: 1016\b/;

function hostOf(url: string): string {
	try {
		return new URL(url).host;
	} catch {
		return "the endpoint";
	}
}

/**
 * Why a fetch failed, in words that name the host. The runtime's own
 * messages say little: a name that does not resolve locally is only an
 * "internal error" with a reference, a refused connection a lost one.
 */
function describeError(error: unknown, request: OutboundRequest): string {
	if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
		return `timeout after ${request.timeoutMs} ms`;
	}
	const message = error instanceof Error ? error.message : String(error);
	const host = hostOf(request.url);
	if (message.startsWith("internal error; reference = ")) {
		return `could not connect to ${host}: its name may not resolve, or nothing answered there (the runtime said: ${message})`;
	}
	if (message === "Network connection lost.") {
		return `the connection to ${host} was refused or cut before an answer (the runtime said: ${message})`;
	}
	return message;
}

/** What an answer says went wrong before the receiver was reached, when it says so. */
function describeAnswer(statusCode: number, body: string, request: OutboundRequest): string | null {
	if (statusCode === 530 && ORIGIN_DNS_ERROR.test(body)) {
		return `the host name ${hostOf(request.url)} does not resolve (Cloudflare error 1016: origin DNS error)`;
	}
	return null;
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
			error: describeAnswer(response.status, responseBody, request),
		};
	} catch (error) {
		return {
			startedAtMs,
			durationMs: Date.now() - startedAtMs,
			statusCode: null,
			responseBody: null,
			retryAfter: null,
			error: describeError(error, request),
		};
	}
}
