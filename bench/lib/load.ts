import { setTimeout as sleep } from "node:timers/promises";

export interface ClosedLoopOptions {
	concurrency: number;
	maxRequests: number;
	maxMs: number;
	/** One request; resolves with its status. Latency is measured around it. */
	request: () => Promise<number>;
	onProgress?: (done: number, elapsedMs: number) => void;
}

export interface ClosedLoopResult {
	completed: number;
	durationMs: number;
	latenciesMs: number[];
	statuses: Record<string, number>;
	errors: number;
	firstError: string | null;
}

/**
 * `concurrency` clients, each sending its next request as soon as the last
 * one answered, until `maxRequests` were sent or `maxMs` passed.
 */
export async function closedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
	const latenciesMs: number[] = [];
	const statuses: Record<string, number> = {};
	let started = 0;
	let errors = 0;
	let firstError: string | null = null;
	const t0 = performance.now();
	const deadline = t0 + options.maxMs;
	let lastReport = t0;
	const lane = async (): Promise<void> => {
		while (started < options.maxRequests && performance.now() < deadline) {
			started++;
			const before = performance.now();
			try {
				const status = await options.request();
				const after = performance.now();
				latenciesMs.push(after - before);
				statuses[String(status)] = (statuses[String(status)] ?? 0) + 1;
				if (options.onProgress !== undefined && after - lastReport >= 3_000) {
					lastReport = after;
					options.onProgress(latenciesMs.length, after - t0);
				}
			} catch (error) {
				errors++;
				firstError ??= error instanceof Error ? error.message : String(error);
			}
		}
	};
	await Promise.all(Array.from({ length: options.concurrency }, lane));
	return {
		completed: latenciesMs.length,
		durationMs: performance.now() - t0,
		latenciesMs,
		statuses,
		errors,
		firstError,
	};
}

export interface FixedRateOptions {
	ratePerSecond: number;
	maxMs: number;
	maxCount: number;
	/** Requests allowed in flight; at the cap the generator waits, and counts itself behind. */
	maxInFlight: number;
	send: (index: number) => Promise<void>;
	/** Called about every `tickMs` while sending, e.g. to sample a backlog. */
	onTick?: (elapsedMs: number, sent: number) => void;
	tickMs?: number;
}

export interface FixedRateResult {
	sent: number;
	durationMs: number;
	/** Sends that left more than 50 ms after their scheduled time. */
	late: number;
	/** Times the in-flight cap made the generator wait. */
	capped: number;
	errors: number;
	firstError: string | null;
	achievedRatePerSecond: number;
}

/**
 * Open-loop load: request i is due at t0 + i / rate, whatever happened to
 * the earlier ones, up to `maxCount` requests or `maxMs`.
 */
export async function fixedRate(options: FixedRateOptions): Promise<FixedRateResult> {
	const interval = 1000 / options.ratePerSecond;
	const t0 = performance.now();
	const inFlight = new Set<Promise<void>>();
	let sent = 0;
	let late = 0;
	let capped = 0;
	let errors = 0;
	let firstError: string | null = null;
	const tickMs = options.tickMs ?? 500;
	let nextTick = t0 + tickMs;
	for (let index = 0; index < options.maxCount; index++) {
		const due = t0 + index * interval;
		// Bounded by the schedule and by the clock: a generator held back by the cap stops on time too.
		if (due - t0 >= options.maxMs || performance.now() - t0 >= options.maxMs) break;
		const wait = due - performance.now();
		if (wait > 1) await sleep(wait);
		while (inFlight.size >= options.maxInFlight) {
			capped++;
			await Promise.race(inFlight);
		}
		if (performance.now() - t0 >= options.maxMs) break;
		const now = performance.now();
		if (now - due > 50) late++;
		if (options.onTick !== undefined && now >= nextTick) {
			nextTick = now + tickMs;
			options.onTick(now - t0, sent);
		}
		const task = options.send(index).catch((error: unknown) => {
			errors++;
			firstError ??= error instanceof Error ? error.message : String(error);
		});
		const tracked: Promise<void> = task.finally(() => inFlight.delete(tracked));
		inFlight.add(tracked);
		sent++;
	}
	const sendingMs = performance.now() - t0;
	await Promise.all(inFlight);
	return {
		sent,
		durationMs: sendingMs,
		late,
		capped,
		errors,
		firstError,
		achievedRatePerSecond: sendingMs > 0 ? (sent * 1000) / Math.max(sendingMs, (sent - 1) * interval) : 0,
	};
}

/** Polls `probe` every `intervalMs` until it returns true or `timeoutMs` passes; true when it did. */
export async function until(
	probe: () => boolean | Promise<boolean>,
	timeoutMs: number,
	intervalMs = 100,
): Promise<boolean> {
	const deadline = performance.now() + timeoutMs;
	for (;;) {
		if (await probe()) return true;
		if (performance.now() >= deadline) return false;
		await sleep(intervalMs);
	}
}
