/**
 * Group commit for single-event ingest. While one request of a tenant is
 * storing its event, the events of that tenant's requests that arrive in
 * the meantime wait, and then go together: one INSERT and one queue send
 * for all of them, their first attempts packed ten to a message as a batch
 * request's are. An idle isolate adds no wait (the first request stores at
 * once); a busy one trades at most one store's duration of latency for far
 * fewer D1 queries and queue messages per event.
 *
 * Each group is stored from the context of one of its own requests, its
 * leader, and under that request's waitUntil: the others only wait for a
 * promise it resolves, so no request does I/O for another, and a leader
 * whose client hangs up still finishes the group. The next leader is the
 * first request that waited.
 */

import { ApiError } from "../../lib/errors";
import { type EventInput, type IngestContext, type IngestResult, ingestEachEvent } from "./ingest";
import { MAX_BATCH_BODY_BYTES, MAX_BATCH_EVENTS } from "./schemas";

/** What a waiting request hears: its outcome, the failure of its group, or that it leads the next group. */
type Turn =
	| { kind: "stored"; outcome: IngestResult | ApiError }
	| { kind: "failed"; error: unknown }
	| { kind: "lead" };

interface Member {
	input: EventInput;
	hear: (turn: Turn) => void;
}

/** The requests of a tenant waiting for the group being stored to end. */
interface TenantLine {
	waiting: Member[];
}

/** A tenant's events that one group stores at most: what a batch request may hold. */
export const MAX_GROUP_EVENTS = MAX_BATCH_EVENTS;

/**
 * How long a waiting request waits for its turn before it stores the
 * waiting events itself. A group's store ends in milliseconds; this is for
 * a next leader whose request was cancelled (its client went away) before
 * it could start, which would otherwise leave the line waiting for good.
 */
const LEAD_AFTER_STALL_MS = 1000;

/** A line for each tenant with a group being stored; none for an idle one. */
const lines = new Map<string, TenantLine>();

/** The first members of `waiting` that fit in one group: at least one, then up to the event and payload caps. */
function nextGroup(waiting: Member[]): Member[] {
	let bytes = 0;
	let count = 0;
	for (const member of waiting) {
		bytes += member.input.dataJson.length;
		if (count > 0 && (count >= MAX_GROUP_EVENTS || bytes > MAX_BATCH_BODY_BYTES)) break;
		count++;
	}
	return waiting.splice(0, count);
}

/** Never rejects: every member hears, and the line passes to the next leader or ends. */
async function storeGroup(line: TenantLine, ctx: IngestContext, group: readonly Member[]): Promise<void> {
	try {
		const outcomes = await ingestEachEvent(
			ctx,
			group.map((member) => member.input),
		);
		group.forEach((member, index) => {
			const outcome = outcomes[index];
			member.hear(
				outcome === undefined
					? { kind: "failed", error: new ApiError("internal_error", "the event was not stored") }
					: { kind: "stored", outcome },
			);
		});
	} catch (error) {
		for (const member of group) member.hear({ kind: "failed", error });
	} finally {
		// The next leader forms its group when it runs, with whoever joined until then.
		const [leader] = line.waiting;
		if (leader) leader.hear({ kind: "lead" });
		else if (lines.get(ctx.tenantId) === line) lines.delete(ctx.tenantId);
	}
}

/** A member for `input` and the promise of what it will hear. */
function joining(input: EventInput): { member: Member; heard: Promise<Turn> } {
	let hear: (turn: Turn) => void = () => {};
	const heard = new Promise<Turn>((resolve) => {
		hear = resolve;
	});
	return { member: { input, hear }, heard };
}

const STALLED = "stalled";

/** What `heard` brings, or STALLED after LEAD_AFTER_STALL_MS. */
async function turnOrStall(heard: Promise<Turn>): Promise<Turn | typeof STALLED> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	const stall = new Promise<typeof STALLED>((resolve) => {
		timer = setTimeout(() => resolve(STALLED), LEAD_AFTER_STALL_MS);
	});
	try {
		return await Promise.race([heard, stall]);
	} finally {
		clearTimeout(timer);
	}
}

function outcomeOf(turn: Exclude<Turn, { kind: "lead" }>): IngestResult {
	if (turn.kind === "failed") throw turn.error;
	if (turn.outcome instanceof ApiError) throw turn.outcome;
	return turn.outcome;
}

/**
 * Stores one event of a request, in a group with the tenant's other events
 * that arrive while an earlier group is being stored. `waitUntil` is the
 * request's own: it keeps a group this request leads going to the end.
 */
export async function ingestInGroup(
	ctx: IngestContext,
	input: EventInput,
	waitUntil: (work: Promise<void>) => void,
): Promise<IngestResult> {
	const joined = joining(input);
	const { member } = joined;
	let { heard } = joined;
	let line = lines.get(ctx.tenantId);
	if (line === undefined) {
		line = { waiting: [] };
		lines.set(ctx.tenantId, line);
		waitUntil(storeGroup(line, ctx, [member]));
	} else line.waiting.push(member);
	for (;;) {
		const waiting = line.waiting.includes(member);
		const turn = waiting ? await turnOrStall(heard) : await heard;
		if (turn !== STALLED && turn.kind !== "lead") return outcomeOf(turn);
		// Stalled, but a group took this event meanwhile: its outcome comes from there.
		if (turn === STALLED && !line.waiting.includes(member)) continue;
		if (turn !== STALLED) {
			// That promise carried the call to lead; the outcome comes on a new one.
			const again = joining(input);
			member.hear = again.member.hear;
			heard = again.heard;
		}
		// This request's own context stores the group, with its own bindings. Nothing left waiting: a
		// request that stalled took this one into its group, which hands the line on when it ends.
		const group = nextGroup(line.waiting);
		if (group.length > 0) waitUntil(storeGroup(line, ctx, group));
	}
}
