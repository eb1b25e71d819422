import { and, eq, getTableColumns, inArray, type SQL, sql } from "drizzle-orm";
import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import type { Database } from "../../db/client";
import { firstReusableSeqSql, nextSeqForEachRowSql, reusableSeqsSql, seqFloorSql } from "../../db/event-reuse";
import { findEventsByIds } from "../../db/events";
import { type EventRow, events } from "../../db/schema";
import { subscribersOf } from "../../db/subscribers";
import { isoSeconds } from "../../delivery/envelope";
import { chunk, IDS_PER_STATEMENT } from "../../lib/chunk";
import { ApiError, orUnavailable, platformUnavailable } from "../../lib/errors";
import { groupBy } from "../../lib/group";
import {
	deliveryId,
	generatedEventIdSql,
	isGeneratedEventId,
	newEventIdNonce,
	nonceOfGeneratedEventId,
} from "../../lib/ids";
import { noteBacklog } from "../../queue/backlog";
import { depart, firstAttemptCoalesceMs, noteSendTaken, queueRefusesSends } from "../../queue/departures";
import {
	type DeliveryJob,
	enqueueJobs,
	type FirstAttempt,
	fanOutJobs,
	MAX_QUEUE_DELAY_SECONDS,
	packedJobs,
} from "../../queue/messages";
import { schedulerFor } from "../../scheduler/client";

export interface EventInput {
	type: string;
	/** The payload already serialized: stored as is and spliced into every envelope. */
	dataJson: string;
	id?: string | undefined;
	idempotencyKey?: string | undefined;
	/** Routing labels (Svix `channels`): only endpoints listening on one of them receive the event. */
	labels?: readonly string[] | undefined;
	tags?: readonly string[] | undefined;
	/** When the first attempts are due (ms); a time not after now sends at once. */
	deliverAtMs?: number | undefined;
}

export interface AcceptedEvent {
	id: string;
	type: string;
	created: number;
	created_at: string;
	labels: string[] | null;
	tags: string[] | null;
	deliver_at: string | null;
}

export interface IngestResult {
	event: AcceptedEvent;
	seq: number;
	endpointIds: string[];
	/** True when an earlier request already created this event. */
	replayed: boolean;
	/** What matched the earlier event: its key (a retried request) or only its id (another event reusing it). */
	replayedBy?: "id" | "idempotency-key";
}

export interface IngestContext {
	env: Env;
	db: Database;
	queue: Queue<DeliveryJob>;
	tenantId: string;
	/**
	 * The request's own waitUntil, when its first attempts may leave after
	 * the answer, in the tenant's next departure (src/queue/departures.ts).
	 * Without it they are sent before ingest returns.
	 */
	waitUntil?: (work: Promise<void>) => void;
}

/** What ingest needs to store a tenant's events and start their deliveries; given a request's waitUntil, it carries it. */
export function ingestContext(env: Env, db: Database, tenantId: string): IngestContext;
export function ingestContext(
	env: Env,
	db: Database,
	tenantId: string,
	waitUntil: (work: Promise<void>) => void,
): IngestContext & Required<Pick<IngestContext, "waitUntil">>;
export function ingestContext(
	env: Env,
	db: Database,
	tenantId: string,
	waitUntil?: (work: Promise<void>) => void,
): IngestContext {
	return { env, db, queue: env.DELIVERY_QUEUE as Queue<DeliveryJob>, tenantId, waitUntil };
}

function jsonList(text: string | null): string[] | null {
	return text === null ? null : (JSON.parse(text) as string[]);
}

export function acceptedEvent(
	row: Pick<EventRow, "id" | "type" | "createdAt" | "labels" | "tags" | "deliverAt">,
): AcceptedEvent {
	return {
		id: row.id,
		type: row.type,
		created: Math.floor(row.createdAt / 1000),
		created_at: isoSeconds(row.createdAt),
		labels: jsonList(row.labels),
		tags: jsonList(row.tags),
		deliver_at: row.deliverAt === null ? null : new Date(row.deliverAt).toISOString(),
	};
}

const dialect = new SQLiteSyncDialect();

function replayOf(row: EventRow, input: EventInput): IngestResult {
	const byKey = input.idempotencyKey !== undefined && row.idempotencyKey === input.idempotencyKey;
	return {
		event: acceptedEvent(row),
		seq: row.seq,
		endpointIds: JSON.parse(row.endpointIds) as string[],
		replayed: true,
		replayedBy: byKey ? "idempotency-key" : "id",
	};
}

/** An event's values in the order the insert reads them: `id` is the sender's, or null for the insert to make one from `nonce`. */
const EVENT_FIELDS = ["id", "nonce", "type", "data", "idempotency_key", "labels", "tags", "deliver_at"] as const;

/**
 * The time events are stored at: the isolate's (?2), or the newest stored
 * event's when that is later (another isolate's clock ran ahead), so that
 * created_at never goes back in seq order and an id made from it tells where
 * its event lies among the seqs (src/db/events.ts, findEventsByIds). The
 * newest event is the last rowid: one lookup.
 */
const STORED_AT = "max(?2, coalesce((SELECT created_at FROM events ORDER BY seq DESC LIMIT 1), ?2))";

/**
 * Every column of the table but seq, each with the SQL of its value (r is
 * the input, clock the time stored at): a reused row (below) keeps nothing
 * of its old event. insertEventsSql refuses a list that is not the table's.
 */
function writtenColumns(fanOut: SQL): [string, SQL][] {
	return [
		["tenant_id", sql.raw("?1")],
		["id", sql.raw(`coalesce(r.id, ${generatedEventIdSql("clock.at", "r.nonce")})`)],
		["id_given", sql.raw("r.id IS NOT NULL")],
		["type", sql.raw("r.type")],
		["data", sql.raw("r.data")],
		["idempotency_key", sql.raw("r.idempotency_key")],
		["endpoint_ids", fanOut],
		["created_at", sql.raw("clock.at")],
		["labels", sql.raw("r.labels")],
		["tags", sql.raw("r.tags")],
		["deliver_at", sql.raw("r.deliver_at")],
	];
}

/**
 * Stores events and computes each one's fan-out in the same statement, so
 * ingest costs one D1 query whatever the number of events: the INSERT reads
 * the subscribers row by row. ?1 is the tenant, ?2 the time, ?3 the only
 * endpoint in the test send's form. `many` takes the rows as one JSON array
 * bound to ?4 (each an array of EVENT_FIELDS' values); otherwise one event's
 * values are bound to ?4 to ?11, which spares a single event the work of
 * unpacking JSON (measured: a quarter of a millisecond more per request).
 *
 * An event goes into the row of an expired event that retention cleaned
 * when there is one (src/db/event-reuse.ts): the insert names that row's
 * seq, conflicts with it, and the upsert moves the row to the next seq with
 * the new event's values. That writes what an insert does, and saves the
 * delete retention would otherwise make. Without a cleaned row the event
 * takes the seq after the highest stored, and never one at or below the
 * cleaned mark: once every event above the mark is gone (a purge), the next
 * rowid would fall behind it, where retention no longer walks. The n-th
 * input takes that floor + n, and a reused row the one after the highest
 * seq (or the mark) when it is stored, which is at most that: the seqs of
 * one statement follow its inputs and never collide.
 *
 * A repeated id or idempotency key stores nothing and returns no row: a new
 * row by its unique index (ON CONFLICT DO NOTHING), a reused one by the
 * upsert's own check, since a conflict that an update raises would fail the
 * statement. The text is built once: building it per request cost CPU on
 * the hottest route. Its columns are those of src/db/schema.ts; the
 * integration tests read the rows back through drizzle.
 */
function insertEventsSql(onlyEndpoint: boolean, many: boolean): string {
	const fanOut = onlyEndpoint
		? sql.raw("json_array(?3)")
		: subscribersOf(sql.raw("?1"), sql.raw("r.type"), sql.raw("r.labels"));
	const written = writtenColumns(fanOut);
	const names = written.map(([name]) => name);
	const tableColumns = Object.values(getTableColumns(events)).map((column) => column.name);
	if (JSON.stringify([...names].sort()) !== JSON.stringify(tableColumns.filter((name) => name !== "seq").sort())) {
		throw new Error("the event insert must write every column of events but seq");
	}
	const values = many
		? // MATERIALIZED: flattened into the INSERT, every r.type in the fan-out's loops over endpoints and
			// their filters would extract it again from the whole element, payload included.
			`MATERIALIZED (SELECT ${EVENT_FIELDS.map((name, index) => `json_extract(value, '$[${index}]') AS ${name}`).join(", ")}, key + 1 AS n FROM json_each(?4))`
		: `(SELECT ${EVENT_FIELDS.map((name, index) => `?${index + 4} AS ${name}`).join(", ")})`;
	const seqFloor = seqFloorSql("(SELECT max(seq) FROM events)");
	// One event takes the oldest cleaned row's seq, or the one after the floor; the n-th of many joins the
	// n-th cleaned row, or takes the floor + n.
	const withMore = many
		? `, free AS MATERIALIZED (${reusableSeqsSql("(SELECT count(*) FROM r)")}), floor AS (SELECT ${seqFloor} AS seq)`
		: "";
	const seq = many ? "coalesce(free.seq, floor.seq + r.n)" : `coalesce(${firstReusableSeqSql}, ${seqFloor} + 1)`;
	const from = many ? "r LEFT JOIN free ON free.n = r.n, clock, floor" : "r, clock";
	const query = dialect.sqlToQuery(sql`
		WITH r AS ${sql.raw(values)}, clock AS (SELECT ${sql.raw(STORED_AT)} AS at)${sql.raw(withMore)}
		INSERT INTO events (seq, ${sql.raw(names.join(", "))})
		SELECT ${sql.raw(seq)}, ${sql.join(
			written.map(([, value]) => value),
			sql`, `,
		)}
		FROM ${sql.raw(from)}
		WHERE true
		ON CONFLICT (seq) DO UPDATE SET seq = ${sql.raw(nextSeqForEachRowSql)}, ${sql.raw(names.map((name) => `${name} = excluded.${name}`).join(", "))}
			WHERE NOT EXISTS (SELECT 1 FROM events AS e WHERE e.tenant_id = excluded.tenant_id
					AND e.idempotency_key = excluded.idempotency_key AND e.seq <> events.seq)
				AND NOT (excluded.id_given AND EXISTS (SELECT 1 FROM events AS e WHERE e.tenant_id = excluded.tenant_id
					AND e.id = excluded.id AND e.id_given IS NOT 0 AND e.seq <> events.seq))
		ON CONFLICT DO NOTHING
		RETURNING seq, id, id_given, created_at, idempotency_key, endpoint_ids, ${orderedAmong} AS ordered_ids`);
	if (query.params.length > 0) throw new Error("the event insert must bind its values by position");
	return query.sql;
}

/** The ids among the new row's `endpoint_ids` of endpoints with ordered delivery. */
const orderedAmong = sql`(SELECT json_group_array(o.id) FROM endpoints o
	WHERE o.tenant_id = ?1 AND o.ordering = 'ordered'
	AND o.id IN (SELECT value FROM json_each(endpoint_ids)))`;

const INSERT_EVENT = insertEventsSql(false, false);
const INSERT_EVENTS = insertEventsSql(false, true);
const INSERT_TEST_EVENT = insertEventsSql(true, false);

/**
 * The most row JSON one insert carries. D1 takes at most 2,000,000 bytes in
 * one value, and a character may take three bytes: a batch of large
 * payloads (up to 2 MiB in all) becomes a few statements of one batch.
 */
const EVENT_JSON_PER_STATEMENT = 600_000;

/** An event to store: `id` is the sender's, or null for the insert to make one from `nonce`. */
type NewEventRow = Omit<EventRow, "seq" | "endpointIds" | "id" | "idGiven" | "createdAt"> & {
	id: string | null;
	nonce: string;
};

interface StoredEvent {
	seq: number;
	id: string;
	id_given: number;
	created_at: number;
	idempotency_key: string | null;
	endpoint_ids: string;
	ordered_ids: string;
}

/**
 * What tells a stored row's input: the id given, or the random part of the
 * id made, with the key. An id given twice in a request may be stored for
 * the second input when the first one's key was taken.
 */
function inputKey(row: NewEventRow): string {
	return JSON.stringify(row.id === null ? [null, row.nonce, row.idempotencyKey] : [row.id, row.idempotencyKey]);
}

function storedKey(row: StoredEvent): string {
	return JSON.stringify(
		row.id_given === 0 ? [null, nonceOfGeneratedEventId(row.id), row.idempotency_key] : [row.id, row.idempotency_key],
	);
}

function insertEvents(
	ctx: IngestContext,
	rows: readonly NewEventRow[],
	now: number,
	onlyEndpointId: string | undefined,
): D1PreparedStatement[] {
	const valuesOf = (row: NewEventRow) => [
		row.id,
		row.nonce,
		row.type,
		row.data,
		row.idempotencyKey,
		row.labels,
		row.tags,
		row.deliverAt,
	];
	const [only] = rows;
	if (rows.length === 1 && only) {
		const statement = ctx.db.$client.prepare(onlyEndpointId === undefined ? INSERT_EVENT : INSERT_TEST_EVENT);
		return [statement.bind(ctx.tenantId, now, onlyEndpointId ?? null, ...valuesOf(only))];
	}
	if (onlyEndpointId !== undefined) throw new Error("a test send stores one event");
	const statements: D1PreparedStatement[] = [];
	const bind = (elements: string[]) => {
		statements.push(ctx.db.$client.prepare(INSERT_EVENTS).bind(ctx.tenantId, now, null, `[${elements.join(",")}]`));
	};
	let elements: string[] = [];
	let length = 0;
	for (const row of rows) {
		const element = JSON.stringify(valuesOf(row));
		if (elements.length > 0 && length + element.length > EVENT_JSON_PER_STATEMENT) {
			bind(elements);
			elements = [];
			length = 0;
		}
		elements.push(element);
		length += element.length + 1;
	}
	if (elements.length > 0) bind(elements);
	return statements;
}

/**
 * Puts deliveries to ordered endpoints in their endpoint's line before the
 * 202, so an event answered before another was sent is ahead of it in line,
 * whatever order the queue would have delivered them in. If a scheduler
 * cannot be reached, its deliveries take the queue instead, and the
 * consumer puts them in line when they arrive.
 */
async function joinLines(
	ctx: IngestContext,
	inLine: readonly { endpointId: string; eventSeq: number }[],
): Promise<void> {
	await Promise.all(
		[...groupBy(inLine, (entry) => entry.endpointId)].map(async ([endpointId, entries]) => {
			const requests = entries.map(({ eventSeq }) => ({
				deliveryId: deliveryId(endpointId, eventSeq),
				eventSeq,
				attempt: 1,
				trigger: "initial" as const,
				lane: "main" as const,
				throughCircuit: true,
				inOrder: true,
			}));
			try {
				await schedulerFor(ctx.env, ctx.tenantId, endpointId).admit(
					ctx.tenantId,
					endpointId,
					{ rateLimitPerSecond: null, ordered: true },
					requests,
				);
			} catch (error) {
				console.error("could not put deliveries in their endpoint's line; queueing them", endpointId, error);
				await enqueueJobs(
					ctx.queue,
					entries.flatMap(({ eventSeq }) => fanOutJobs(ctx.tenantId, eventSeq, [endpointId], "initial")),
				);
			}
		}),
	);
}

async function findExisting(ctx: IngestContext, inputs: readonly EventInput[]): Promise<EventRow[]> {
	const ids = inputs.flatMap((input) => (input.id === undefined ? [] : [input.id]));
	const keys = inputs.flatMap((input) => (input.idempotencyKey === undefined ? [] : [input.idempotencyKey]));
	const byKey = chunk(keys, IDS_PER_STATEMENT).map((part) =>
		ctx.db
			.select()
			.from(events)
			.where(and(eq(events.tenantId, ctx.tenantId), inArray(events.idempotencyKey, part))),
	);
	const [first, ...rest] = byKey;
	const [byId, byKeys] = await Promise.all([
		findEventsByIds(ctx.db, ctx.tenantId, ids),
		first ? (ctx.db.batch([first, ...rest]) as Promise<EventRow[][]>) : [],
	]);
	return [...byId, ...byKeys.flat()];
}

/**
 * The ids among `inputs` that have the form of a generated id and name an
 * event already stored under it. Only ids a sender gave are unique through
 * the index, so the insert cannot see these: a sender reusing an id that
 * Edgehook gave gets that event back, as for any id already in use. Not
 * widened: a sender whose own ids have this form (`evt_` and a lower-case
 * ULID) would otherwise pay a read of the tenant's last minute of events
 * for each new id, to find events stored out of order around an upgrade.
 */
async function generatedIdsInUse(ctx: IngestContext, inputs: readonly EventInput[]): Promise<Set<string>> {
	const ids = inputs.flatMap((input) => (input.id !== undefined && isGeneratedEventId(input.id) ? [input.id] : []));
	if (ids.length === 0) return new Set();
	return new Set((await findEventsByIds(ctx.db, ctx.tenantId, ids, false)).map((event) => event.id));
}

/** Takes back events whose delivery jobs were refused; false when D1 would not let them go either. */
async function removeEvents(ctx: IngestContext, seqs: readonly number[]): Promise<boolean> {
	try {
		// One batch, one transaction: the events go all together or stay all together.
		const deletes = chunk(seqs, IDS_PER_STATEMENT).map((part) =>
			ctx.db.delete(events).where(inArray(events.seq, part)),
		);
		const [first, ...rest] = deletes;
		if (first) await ctx.db.batch([first, ...rest]);
		return true;
	} catch (error) {
		console.error("could not remove events whose delivery jobs were refused", error);
		return false;
	}
}

/**
 * Stores events and fans each out to the endpoints subscribed to its type,
 * or to `onlyEndpointId` (the test send). An event that repeats an earlier
 * id or Idempotency-Key answers with the original and sends nothing new.
 *
 * Nothing is answered 202 unless the event rows were stored, and nothing
 * stored is answered 503: if the queue refuses the jobs, the new rows are
 * removed and the caller gets a 503 to retry (which an id or Idempotency-Key
 * makes safe); if D1 will not remove them either, they stay, are answered
 * 202, and the sweeper sends them. A failure of D1 itself is a 503 too.
 * With `ctx.waitUntil` the first attempts leave after the answer instead
 * (src/queue/departures.ts): a departure the queue refuses leaves its
 * events to the sweeper, and ingest sends before it answers again until
 * the queue takes a send.
 */
export async function ingestEvents(
	ctx: IngestContext,
	inputs: readonly EventInput[],
	onlyEndpointId?: string,
): Promise<IngestResult[]> {
	return (await ingestEachEvent(ctx, inputs, onlyEndpointId)).map((outcome) => {
		if (outcome instanceof ApiError) throw outcome;
		return outcome;
	});
}

/**
 * ingestEvents, with each input's own outcome: an input whose id was taken
 * meanwhile gets its 409 without failing the others, which the inputs of
 * other requests stored together with it need (group-commit.ts). A failure
 * of D1 or the queue still throws, for all of them.
 */
export async function ingestEachEvent(
	ctx: IngestContext,
	inputs: readonly EventInput[],
	onlyEndpointId?: string,
): Promise<(IngestResult | ApiError)[]> {
	const now = Date.now();
	const inUse = await orUnavailable("the event store", () => generatedIdsInUse(ctx, inputs));
	const rows: NewEventRow[] = inputs.map((input) => ({
		tenantId: ctx.tenantId,
		id: input.id ?? null,
		nonce: newEventIdNonce(),
		type: input.type,
		data: input.dataJson,
		idempotencyKey: input.idempotencyKey ?? null,
		labels: input.labels === undefined ? null : JSON.stringify(input.labels),
		tags: input.tags === undefined || input.tags.length === 0 ? null : JSON.stringify(input.tags),
		// A time already come is no schedule: such an event is sent as any other and never enters the scheduled index.
		deliverAt: input.deliverAtMs !== undefined && input.deliverAtMs > now ? input.deliverAtMs : null,
	}));
	// Drizzle cannot batch raw statements, so this one batch goes to D1 directly. A batch is
	// one transaction: when D1 fails it, none of the events were stored.
	const toStore = rows.filter((row) => row.id === null || !inUse.has(row.id));
	const inserted =
		toStore.length === 0
			? []
			: await orUnavailable("the event store", () =>
					ctx.db.$client.batch<StoredEvent>(insertEvents(ctx, toStore, now, onlyEndpointId)),
				);
	// RETURNING gives rows in no promised order, so each goes to its input by id and key; an input
	// repeated whole in one request was stored for its first copy only.
	const storedByKey = new Map<string, StoredEvent>();
	for (const result of inserted) for (const row of result.results) storedByKey.set(storedKey(row), row);

	const results: (IngestResult | undefined)[] = [];
	const firstAttempts: FirstAttempt[] = [];
	/** First attempts of scheduled events, with how many seconds the queue holds them. */
	const delayed: { eventSeq: number; endpointId: string; delaySeconds: number }[] = [];
	/** Deliveries to ordered endpoints: they join their endpoint's line instead of the queue. */
	const inLine: { endpointId: string; eventSeq: number }[] = [];
	const insertedSeqs: number[] = [];
	for (const row of rows) {
		const stored = storedByKey.get(inputKey(row));
		storedByKey.delete(inputKey(row));
		if (!stored) {
			results.push(undefined);
			continue;
		}
		const endpointIds = JSON.parse(stored.endpoint_ids) as string[];
		insertedSeqs.push(stored.seq);
		results.push({
			event: acceptedEvent({ ...row, id: stored.id, createdAt: stored.created_at }),
			seq: stored.seq,
			endpointIds,
			replayed: false,
		});
		if (row.deliverAt !== null) {
			// Ordered endpoints too: the consumer puts a queued delivery in its endpoint's line when it arrives.
			const delaySeconds = Math.ceil((row.deliverAt - now) / 1000);
			// Further ahead than the queue can hold: the sweeper queues it once it comes within reach.
			if (delaySeconds > MAX_QUEUE_DELAY_SECONDS) continue;
			for (const endpointId of endpointIds) delayed.push({ eventSeq: stored.seq, endpointId, delaySeconds });
			continue;
		}
		const orderedIds = new Set(JSON.parse(stored.ordered_ids) as string[]);
		for (const endpointId of endpointIds) {
			if (orderedIds.has(endpointId)) inLine.push({ endpointId, eventSeq: stored.seq });
			else firstAttempts.push({ eventSeq: stored.seq, endpointId });
		}
	}

	try {
		if (ctx.waitUntil !== undefined && !queueRefusesSends()) {
			depart(ctx.queue, ctx.tenantId, firstAttempts, firstAttemptCoalesceMs(ctx.env), ctx.waitUntil);
		} else if (firstAttempts.length > 0) {
			// A batch's events share messages, ten deliveries to a message, as one event's endpoints do.
			const backlog = await enqueueJobs(ctx.queue, packedJobs(ctx.tenantId, firstAttempts, "initial"));
			if (backlog !== undefined) noteBacklog(backlog);
			noteSendTaken();
		}
		for (const [delaySeconds, later] of groupBy(delayed, (attempt) => attempt.delaySeconds))
			await enqueueJobs(ctx.queue, packedJobs(ctx.tenantId, later, "initial"), delaySeconds);
	} catch (error) {
		console.error("queue refused delivery jobs", error);
		if (await removeEvents(ctx, insertedSeqs)) throw platformUnavailable("the delivery queue");
		// Stored and not taken back: the sweeper sends every event whose first attempt never came,
		// so these are accepted all the same, only later.
		console.error("events stored without their delivery jobs; the sweeper will send them", insertedSeqs);
	}

	try {
		await joinLines(ctx, inLine);
	} catch (error) {
		// The events are stored: the sweeper puts their deliveries in line later.
		console.error("ordered deliveries could be neither lined up nor queued; the sweeper will send them", error);
	}

	// Inputs that inserted nothing repeat an id or key seen before (possibly earlier in this batch).
	const repeated = inputs.filter((_input, index) => results[index] === undefined);
	if (repeated.length === 0) return results.filter((result) => result !== undefined);
	const originals = await orUnavailable("the event store", () => findExisting(ctx, repeated));
	return inputs.map((input, index) => {
		const result = results[index];
		if (result) return result;
		const original = originals.find(
			(row) =>
				(input.id !== undefined && row.id === input.id) ||
				(input.idempotencyKey !== undefined && row.idempotencyKey === input.idempotencyKey),
		);
		if (!original) return new ApiError("conflict", "the event id is in use; retry the request");
		return replayOf(original, input);
	});
}
