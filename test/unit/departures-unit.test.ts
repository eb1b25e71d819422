import { describe, expect, it } from "vitest";
import { firstAttemptCoalesceMs } from "../../src/queue/departures";

describe("firstAttemptCoalesceMs", () => {
	it.each([
		[undefined, 50],
		["", 50],
		["soon", 50],
		["0", 0],
		[" 25 ", 25],
		["12.6", 13],
		["-5", 0],
		["5000", 1000],
	])("reads %j as %d ms", (raw, expected) => {
		expect(firstAttemptCoalesceMs(raw === undefined ? {} : { FIRST_ATTEMPT_COALESCE_MS: raw })).toBe(expected);
	});
});
