/**
 * Retry schedules are lists of seconds to wait before attempts 2..N, so a
 * schedule of four entries means five attempts in all.
 */
export const DEFAULT_RETRY_SCHEDULE: readonly number[] = [60, 300, 1800, 7200];
export const MAX_RETRY_DELAY_SECONDS = 7 * 24 * 3600;
export const MAX_SCHEDULE_LENGTH = 20;
/** A `Retry-After` longer than this is clamped: a receiver must not park a delivery for weeks. */
export const MAX_RETRY_AFTER_SECONDS = 24 * 3600;

export function isValidSchedule(schedule: readonly number[]): boolean {
	return (
		schedule.length <= MAX_SCHEDULE_LENGTH &&
		schedule.every((seconds) => Number.isFinite(seconds) && seconds >= 0 && seconds <= MAX_RETRY_DELAY_SECONDS)
	);
}

/** Parses the RETRY_SCHEDULE var (`60,300,1800,7200`); an empty string means no retries. */
export function parseRetrySchedule(text: string | undefined): number[] | null {
	if (text === undefined) return null;
	const trimmed = text.trim();
	if (trimmed === "") return [];
	const parts = trimmed.split(",").map((part) => part.trim());
	if (!parts.every((part) => /^\d+$/.test(part))) return null;
	const schedule = parts.map(Number);
	return isValidSchedule(schedule) ? schedule : null;
}

/**
 * When the next attempt is due after attempt `failedAttempt` (1-based)
 * failed, in milliseconds from now; null when the schedule is exhausted.
 * `Retry-After` can only push the next attempt later, never earlier.
 */
export function nextRetryDelayMs(
	schedule: readonly number[],
	failedAttempt: number,
	retryAfterSeconds: number | null,
): number | null {
	const scheduled = schedule[failedAttempt - 1];
	if (scheduled === undefined) return null;
	const retryAfter = retryAfterSeconds === null ? 0 : Math.min(retryAfterSeconds, MAX_RETRY_AFTER_SECONDS);
	return Math.max(scheduled, retryAfter) * 1000;
}

/** Attempts in all that a schedule allows. */
export function maxAttempts(schedule: readonly number[]): number {
	return schedule.length + 1;
}
