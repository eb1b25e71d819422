import { createMiddleware } from "hono/factory";
import { readBodyWithin } from "./body";
import { ApiError } from "./errors";

/**
 * Deeper JSON than any real payload needs; receivers that parse recursively
 * (Python's json among them) fail on very deep documents.
 */
export const MAX_JSON_DEPTH = 64;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

function decodeUtf8(bytes: Uint8Array): string | null {
	try {
		return strictUtf8.decode(bytes);
	} catch {
		return null;
	}
}

/** Whether brackets outside strings nest deeper than `limit`, found without parsing. */
export function nestingDepthExceeds(json: string, limit: number): boolean {
	let depth = 0;
	let inString = false;
	for (let index = 0; index < json.length; index++) {
		const char = json.charCodeAt(index);
		if (inString) {
			if (char === 0x5c) index++;
			else if (char === 0x22) inString = false;
		} else if (char === 0x22) inString = true;
		else if (char === 0x7b || char === 0x5b) {
			if (++depth > limit) return true;
		} else if (char === 0x7d || char === 0x5d) depth--;
	}
	return false;
}

/** The largest body a path takes, and the 413's words for it. */
export interface BodyLimit {
	bytes: number;
	tooLarge: string;
}

/**
 * Refuses, before any route runs, a POST, PUT or PATCH body that is too
 * large, not JSON, not UTF-8 or nested too deep, so every route answers
 * them the same way and before anything is stored. The routes then read
 * the body again from the bytes read here.
 */
export function checkJsonBody(limitFor: (path: string) => BodyLimit) {
	return createMiddleware(async (c, next) => {
		if (c.req.method !== "POST" && c.req.method !== "PATCH" && c.req.method !== "PUT") return next();
		const limit = limitFor(c.req.path);
		const body = await readBodyWithin(c.req.raw, limit.bytes);
		if ("tooLarge" in body) throw new ApiError("payload_too_large", limit.tooLarge);
		const bytes = body.bytes;
		// The stream is spent: the routes read the body again from these bytes.
		c.req.raw = new Request(c.req.raw, { body: bytes });
		if (bytes.byteLength === 0) return next();
		const contentType = c.req.header("content-type") ?? "";
		if (!/^application\/json\s*(;|$)/i.test(contentType)) {
			throw new ApiError("unsupported_media_type", "send the body as Content-Type: application/json");
		}
		const text = decodeUtf8(bytes);
		if (text === null) throw new ApiError("invalid_json", "the body is not valid UTF-8");
		if (nestingDepthExceeds(text, MAX_JSON_DEPTH)) {
			throw new ApiError("invalid_json", `the body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
		}
		try {
			JSON.parse(text);
		} catch (error) {
			throw new ApiError(
				"invalid_json",
				`the body is not valid JSON: ${error instanceof Error ? error.message : "parse error"}`,
			);
		}
		return next();
	});
}
