import { openDatabase } from "../db/client";
import {
	copyPackedToRows,
	DELIVERY_COLUMNS,
	deliveriesByIds,
	eventStillStored,
	insertPacks,
	newPackSuffix,
	PACK_SPAN,
	type PackedRow,
	takePackedCopies,
} from "../db/delivery-log";
import type { AttemptRecord } from "../delivery/attempt-record";
import { groupBy } from "../lib/group";
import type { Outcome, PlannedAttempt } from "./attempt";

/*
 * The hot path's writes are fixed SQL text with bound values rather than
 * drizzle-built queries: building the upsert through the query builder took
 * about a fifth of the consumer's CPU in profiles (docs/BENCHMARKS.md). The
 * columns are those of src/db/schema.ts; the integration tests read them back
 * through drizzle, so a mismatch fails there.
 */

/**
 * Stores a batch's outcomes in one statement, whatever their number: each
 * outcome is a JSON array element of the single bound parameter, so a batch
 * of twenty deliveries is one D1 query instead of twenty (the hot path's
 * queries per delivery are what a database's throughput is counted in).
 * Most outcomes go into packs instead (packable, below); one that goes to
 * a row inserts the delivery's row or updates it and appends to its
 * `attempts` JSON array. An outcome with nothing sent
 * (attempt_count 0) appends nothing and keeps the last error. Two outcomes
 * for the same delivery in one statement apply in array order, as separate
 * statements would. `next_attempt_at` takes the outcome's, or keeps the
 * row's in the statement for outcomes that keep the scheduled retry.
 * An outcome whose event is gone (retention or a tenant's purge removed it
 * after the batch read it) is dropped rather than written: retention finds
 * deliveries only through their events, so the row would never go, and a
 * later event given the same seq would find it as its own (eventStillStored).
 */
function upsertDeliveries(keepSchedule: boolean): string {
	const column = (index: number) => `json_extract(o.value, '$[${index}]')`;
	return `
INSERT INTO deliveries (${DELIVERY_COLUMNS.join(", ")})
SELECT ${DELIVERY_COLUMNS.map((_, index) => column(index)).join(", ")}
FROM json_each(?1) AS o
WHERE ${eventStillStored(column)}
ON CONFLICT (id) DO UPDATE SET
	status = excluded.status,
	status_code = coalesce(excluded.status_code, deliveries.status_code),
	attempt_count = deliveries.attempt_count + excluded.attempt_count,
	attempts = CASE WHEN excluded.attempt_count = 0 THEN deliveries.attempts
		ELSE json_insert(deliveries.attempts, '$[#]', json(json_extract(excluded.attempts, '$[0]'))) END,
	next_attempt_at = ${keepSchedule ? "deliveries.next_attempt_at" : "excluded.next_attempt_at"},
	delivered_at = coalesce(excluded.delivered_at, deliveries.delivered_at),
	error = CASE WHEN excluded.attempt_count = 0 THEN coalesce(excluded.error, deliveries.error) ELSE excluded.error END,
	updated_at = excluded.updated_at`;
}

const UPSERT_DELIVERIES = upsertDeliveries(false);
const UPSERT_DELIVERIES_KEEPING_SCHEDULE = upsertDeliveries(true);
/**
 * An outcome of an attempt made (first, or a scheduled retry) goes into a
 * pack (src/db/delivery-log.ts) with the endpoint's other outcomes of the
 * write, a share of a row instead of a row: a success, a failure and each
 * retry alike, so a delivery that fails twice costs shares of three packs,
 * not a row written three times and its pending index entry moved. A retry
 * carries the delivery's packed copy over into its new pack (insertPacks)
 * and takes it out of the old one (takePackedCopies). A delivery that has
 * a row gets the outcome in its row instead, in the same statement.
 *
 * Not packed, so written to the delivery's row: an outcome with nothing
 * sent (held, skipped, settled), a manual resend (its failure keeps the
 * scheduled retry where it was), any outcome of a redelivered message,
 * whose earlier run may have recorded part of its work, and one the
 * sweeper sent again (its first send may be recorded after it).
 */
function packable(outcome: Outcome): boolean {
	const { planned } = outcome;
	return (
		outcome.record !== null &&
		(planned.trigger === "initial" || planned.trigger === "scheduled") &&
		planned.message.attempts === 1 &&
		!planned.swept &&
		!outcome.keepSchedule
	);
}

/**
 * The statements that store packable outcomes: packs of one endpoint's
 * deliveries each, ascending, at most PACK_SPAN events apart and
 * OUTCOME_JSON_PER_STATEMENT long, as few statements as that allows; then,
 * when any of them may be packed already, the two that take those out of
 * their older packs.
 */
function packStatements(
	db: D1Database,
	rows: readonly { planned: PlannedAttempt; row: string }[],
	writtenAt: number,
): D1PreparedStatement[] {
	const suffix = newPackSuffix();
	const statements: D1PreparedStatement[] = [];
	const carried: string[] = [];
	let packs: PackedRow[][] = [];
	let length = 0;
	const flush = () => {
		if (packs.length > 0) statements.push(insertPacks(db, packs, suffix));
		packs = [];
		length = 0;
	};
	for (const members of groupBy(rows, ({ planned }) => `${planned.tenantId}/${planned.endpointId}`).values()) {
		members.sort((a, b) => a.planned.event.seq - b.planned.event.seq);
		let pack: PackedRow[] = [];
		let lowestSeq = 0;
		for (const { planned, row } of members) {
			const full = planned.event.seq - lowestSeq > PACK_SPAN || length + row.length > OUTCOME_JSON_PER_STATEMENT;
			if (pack.length > 0 && full) {
				packs.push(pack);
				pack = [];
				if (length + row.length > OUTCOME_JSON_PER_STATEMENT) flush();
			}
			if (pack.length === 0) lowestSeq = planned.event.seq;
			const mayBePacked = planned.attempt > 1 || planned.trigger !== "initial";
			if (mayBePacked) carried.push(planned.deliveryId);
			pack.push({
				id: planned.deliveryId,
				row,
				agedFrom: Math.max(planned.event.createdAt, planned.event.deliverAt ?? 0),
				mayBePacked,
			});
			length += row.length + 1;
		}
		if (pack.length > 0) packs.push(pack);
	}
	flush();
	if (carried.length > 0) statements.push(...takePackedCopies(db, carried, { suffix, at: writtenAt }));
	return statements;
}

/**
 * How much outcome JSON one statement carries at most. A response prefix is
 * up to 4,096 characters, so a full batch usually fits one statement; the
 * bound keeps a batch of long answers well inside D1's 2 MB per value.
 */
const OUTCOME_JSON_PER_STATEMENT = 256 * 1024;

const SET_FAILING_SINCE =
	"UPDATE endpoints SET failing_since = ?3 WHERE tenant_id = ?1 AND id = ?2 AND failing_since IS NULL";
const CLEAR_FAILING_SINCE =
	"UPDATE endpoints SET failing_since = NULL WHERE tenant_id = ?1 AND id = ?2 AND failing_since IS NOT NULL";
const SET_SLOW_UNTIL = "UPDATE endpoints SET slow_until = ?3 WHERE tenant_id = ?1 AND id = ?2";
const DISABLE_ENDPOINT =
	"UPDATE endpoints SET active = 0, disabled_reason = ?3, updated_at = ?4 WHERE tenant_id = ?1 AND id = ?2";

/**
 * The D1 statements that store a batch's outcomes: usually one upsert for all
 * of them, plus slow-lane changes. Outcomes that keep their delivery's
 * scheduled retry need the other statement text, so a run of them starts a
 * new statement and the outcomes still apply in their order.
 */
export function recordOutcomes(db: D1Database, outcomes: readonly Outcome[]): D1PreparedStatement[] {
	const now = Date.now();
	const upserts: D1PreparedStatement[] = [];
	const slowLaneChanges: D1PreparedStatement[] = [];
	const packed: { planned: PlannedAttempt; row: string }[] = [];
	// Of a delivery with more than one outcome here, none is packed: the outcomes apply in order, as rows.
	const seen = new Set<string>();
	const withRow = new Set<string>();
	for (const { planned } of outcomes) {
		if (seen.has(planned.deliveryId)) withRow.add(planned.deliveryId);
		seen.add(planned.deliveryId);
	}
	const packs = (outcome: Outcome) => packable(outcome) && !withRow.has(outcome.planned.deliveryId);
	const unpacked = outcomes.filter((outcome) => !packs(outcome));
	// A delivery only in a pack that gets an outcome written to a row (a resend, a hold, a redelivered
	// message's) first gets the pack's copy as its row, so its log goes on from the packed attempts.
	const copied = unpacked.map((outcome) => outcome.planned.deliveryId);
	const copies = copied.length === 0 ? [] : [copyPackedToRows(db, copied)];
	let upsert: { keepSchedule: boolean; rows: string[]; length: number } | undefined;
	const flush = () => {
		if (!upsert) return;
		upserts.push(
			db
				.prepare(upsert.keepSchedule ? UPSERT_DELIVERIES_KEEPING_SCHEDULE : UPSERT_DELIVERIES)
				.bind(`[${upsert.rows.join(",")}]`),
		);
		upsert = undefined;
	};
	for (const outcome of outcomes) {
		const { planned, record } = outcome;
		const attemptJson = record === null ? null : JSON.stringify(record);
		const row = JSON.stringify([
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
		]);
		if (outcome.slowUntil !== undefined) {
			slowLaneChanges.push(db.prepare(SET_SLOW_UNTIL).bind(planned.tenantId, planned.endpointId, outcome.slowUntil));
		}
		if (packs(outcome)) {
			packed.push({ planned, row });
			continue;
		}
		if (
			upsert &&
			(upsert.keepSchedule !== outcome.keepSchedule || upsert.length + row.length > OUTCOME_JSON_PER_STATEMENT)
		)
			flush();
		upsert ??= { keepSchedule: outcome.keepSchedule, rows: [], length: 0 };
		upsert.rows.push(row);
		upsert.length += row.length + 1;
	}
	flush();
	upserts.push(...packStatements(db, packed, now));
	return [...copies, ...upserts, ...slowLaneChanges];
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
	for (const row of await deliveriesByIds(
		openDatabase(db),
		items.map((item) => item.deliveryId),
	)) {
		logs.set(row.id, JSON.parse(row.attempts) as AttemptRecord[]);
	}
	for (const item of items) {
		const log = logs.get(item.deliveryId) ?? [];
		if (log.some((entry) => entry.attempt === item.attempt && entry.trigger === item.trigger)) done.add(item);
	}
	return done;
}
