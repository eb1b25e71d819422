import { DurableObject } from "cloudflare:workers";
import type { AttemptTrigger } from "../delivery/attempt-record";
import { count, countDurableObjectSql, meteredEnv } from "../lib/metering";
import { type DeliveryJob, enqueueJobs, type Lane } from "../queue/messages";
import {
	afterFailure,
	afterSuccess,
	type CircuitState,
	type CircuitTransition,
	circuitPolicy,
	closedCircuit,
	gate,
	withStaleProbeExpired,
} from "./circuit";
import type { Admission, AdmissionRequest, ReportedAttempt, ScheduledRetry } from "./client";

interface DueRow extends Record<string, SqlStorageValue> {
	delivery_id: string;
	tenant_id: string;
	endpoint_id: string;
	event_seq: number;
	attempt: number;
	due_at: number;
	lane: string;
	trigger: string;
	/** 1 when the circuit, not the retry schedule, set its due time. */
	held: number;
}

/**
 * Targets per released job. A queue message is paid for whatever it holds,
 * so one alarm's due deliveries go out packed; 50 targets stay far below the
 * 128 KB message limit and spread a large release over several consumer
 * invocations.
 */
export const TARGETS_PER_RELEASED_JOB = 50;

/** The jobs that release due deliveries, packed per queue, tenant and trigger. */
export function jobsByLane(rows: readonly DueRow[]): Record<Lane, DeliveryJob[]> {
	const jobs: Record<Lane, DeliveryJob[]> = { main: [], slow: [] };
	const open = new Map<string, DeliveryJob>();
	for (const row of rows) {
		const lane: Lane = row.lane === "slow" ? "slow" : "main";
		const trigger = row.trigger as AttemptTrigger;
		const key = `${lane}/${row.tenant_id}/${trigger}`;
		let job = open.get(key);
		if (!job || job.targets.length >= TARGETS_PER_RELEASED_JOB) {
			job = { tenantId: row.tenant_id, eventSeq: row.event_seq, targets: [], trigger, admitted: true };
			open.set(key, job);
			jobs[lane].push(job);
		}
		job.targets.push({ endpointId: row.endpoint_id, attempt: row.attempt, eventSeq: row.event_seq });
	}
	return jobs;
}

/** What changed in the circuit, with the figures behind it, for the operational events. */
export interface CircuitChange {
	transition: Exclude<CircuitTransition, null>;
	circuit: CircuitState;
	/** The circuit as it was just before a recovery: how long and how badly it had failed. */
	before: CircuitState;
}

export interface ReportVerdict {
	changes: CircuitChange[];
	/** Why the endpoint must be disabled, or null. */
	disable: string | null;
	circuit: CircuitState;
}

/**
 * One per endpoint: the endpoint's health and everything it holds back. Its
 * SQLite storage keeps the due table (retries waiting for their time, and
 * deliveries waiting for the circuit to close) and the circuit state; its one
 * alarm is armed for the earliest due row.
 *
 * Healthy endpoints never call it: the consumer asks it only about endpoints
 * that are failing (their `failing_since` is set) and reports to it only
 * their attempts and failures elsewhere, so its cost falls on failure.
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
		const columns = new Set(
			this.sql
				.exec<{ name: string }>("PRAGMA table_info(due_retries)")
				.toArray()
				.map((column) => column.name),
		);
		// Objects created before the circuit breaker have the first seven columns only.
		if (!columns.has("trigger")) {
			this.sql.exec("ALTER TABLE due_retries ADD COLUMN trigger TEXT NOT NULL DEFAULT 'scheduled'");
		}
		if (!columns.has("held")) this.sql.exec("ALTER TABLE due_retries ADD COLUMN held INTEGER NOT NULL DEFAULT 0");
		this.sql.exec("CREATE TABLE IF NOT EXISTS circuit (id INTEGER PRIMARY KEY, state TEXT NOT NULL)");
	}

	/** Stores retries (a later schedule for the same delivery replaces the earlier) and arms the alarm. */
	async schedule(tenantId: string, endpointId: string, retries: readonly ScheduledRetry[]): Promise<void> {
		const started = this.startRequest();
		for (const retry of retries) this.storeDue(tenantId, endpointId, retry, "scheduled", false);
		await this.armForEarliest();
		count("do_wall_ms", Date.now() - started);
	}

	/**
	 * Which of these deliveries may go out now. While the circuit is open they
	 * wait here, durably, until its next probe; the first one due when a probe
	 * is allowed goes out as that probe.
	 */
	async admit(tenantId: string, endpointId: string, requests: readonly AdmissionRequest[]): Promise<Admission[]> {
		const started = this.startRequest();
		const now = Date.now();
		let circuit = withStaleProbeExpired(this.circuit(now), now);
		const admissions: Admission[] = [];
		for (const request of requests) {
			const decision = gate(circuit, now);
			if (decision === "send") {
				admissions.push({ deliveryId: request.deliveryId, send: true });
				continue;
			}
			if (decision === "probe") {
				circuit = { ...circuit, state: "half_open", since: now };
				admissions.push({ deliveryId: request.deliveryId, send: true });
				continue;
			}
			this.storeDue(tenantId, endpointId, { ...request, dueAtMs: decision.waitUntil }, request.trigger, true);
			admissions.push({ deliveryId: request.deliveryId, send: false, heldUntil: decision.waitUntil });
		}
		this.saveCircuit(circuit);
		await this.armForEarliest();
		count("do_wall_ms", Date.now() - started);
		return admissions;
	}

	/**
	 * Takes the results of attempts, in the order they ended: moves the
	 * circuit, holds the retries (later than the next probe while it is open),
	 * and releases everything held once a success closes it.
	 */
	async report(tenantId: string, endpointId: string, results: readonly ReportedAttempt[]): Promise<ReportVerdict> {
		const started = this.startRequest();
		const now = Date.now();
		const policy = circuitPolicy(this.env);
		let circuit = this.circuit(now);
		const changes: CircuitChange[] = [];
		let disable: string | null = null;
		for (const result of results) {
			const before = circuit;
			if (result.ok) {
				const next = afterSuccess(circuit, now, result.statusCode ?? 200);
				circuit = next.circuit;
				if (next.transition) changes.push({ transition: next.transition, circuit, before });
				continue;
			}
			const next = afterFailure(circuit, now, result, policy);
			circuit = next.circuit;
			if (next.transition) changes.push({ transition: next.transition, circuit, before });
			if (next.disable && circuit.failingSince !== null) {
				disable = `the endpoint failed without a success since ${new Date(circuit.failingSince).toISOString()}`;
			}
			if (result.retry) {
				const blockedUntil = circuit.state === "closed" ? 0 : (circuit.nextProbeAt ?? now);
				const held = blockedUntil > result.retry.dueAtMs;
				const retry = held ? { ...result.retry, dueAtMs: blockedUntil } : result.retry;
				this.storeDue(tenantId, endpointId, retry, "scheduled", held);
			}
		}
		if (circuit.state === "closed" && changes.some((change) => change.transition === "recovered")) {
			this.query("UPDATE due_retries SET due_at = ?, held = 0 WHERE held = 1", now);
		} else if (circuit.state === "open" && circuit.nextProbeAt !== null) {
			// A failed probe moved the next one: what waits for it moves along.
			this.query("UPDATE due_retries SET due_at = ? WHERE held = 1", circuit.nextProbeAt);
		}
		this.saveCircuit(circuit);
		await this.armForEarliest();
		count("do_wall_ms", Date.now() - started);
		return { changes, disable, circuit };
	}

	/** The circuit as the API shows it. */
	health(): CircuitState {
		return this.circuit(Date.now());
	}

	/** Drops every pending retry and held delivery and returns their ids. */
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

	/** Forgets the endpoint's failures, e.g. when someone enables it again. */
	resetCircuit(): void {
		this.startRequest();
		this.saveCircuit(closedCircuit(Date.now()));
	}

	/** How many deliveries wait, and when the next is due; read by the tests. */
	pending(): { count: number; nextDueAtMs: number | null } {
		const [row] = this.query<{ count: number; next_due: number | null }>(
			"SELECT count(*) AS count, min(due_at) AS next_due FROM due_retries",
		);
		return { count: row?.count ?? 0, nextDueAtMs: row?.next_due ?? null };
	}

	override async alarm(): Promise<void> {
		const now = Date.now();
		count("do_alarms");
		let circuit = withStaleProbeExpired(this.circuit(now), now);
		const due = this.query<DueRow>("SELECT * FROM due_retries WHERE due_at <= ? ORDER BY due_at", now);
		let release: DueRow[] = [];
		const decision = gate(circuit, now);
		if (decision === "send") release = due;
		else if (decision === "probe") {
			release = due.slice(0, 1);
			if (release.length > 0) circuit = { ...circuit, state: "half_open", since: now };
		}
		if (release.length > 0) {
			const jobs = jobsByLane(release);
			// Sent before deleted: a crash in between resends (at least once), never loses.
			await enqueueJobs(this.queues.main, jobs.main);
			await enqueueJobs(this.queues.slow, jobs.slow);
			for (const row of release) {
				this.query("DELETE FROM due_retries WHERE delivery_id = ? AND due_at = ?", row.delivery_id, row.due_at);
			}
		}
		const after = gate(circuit, now);
		if (after !== "send" && after !== "probe") {
			// What the circuit still holds waits for its next probe, not for the next alarm tick.
			this.query("UPDATE due_retries SET due_at = ?, held = 1 WHERE due_at <= ?", after.waitUntil, now);
		}
		this.saveCircuit(circuit);
		await this.armForEarliest();
		count("do_wall_ms", Date.now() - now);
	}

	private storeDue(
		tenantId: string,
		endpointId: string,
		due: { deliveryId: string; eventSeq: number; attempt: number; dueAtMs: number; lane: Lane },
		trigger: AttemptTrigger,
		held: boolean,
	): void {
		this.query(
			`INSERT INTO due_retries (delivery_id, tenant_id, endpoint_id, event_seq, attempt, due_at, lane, trigger, held)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			 ON CONFLICT (delivery_id) DO UPDATE SET attempt = excluded.attempt, due_at = excluded.due_at,
			 lane = excluded.lane, trigger = excluded.trigger, held = excluded.held`,
			due.deliveryId,
			tenantId,
			endpointId,
			due.eventSeq,
			due.attempt,
			due.dueAtMs,
			due.lane,
			trigger,
			held ? 1 : 0,
		);
	}

	private circuit(now: number): CircuitState {
		const [row] = this.query<{ state: string }>("SELECT state FROM circuit WHERE id = 1");
		return row ? (JSON.parse(row.state) as CircuitState) : closedCircuit(now);
	}

	/** Written only when it changed: a healthy endpoint's object never writes it. */
	private saveCircuit(circuit: CircuitState): void {
		const json = JSON.stringify(circuit);
		const [row] = this.query<{ state: string }>("SELECT state FROM circuit WHERE id = 1");
		if (row?.state === json) return;
		this.query(
			"INSERT INTO circuit (id, state) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state",
			json,
		);
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
