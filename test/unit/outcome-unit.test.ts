import { describe, expect, it } from "vitest";
import { classifyResponse, parseRetryAfter } from "../../src/delivery/outcome";

const NOW_MS = Date.UTC(2015, 9, 21, 7, 28, 0);
const IN_90_SECONDS = "Wed, 21 Oct 2015 07:29:30 GMT";

describe("classifyResponse", () => {
	it("counts every 2xx as success", () => {
		for (const status of [200, 201, 202, 204, 299]) {
			expect(classifyResponse(status, null, NOW_MS), String(status)).toEqual({ kind: "success" });
		}
	});

	it("retries redirects, since they are not followed", () => {
		for (const status of [300, 301, 302, 303, 304, 307, 308]) {
			expect(classifyResponse(status, "60", NOW_MS), String(status)).toEqual({
				kind: "retry",
				retryAfterSeconds: null,
			});
		}
	});

	it("retries other failures and non-2xx informational codes", () => {
		for (const status of [100, 199, 400, 401, 404, 409, 413, 500, 502, 504]) {
			expect(classifyResponse(status, null, NOW_MS), String(status)).toEqual({
				kind: "retry",
				retryAfterSeconds: null,
			});
		}
	});

	it("reports 410 Gone as gone", () => {
		expect(classifyResponse(410, null, NOW_MS)).toEqual({ kind: "gone" });
		expect(classifyResponse(410, "60", NOW_MS)).toEqual({ kind: "gone" });
	});

	it("honours Retry-After in seconds on 429 and 503", () => {
		expect(classifyResponse(429, "120", NOW_MS)).toEqual({ kind: "retry", retryAfterSeconds: 120 });
		expect(classifyResponse(503, "30", NOW_MS)).toEqual({ kind: "retry", retryAfterSeconds: 30 });
	});

	it("honours Retry-After as an HTTP date on 429 and 503", () => {
		expect(classifyResponse(429, IN_90_SECONDS, NOW_MS)).toEqual({ kind: "retry", retryAfterSeconds: 90 });
		expect(classifyResponse(503, IN_90_SECONDS, NOW_MS)).toEqual({ kind: "retry", retryAfterSeconds: 90 });
	});

	it("gives 429 and 503 no Retry-After when the header is absent or unreadable", () => {
		expect(classifyResponse(429, null, NOW_MS)).toEqual({ kind: "retry", retryAfterSeconds: null });
		expect(classifyResponse(503, "whenever", NOW_MS)).toEqual({ kind: "retry", retryAfterSeconds: null });
	});

	it("ignores Retry-After on other failures such as 500", () => {
		expect(classifyResponse(500, "120", NOW_MS)).toEqual({ kind: "retry", retryAfterSeconds: null });
		expect(classifyResponse(502, IN_90_SECONDS, NOW_MS)).toEqual({ kind: "retry", retryAfterSeconds: null });
	});
});

describe("parseRetryAfter", () => {
	it("returns null without a header", () => {
		expect(parseRetryAfter(null, NOW_MS)).toBeNull();
	});

	it("reads delta-seconds, trimming whitespace", () => {
		expect(parseRetryAfter("0", NOW_MS)).toBe(0);
		expect(parseRetryAfter("45", NOW_MS)).toBe(45);
		expect(parseRetryAfter("  3600 ", NOW_MS)).toBe(3600);
	});

	it("reads HTTP dates relative to now", () => {
		expect(parseRetryAfter(IN_90_SECONDS, NOW_MS)).toBe(90);
		expect(parseRetryAfter("Wed, 21 Oct 2015 08:28:00 GMT", NOW_MS)).toBe(3600);
	});

	it("rounds a fractional wait up, so the retry is never early", () => {
		expect(parseRetryAfter(IN_90_SECONDS, NOW_MS + 500)).toBe(90);
		expect(parseRetryAfter(IN_90_SECONDS, NOW_MS - 1)).toBe(91);
	});

	it("reads a date in the past as no wait", () => {
		expect(parseRetryAfter("Wed, 21 Oct 2015 07:00:00 GMT", NOW_MS)).toBe(0);
	});

	it("returns null for garbage", () => {
		for (const value of ["", "soon", "later today", "abc123"]) {
			expect(parseRetryAfter(value, NOW_MS), value).toBeNull();
		}
	});
});

describe("parseRetryAfter takes only delta-seconds and HTTP dates", () => {
	it.each(["3600.5", "-5", "1.5", "in 10", "2026-01-01"])("ignores %j", (value) => {
		expect(parseRetryAfter(value, Date.UTC(2026, 0, 1))).toBeNull();
	});
});
