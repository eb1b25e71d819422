import { and, asc, desc, eq, gte, lt, lte, type SQL, sql } from "drizzle-orm";
import type { Database } from "./client";
import { eventBlocks, events } from "./schema";

/**
 * A tenant's events in seq order without an index entry per event. D1 bills
 * every index entry as a row written, and an index on (tenant_id, seq) was
 * half of what an event sent without id or key cost. Instead, event_blocks
 * holds one row per tenant and block of 2^EVENT_BLOCK_SHIFT seqs that holds
 * any of its events, kept by triggers on events (migration 0014, which
 * spells out this shift): a tenant alone on its database writes one such
 * row per 1,024 events. Each row is deleted again once its block empties, so
 * on a shared database a block row and its delete cost less than the index
 * entry did up to about 650 tenants sending alike (1,000: 1.25 rows per
 * event against 1), and at most 2 rows per event.
 *
 * A page walks the tenant's blocks in order and, in each, the rowid range of
 * its seqs, reading the other tenants' events in that range too: where the
 * tenant holds 1 seq in n, a page reads about n rows per event it returns.
 *
 * A block row outlives its events: ingest moves an expired event's row to a
 * new seq, and a purge deletes rows. Such a row costs a page one lookup of
 * an empty range, or a scan of a block the tenant left. A walk starts at
 * the oldest event's block, and the daily retention deletes the rows of
 * blocks that hold no event (deleteEmptyBlocks).
 */
export const EVENT_BLOCK_SHIFT = 10;

const BLOCK_SEQS = 2 ** EVENT_BLOCK_SHIFT;

/** The block a seq lies in; Math.floor because `>>` in JavaScript wraps at 2^31. */
export function blockOf(seq: number): number {
	return Math.floor(seq / BLOCK_SEQS);
}

const SHIFT = sql.raw(String(EVENT_BLOCK_SHIFT));

/**
 * Joins a tenant's block rows to its events in them with seqs after
 * `afterSeq` and before `beforeSeq` (null: no bound). Each block is one
 * rowid range, each end the tighter of the block's and the walk's: given two
 * bounds on one side SQLite seeks by one and filters by the other, and
 * seeking every block from `afterSeq` would read again all the blocks before.
 */
export function eventsOfBlocks(afterSeq: number | null, beforeSeq: number | null): SQL | undefined {
	const blockStart = sql`${eventBlocks.block} << ${SHIFT}`;
	const blockEnd = sql`(${eventBlocks.block} + 1) << ${SHIFT}`;
	return and(
		eq(events.tenantId, eventBlocks.tenantId),
		gte(events.seq, afterSeq === null ? blockStart : sql`max(${blockStart}, ${afterSeq + 1})`),
		lt(events.seq, beforeSeq === null ? blockEnd : sql`min(${blockEnd}, ${beforeSeq})`),
	);
}

/** The block of the oldest event: one rowid lookup. */
const oldestBlock = sql`(SELECT min(seq) FROM ${events}) >> ${SHIFT}`;

/**
 * The blocks of such a join: `tenantId`'s, from the block of `afterSeq` to
 * that of `beforeSeq`, and never below the oldest event's, so that the rows
 * of the blocks that reuse emptied are passed over.
 */
export function tenantBlocksWithin(
	tenantId: string,
	afterSeq: number | null,
	beforeSeq: number | null,
): SQL | undefined {
	return and(
		eq(eventBlocks.tenantId, tenantId),
		gte(eventBlocks.block, afterSeq === null ? oldestBlock : sql`max(${blockOf(afterSeq)}, ${oldestBlock})`),
		beforeSeq === null ? undefined : lte(eventBlocks.block, blockOf(beforeSeq)),
	);
}

/**
 * The order of such a walk. Spelled as blocks, then seqs in the block: SQLite
 * then reads the rows in that order and stops at the page's limit; asked for
 * seq alone, it reads every event of the tenant and sorts them.
 */
export function tenantEventsOrder(newestFirst: boolean): [SQL, SQL] {
	return newestFirst ? [desc(eventBlocks.block), desc(events.seq)] : [asc(eventBlocks.block), asc(events.seq)];
}

/**
 * Deletes the block rows whose seqs hold no event at all, wherever they lie
 * (an event scheduled ahead keeps only its own block). It reads every row
 * of event_blocks, one per tenant and block, and seeks each block's seqs
 * once, so it runs once a day. A row whose block holds only other tenants'
 * events stays until the block empties.
 */
export function deleteEmptyBlocks(d1: D1Database): D1PreparedStatement {
	return d1.prepare(
		`DELETE FROM event_blocks WHERE NOT EXISTS (SELECT 1 FROM events
	WHERE seq >= event_blocks.block << ${EVENT_BLOCK_SHIFT} AND seq < (event_blocks.block + 1) << ${EVENT_BLOCK_SHIFT})`,
	);
}

/**
 * Deletes a tenant's block rows below `seq`'s block that hold none of its
 * events: a purge, walking in seq order, has deleted them there. Checked
 * per block all the same, so that an event stored late (a key still cached)
 * keeps the row that a later slice finds it by.
 */
export function deleteTenantBlocksBelow(db: Database, tenantId: string, seq: number) {
	return db.delete(eventBlocks).where(
		and(
			eq(eventBlocks.tenantId, tenantId),
			lt(eventBlocks.block, blockOf(seq)),
			sql`NOT EXISTS (SELECT 1 FROM ${events} WHERE ${events.tenantId} = ${eventBlocks.tenantId}
					AND ${events.seq} >= ${eventBlocks.block} << ${SHIFT} AND ${events.seq} < (${eventBlocks.block} + 1) << ${SHIFT})`,
		),
	);
}
