/**
 * Cloudflare list prices used to turn counted operations into dollars.
 *
 * List prices as of 2026-11-28, Workers Paid plan, per unit beyond the
 * included monthly allowances (the allowances are ignored on purpose: the
 * figure is the marginal price of a delivery).
 *
 * Sources:
 * - Workers: https://developers.cloudflare.com/workers/platform/pricing/
 * - Queues: https://developers.cloudflare.com/queues/platform/pricing/
 * - D1: https://developers.cloudflare.com/d1/platform/pricing/
 * - Durable Objects: https://developers.cloudflare.com/durable-objects/platform/pricing/
 */
export const PRICES_AS_OF = "2026-11-28";

export const PRICE_SOURCES = {
	workers: "https://developers.cloudflare.com/workers/platform/pricing/",
	queues: "https://developers.cloudflare.com/queues/platform/pricing/",
	d1: "https://developers.cloudflare.com/d1/platform/pricing/",
	durableObjects: "https://developers.cloudflare.com/durable-objects/platform/pricing/",
} as const;

const PER_MILLION = 1 / 1_000_000;

export const PRICES = {
	/** Workers Paid: $0.30 per million requests. */
	workerRequest: 0.3 * PER_MILLION,
	/** Workers Paid: $0.02 per million CPU milliseconds. */
	workerCpuMs: 0.02 * PER_MILLION,
	/** Queues: $0.40 per million operations; a message is written, read and deleted (3 operations per 64 KB). */
	queueOperation: 0.4 * PER_MILLION,
	queueOperationsPerMessage: 3,
	queueBytesPerOperation: 64 * 1024,
	/** D1: $0.001 per million rows read, $1.00 per million rows written. */
	d1RowRead: 0.001 * PER_MILLION,
	d1RowWritten: 1.0 * PER_MILLION,
	/** Durable Objects: $0.15 per million requests (alarm invocations are billed as requests). */
	doRequest: 0.15 * PER_MILLION,
	/** Durable Objects: $12.50 per million GB-s of wall-clock duration, at 128 MB per object. */
	doGbSecond: 12.5 * PER_MILLION,
	doMemoryGb: 128 / 1024,
	/** Durable Objects SQLite storage: $0.001 per million rows read, $1.00 per million rows written. */
	doRowRead: 0.001 * PER_MILLION,
	doRowWritten: 1.0 * PER_MILLION,
} as const;
