/** initial: fan-out at ingest; scheduled: a backoff retry; manual: a resend someone asked for. */
export type AttemptTrigger = "initial" | "scheduled" | "manual";

/** One attempt as stored in a delivery's `attempts` JSON array and served by the API. */
export interface AttemptRecord {
	id: string;
	attempt: number;
	trigger: AttemptTrigger;
	started_at: string;
	duration_ms: number;
	status_code: number | null;
	response_body: string | null;
	error: string | null;
}
