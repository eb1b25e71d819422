import { describe, expect, it } from "vitest";
import {
	DEFAULT_RETRY_SCHEDULE,
	isValidSchedule,
	MAX_RETRY_AFTER_SECONDS,
	MAX_RETRY_DELAY_SECONDS,
	MAX_SCHEDULE_LENGTH,
	maxAttempts,
	nextRetryDelayMs,
	parseRetrySchedule,
} from "../../src/delivery/retry-policy";

describe("DEFAULT_RETRY_SCHEDULE", () => {
	it("is the SPEC's 1 min, 5 min, 30 min, 2 h", () => {
		expect(DEFAULT_RETRY_SCHEDULE).toEqual([60, 300, 1800, 7200]);
	});
});

describe("parseRetrySchedule", () => {
	it("parses a comma-separated list of seconds", () => {
		expect(parseRetrySchedule("60,300,1800,7200")).toEqual([60, 300, 1800, 7200]);
		expect(parseRetrySchedule(" 5 , 10,15 ")).toEqual([5, 10, 15]);
		expect(parseRetrySchedule("0")).toEqual([0]);
	});

	it("returns null when the var is unset", () => {
		expect(parseRetrySchedule(undefined)).toBeNull();
	});

	it("reads an empty or blank string as no retries", () => {
		expect(parseRetrySchedule("")).toEqual([]);
		expect(parseRetrySchedule("   ")).toEqual([]);
	});

	it("rejects malformed entries", () => {
		for (const text of ["abc", "60,abc", "60;300", "60 300", "NaN", "Infinity", "60,Infinity"]) {
			expect(parseRetrySchedule(text), text).toBeNull();
		}
	});

	it("rejects negative delays", () => {
		expect(parseRetrySchedule("-1")).toBeNull();
		expect(parseRetrySchedule("60,-5,300")).toBeNull();
	});

	it("rejects delays over the maximum and accepts the maximum itself", () => {
		expect(parseRetrySchedule(String(MAX_RETRY_DELAY_SECONDS))).toEqual([MAX_RETRY_DELAY_SECONDS]);
		expect(parseRetrySchedule(String(MAX_RETRY_DELAY_SECONDS + 1))).toBeNull();
	});

	it("rejects schedules longer than the maximum length", () => {
		const atLimit = Array.from({ length: MAX_SCHEDULE_LENGTH }, (_, i) => i + 1);
		expect(parseRetrySchedule(atLimit.join(","))).toEqual(atLimit);
		expect(parseRetrySchedule([...atLimit, 99].join(","))).toBeNull();
	});
});

describe("isValidSchedule", () => {
	it("accepts in-range schedules and rejects bad values", () => {
		expect(isValidSchedule([])).toBe(true);
		expect(isValidSchedule([0, 60, MAX_RETRY_DELAY_SECONDS])).toBe(true);
		expect(isValidSchedule([60, -1])).toBe(false);
		expect(isValidSchedule([Number.NaN])).toBe(false);
		expect(isValidSchedule([Number.POSITIVE_INFINITY])).toBe(false);
		expect(isValidSchedule(Array.from({ length: MAX_SCHEDULE_LENGTH + 1 }, () => 1))).toBe(false);
	});
});

describe("nextRetryDelayMs", () => {
	it("follows each step of the default schedule", () => {
		expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 1, null)).toBe(60_000);
		expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 2, null)).toBe(300_000);
		expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 3, null)).toBe(1_800_000);
		expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 4, null)).toBe(7_200_000);
	});

	it("returns null once the schedule is exhausted, even with a Retry-After", () => {
		expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 5, null)).toBeNull();
		expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 5, 30)).toBeNull();
		expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 9, null)).toBeNull();
		expect(nextRetryDelayMs([], 1, 30)).toBeNull();
	});

	it("lets Retry-After push the next attempt later", () => {
		expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 1, 600)).toBe(600_000);
		expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 4, 7201)).toBe(7_201_000);
		expect(nextRetryDelayMs([0], 1, 1)).toBe(1000);
	});

	it("never lets Retry-After pull the next attempt earlier", () => {
		expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 2, 10)).toBe(300_000);
		expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 1, 0)).toBe(60_000);
	});

	it("clamps Retry-After to MAX_RETRY_AFTER_SECONDS", () => {
		expect(MAX_RETRY_AFTER_SECONDS).toBe(86_400);
		expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 1, 10_000_000)).toBe(MAX_RETRY_AFTER_SECONDS * 1000);
		expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE, 1, MAX_RETRY_AFTER_SECONDS + 1)).toBe(
			MAX_RETRY_AFTER_SECONDS * 1000,
		);
	});

	it("keeps a scheduled delay longer than the clamp", () => {
		expect(nextRetryDelayMs([MAX_RETRY_DELAY_SECONDS], 1, 10_000_000)).toBe(MAX_RETRY_DELAY_SECONDS * 1000);
	});
});

describe("maxAttempts", () => {
	it("is one more than the number of scheduled retries", () => {
		expect(maxAttempts(DEFAULT_RETRY_SCHEDULE)).toBe(5);
		expect(maxAttempts([])).toBe(1);
		expect(maxAttempts([1, 2])).toBe(3);
	});

	it("agrees with nextRetryDelayMs on when retries stop", () => {
		for (const schedule of [DEFAULT_RETRY_SCHEDULE, [], [10], [1, 2, 3, 4, 5, 6]]) {
			const last = maxAttempts(schedule);
			for (let attempt = 1; attempt < last; attempt++) expect(nextRetryDelayMs(schedule, attempt, null)).not.toBeNull();
			expect(nextRetryDelayMs(schedule, last, null)).toBeNull();
		}
	});
});

describe("parseRetrySchedule refuses text Number() would bend", () => {
	it.each(["60,,300", "60,", "1e2", "0x10", "1.5", " , "])("%j is refused", (text) => {
		expect(parseRetrySchedule(text)).toBeNull();
	});
});
