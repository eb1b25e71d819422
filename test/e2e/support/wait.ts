import { setTimeout as sleep } from "node:timers/promises";

/** One look at the state being waited for: finished with a value, or not yet (with what was seen). */
export type Poll<T> = { done: true; value: T } | { done: false; seen: unknown };

export function done<T>(value: T): Poll<T> {
	return { done: true, value };
}

export function notYet<T>(seen: unknown): Poll<T> {
	return { done: false, seen };
}

export interface WaitOptions {
	timeoutMs?: number;
	intervalMs?: number;
}

/**
 * Polls `probe` until it reports done or the deadline passes. On timeout the
 * error names what was awaited and the last state seen, so a failing test
 * shows what the worker actually answered instead of a bare timeout.
 */
export async function waitFor<T>(
	description: string,
	probe: () => Promise<Poll<T>> | Poll<T>,
	{ timeoutMs = 20_000, intervalMs = 150 }: WaitOptions = {},
): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	let seen: unknown = "(nothing yet)";
	for (;;) {
		try {
			const poll = await probe();
			if (poll.done) {
				return poll.value;
			}
			seen = poll.seen;
		} catch (error) {
			seen = error instanceof Error ? `error: ${error.message}` : error;
		}
		if (Date.now() >= deadline) {
			throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}; last seen: ${describe(seen)}`);
		}
		await sleep(intervalMs);
	}
}

/** Waits a fixed grace period: only for asserting that something does NOT happen. */
export async function gracePeriod(ms: number): Promise<void> {
	await sleep(ms);
}

function describe(value: unknown): string {
	if (typeof value === "string") {
		return value;
	}
	try {
		return JSON.stringify(value);
	} catch {
		return String(value);
	}
}
