/**
 * Group commit for single-event ingest. While one request of a tenant is
 * storing its event, the events of that tenant's requests that arrive in
 * the meantime wait, and then go together: one INSERT for all of them, and
 * their first attempts join the tenant's next departure together, ten to a
 * message as a batch request's are (src/queue/departures.ts). An idle
 * tenant adds no wait (its first request stores at once). When a tenant's
 * events come close together (GROUP_WHEN_GAP_BELOW_MS), each group also
 * waits GROUP_HOLD_MS for company before it is stored: a D1 call costs
 * about the same for one event or ten, and the wait cut the statements per
 * delivery by a sixth at fan-out 1 and nearly half at fan-out 10 (counted
 * locally, docs/SCALING.md, "Groups that wait").
 *
 * Each group is stored from the context of one of its own requests, its
 * leader, and under that request's waitUntil: the others only wait for a
 * promise it resolves, so no request does I/O for another, and a leader
 * whose client hangs up still finishes the group. The next leader is the
 * first request that waited.
 */

import { ArrivalPaces } from "../../lib/arrival-pace";
import { ApiError } from "../../lib/errors";
import { type EventInput, type IngestContext, type IngestResult, ingestEachEvent } from "./ingest";
import { MAX_BATCH_BODY_BYTES, MAX_BATCH_EVENTS } from "./schemas";

/** How a member's group ended: its own outcome, or the failure of the whole group. */
type Settled = { kind: "stored"; outcome: IngestResult | ApiError } | { kind: "failed"; error: unknown };

/**
 * A request in a tenant's line. What happens to it is written to its fields
 * and then `wake` is called; the request reads the fields after each wake,
 * so a wake it was not waiting for loses nothing.
 */
interface Member {
	input: EventInput;
	settled: Settled | null;
	/** Set when the group before ended and this request is first in line: it stores the next group. */
	toLead: boolean;
	wake: () => void;
}

/** A tenant's events that one group stores at most: what a batch request may hold. */
const MAX_GROUP_EVENTS = MAX_BATCH_EVENTS;

/**
 * How long a waiting request waits for its turn before it stores the
 * waiting events itself. A group's store ends in milliseconds; this is for
 * a next leader whose request was cancelled (its client went away) before
 * it could start, which would otherwise leave the line waiting for good.
 */
const LEAD_AFTER_STALL_MS = 1000;

/**
 * A group waits for company only while the tenant's events reach this
 * isolate less than this far apart on average (100 or more a second): at a
 * slower pace the wait would mostly add latency.
 */
const GROUP_WHEN_GAP_BELOW_MS = 10;
/** How long such a group waits before it is stored, whoever has joined by then. */
const GROUP_HOLD_MS = 4;

/** For each tenant with a group being stored, the requests waiting for it to end; none for an idle one. */
const lines = new Map<string, Member[]>();

/** How close together each tenant's events reach the line; tenants idle past the threshold are forgotten. */
const paces = new ArrivalPaces(1000, GROUP_WHEN_GAP_BELOW_MS);

/**
 * The first members of `waiting` that fit in a group after those it holds:
 * at least one for an empty group, then up to the event and payload caps.
 */
function takeFitting(waiting: Member[], group: readonly Member[] = []): Member[] {
	let bytes = group.reduce((sum, member) => sum + member.input.dataJson.length, 0);
	let count = group.length;
	let taken = 0;
	for (const member of waiting) {
		bytes += member.input.dataJson.length;
		if (count > 0 && (count >= MAX_GROUP_EVENTS || bytes > MAX_BATCH_BODY_BYTES)) break;
		count++;
		taken++;
	}
	return waiting.splice(0, taken);
}

/**
 * How long a group of `size` events waits for company before it is stored:
 * GROUP_HOLD_MS while the tenant's recent gap between events is under
 * GROUP_WHEN_GAP_BELOW_MS and the group has room, otherwise not at all.
 */
export function groupHoldMs(recentGapMs: number | null, size: number): number {
	return recentGapMs !== null && recentGapMs < GROUP_WHEN_GAP_BELOW_MS && size < MAX_GROUP_EVENTS ? GROUP_HOLD_MS : 0;
}

/** Never rejects: every member of the group is settled, and the line passes to the next leader or ends. */
async function storeGroup(waiting: Member[], ctx: IngestContext, formed: readonly Member[]): Promise<void> {
	let group = formed;
	try {
		const holdMs = groupHoldMs(paces.recentGapMs(ctx.tenantId), group.length);
		if (holdMs > 0) {
			await new Promise((resolve) => setTimeout(resolve, holdMs));
			group = [...group, ...takeFitting(waiting, group)];
		}
		const outcomes = await ingestEachEvent(
			ctx,
			group.map((member) => member.input),
		);
		group.forEach((member, index) => {
			const outcome = outcomes[index];
			member.settled =
				outcome === undefined
					? { kind: "failed", error: new ApiError("internal_error", "the event was not stored") }
					: { kind: "stored", outcome };
		});
	} catch (error) {
		for (const member of group) member.settled = { kind: "failed", error };
	} finally {
		for (const member of group) member.wake();
		// The next leader forms its group when it runs, with whoever joined until then.
		const [leader] = waiting;
		if (leader) {
			leader.toLead = true;
			leader.wake();
		} else if (lines.get(ctx.tenantId) === waiting) lines.delete(ctx.tenantId);
	}
}

/** Resolves when `member` is woken (false), or after `stallMs` when given (true). */
async function sleep(member: Member, stallMs: number | null): Promise<boolean> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	try {
		return await new Promise<boolean>((resolve) => {
			member.wake = () => resolve(false);
			if (stallMs !== null) timer = setTimeout(() => resolve(true), stallMs);
		});
	} finally {
		clearTimeout(timer);
	}
}

function outcomeOf(settled: Settled): IngestResult {
	if (settled.kind === "failed") throw settled.error;
	if (settled.outcome instanceof ApiError) throw settled.outcome;
	return settled.outcome;
}

/**
 * Stores one event of a request, in a group with the tenant's other events
 * that arrive while an earlier group is being stored. `ctx.waitUntil` is the
 * request's own: it keeps a group this request leads going to the end.
 */
export async function ingestInGroup(
	ctx: IngestContext & Required<Pick<IngestContext, "waitUntil">>,
	input: EventInput,
): Promise<IngestResult> {
	const { waitUntil } = ctx;
	const member: Member = { input, settled: null, toLead: false, wake: () => {} };
	paces.note(ctx.tenantId, Date.now());
	let waiting = lines.get(ctx.tenantId);
	if (waiting === undefined) {
		waiting = [];
		lines.set(ctx.tenantId, waiting);
		waitUntil(storeGroup(waiting, ctx, [member]));
	} else waiting.push(member);
	let stalled = false;
	for (;;) {
		if (member.settled !== null) return outcomeOf(member.settled);
		if (member.toLead || (stalled && waiting.includes(member))) {
			member.toLead = false;
			// This request's own context stores the group, with its own bindings. Nothing may be left
			// waiting: a request that stalled took this one into its group, which passes the line on.
			const group = takeFitting(waiting);
			if (group.length > 0) waitUntil(storeGroup(waiting, ctx, group));
		}
		// Only a request still in line can stall; one in a group waits for that group's end.
		stalled = await sleep(member, waiting.includes(member) ? LEAD_AFTER_STALL_MS : null);
	}
}
