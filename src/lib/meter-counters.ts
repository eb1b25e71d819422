/**
 * The names of the usage counters the worker keeps for `npm run bench`.
 * Plain data with no runtime types, so the bench (on Node) shares it.
 */
export const METER_COUNTER_NAMES = [
	"d1_rows_read",
	"d1_rows_written",
	"d1_queries",
	"queue_messages_sent",
	"queue_messages_consumed",
	"queue_batches",
	"do_requests",
	"do_alarms",
	/** setAlarm calls: each is billed as a row written, so do_rows_written counts them too. */
	"do_alarms_set",
	"do_wall_ms",
	"do_rows_read",
	"do_rows_written",
	"worker_fetch_invocations",
	"worker_queue_invocations",
	"worker_scheduled_invocations",
	"attempts_made",
	"attempts_succeeded",
] as const;

export type MeterCounters = Record<(typeof METER_COUNTER_NAMES)[number], number>;

export function zeroCounters(): MeterCounters {
	return Object.fromEntries(METER_COUNTER_NAMES.map((name) => [name, 0])) as MeterCounters;
}

/** The D1 counters again for one database binding (`d1_by_database` of GET /_bench/metrics). */
export interface DatabaseCounters {
	d1_queries: number;
	d1_rows_read: number;
	d1_rows_written: number;
}
