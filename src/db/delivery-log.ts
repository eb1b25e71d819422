import { getTableColumns, type SQL, Subquery, sql } from "drizzle-orm";
import { chunk } from "../lib/chunk";
import { deliveryEventSeqSql, deliveryId, deliveryIdRange, parseDeliveryId } from "../lib/ids";
import type { Database } from "./client";
import { cleanedEventSql } from "./event-reuse";
import { type DeliveryRow, deliveries } from "./schema";

/*
 * An endpoint's log lives in two tables: `delivery_packs`, where the
 * outcomes of attempts a consumer recorded together share a row (first
 * attempts and scheduled retries: src/db/schema.ts says why), and
 * `deliveries`, a row per delivery that needed more (held, resent, skipped,
 * swept). Every reader of deliveries goes through this file, which reads
 * both and, when a delivery is in both, takes its row.
 */

/** The `deliveries` columns in the order a packed delivery lists them, which is also the order record.ts writes. */
export const DELIVERY_COLUMNS = [
	"id",
	"tenant_id",
	"endpoint_id",
	"event_id",
	"event_type",
	"status",
	"status_code",
	"attempt_count",
	"attempts",
	"next_attempt_at",
	"delivered_at",
	"error",
	"created_at",
	"updated_at",
] as const;

/**
 * How many events apart a pack's lowest and highest deliveries may be. A
 * reader looking for delivery `s` needs only the packs named `s` to
 * `s + PACK_SPAN`, and a page of the log only those that far above it.
 */
export const PACK_SPAN = 1_024;

/** Sorts after a delivery id and before the next one: a pack named after that delivery sorts below it. */
const PACK_NAME_SEPARATOR = ".";
/** Sorts after every pack named after a delivery id and before the next delivery id. */
const AFTER_PACKS_OF = "/";

/** SQL text of the delivery id the pack `p` is named after. */
const PACK_NAMED_AFTER = `substr(p.id, 1, instr(p.id, '${PACK_NAME_SEPARATOR}') - 1)`;

/** The delivery id a pack is named after. */
function highestOf(pack: string): string {
	const end = pack.indexOf(PACK_NAME_SEPARATOR);
	return end < 0 ? pack : pack.slice(0, end);
}

/** Above this, no pack can hold delivery `id`: it is named after a delivery at most PACK_SPAN events later. */
function packsHoldingBelow(id: string): string {
	const parsed = parseDeliveryId(id);
	if (!parsed) return id + AFTER_PACKS_OF;
	try {
		return deliveryId(parsed.endpointId, parsed.eventSeq + PACK_SPAN + 1);
	} catch {
		return deliveryIdRange(parsed.endpointId).to;
	}
}

const member = (index: number) => `json_extract(m.value, '$[${index}]')`;
const MEMBER_COLUMNS = DELIVERY_COLUMNS.map((column, index) => `${member(index)} AS "${column}"`).join(", ");
/** A packed delivery's columns, or its row's when it has one (r): the row goes on from the packed attempt. */
const MEMBER_OR_ROW_COLUMNS = DELIVERY_COLUMNS.map(
	(column, index) => `iif(r.id IS NULL, ${member(index)}, r."${column}") AS "${column}"`,
).join(", ");
const TABLE_COLUMNS = DELIVERY_COLUMNS.map((column) => `"${column}"`).join(", ");
const deliveryColumns = getTableColumns(deliveries);

/**
 * Deliveries read from somewhere other than the table alone, named as the
 * table: a query written against the table (its columns, its filters, its
 * joins) reads them unchanged.
 */
export type DeliverySource = Subquery<"deliveries", typeof deliveryColumns>;

function namedAsTable(body: SQL): DeliverySource {
	return new Subquery(body, deliveryColumns, "deliveries") as DeliverySource;
}

/**
 * SQL text that holds while the event of a delivery to be written is still
 * stored and not cleaned by retention: a write for an event retention or a
 * purge removed meanwhile would outlive it (a cleaned row is reused for
 * another event, and retention does not walk it again). `column(i)` is the
 * SQL text of DELIVERY_COLUMNS[i] of that delivery. The event is found by
 * the seq its delivery id ends with (a generated event id has no index),
 * and its id checked, for a seq given again to a later event.
 */
export function eventStillStored(column: (index: number) => string): string {
	return `EXISTS (SELECT 1 FROM events AS e
	WHERE e.seq = ${deliveryEventSeqSql(column(0))} AND e.tenant_id = ${column(1)} AND e.id = ${column(3)}
	AND NOT ${cleanedEventSql("e")})`;
}

/** Stands for the JSON array of `[delivery id, packsHoldingBelow(id)]` pairs in ONLY_PACKED. */
const WANTED = "$WANTED";
/**
 * The wanted deliveries that have no row, each from the first pack in key
 * order that holds it, as `deliveries` rows. Packs of one endpoint rarely
 * overlap (only batches handled at once interleave), so the pack holding a
 * delivery is usually the first named at or above it: the subquery walks
 * the primary key from there and stops at the first that holds it, where
 * reading every pack that could hold it reads all those named up to
 * PACK_SPAN events higher. Only a delivery that is in no pack reads them all.
 */
const ONLY_PACKED = `SELECT ${MEMBER_COLUMNS}
FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS below FROM json_each(${WANTED})
	WHERE NOT EXISTS (SELECT 1 FROM deliveries AS d WHERE d.id = json_extract(value, '$[0]'))) AS q
JOIN delivery_packs AS p ON p.id = (
	SELECT c.id FROM delivery_packs AS c, json_each(c.deliveries) AS cm
	WHERE c.id >= q.id AND c.id < q.below AND c.lowest_id <= q.id AND json_extract(cm.value, '$[0]') = q.id
	ORDER BY c.id LIMIT 1)
JOIN json_each(p.deliveries) AS m ON ${member(0)} = q.id`;

/** Ids per deliveriesWithIds statement: they go in as one JSON parameter, so D1's 100 parameters do not bound them. */
export const IDS_PER_LOOKUP = 500;

/**
 * The deliveries with these ids, from their rows or their packs, as a
 * source named `deliveries` (a query written against the table reads it
 * unchanged); an id with neither is left out, and one that two packs hold
 * (its message handled twice at once) is there once.
 */
export function deliveriesWithIds(ids: readonly string[]): DeliverySource {
	const wanted = sql`${JSON.stringify([...new Set(ids)].map((id) => [id, packsHoldingBelow(id)]))}`;
	return namedAsTable(sql`SELECT ${sql.raw(TABLE_COLUMNS)} FROM deliveries
WHERE id IN (SELECT json_extract(value, '$[0]') FROM json_each(${wanted}))
UNION ALL ${sql.join(
		ONLY_PACKED.split(WANTED).map((text) => sql.raw(text)),
		wanted,
	)}`);
}

/** Deliveries by id (deliveriesWithIds), each once, in no order. `tenantId` keeps another tenant's ids out. */
export async function deliveriesByIds(db: Database, ids: readonly string[], tenantId?: string): Promise<DeliveryRow[]> {
	const found = new Map<string, DeliveryRow>();
	for (const part of chunk(ids, IDS_PER_LOOKUP)) {
		for (const row of await db.select(deliveryColumns).from(deliveriesWithIds(part))) {
			if (tenantId !== undefined && row.tenantId !== tenantId) continue;
			if (!found.has(row.id)) found.set(row.id, row);
		}
	}
	return [...found.values()];
}

/** A range of delivery ids: from `fromId` up to `toId`, which `includeTo` says whether it holds. */
export interface IdRange {
	fromId: string;
	toId: string;
	includeTo: boolean;
}

/** Where in a range the packs to read are: those named below `packsBelow`, and the members in the range. */
interface PackWindow {
	fromId: string;
	/** Member ids below this are in the range. */
	membersBelow: string;
	/** Pack ids below this may hold members in the range. */
	packsBelow: string;
}

function packWindow(range: IdRange): PackWindow {
	const membersBelow = range.includeTo ? range.toId + AFTER_PACKS_OF : range.toId;
	return { fromId: range.fromId, membersBelow, packsBelow: packsHoldingBelow(range.toId) };
}

/** A page of an endpoint's packs, highest first, named below `below`. */
function packsOfPage(tenantId: string, window: PackWindow, below: string, count: number): SQL {
	return sql`SELECT * FROM delivery_packs
WHERE id >= ${window.fromId} AND id < ${below} AND lowest_id < ${window.membersBelow} AND tenant_id = ${tenantId}
ORDER BY id DESC LIMIT ${count}`;
}

/**
 * The deliveries held by a page of packs (see packsOfPage) that are in the
 * window, each once (one held by two packs would otherwise take two of the
 * caller's LIMIT and push another off the page), as a source named
 * `deliveries`: a query written against the table (its columns, its
 * filters) reads them unchanged. One that has a row is read as its row, so
 * its filters see what the row says: a page reads its rows before its packs,
 * and a delivery copied into a row between the two reads is still on it.
 */
function packedDeliveries(tenantId: string, window: PackWindow, below: string, count: number): DeliverySource {
	return namedAsTable(sql`
SELECT ${sql.raw(MEMBER_OR_ROW_COLUMNS)} FROM (${packsOfPage(tenantId, window, below, count)}) AS p, json_each(p.deliveries) AS m
LEFT JOIN deliveries AS r ON r.id = ${sql.raw(member(0))}
WHERE ${sql.raw(member(0))} >= ${window.fromId} AND ${sql.raw(member(0))} < ${window.membersBelow}
GROUP BY ${sql.raw(member(0))}`);
}

/** The delivery a log was read down to, named as the API's cursors name it. */
export type LogPosition = Pick<DeliveryRow, "id" | "endpointId" | "eventId">;

/** What a read of the `deliveries` table gave: items newest first, and `stop` below which it did not look (null: it read the range to its end). */
export interface TableRead<T> {
	items: T[];
	stop: LogPosition | null;
}

/**
 * Reads one source of an endpoint's log, `deliveries` itself or a page of
 * packed deliveries (packedDeliveries), with the caller's columns, filter
 * and order; at most `limit` items.
 */
export type LogQuery<T> = (source: DeliverySource, limit: number) => Promise<T[]>;

/**
 * The rows of `range`, as a source named `deliveries` like packedDeliveries;
 * with `newestAtMost`, only that many of the newest.
 */
export function rowsInRange(tenantId: string, range: IdRange, newestAtMost?: number): DeliverySource {
	const upper = range.includeTo ? sql`id <= ${range.toId}` : sql`id < ${range.toId}`;
	const rows = sql`SELECT * FROM deliveries WHERE id >= ${range.fromId} AND ${upper} AND tenant_id = ${tenantId}`;
	return namedAsTable(newestAtMost === undefined ? rows : sql`${rows} ORDER BY id DESC LIMIT ${newestAtMost}`);
}

/**
 * Every packed delivery of `range` that has no row, as a source named
 * `deliveries` like rowsInRange: with it, a count over the range reads each
 * delivery once.
 */
export function packedOnlyInRange(tenantId: string, range: IdRange): DeliverySource {
	const window = packWindow(range);
	return namedAsTable(sql`SELECT ${sql.raw(MEMBER_COLUMNS)} FROM delivery_packs AS p, json_each(p.deliveries) AS m
WHERE p.id >= ${window.fromId} AND p.id < ${window.packsBelow} AND p.lowest_id < ${window.membersBelow} AND p.tenant_id = ${tenantId}
	AND ${sql.raw(member(0))} >= ${window.fromId} AND ${sql.raw(member(0))} < ${window.membersBelow}
	AND NOT ${sql.raw(hasRowSql(member(0)))}
GROUP BY ${sql.raw(member(0))}`);
}

/** The newest `limit` rows of `range` that the query passes; `stop` is the last when there were that many. */
async function readRows<T>(
	tenantId: string,
	range: IdRange,
	limit: number,
	query: LogQuery<T>,
	positionOf: (item: T) => LogPosition,
): Promise<TableRead<T>> {
	const items = await query(rowsInRange(tenantId, range), limit);
	const last = items.at(-1);
	return { items, stop: items.length === limit && last !== undefined ? positionOf(last) : null };
}

/** How many packs the first read of a page takes; each further read takes twice as many. */
function firstPackCount(limit: number): number {
	return Math.min(100, Math.ceil(limit / 16) + 1);
}

/**
 * A page of an endpoint's log, newest first, from its rows and its packs:
 * the rows are read with `query` (or the caller read them up to a bound of
 * its own, `fromTable`, saying where it stopped), and the packs a page at a
 * time with the same query until the page is known. A pack holds deliveries no higher than its
 * name, so once the packs down to one name are read, every packed delivery
 * above it is known; the page is what both reads know, newest first.
 *
 * `packsLookedAtMost` bounds how many packed deliveries are looked at;
 * `goOnBelow` is then where the log is still to be read (null: read to its
 * end, or the page filled: the caller's cursor is its last item).
 */
export async function readEndpointLog<T extends { id: string }>(
	db: Database,
	tenantId: string,
	range: IdRange,
	options: {
		limit: number;
		/** False when the filter passes no delivery a pack holds (skipped ones never are), so no pack can hold one of the page. */
		packs: boolean;
		packsLookedAtMost?: number;
		/** What a bounded read of the rows gave; without it the rows are read here, as many as the page needs. */
		fromTable?: TableRead<T>;
		query: LogQuery<T>;
		positionOf: (item: T) => LogPosition;
	},
): Promise<{ items: T[]; goOnBelow: LogPosition | null }> {
	const { limit, query, positionOf } = options;
	const fromTable = options.fromTable ?? (await readRows(tenantId, range, limit, query, positionOf));
	const window = packWindow(range);
	const packed: T[] = [];
	/** Every packed delivery at or above this is known; null: all are. */
	let packsKnownTo: LogPosition | null = null;
	let below = window.packsBelow;
	let count = firstPackCount(limit);
	let looked = 0;
	const lowestKnown = (): LogPosition | null => {
		if (fromTable.stop === null) return packsKnownTo;
		if (packsKnownTo === null) return fromTable.stop;
		return fromTable.stop.id > packsKnownTo.id ? fromTable.stop : packsKnownTo;
	};
	const known = (): T[] => {
		const lowest = lowestKnown();
		// A delivery recorded in two packs (its message handled twice at once), or read as a row and again
		// from a pack, is listed once, as the row when it was read from the table.
		const byId = new Map<string, T>();
		for (const item of [...fromTable.items, ...packed]) {
			if ((lowest === null || item.id >= lowest.id) && !byId.has(item.id)) byId.set(item.id, item);
		}
		return [...byId.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
	};

	if (options.packs) {
		for (;;) {
			const [pages, items] = await Promise.all([
				db
					.select({
						id: sql<string>`p.id`,
						size: sql<number>`json_array_length(p.deliveries)`,
						endpointId: sql<string>`p.endpoint_id`,
						// The event of the delivery the pack is named after (SQLite does not promise the array's order),
						// or, when that delivery moved on to a later pack, the event stored at its seq.
						highestEventId: sql<string>`coalesce((SELECT json_extract(m.value, '$[3]') FROM json_each(p.deliveries) AS m
							WHERE json_extract(m.value, '$[0]') = ${sql.raw(PACK_NAMED_AFTER)}),
							(SELECT e.id FROM events AS e WHERE e.seq = ${sql.raw(deliveryEventSeqSql(PACK_NAMED_AFTER))}))`,
					})
					.from(sql`(${packsOfPage(tenantId, window, below, count)}) AS p`),
				query(packedDeliveries(tenantId, window, below, count), limit),
			]);
			packed.push(...items);
			looked += pages.reduce((sum, page) => sum + page.size, 0);
			const last = pages.at(-1);
			if (pages.length < count || last === undefined) {
				packsKnownTo = null;
				break;
			}
			packsKnownTo = { id: highestOf(last.id), endpointId: last.endpointId, eventId: last.highestEventId };
			below = last.id;
			if (known().length >= limit) break;
			// Only once the packs read reach into the range: packs named above it say nothing of where to go on.
			const budgetSpent = options.packsLookedAtMost !== undefined && looked >= options.packsLookedAtMost;
			if (budgetSpent && packsKnownTo.id < window.membersBelow) break;
			count = Math.min(count * 2, 400);
		}
	}
	const page = known();
	if (page.length >= limit) return { items: page.slice(0, limit), goOnBelow: null };
	const lowest = lowestKnown();
	return { items: page, goOnBelow: lowest };
}

/** An endpoint whose packs holding deliveries up to an event's seq may go: see deletePacks. */
export interface PackDeletion {
	endpointId: string;
	throughSeq: number;
}

/**
 * Deletes the packs of each endpoint that may hold its deliveries up to
 * `throughSeq` and whose deliveries all aged before `createdBefore`: what
 * retention and a tenant's purge remove with the events. One statement
 * whatever their number.
 */
export function deletePacks(
	d1: D1Database,
	deletions: readonly PackDeletion[],
	createdBefore: number,
): D1PreparedStatement {
	// Up to PACK_SPAN higher: a pack named there may hold this page's deliveries and none after it (its
	// highest event removed on an earlier page, while the pack waited for a lower one scheduled later). The
	// age check keeps any pack with a delivery not yet expired.
	const ranges = deletions.map(({ endpointId, throughSeq }) => [
		deliveryIdRange(endpointId).from,
		packsHoldingBelow(deliveryId(endpointId, throughSeq)),
	]);
	return d1
		.prepare(
			`DELETE FROM delivery_packs WHERE id IN (
	SELECT p.id FROM json_each(?1) AS r JOIN delivery_packs AS p
		ON p.id >= json_extract(r.value, '$[0]') AND p.id < json_extract(r.value, '$[1]')
) AND created_at < ?2`,
		)
		.bind(JSON.stringify(ranges), createdBefore);
}

/**
 * A delivery to pack: its DELIVERY_COLUMNS array as JSON text, what
 * retention counts its age from, and whether a pack may already hold it (a
 * retry, or any attempt after the first): its pack copy is then carried
 * over into the new one, see insertPacks.
 */
export interface PackedRow {
	id: string;
	row: string;
	agedFrom: number;
	mayBePacked: boolean;
}

const PACKED_ROW = (index: number) => `json_extract(c.value, '$[1][${index}]')`;
/** A column of the delivery as its outcome in this write has it (`y.row`), or as its copy in an older pack (`y.copy`). */
const NEW_MEMBER = (index: number) => `json_extract(y.row, '$[${index}]')`;
const OLD_MEMBER = (index: number) => `json_extract(y.copy, '$[${index}]')`;
/**
 * An outcome added to the delivery's packed copy, as the upsert of
 * src/queue/record.ts adds one to a row. `|| ''` keeps the attempts a JSON
 * string in the member, as every other member holds them.
 */
const CARRIED_OVER = `json_array(${[0, 1, 2, 3, 4, 5].map(NEW_MEMBER).join(", ")},
	coalesce(${NEW_MEMBER(6)}, ${OLD_MEMBER(6)}), ${OLD_MEMBER(7)} + ${NEW_MEMBER(7)},
	json_insert(${OLD_MEMBER(8)}, '$[#]', json(json_extract(${NEW_MEMBER(8)}, '$[0]'))) || '',
	${NEW_MEMBER(9)}, coalesce(${NEW_MEMBER(10)}, ${OLD_MEMBER(10)}), ${NEW_MEMBER(11)}, ${OLD_MEMBER(12)}, ${NEW_MEMBER(13)})`;

/**
 * The due time a pack's pending member counts toward its `pending_due`:
 * its retry's, or for one with none its last write's. A member that has a
 * row counts for nothing: its row is its truth, and the row's own index
 * finds it.
 */
function pendingDueOf(member: (index: number) => string, hasRow: string): string {
	return `CASE WHEN ${member(5)} = 'pending' AND NOT ${hasRow} THEN coalesce(${member(9)}, ${member(13)}) END`;
}

const hasRowSql = (id: string) => `EXISTS (SELECT 1 FROM deliveries AS d WHERE d.id = ${id})`;

/** How many random characters follow PACK_NAME_SEPARATOR in a pack's name. */
const PACK_SUFFIX_CHARS = 8;

/** The random part of the names of the packs one write stores (see insertPacks). */
export function newPackSuffix(): string {
	return crypto.randomUUID().replaceAll("-", "").slice(0, PACK_SUFFIX_CHARS);
}

const INSERT_FIRST_ATTEMPTS = `INSERT INTO delivery_packs (id, tenant_id, endpoint_id, lowest_id, created_at, deliveries, pending_due)
SELECT max(${PACKED_ROW(0)}) || '${PACK_NAME_SEPARATOR}' || ?2, ${PACKED_ROW(1)}, ${PACKED_ROW(2)}, min(${PACKED_ROW(0)}),
	max(json_extract(c.value, '$[2]')), json_group_array(json(json_extract(c.value, '$[1]'))),
	min(${pendingDueOf(PACKED_ROW, hasRowSql(PACKED_ROW(0)))})
FROM json_each(?1) AS c
WHERE ${eventStillStored(PACKED_ROW)}
GROUP BY json_extract(c.value, '$[0]')`;

/**
 * Stores deliveries in packs, one statement whatever their number. `packs`
 * lists each pack's deliveries, all of one endpoint and within PACK_SPAN
 * events. One whose event is gone is dropped, as record.ts does with rows;
 * a pack's name and ends are those of what it keeps.
 *
 * A delivery that may be packed already (`mayBePacked`) and has no row
 * goes on from its packed copy: the new member holds the copy's attempts
 * and this one, as an upsert would add it to a row. The copy is then taken
 * out of its old pack by takePackedCopies, in the same batch, so that a
 * delivery is in one pack at a time. When a new pack would hold exactly
 * the deliveries of one old pack (a pack of one, or a batch whose retries
 * come due together), the old pack is rewritten in place instead, under its
 * name: one row written, not a new pack and a deleted one.
 *
 * A delivery that has a row already (held by its scheduler, resent, or a
 * second send of its first attempt recorded first) gets the outcome in its
 * row too, from the `delivery_packs_onto_rows` trigger (migration 0011), in
 * this same statement: the row is what readers take, and its member here
 * counts for nothing.
 */
export function insertPacks(
	d1: D1Database,
	packs: readonly (readonly PackedRow[])[],
	suffix: string,
): D1PreparedStatement {
	const entries = packs.flatMap((rows, pack) =>
		rows.map(({ id, row, agedFrom, mayBePacked }) =>
			mayBePacked
				? `[${pack},${row},${agedFrom},${JSON.stringify(packsHoldingBelow(id))},1]`
				: `[${pack},${row},${agedFrom}]`,
		),
	);
	if (!packs.some((rows) => rows.some((packed) => packed.mayBePacked))) {
		// First attempts only (the hot path): nothing to look up or carry over, so the shorter statement.
		return d1.prepare(INSERT_FIRST_ATTEMPTS).bind(`[${entries.join(",")}]`, suffix);
	}
	return d1
		.prepare(
			// The CTEs are MATERIALIZED so that each delivery's copy is looked up once: flattened into x, the
			// lookup would run again for every use of y.copy in CARRIED_OVER.
			`WITH w AS MATERIALIZED (
	SELECT json_extract(c.value, '$[0]') AS pack, ${PACKED_ROW(0)} AS id, ${PACKED_ROW(1)} AS tenant_id,
		${PACKED_ROW(2)} AS endpoint_id, json_extract(c.value, '$[2]') AS aged_from,
		json(json_extract(c.value, '$[1]')) AS row, ${hasRowSql(PACKED_ROW(0))} AS has_row,
		CASE WHEN json_extract(c.value, '$[4]') AND NOT ${hasRowSql(PACKED_ROW(0))} THEN (
			SELECT json_array(k.id, json(km.value), json_array_length(k.deliveries))
			FROM delivery_packs AS k, json_each(k.deliveries) AS km
			WHERE k.id >= ${PACKED_ROW(0)} AND k.id < json_extract(c.value, '$[3]') AND k.lowest_id <= ${PACKED_ROW(0)}
				AND json_extract(km.value, '$[0]') = ${PACKED_ROW(0)}
			ORDER BY k.id LIMIT 1) END AS found
	FROM json_each(?1) AS c
	WHERE ${eventStillStored(PACKED_ROW)}
), y AS MATERIALIZED (
	SELECT w.*, json_extract(w.found, '$[0]') AS old_pack, json_extract(w.found, '$[1]') AS copy,
		json_extract(w.found, '$[2]') AS old_size
	FROM w
), x AS MATERIALIZED (
	SELECT y.pack, y.id, y.tenant_id, y.endpoint_id, y.aged_from, y.has_row, y.old_pack, y.old_size,
		CASE WHEN y.copy IS NULL THEN y.row ELSE ${CARRIED_OVER} END AS member
	FROM y
)
INSERT INTO delivery_packs (id, tenant_id, endpoint_id, lowest_id, created_at, deliveries, pending_due)
SELECT CASE WHEN count(x.old_pack) = count(*) AND count(DISTINCT x.old_pack) = 1 AND max(x.old_size) = count(*)
		THEN min(x.old_pack) ELSE max(x.id) || '${PACK_NAME_SEPARATOR}' || ?2 END,
	x.tenant_id, x.endpoint_id, min(x.id), max(x.aged_from),
	json_group_array(json(x.member)), min(${pendingDueOf((index) => `json_extract(x.member, '$[${index}]')`, "x.has_row")})
FROM x
WHERE true
GROUP BY x.pack
ON CONFLICT (id) DO UPDATE SET lowest_id = excluded.lowest_id, created_at = excluded.created_at,
	deliveries = excluded.deliveries, pending_due = excluded.pending_due`,
		)
		.bind(`[${entries.join(",")}]`, suffix);
}

/**
 * For each delivery listed in `?1`, the pack it was in before the write
 * that named its new packs with the suffix `?3` and stamped its outcomes
 * `?2` (every outcome of one write carries the write's time as
 * updated_at): the first pack in key order from its id up that holds it,
 * the write's new packs apart (as ONLY_PACKED reads it), if its copy there
 * is older than the write. A pack the write rewrote in place holds the
 * write's own copy, and is left as it is.
 */
const PACKS_HOLDING_MOVED = `WITH f AS MATERIALIZED (
	SELECT json_extract(q.value, '$[0]') AS id, (SELECT k.id FROM delivery_packs AS k, json_each(k.deliveries) AS km
		WHERE k.id >= json_extract(q.value, '$[0]') AND k.id < json_extract(q.value, '$[1]')
			AND k.lowest_id <= json_extract(q.value, '$[0]')
			AND substr(k.id, -${PACK_SUFFIX_CHARS + 1}) <> '${PACK_NAME_SEPARATOR}' || ?3
			AND json_extract(km.value, '$[0]') = json_extract(q.value, '$[0]')
		ORDER BY k.id LIMIT 1) AS pack
	FROM json_each(?1) AS q
)
SELECT f.pack FROM f WHERE EXISTS (SELECT 1 FROM delivery_packs AS o, json_each(o.deliveries) AS om
	WHERE o.id = f.pack AND json_extract(om.value, '$[0]') = f.id AND json_extract(om.value, '$[13]') <> ?2)`;
const STAYS = `${member(0)} NOT IN (SELECT json_extract(value, '$[0]') FROM json_each(?1))`;

/** The write a takePackedCopies follows: the suffix of its new packs' names, and the time it stamped its outcomes with. */
export interface PackWrite {
	suffix: string;
	at: number;
}

/**
 * Takes these deliveries out of the packs they were in before `write`
 * (insertPacks, earlier in the same batch, carried their copies over): a
 * pack left with none is deleted, the others keep the rest and their
 * `pending_due` follows. Two statements, for a write that holds retries;
 * whatever their number.
 */
export function takePackedCopies(d1: D1Database, ids: readonly string[], write: PackWrite): D1PreparedStatement[] {
	const moved = JSON.stringify([...new Set(ids)].map((id) => [id, packsHoldingBelow(id)]));
	return [
		d1
			.prepare(
				`DELETE FROM delivery_packs WHERE id IN (${PACKS_HOLDING_MOVED})
	AND NOT EXISTS (SELECT 1 FROM json_each(delivery_packs.deliveries) AS m WHERE ${STAYS})`,
			)
			.bind(moved, write.at, write.suffix),
		d1
			.prepare(
				`UPDATE delivery_packs SET
	deliveries = (SELECT json_group_array(json(m.value)) FROM json_each(delivery_packs.deliveries) AS m WHERE ${STAYS}),
	pending_due = (SELECT min(${pendingDueOf(member, hasRowSql(member(0)))}) FROM json_each(delivery_packs.deliveries) AS m WHERE ${STAYS})
WHERE id IN (${PACKS_HOLDING_MOVED})`,
			)
			.bind(moved, write.at, write.suffix),
	];
}

/**
 * Gives each of these deliveries that is only in a pack a row, a copy of
 * what the pack holds, so that an attempt after its first (a resend) is
 * added to its log rather than starting one of its own.
 */
export function copyPackedToRows(d1: D1Database, ids: readonly string[]): D1PreparedStatement {
	return d1
		.prepare(
			`INSERT INTO deliveries (${TABLE_COLUMNS})
${ONLY_PACKED.replace(WANTED, "?1")}
ON CONFLICT (id) DO NOTHING`,
		)
		.bind(JSON.stringify([...new Set(ids)].map((id) => [id, packsHoldingBelow(id)])));
}
