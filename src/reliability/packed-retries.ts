import { and, asc, eq, inArray, lt, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { DELIVERY_COLUMNS } from "../db/delivery-log";
import { deliveries, deliveryPacks } from "../db/schema";
import { chunk, IDS_PER_STATEMENT } from "../lib/chunk";

/*
 * Lost retries of packed deliveries (src/queue/record.ts packs failures and
 * their retries). A pack that holds a pending delivery carries the earliest
 * due time of its pending members in `pending_due`, so the sweeper reads the
 * packs overdue by its margin through that index and looks at their members,
 * as it reads overdue rows through deliveries_pending_due.
 */

/** Where a packed delivery lists the columns read here. */
const AT = {
	id: DELIVERY_COLUMNS.indexOf("id"),
	tenantId: DELIVERY_COLUMNS.indexOf("tenant_id"),
	endpointId: DELIVERY_COLUMNS.indexOf("endpoint_id"),
	status: DELIVERY_COLUMNS.indexOf("status"),
	attemptCount: DELIVERY_COLUMNS.indexOf("attempt_count"),
	nextAttemptAt: DELIVERY_COLUMNS.indexOf("next_attempt_at"),
	updatedAt: DELIVERY_COLUMNS.indexOf("updated_at"),
};

type Member = unknown[];

/** A pending delivery whose retry is overdue, wherever it is stored. */
export interface StuckDelivery {
	id: string;
	tenantId: string;
	endpointId: string;
	attemptCount: number;
}

/** An overdue pack as read, for pushPackedRetries to rewrite. */
export interface OverduePack {
	id: string;
	pendingDue: number;
	members: Member[];
}

/** When a pending member is due: its retry's time, or, with none, its last write's. */
function dueOf(member: Member): number | null {
	if (member[AT.status] !== "pending") return null;
	const due = member[AT.nextAttemptAt] ?? member[AT.updatedAt];
	return typeof due === "number" ? due : null;
}

/** What findStuckInPacks read: the overdue packs, and which of their pending deliveries have a row. */
export interface OverduePacks {
	packs: OverduePack[];
	withRows: ReadonlySet<string>;
}

/**
 * Up to `atMost` packed deliveries still pending past `cutoffMs` that have
 * no row (a row is its delivery's truth, swept as a row), from the packs
 * whose `pending_due` passed it, earliest first; and those packs.
 */
export async function findStuckInPacks(
	db: Database,
	cutoffMs: number,
	atMost: number,
): Promise<OverduePacks & { stuck: StuckDelivery[] }> {
	if (atMost <= 0) return { stuck: [], packs: [], withRows: new Set() };
	const read = await db
		.select({ id: deliveryPacks.id, pendingDue: deliveryPacks.pendingDue, deliveries: deliveryPacks.deliveries })
		.from(deliveryPacks)
		.where(lt(deliveryPacks.pendingDue, cutoffMs))
		.orderBy(asc(deliveryPacks.pendingDue))
		.limit(atMost);
	const packs: OverduePack[] = read.map((pack) => ({
		id: pack.id,
		pendingDue: pack.pendingDue ?? cutoffMs,
		members: JSON.parse(pack.deliveries) as Member[],
	}));
	// Every pending member's row is looked up once: pushPackedRetries needs them all for the packs' due times.
	const withRows = await idsWithRows(
		db,
		packs.flatMap((pack) =>
			pack.members.filter((member) => dueOf(member) !== null).map((member) => String(member[AT.id])),
		),
	);
	const overdue = packs.flatMap((pack) => pack.members.filter((member) => (dueOf(member) ?? cutoffMs) < cutoffMs));
	const stuck = overdue
		.filter((member) => !withRows.has(String(member[AT.id])))
		.slice(0, atMost)
		.map((member) => ({
			id: String(member[AT.id]),
			tenantId: String(member[AT.tenantId]),
			endpointId: String(member[AT.endpointId]),
			attemptCount: Number(member[AT.attemptCount]),
		}));
	return { stuck, packs, withRows };
}

async function idsWithRows(db: Database, ids: readonly string[]): Promise<Set<string>> {
	const found = new Set<string>();
	for (const part of chunk(ids, IDS_PER_STATEMENT)) {
		for (const row of await db.select({ id: deliveries.id }).from(deliveries).where(inArray(deliveries.id, part)))
			found.add(row.id);
	}
	return found;
}

/**
 * Moves the retries of the `queued` deliveries in these packs to `pushToMs`,
 * as the sweeper does for rows, so the next run leaves them alone while
 * they are queued; each pack's `pending_due` follows, null once it holds no
 * pending delivery without a row. A pack a consumer changed since it was
 * read (it only ever loses members, when their retries were recorded) is
 * left for the next run.
 */
export async function pushPackedRetries(
	db: Database,
	{ packs, withRows }: OverduePacks,
	queued: ReadonlySet<string>,
	pushToMs: number,
): Promise<void> {
	const updates = packs.map((pack) => {
		const members = pack.members.map((member) => {
			if (!queued.has(String(member[AT.id]))) return member;
			const pushed = [...member];
			pushed[AT.nextAttemptAt] = pushToMs;
			return pushed;
		});
		const dues = members
			.filter((member) => !withRows.has(String(member[AT.id])))
			.map(dueOf)
			.filter((due) => due !== null);
		return db
			.update(deliveryPacks)
			.set({ deliveries: JSON.stringify(members), pendingDue: dues.length === 0 ? null : Math.min(...dues) })
			.where(
				and(
					eq(deliveryPacks.id, pack.id),
					eq(deliveryPacks.pendingDue, pack.pendingDue),
					sql`json_array_length(${deliveryPacks.deliveries}) = ${pack.members.length}`,
				),
			);
	});
	const [first, ...rest] = updates;
	if (first) await db.batch([first, ...rest]);
}
