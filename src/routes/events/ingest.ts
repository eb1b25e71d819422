import { and, eq, inArray } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../../db/client";
import { type EventRow, endpoints, events } from "../../db/schema";
import { isoSeconds } from "../../delivery/envelope";
import { matchesEventFilter } from "../../delivery/event-filter";
import { chunk, IDS_PER_STATEMENT } from "../../lib/chunk";
import { ApiError } from "../../lib/errors";
import { newEventId } from "../../lib/ids";
import { type DeliveryJob, enqueueJobs, fanOutJobs } from "../../queue/messages";

export interface EventInput {
	type: string;
	data: Record<string, unknown>;
	id?: string | undefined;
	idempotencyKey?: string | undefined;
}

export interface AcceptedEvent {
	id: string;
	type: string;
	created: number;
	created_at: string;
}

export interface IngestResult {
	event: AcceptedEvent;
	seq: number;
	endpointIds: string[];
	/** True when an earlier request already created this event. */
	replayed: boolean;
}

interface IngestContext {
	db: Database;
	queue: Queue<DeliveryJob>;
	tenantId: string;
}

export function acceptedEvent(row: Pick<EventRow, "id" | "type" | "createdAt">): AcceptedEvent {
	return {
		id: row.id,
		type: row.type,
		created: Math.floor(row.createdAt / 1000),
		created_at: isoSeconds(row.createdAt),
	};
}

function replayOf(row: EventRow): IngestResult {
	return {
		event: acceptedEvent(row),
		seq: row.seq,
		endpointIds: JSON.parse(row.endpointIds) as string[],
		replayed: true,
	};
}

async function findExisting(ctx: IngestContext, ids: string[], keys: string[]): Promise<EventRow[]> {
	const queries: BatchItem<"sqlite">[] = [
		...chunk(ids, IDS_PER_STATEMENT).map((part) =>
			ctx.db
				.select()
				.from(events)
				.where(and(eq(events.tenantId, ctx.tenantId), inArray(events.id, part))),
		),
		...chunk(keys, IDS_PER_STATEMENT).map((part) =>
			ctx.db
				.select()
				.from(events)
				.where(and(eq(events.tenantId, ctx.tenantId), inArray(events.idempotencyKey, part))),
		),
	];
	const [first, ...rest] = queries;
	if (!first) return [];
	const results = (await ctx.db.batch([first, ...rest])) as EventRow[][];
	return results.flat();
}

/**
 * Stores events and fans each out to the endpoints subscribed to its type,
 * or to `onlyEndpointId` (the test send). An event that repeats an earlier
 * id or Idempotency-Key answers with the original and sends nothing new.
 *
 * Nothing is answered 202 unless both the event rows and the delivery jobs
 * were accepted: if the queue refuses the jobs, the new rows are removed and
 * the caller gets a 503 to retry, which the idempotency key makes safe.
 */
export async function ingestEvents(
	ctx: IngestContext,
	inputs: readonly EventInput[],
	onlyEndpointId?: string,
): Promise<IngestResult[]> {
	const givenIds = inputs.flatMap((input) => (input.id === undefined ? [] : [input.id]));
	const givenKeys = inputs.flatMap((input) => (input.idempotencyKey === undefined ? [] : [input.idempotencyKey]));
	const [existing, subscribers] = await Promise.all([
		findExisting(ctx, givenIds, givenKeys),
		onlyEndpointId === undefined
			? ctx.db
					.select({ id: endpoints.id, events: endpoints.events })
					.from(endpoints)
					.where(and(eq(endpoints.tenantId, ctx.tenantId), eq(endpoints.active, true)))
			: Promise.resolve(null),
	]);
	const existingById = new Map(existing.map((row) => [row.id, row]));
	const existingByKey = new Map(existing.flatMap((row) => (row.idempotencyKey ? [[row.idempotencyKey, row]] : [])));
	const filters = subscribers?.map((endpoint) => ({
		id: endpoint.id,
		filters: JSON.parse(endpoint.events) as string[],
	}));

	const now = Date.now();
	const results: (IngestResult | null)[] = [];
	const fresh: { index: number; row: Omit<EventRow, "seq"> }[] = [];
	const claimed = new Set<string>();
	for (const [index, input] of inputs.entries()) {
		const earlier =
			(input.id === undefined ? undefined : existingById.get(input.id)) ??
			(input.idempotencyKey === undefined ? undefined : existingByKey.get(input.idempotencyKey));
		if (earlier) {
			results.push(replayOf(earlier));
			continue;
		}
		const id = input.id ?? newEventId(now);
		if (claimed.has(id) || (input.idempotencyKey !== undefined && claimed.has(`key:${input.idempotencyKey}`))) {
			throw new ApiError("validation_failed", `event ${index} repeats the id or idempotency key of an earlier event`, [
				{ field: `events.${index}.id`, message: "duplicate within the batch" },
			]);
		}
		claimed.add(id);
		if (input.idempotencyKey !== undefined) claimed.add(`key:${input.idempotencyKey}`);
		const endpointIds =
			filters === undefined
				? [onlyEndpointId ?? ""]
				: filters.filter((endpoint) => matchesEventFilter(endpoint.filters, input.type)).map((endpoint) => endpoint.id);
		results.push(null);
		fresh.push({
			index,
			row: {
				tenantId: ctx.tenantId,
				id,
				type: input.type,
				data: JSON.stringify(input.data),
				idempotencyKey: input.idempotencyKey ?? null,
				endpointIds: JSON.stringify(endpointIds),
				createdAt: now,
			},
		});
	}
	if (fresh.length === 0) return results.filter((result): result is IngestResult => result !== null);

	const inserts = fresh.map(({ row }) =>
		ctx.db.insert(events).values(row).onConflictDoNothing().returning({ seq: events.seq }),
	);
	const [firstInsert, ...otherInserts] = inserts;
	if (!firstInsert) throw new Error("unreachable: fresh is not empty");
	const inserted = await ctx.db.batch([firstInsert, ...otherInserts]);

	const jobs: DeliveryJob[] = [];
	const insertedSeqs: number[] = [];
	const raced: number[] = [];
	for (const [position, { index, row }] of fresh.entries()) {
		const seq = inserted[position]?.[0]?.seq;
		if (seq === undefined) {
			raced.push(index);
			continue;
		}
		insertedSeqs.push(seq);
		const endpointIds = JSON.parse(row.endpointIds) as string[];
		jobs.push(...fanOutJobs(ctx.tenantId, seq, endpointIds, "initial"));
		results[index] = { event: acceptedEvent(row), seq, endpointIds, replayed: false };
	}

	try {
		await enqueueJobs(ctx.queue, jobs);
	} catch (error) {
		console.error("queue refused delivery jobs", error);
		for (const seqs of chunk(insertedSeqs, IDS_PER_STATEMENT)) {
			await ctx.db.delete(events).where(inArray(events.seq, seqs));
		}
		throw new ApiError(
			"unavailable",
			"the delivery queue is unavailable; retry the request with the same id or Idempotency-Key",
		);
	}

	// A concurrent request inserted the same id or key between our read and write: answer with its event.
	if (raced.length > 0) {
		const racedInputs = raced.map((index) => inputs[index]);
		const winners = await findExisting(
			ctx,
			racedInputs.flatMap((input) => (input?.id === undefined ? [] : [input.id])),
			racedInputs.flatMap((input) => (input?.idempotencyKey === undefined ? [] : [input.idempotencyKey])),
		);
		for (const index of raced) {
			const input = inputs[index];
			const winner = winners.find(
				(row) =>
					row.id === input?.id || (input?.idempotencyKey !== undefined && row.idempotencyKey === input.idempotencyKey),
			);
			if (!winner) throw new ApiError("conflict", "the event id is in use; retry the request");
			results[index] = replayOf(winner);
		}
	}
	return results.filter((result): result is IngestResult => result !== null);
}
