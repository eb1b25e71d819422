import type { AttemptRecord } from "../delivery/attempt-record";
import { chunk, IDS_PER_STATEMENT } from "../lib/chunk";
import type { Outcome, PlannedAttempt } from "./attempt";

/*
 * The hot path's writes are fixed SQL text with bound values rather than
 * drizzle-built queries: building the upsert through the query builder took
 * about a fifth of the consumer's CPU in profiles (docs/BENCHMARKS.md). The
 * columns are those of src/db/schema.ts; the integration tests read them back
 * through drizzle, so a mismatch fails there.
 */

/**
 * Stores one attempt's outcome. The first attempt inserts the delivery row;
 * later ones update it and append to its `attempts` JSON array (?15 is null
 * when nothing was sent; a delivery held back then keeps its last error).
 * ?16 set keeps the scheduled retry's time.
 */
const UPSERT_DELIVERY = `
INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, status_code, attempt_count,
	attempts, next_attempt_at, delivered_at, error, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
ON CONFLICT (id) DO UPDATE SET
	status = excluded.status,
	status_code = coalesce(excluded.status_code, deliveries.status_code),
	attempt_count = deliveries.attempt_count + excluded.attempt_count,
	attempts = CASE WHEN ?15 IS NULL THEN deliveries.attempts ELSE json_insert(deliveries.attempts, '$[#]', json(?15)) END,
	next_attempt_at = CASE WHEN ?16 THEN deliveries.next_attempt_at ELSE excluded.next_attempt_at END,
	delivered_at = coalesce(excluded.delivered_at, deliveries.delivered_at),
	error = CASE WHEN ?15 IS NULL THEN coalesce(excluded.error, deliveries.error) ELSE excluded.error END,
	updated_at = excluded.updated_at`;

const SET_FAILING_SINCE =
	"UPDATE endpoints SET failing_since = ?3 WHERE tenant_id = ?1 AND id = ?2 AND failing_since IS NULL";
const CLEAR_FAILING_SINCE =
	"UPDATE endpoints SET failing_since = NULL WHERE tenant_id = ?1 AND id = ?2 AND failing_since IS NOT NULL";
const SET_SLOW_UNTIL = "UPDATE endpoints SET slow_until = ?3 WHERE tenant_id = ?1 AND id = ?2";
const DISABLE_ENDPOINT =
	"UPDATE endpoints SET active = 0, disabled_reason = ?3, updated_at = ?4 WHERE tenant_id = ?1 AND id = ?2";

/** The D1 statements that store a batch's outcomes: one upsert per delivery, plus slow-lane changes. */
export function recordOutcomes(db: D1Database, outcomes: readonly Outcome[]): D1PreparedStatement[] {
	const now = Date.now();
	const statements: D1PreparedStatement[] = [];
	for (const outcome of outcomes) {
		const { planned, record } = outcome;
		const attemptJson = record === null ? null : JSON.stringify(record);
		statements.push(
			db
				.prepare(UPSERT_DELIVERY)
				.bind(
					planned.deliveryId,
					planned.tenantId,
					planned.endpointId,
					planned.event.id,
					planned.event.type,
					outcome.status,
					record?.status_code ?? null,
					record === null ? 0 : 1,
					attemptJson === null ? "[]" : `[${attemptJson}]`,
					outcome.nextAttemptAtMs,
					outcome.status === "success" ? now : null,
					outcome.error,
					planned.event.createdAt,
					now,
					attemptJson,
					outcome.keepSchedule ? 1 : 0,
				),
		);
		if (outcome.slowUntil !== undefined) {
			statements.push(db.prepare(SET_SLOW_UNTIL).bind(planned.tenantId, planned.endpointId, outcome.slowUntil));
		}
	}
	return statements;
}

/** Marks endpoints failing at their first failure and healthy again at their first success; written only on a change. */
export function failingSinceStatements(
	db: D1Database,
	changes: readonly { tenantId: string; endpointId: string; failingSince: number | null }[],
): D1PreparedStatement[] {
	return changes.map((change) =>
		change.failingSince === null
			? db.prepare(CLEAR_FAILING_SINCE).bind(change.tenantId, change.endpointId)
			: db.prepare(SET_FAILING_SINCE).bind(change.tenantId, change.endpointId, change.failingSince),
	);
}

/** Disables an endpoint; true when this call did it (it was active), so its operational event is sent once. */
export async function disableEndpoint(
	db: D1Database,
	tenantId: string,
	endpointId: string,
	reason: string,
): Promise<boolean> {
	const result = await db
		.prepare(`${DISABLE_ENDPOINT} AND active = 1`)
		.bind(tenantId, endpointId, reason, Date.now())
		.run();
	return result.meta.changes > 0;
}

/**
 * The planned attempts whose outcome is already stored: the delivery's log
 * holds an attempt with the same number and trigger. Asked only for
 * redelivered messages, which a crash, a thrown error or a lost ack sent
 * again after some of their attempts had ended and been recorded. (Two
 * manual resends queued before the first was recorded carry the same
 * number; if the second is redelivered it is taken for done, and can be
 * asked for again.)
 */
export async function alreadyAttempted(db: D1Database, items: readonly PlannedAttempt[]): Promise<Set<PlannedAttempt>> {
	const done = new Set<PlannedAttempt>();
	if (items.length === 0) return done;
	const logs = new Map<string, AttemptRecord[]>();
	for (const ids of chunk([...new Set(items.map((item) => item.deliveryId))], IDS_PER_STATEMENT)) {
		const { results } = await db
			.prepare(`SELECT id, attempts FROM deliveries WHERE id IN (${ids.map(() => "?").join(", ")})`)
			.bind(...ids)
			.all<{ id: string; attempts: string }>();
		for (const row of results) logs.set(row.id, JSON.parse(row.attempts) as AttemptRecord[]);
	}
	for (const item of items) {
		const log = logs.get(item.deliveryId) ?? [];
		if (log.some((entry) => entry.attempt === item.attempt && entry.trigger === item.trigger)) done.add(item);
	}
	return done;
}
