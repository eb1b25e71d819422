import { DurableObject } from "cloudflare:workers";
import { count, countDurableObjectSql, meteredEnv } from "../lib/metering";
import { type DeliveryJob, enqueueJobs, type Lane } from "../queue/messages";
import type { ScheduledRetry } from "./client";

interface DueRetryRow extends Record<string, SqlStorageValue> {
	delivery_id: string;
	tenant_id: string;
	endpoint_id: string;
	event_seq: number;
	attempt: number;
	due_at: number;
	lane: string;
}

/** The jobs that send due retries, split by the queue each goes to. */
export function jobsByLane(rows: readonly DueRetryRow[]): Record<Lane, DeliveryJob[]> {
	const jobs: Record<Lane, DeliveryJob[]> = { main: [], slow: [] };
	for (const row of rows) {
		jobs[row.lane === "slow" ? "slow" : "main"].push({
			tenantId: row.tenant_id,
			eventSeq: row.event_seq,
			targets: [{ endpointId: row.endpoint_id, attempt: row.attempt }],
			trigger: "scheduled",
		});
	}
	return jobs;
}

/**
 * One per endpoint: holds that endpoint's due retries in its own SQLite
 * storage and keeps its single alarm armed for the earliest one.
 *
 * The alarm is at-least-once and the object may be evicted between alarms,
 * so all state is in storage and the alarm only ever acts on rows whose due
 * time has passed: a second firing finds nothing due and changes nothing.
 */
export class EndpointScheduler extends DurableObject<Env> {
	private readonly sql: SqlStorage;
	private readonly queues: Record<Lane, Queue<DeliveryJob>>;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		const metered = meteredEnv(env);
		this.queues = {
			main: metered.DELIVERY_QUEUE as Queue<DeliveryJob>,
			slow: metered.SLOW_DELIVERY_QUEUE as Queue<DeliveryJob>,
		};
		// Deliberately no index on due_at: each index entry is one more storage row
		// written per retry scheduled and deleted, while reads of this small table
		// cost next to nothing.
		this.sql.exec(`CREATE TABLE IF NOT EXISTS due_retries (
			delivery_id TEXT PRIMARY KEY,
			tenant_id TEXT NOT NULL,
			endpoint_id TEXT NOT NULL,
			event_seq INTEGER NOT NULL,
			attempt INTEGER NOT NULL,
			due_at INTEGER NOT NULL,
			lane TEXT NOT NULL
		) WITHOUT ROWID`);
	}

	/** Stores retries (a later schedule for the same delivery replaces the earlier) and arms the alarm. */
	async schedule(tenantId: string, endpointId: string, retries: readonly ScheduledRetry[]): Promise<void> {
		const started = this.startRequest();
		for (const retry of retries) {
			this.query(
				`INSERT INTO due_retries (delivery_id, tenant_id, endpoint_id, event_seq, attempt, due_at, lane)
				 VALUES (?, ?, ?, ?, ?, ?, ?)
				 ON CONFLICT (delivery_id) DO UPDATE SET attempt = excluded.attempt, due_at = excluded.due_at, lane = excluded.lane`,
				retry.deliveryId,
				tenantId,
				endpointId,
				retry.eventSeq,
				retry.attempt,
				retry.dueAtMs,
				retry.lane,
			);
		}
		await this.armForEarliest();
		count("do_wall_ms", Date.now() - started);
	}

	/** Drops every pending retry and returns the delivery ids it held. */
	async cancelAll(): Promise<string[]> {
		const started = this.startRequest();
		const ids = this.query<{ delivery_id: string }>("SELECT delivery_id FROM due_retries").map(
			(row) => row.delivery_id,
		);
		this.query("DELETE FROM due_retries");
		await this.ctx.storage.deleteAlarm();
		count("do_wall_ms", Date.now() - started);
		return ids;
	}

	/** How many retries wait, and when the next is due; read by the tests. */
	pending(): { count: number; nextDueAtMs: number | null } {
		const [row] = this.query<{ count: number; next_due: number | null }>(
			"SELECT count(*) AS count, min(due_at) AS next_due FROM due_retries",
		);
		return { count: row?.count ?? 0, nextDueAtMs: row?.next_due ?? null };
	}

	override async alarm(): Promise<void> {
		const now = Date.now();
		count("do_alarms");
		const due = this.query<DueRetryRow>("SELECT * FROM due_retries WHERE due_at <= ? ORDER BY due_at", now);
		if (due.length > 0) {
			const jobs = jobsByLane(due);
			// Sent before deleted: a crash in between resends (at least once), never loses.
			await enqueueJobs(this.queues.main, jobs.main);
			await enqueueJobs(this.queues.slow, jobs.slow);
			for (const row of due) {
				this.query("DELETE FROM due_retries WHERE delivery_id = ? AND due_at = ?", row.delivery_id, row.due_at);
			}
		}
		await this.armForEarliest();
		count("do_wall_ms", Date.now() - now);
	}

	private startRequest(): number {
		count("do_requests");
		return Date.now();
	}

	private query<Row extends Record<string, SqlStorageValue>>(statement: string, ...bindings: SqlStorageValue[]): Row[] {
		const cursor = this.sql.exec<Row>(statement, ...bindings);
		const rows = cursor.toArray();
		countDurableObjectSql(cursor);
		return rows;
	}

	private async armForEarliest(): Promise<void> {
		const [row] = this.query<{ next_due: number | null }>("SELECT min(due_at) AS next_due FROM due_retries");
		const nextDueAtMs = row?.next_due ?? null;
		if (nextDueAtMs === null) {
			await this.ctx.storage.deleteAlarm();
			return;
		}
		const current = await this.ctx.storage.getAlarm();
		if (current !== nextDueAtMs) await this.ctx.storage.setAlarm(nextDueAtMs);
	}
}
