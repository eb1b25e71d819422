import { and, count, eq, gte, inArray, isNull, lt } from "drizzle-orm";
import { type Database, openDatabase } from "../db/client";
import { endpointLogRange, scanEndpointDeliveries } from "../db/deliveries";
import { packedOnlyInRange, rowsInRange } from "../db/delivery-log";
import { deliveries, endpoints, type TaskRow, tasks } from "../db/schema";
import { allTenantShards, liveTenantDatabase } from "../db/tenant-database";
import { newTaskId, parseDeliveryId } from "../lib/ids";
import { type DeliveryJob, enqueueJobs } from "../queue/messages";

/**
 * Recovery re-sends an endpoint's failed deliveries of a time window in
 * slices, one slice per queue message on the main queue (like tenant purges),
 * so a window of thousands of failures never holds one invocation for long.
 * Each slice queues manual re-send jobs, which the consumer delivers like any
 * other (pace included), then queues the next slice.
 */
export interface RecoverJob {
	kind: "recover";
	tenantId: string;
	taskId: string;
}

export function isRecoverJob(value: unknown): value is RecoverJob {
	if (typeof value !== "object" || value === null) return false;
	const job = value as Record<string, unknown>;
	return job.kind === "recover" && typeof job.tenantId === "string" && typeof job.taskId === "string";
}

/** A recover's window in epoch milliseconds, `until` exclusive, as stored in the task's `params`. */
export interface RecoverWindow {
	since: number;
	until: number;
}

export function recoverWindow(task: TaskRow): RecoverWindow {
	return JSON.parse(task.params) as RecoverWindow;
}

/** Re-sends per slice: one sendBatch of jobs and one short range read. */
export const DELIVERIES_PER_SLICE = 100;
/**
 * Deliveries one slice looks at, at most: where few of the window's
 * deliveries failed, a slice goes on from the last one it looked at rather
 * than reading on until it has found DELIVERIES_PER_SLICE.
 */
export const DELIVERIES_SCANNED_PER_SLICE = 1_000;

/** A failed delivery of an event created in the window. */
function failedInWindow(window: RecoverWindow) {
	return and(
		eq(deliveries.status, "failed"),
		gte(deliveries.createdAt, window.since),
		lt(deliveries.createdAt, window.until),
	);
}

/** Stores a queued recover task, counting what it will re-send, and queues its first slice. */
export async function startRecover(
	db: Database,
	queue: Queue,
	tenantId: string,
	endpointId: string,
	window: RecoverWindow,
	nowMs: number,
): Promise<TaskRow> {
	// Reads the window's part of the endpoint's log once, every delivery of it, failed or not: its rows, then
	// the packed deliveries that have none.
	const { from, to } = await endpointLogRange(db, endpointId, window);
	const range = { fromId: from, toId: to, includeTo: false };
	const counts = await db.batch([
		db.select({ total: count() }).from(rowsInRange(tenantId, range)).where(failedInWindow(window)),
		db.select({ total: count() }).from(packedOnlyInRange(tenantId, range)).where(failedInWindow(window)),
	]);
	const total = counts.reduce((sum, [counted]) => sum + (counted?.total ?? 0), 0);
	const [task] = await db
		.insert(tasks)
		.values({
			tenantId,
			id: newTaskId(),
			kind: "recover",
			endpointId,
			status: "queued",
			params: JSON.stringify(window),
			total,
			done: 0,
			cursor: null,
			error: null,
			createdAt: nowMs,
			updatedAt: nowMs,
		})
		.returning();
	if (!task) throw new Error("the recover task was not stored");
	try {
		await (queue as Queue<RecoverJob>).send({ kind: "recover", tenantId, taskId: task.id });
	} catch (error) {
		// A task nobody will ever run would read as queued forever; the caller gets the error instead.
		await db.delete(tasks).where(and(eq(tasks.tenantId, tenantId), eq(tasks.id, task.id)));
		throw error;
	}
	return task;
}

/** One manual job per event, each re-sending the delivery as its next attempt. */
function resendJobs(tenantId: string, rows: readonly { id: string; attemptCount: number }[]): DeliveryJob[] {
	const byEvent = new Map<number, DeliveryJob>();
	for (const row of rows) {
		const parsed = parseDeliveryId(row.id);
		if (!parsed) continue;
		const job = byEvent.get(parsed.eventSeq) ?? {
			tenantId,
			eventSeq: parsed.eventSeq,
			targets: [],
			trigger: "manual",
		};
		job.targets.push({ endpointId: parsed.endpointId, attempt: row.attemptCount + 1 });
		byEvent.set(parsed.eventSeq, job);
	}
	return [...byEvent.values()];
}

const UNFINISHED = ["queued", "running"] as const;

async function failTask(db: Database, task: TaskRow, error: string, nowMs: number): Promise<void> {
	await db
		.update(tasks)
		.set({ status: "failed", error, updatedAt: nowMs })
		.where(and(eq(tasks.tenantId, task.tenantId), eq(tasks.id, task.id), inArray(tasks.status, UNFINISHED)));
}

/**
 * Runs one slice of a recover task: looks at up to
 * DELIVERIES_SCANNED_PER_SLICE rows and as many packed deliveries of the
 * window below the task's cursor, newest first, queues re-sends for the
 * failed ones (DELIVERIES_PER_SLICE at most) and moves the cursor down to
 * where it stopped. Returns whether another slice should follow.
 */
export async function recoverSlice(env: Env, tenantId: string, taskId: string, nowMs: number): Promise<boolean> {
	const db = await liveTenantDatabase(env, tenantId);
	if (!db) return false;
	const [task] = await db
		.select()
		.from(tasks)
		.where(and(eq(tasks.tenantId, tenantId), eq(tasks.id, taskId)));
	if (!task || task.status === "completed" || task.status === "failed") return false;
	const [endpoint] = await db
		.select({ active: endpoints.active })
		.from(endpoints)
		.where(and(eq(endpoints.tenantId, tenantId), eq(endpoints.id, task.endpointId)));
	if (!endpoint) {
		await failTask(db, task, "the endpoint was deleted", nowMs);
		return false;
	}
	// The consumer would settle every re-send to a disabled endpoint as failed without sending it.
	if (!endpoint.active) {
		await failTask(db, task, "the endpoint was disabled; enable it and recover again to re-send the rest", nowMs);
		return false;
	}

	const window = recoverWindow(task);
	// The log is walked newest first, from the window's end down to its start; the cursor is the delivery the
	// last slice stopped at, and the next one looks below it.
	const range = await endpointLogRange(db, task.endpointId, window);
	const { rows: found, goOnBelow } = await scanEndpointDeliveries(
		db,
		tenantId,
		{ fromId: range.from, toId: task.cursor ?? range.to, includeTo: false },
		failedInWindow(window),
		DELIVERIES_PER_SLICE,
		DELIVERIES_SCANNED_PER_SLICE,
	);
	const rows = found.map(({ delivery }) => delivery);
	await enqueueJobs(env.DELIVERY_QUEUE as Queue<DeliveryJob>, resendJobs(tenantId, rows));

	const more = goOnBelow !== null;
	const done = task.done + rows.length;
	// Only the run that still sees the task as it read it moves it on: a queue message delivered twice
	// re-sends one slice twice at most (receivers deduplicate on webhook-id), never the rest of the window.
	const [moved] = await db
		.update(tasks)
		.set({
			status: more ? "running" : "completed",
			done,
			total: more ? Math.max(task.total, done) : done,
			cursor: goOnBelow?.id ?? task.cursor,
			error: null,
			updatedAt: nowMs,
		})
		.where(
			and(
				eq(tasks.tenantId, tenantId),
				eq(tasks.id, taskId),
				inArray(tasks.status, UNFINISHED),
				eq(tasks.done, task.done),
				task.cursor === null ? isNull(tasks.cursor) : eq(tasks.cursor, task.cursor),
			),
		)
		.returning({ id: tasks.id });
	return more && moved !== undefined;
}

function errorText(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}

/** Runs one slice per message and queues the next one; a slice that fails is retried by the queue. */
export async function continueRecovers(env: Env, messages: readonly Message<unknown>[]): Promise<void> {
	const queue = env.DELIVERY_QUEUE as Queue<RecoverJob>;
	for (const message of messages) {
		if (!isRecoverJob(message.body)) continue;
		const { tenantId, taskId } = message.body;
		try {
			if (await recoverSlice(env, tenantId, taskId, Date.now()))
				await queue.send({ kind: "recover", tenantId, taskId });
			message.ack();
		} catch (error) {
			console.error("recover slice failed", tenantId, taskId, error);
			// Shown on the task while the queue retries, so a stuck recover says why.
			await noteSliceError(env, tenantId, taskId, error).catch((noted: unknown) =>
				console.error("could not note the slice error", taskId, noted),
			);
			message.retry({ delaySeconds: 10 });
		}
	}
}

async function noteSliceError(env: Env, tenantId: string, taskId: string, error: unknown): Promise<void> {
	const db = await liveTenantDatabase(env, tenantId);
	await db
		?.update(tasks)
		.set({ error: errorText(error), updatedAt: Date.now() })
		.where(and(eq(tasks.tenantId, tenantId), eq(tasks.id, taskId), inArray(tasks.status, UNFINISHED)));
}

/** A recover message that exhausted its queue retries ends its task as failed, rather than running forever. */
export async function failDeadLetteredRecovers(env: Env, messages: readonly Message<unknown>[]): Promise<void> {
	for (const message of messages) {
		if (!isRecoverJob(message.body)) continue;
		const { tenantId, taskId } = message.body;
		try {
			const db = await liveTenantDatabase(env, tenantId);
			const [task] = db
				? await db
						.select()
						.from(tasks)
						.where(and(eq(tasks.tenantId, tenantId), eq(tasks.id, taskId)))
				: [];
			if (db && task) {
				const last = task.error === null ? "" : `; the last error: ${task.error}`;
				await failTask(db, task, `stopped after its slices failed repeatedly${last}`, Date.now());
			}
			message.ack();
		} catch (error) {
			console.error("could not fail a dead-lettered recover", tenantId, taskId, error);
			message.retry({ delaySeconds: 60 });
		}
	}
}

/** A recover whose slice has not moved for this long has lost its message; the cron queues it again. */
export const STALLED_RECOVER_MS = 5 * 60 * 1000;

/**
 * Queues again the recovers whose last slice message was lost (the task has
 * not moved for a while). A duplicate slice is harmless: a slice moves the
 * task on only if the task is as the slice read it. Run by the minute cron.
 */
export async function resumeStalledRecovers(env: Env, nowMs: number): Promise<number> {
	const queue = env.DELIVERY_QUEUE as Queue<RecoverJob>;
	let resumed = 0;
	let failure: unknown;
	for (const shard of allTenantShards(env)) {
		// One database that fails keeps none of the others' recovers waiting; the run still fails at the end.
		try {
			const stalled = await openDatabase(shard.d1)
				.select({ tenantId: tasks.tenantId, id: tasks.id })
				.from(tasks)
				.where(and(inArray(tasks.status, UNFINISHED), lt(tasks.updatedAt, nowMs - STALLED_RECOVER_MS)))
				.limit(100);
			for (const task of stalled) await queue.send({ kind: "recover", tenantId: task.tenantId, taskId: task.id });
			resumed += stalled.length;
		} catch (error) {
			console.error(`resuming stalled recovers on ${shard.name} failed`, error);
			failure ??= error;
		}
	}
	if (failure !== undefined) throw failure;
	return resumed;
}
