import { DurableObject } from "cloudflare:workers";
import { liveTenantD1 } from "../db/tenant-database";
import type { AttemptTrigger } from "../delivery/attempt-record";
import { chunk } from "../lib/chunk";
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
import type {
	Admission,
	AdmissionRequest,
	EndpointPolicy,
	LeaseWanted,
	ReportedAttempt,
	ScheduledRetry,
} from "./client";
import { afterSends, freshPace, type PaceState, takeSlot } from "./pace";

interface DueRow extends Record<string, SqlStorageValue> {
	delivery_id: string;
	tenant_id: string;
	endpoint_id: string;
	event_seq: number;
	attempt: number;
	due_at: number;
	lane: string;
	trigger: string;
	/** Why it waits: see HELD. */
	held: number;
}

/**
 * What a due row waits for. A retry waits for its backoff delay; a held row
 * for the circuit to close or for a slot of the endpoint's pace; a row in
 * line waits for its turn on an ordered endpoint, which no clock brings:
 * it goes when the delivery before it settles. A row waiting for a lease
 * goes when one is returned (see release), at the latest when the earliest
 * lease out expires.
 */
const HELD = { retry: 0, gate: 1, inLine: 2, lease: 3 } as const;

/** Added to a lease's term for what an invocation does around its attempts (rendering, D1 writes, pace waits). */
const LEASE_MARGIN_MS = 30_000;

/** Attempts in flight that one consumer invocation holds, until it returns them or `until` (ms) passes. */
interface Lease {
	count: number;
	until: number;
}
/**
 * How long a row in line says it waits, in the delivery log. Its turn comes
 * when the one before it settles; this bound only makes the sweeper look at
 * it again if that never happens.
 */
const IN_LINE_RECHECK_MS = 60 * 60 * 1000;

interface OrderState {
	/** The delivery of an ordered endpoint that went out and has not settled yet. */
	inFlight: string | null;
}

/** A failing run is written to storage once it is this old; a shorter one may be forgotten on eviction. */
const FAILING_RUN_WORTH_KEEPING_MS = 60_000;

/**
 * Targets per released job. A queue message is paid for whatever it holds,
 * so one alarm's due deliveries go out packed; 50 targets stay far below the
 * 128 KB message limit and spread a large release over several consumer
 * invocations.
 */
export const TARGETS_PER_RELEASED_JOB = 50;

/**
 * How late a packed retry may go out. Plain retries (due for their backoff,
 * nothing else holding them) are kept in packs, one storage row per window
 * of this length, released together at the window's end: never early, at
 * most this late (the retry timing target allows a second; the sweeper
 * waits at least 30 s). A row per retry, inserted and then deleted, cost two
 * rows written per retry; packed, one endpoint failing 50 deliveries/s
 * measured 0.4 (one write per consumer batch that reports, one delete, alarm
 * and queue message per 22 retries: docs/BENCHMARKS.md, section 10).
 */
export const PACK_WINDOW_MS = 250;

/**
 * How long a report's plain retries may wait in memory before an alarm
 * sends or stores them (a window more if one is due then); that alarm keeps
 * in memory those due within this long after it. Written at once, each
 * report cost a storage row, and a consumer that takes one message at a
 * time reports once per failed attempt (1.5 rows per 3-attempt delivery at
 * 50/s, docs/SCALING.md); held in memory, they cost a row per window that
 * is not sent by then, or none. An object lost meanwhile (a crash, a
 * deploy) loses them here only: the consumer recorded each attempt and its
 * due time in the delivery log before reporting it, and the sweeper sends
 * what is overdue there, SWEEP_AFTER_SECONDS late.
 */
export const UNSAVED_RETRIES_MAX_MS = 1_000;

/**
 * Held deliveries per statement of showHeldUntil: 5,000 ids are about 165 KB
 * of JSON in the one bound parameter, as retention's deletes (src/retention.ts).
 */
const HELD_IDS_PER_STATEMENT = 5_000;

/**
 * By primary key, from a JSON array of ids: the endpoint's whole range would
 * read its entire log (deliveries is WITHOUT ROWID and status is not in the
 * key), while D1's single writer waits.
 */
const SHOW_HELD_UNTIL = `UPDATE deliveries SET next_attempt_at = ?1
	WHERE id IN (SELECT value FROM json_each(?2)) AND tenant_id = ?3 AND status = 'pending' AND next_attempt_at < ?1`;

/** One retry inside a pack; tenant and endpoint are the pack's. */
export interface PackedRetry {
	deliveryId: string;
	eventSeq: number;
	attempt: number;
	lane: Lane;
}

interface PackRow extends Record<string, SqlStorageValue> {
	due_at: number;
	tenant_id: string;
	endpoint_id: string;
	/** JSON array of PackedRetry. */
	retries: string;
}

/** Plain retries of one pack window, held in memory until the alarm sends or stores them. */
interface UnsavedPack {
	tenantId: string;
	endpointId: string;
	retries: Map<string, PackedRetry>;
}

/** The end of the pack window a retry due at `dueAtMs` falls in: when its pack is released. */
export function packDueAt(dueAtMs: number): number {
	return Math.ceil(dueAtMs / PACK_WINDOW_MS) * PACK_WINDOW_MS;
}

/** Retries grouped by the pack they go into; a later retry of the same delivery replaces an earlier one. */
export function packsOf(retries: readonly ScheduledRetry[]): Map<number, PackedRetry[]> {
	const packs = new Map<number, Map<string, PackedRetry>>();
	for (const retry of retries) {
		const dueAt = packDueAt(retry.dueAtMs);
		const pack = packs.get(dueAt) ?? new Map<string, PackedRetry>();
		pack.set(retry.deliveryId, {
			deliveryId: retry.deliveryId,
			eventSeq: retry.eventSeq,
			attempt: retry.attempt,
			lane: retry.lane,
		});
		packs.set(dueAt, pack);
	}
	return new Map([...packs].map(([dueAt, pack]) => [dueAt, [...pack.values()]]));
}

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
 * SQLite storage keeps the due table (deliveries waiting for the circuit to
 * close, a pace slot, a lease or their turn, a row each), the packs (plain
 * retries waiting for their time, many per row) and the circuit state; its
 * one alarm is armed for the earliest due row or pack.
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
	/** The env with D1 and the queues counted by the bench's metering, when it is on. */
	private readonly metered: Env;
	/** The circuit as it is now, and as storage last had it (see saveCircuit). */
	private circuitMemory: { current: CircuitState; stored: CircuitState | null } | undefined;
	/** Reported plain retries not in storage, by their pack's release time (see UNSAVED_RETRIES_MAX_MS). */
	private readonly unsaved = new Map<number, UnsavedPack>();
	/** When the oldest of `unsaved` came in: the alarm fires by UNSAVED_RETRIES_MAX_MS after it. */
	private unsavedSince: number | null = null;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		const metered = meteredEnv(env);
		this.metered = metered;
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
		// Plain retries, many per row (see PACK_WINDOW_MS); keyed by release time, so no index either.
		this.sql.exec(`CREATE TABLE IF NOT EXISTS due_packs (
			due_at INTEGER PRIMARY KEY,
			tenant_id TEXT NOT NULL,
			endpoint_id TEXT NOT NULL,
			retries TEXT NOT NULL
		) WITHOUT ROWID`);
		// The circuit, the pace and the order, each a small JSON value under its name.
		this.sql.exec(
			"CREATE TABLE IF NOT EXISTS endpoint_state (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
		);
	}

	/**
	 * Holds retries without an attempt to report, packed as report() packs
	 * them, and arms the alarm. The consumer hands its retries over through
	 * report(); the tests set up due retries with this.
	 */
	async schedule(tenantId: string, endpointId: string, retries: readonly ScheduledRetry[]): Promise<void> {
		const started = this.startRequest();
		this.storePacked(tenantId, endpointId, retries);
		await this.armForEarliest();
		count("do_wall_ms", Date.now() - started);
	}

	/**
	 * Which of these deliveries may go out now, and when. A delivery waits
	 * here, durably, while the circuit is open (the first one due when a probe
	 * is allowed goes out as that probe), until a slot of the endpoint's pace,
	 * or, on an ordered endpoint, until the one before it has settled.
	 */
	async admit(
		tenantId: string,
		endpointId: string,
		policy: EndpointPolicy,
		requests: readonly AdmissionRequest[],
	): Promise<Admission[]> {
		const started = this.startRequest();
		const now = Date.now();
		let circuit = withStaleProbeExpired(this.circuit(now), now);
		let pace = this.read<PaceState>("pace") ?? freshPace();
		const admissions: Admission[] = [];
		let waiting = 0;
		for (const request of [...requests].sort((a, b) => a.eventSeq - b.eventSeq)) {
			const hold = (until: number, reason: number) => {
				this.storeDue(tenantId, endpointId, { ...request, dueAtMs: until }, request.trigger, reason);
				admissions.push({ deliveryId: request.deliveryId, send: false, heldUntil: until });
			};
			if (policy.ordered && request.inOrder) {
				hold(now + IN_LINE_RECHECK_MS, HELD.inLine);
				continue;
			}
			if (request.throughCircuit) {
				const decision = gate(circuit, now);
				if (decision === "probe") circuit = { ...circuit, state: "half_open", since: now };
				else if (decision !== "send") {
					hold(decision.waitUntil, HELD.gate);
					continue;
				}
			}
			const slot = takeSlot(pace, policy.rateLimitPerSecond, now, waiting);
			pace = slot.pace;
			if ("waitUntil" in slot.decision) {
				waiting++;
				hold(slot.decision.waitUntil, HELD.gate);
				continue;
			}
			admissions.push({ deliveryId: request.deliveryId, send: true, sendAt: slot.decision.sendAt });
		}
		if (policy.ordered) this.releaseNextInLine(now);
		this.saveCircuit(circuit);
		this.savePace(pace);
		await this.armForEarliest();
		count("do_wall_ms", Date.now() - started);
		return admissions;
	}

	/**
	 * Takes the results of attempts, in the order they ended: moves the
	 * circuit, holds the retries (later than the next probe while it is open),
	 * releases everything held once a success closes it, keeps the pace after
	 * the last send and a 429's pause, and lets an ordered endpoint's next
	 * delivery go once the one before it settled.
	 */
	async report(
		tenantId: string,
		endpointId: string,
		policy: EndpointPolicy,
		results: readonly ReportedAttempt[],
	): Promise<ReportVerdict> {
		const started = this.startRequest();
		const now = Date.now();
		const circuitPolicyNow = circuitPolicy(this.env);
		let circuit = this.circuit(now);
		const changes: CircuitChange[] = [];
		let disable: string | null = null;
		let lastStartedAt: number | null = null;
		let pauseUntil: number | null = null;
		const order = this.read<OrderState>("order") ?? { inFlight: null };
		const plainRetries: ScheduledRetry[] = [];
		for (const result of results) {
			if (result.startedAt !== null) lastStartedAt = Math.max(lastStartedAt ?? 0, result.startedAt);
			if (result.pauseUntil !== null) pauseUntil = Math.max(pauseUntil ?? 0, result.pauseUntil);
			if (result.settled && order.inFlight === result.deliveryId) order.inFlight = null;
			const before = circuit;
			if (result.ok === true) {
				const next = afterSuccess(circuit, now, result.statusCode ?? 200);
				circuit = next.circuit;
				if (next.transition) changes.push({ transition: next.transition, circuit, before });
			} else if (result.ok === false) {
				const next = afterFailure(circuit, now, result, circuitPolicyNow);
				circuit = next.circuit;
				if (next.transition) changes.push({ transition: next.transition, circuit, before });
				if (next.disable && circuit.failingSince !== null) {
					disable = `the endpoint failed without a success since ${new Date(circuit.failingSince).toISOString()}`;
				}
			}
			if (result.retry) {
				const blockedUntil = Math.max(circuit.state === "closed" ? 0 : (circuit.nextProbeAt ?? now), pauseUntil ?? 0);
				// Held ones get a row each: the circuit and the pace move them one by one.
				if (blockedUntil > result.retry.dueAtMs) {
					this.storeDue(tenantId, endpointId, { ...result.retry, dueAtMs: blockedUntil }, "scheduled", HELD.gate);
				} else plainRetries.push(result.retry);
			}
		}
		this.holdUnsaved(tenantId, endpointId, plainRetries, now);
		if (circuit.state === "closed" && changes.some((change) => change.transition === "recovered")) {
			this.query("UPDATE due_retries SET due_at = ?, held = ? WHERE held = ?", now, HELD.retry, HELD.gate);
		} else if (circuit.state === "open" && circuit.nextProbeAt !== null) {
			// A failed probe moved the next one: what waits for it moves along, here and in the delivery log.
			this.query("UPDATE due_retries SET due_at = ? WHERE held = ?", circuit.nextProbeAt, HELD.gate);
			await this.showHeldUntil(tenantId, circuit.nextProbeAt, this.heldDeliveryIds(circuit.nextProbeAt));
		}
		this.savePace(
			afterSends(this.read<PaceState>("pace") ?? freshPace(), policy.rateLimitPerSecond, lastStartedAt, pauseUntil),
		);
		if (policy.ordered) {
			this.write("order", order);
			this.releaseNextInLine(now);
		}
		this.saveCircuit(circuit);
		await this.armForEarliest();
		count("do_wall_ms", Date.now() - started);
		return { changes, disable, circuit };
	}

	/**
	 * Leases for up to `want` attempts in flight at once, so that the
	 * endpoint's `max_concurrency` (`limit`) holds across concurrent consumer
	 * invocations. An invocation granted some sends all its attempts to the
	 * endpoint through them; granted none, its deliveries wait here until a
	 * lease is returned. A lease expires once its holder should long have
	 * finished, so one whose holder died is not lost for good.
	 */
	async acquire(
		tenantId: string,
		endpointId: string,
		holder: string,
		want: LeaseWanted,
		requests: readonly AdmissionRequest[],
	): Promise<{ granted: number; heldUntil: number | null }> {
		const started = this.startRequest();
		const now = Date.now();
		const leases = this.activeLeases(now);
		const inFlight = Object.values(leases).reduce((sum, lease) => sum + lease.count, 0);
		const granted = Math.max(0, Math.min(want.count, want.limit - inFlight));
		let heldUntil: number | null = null;
		if (granted > 0) {
			// Long enough for the holder to send every attempt through what it got, each to its timeout.
			const until = now + Math.ceil(want.attempts / granted) * want.attemptMs + LEASE_MARGIN_MS;
			leases[holder] = { count: granted, until };
		} else {
			heldUntil = Math.min(...Object.values(leases).map((lease) => lease.until));
			for (const request of requests) {
				this.storeDue(tenantId, endpointId, { ...request, dueAtMs: heldUntil }, request.trigger, HELD.lease);
			}
			await this.armForEarliest();
		}
		this.write("leases", leases);
		count("do_wall_ms", Date.now() - started);
		return { granted, heldUntil };
	}

	/** Returns a holder's leases: as many deliveries waiting for one go now, and their next invocation asks again. */
	async release(holder: string): Promise<void> {
		const started = this.startRequest();
		const leases = this.activeLeases(Date.now());
		const freed = leases[holder]?.count ?? 0;
		delete leases[holder];
		this.write("leases", leases);
		if (freed > 0) {
			this.query(
				`UPDATE due_retries SET due_at = ?, held = ? WHERE delivery_id IN
				 (SELECT delivery_id FROM due_retries WHERE held = ? ORDER BY event_seq LIMIT ?)`,
				Date.now(),
				HELD.retry,
				HELD.lease,
				freed,
			);
			await this.armForEarliest();
		}
		count("do_wall_ms", Date.now() - started);
	}

	private activeLeases(now: number): Record<string, Lease> {
		const stored = this.read<Record<string, Lease>>("leases") ?? {};
		return Object.fromEntries(Object.entries(stored).filter(([, lease]) => lease.until > now));
	}

	/** On an ordered endpoint with nothing out, the earliest delivery in line goes next. */
	private releaseNextInLine(now: number): void {
		const order = this.read<OrderState>("order") ?? { inFlight: null };
		if (order.inFlight !== null) return;
		const [next] = this.query<{ delivery_id: string }>(
			"SELECT delivery_id FROM due_retries WHERE held = ? ORDER BY event_seq LIMIT 1",
			HELD.inLine,
		);
		if (!next) return;
		this.query("UPDATE due_retries SET held = ?, due_at = ? WHERE delivery_id = ?", HELD.retry, now, next.delivery_id);
		this.write("order", { inFlight: next.delivery_id });
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
		for (const pack of [...this.query<PackRow>("SELECT * FROM due_packs"), ...this.takeUnsaved(Infinity)]) {
			ids.push(...retriesOf(pack).map((retry) => retry.deliveryId));
		}
		this.query("DELETE FROM due_retries");
		this.query("DELETE FROM due_packs");
		this.write("order", { inFlight: null });
		await this.ctx.storage.deleteAlarm();
		count("do_wall_ms", Date.now() - started);
		return ids;
	}

	/** Forgets the endpoint's failures, e.g. when someone enables it again. */
	resetCircuit(): void {
		this.startRequest();
		this.saveCircuit(closedCircuit(Date.now()));
		this.write("pace", freshPace());
	}

	/** Sends everything waiting in line, for an endpoint that is no longer ordered. */
	async releaseLine(): Promise<void> {
		this.startRequest();
		this.query("UPDATE due_retries SET held = ?, due_at = ? WHERE held = ?", HELD.retry, Date.now(), HELD.inLine);
		this.write("order", { inFlight: null });
		await this.armForEarliest();
	}

	/** How many deliveries wait, and when the next is due; read by the tests. */
	pending(): { count: number; nextDueAtMs: number | null } {
		const [row] = this.query<{ count: number; next_due: number | null }>(
			`SELECT sum(count) AS count, min(next_due) AS next_due FROM (
				SELECT count(*) AS count, min(due_at) AS next_due FROM due_retries
				UNION ALL SELECT coalesce(sum(json_array_length(retries)), 0), min(due_at) FROM due_packs)`,
		);
		const unsavedCount = [...this.unsaved.values()].reduce((sum, pack) => sum + pack.retries.size, 0);
		const dueTimes = [row?.next_due ?? null, this.earliestUnsavedDue()].filter((due) => due !== null);
		return {
			count: (row?.count ?? 0) + unsavedCount,
			nextDueAtMs: dueTimes.length > 0 ? Math.min(...dueTimes) : null,
		};
	}

	override async alarm(): Promise<void> {
		const now = Date.now();
		count("do_alarms");
		let circuit = withStaleProbeExpired(this.circuit(now), now);
		const decision = gate(circuit, now);
		const dueUnsaved = this.takeUnsaved(now);
		// A circuit that is not closed holds or probes row by row, so its due packs become rows first.
		if (decision !== "send") this.unpackDue(now, dueUnsaved);
		const storedPacks =
			decision === "send" ? this.query<PackRow>("SELECT * FROM due_packs WHERE due_at <= ?", now) : [];
		const packs = decision === "send" ? [...storedPacks, ...dueUnsaved] : [];
		const due = this.query<DueRow>(
			"SELECT * FROM due_retries WHERE due_at <= ? AND held != ? ORDER BY due_at",
			now,
			HELD.inLine,
		);
		let release: DueRow[] = [];
		if (decision === "send") release = latestPerDelivery([...due, ...packs.flatMap(dueRowsOf)]);
		else if (decision === "probe") {
			release = due.slice(0, 1);
			if (release.length > 0) circuit = { ...circuit, state: "half_open", since: now };
		}
		if (release.length > 0) {
			const jobs = jobsByLane(release);
			// Sent before deleted: a crash in between resends (at least once), never loses.
			try {
				await enqueueJobs(this.queues.main, jobs.main);
				await enqueueJobs(this.queues.slow, jobs.slow);
			} catch (error) {
				// The alarm is retried; what it took from memory must be there for that retry.
				if (decision === "send") this.restoreUnsaved(dueUnsaved, now);
				throw error;
			}
			for (const row of due.filter((row) => release.includes(row) || decision === "send")) {
				this.query("DELETE FROM due_retries WHERE delivery_id = ? AND due_at = ?", row.delivery_id, row.due_at);
			}
			for (const pack of storedPacks) this.deleteReleasedPack(pack);
		}
		const after = gate(circuit, now);
		const stillHeld = decision === "send" ? [] : due.filter((row) => !release.includes(row));
		const [first] = stillHeld;
		if (after !== "send" && after !== "probe" && first) {
			// What the circuit still holds waits for its next probe, not for the next alarm tick.
			this.query(
				"UPDATE due_retries SET due_at = ?, held = ? WHERE due_at <= ? AND held != ?",
				after.waitUntil,
				HELD.gate,
				now,
				HELD.inLine,
			);
			// While a probe is out its result is what moves them next (see report); until then the log's time stands.
			// Only the rows just moved: the report that set this probe time showed it for everything held then, and
			// what was held since was logged with its due time here, so if that is before the probe an alarm moves
			// it first and names it then.
			if (circuit.state === "open") {
				await this.showHeldUntil(
					first.tenant_id,
					after.waitUntil,
					stillHeld.map((row) => row.delivery_id),
				);
			}
		}
		this.saveUnsaved(now);
		this.saveCircuit(circuit);
		await this.armForEarliest();
		count("do_wall_ms", Date.now() - now);
	}

	/**
	 * Writes the new due time of what the circuit holds into the delivery
	 * log, so the log tells the truth and the sweeper does not take held
	 * deliveries for lost ones. It runs only while the circuit is open, and
	 * reads only the deliveries named, whatever the endpoint's log holds: a
	 * few rows each. One batch, so one round trip however many there are.
	 */
	private async showHeldUntil(tenantId: string, dueAt: number, deliveryIds: readonly string[]): Promise<void> {
		if (deliveryIds.length === 0) return;
		const d1 = await liveTenantD1(this.metered, tenantId);
		if (!d1) return;
		const statement = d1.prepare(SHOW_HELD_UNTIL);
		const updates = chunk(deliveryIds, HELD_IDS_PER_STATEMENT).map((ids) =>
			statement.bind(dueAt, JSON.stringify(ids), tenantId),
		);
		await d1.batch(updates);
	}

	/**
	 * The deliveries held here whose time in the log may be before `dueAt`.
	 * Every row of the due table: the circuit, the pace, a lease or the line
	 * holds it, and the circuit may just have moved it past the time the
	 * consumer logged. Of the packs, only those released before `dueAt` (and
	 * its window): a packed retry is logged with its own due time, less than
	 * one window before its pack's release, so a later pack's retries are
	 * logged at `dueAt` or after already.
	 */
	private heldDeliveryIds(dueAt: number): string[] {
		const ids = new Set(
			this.query<{ delivery_id: string }>("SELECT delivery_id FROM due_retries").map((row) => row.delivery_id),
		);
		for (const pack of this.query<PackRow>("SELECT * FROM due_packs WHERE due_at < ?", dueAt + PACK_WINDOW_MS)) {
			for (const retry of retriesOf(pack)) ids.add(retry.deliveryId);
		}
		for (const [packDue, pack] of this.unsaved) {
			if (packDue < dueAt + PACK_WINDOW_MS) for (const deliveryId of pack.retries.keys()) ids.add(deliveryId);
		}
		return [...ids];
	}

	/**
	 * Adds plain retries to their packs: one row written per pack touched,
	 * however many retries go in (a consumer batch's retries to this endpoint
	 * mostly share one). A later retry of a delivery already packed for the
	 * same window replaces it there.
	 */
	private storePacked(tenantId: string, endpointId: string, retries: readonly ScheduledRetry[]): void {
		for (const [dueAt, added] of packsOf(retries)) {
			const [existing] = this.query<PackRow>("SELECT * FROM due_packs WHERE due_at = ?", dueAt);
			const addedIds = new Set(added.map((retry) => retry.deliveryId));
			const kept = existing ? retriesOf(existing).filter((retry) => !addedIds.has(retry.deliveryId)) : [];
			this.query(
				`INSERT INTO due_packs (due_at, tenant_id, endpoint_id, retries) VALUES (?, ?, ?, ?)
				 ON CONFLICT (due_at) DO UPDATE SET retries = excluded.retries`,
				dueAt,
				tenantId,
				endpointId,
				JSON.stringify([...kept, ...added]),
			);
		}
	}

	/**
	 * Turns the due packs, stored and `fromMemory`, into a row per retry, for
	 * a circuit that holds or probes them one by one.
	 */
	private unpackDue(now: number, fromMemory: readonly PackRow[]): void {
		const stored = this.query<PackRow>("SELECT * FROM due_packs WHERE due_at <= ?", now);
		for (const row of [...fromMemory, ...stored].flatMap(dueRowsOf)) {
			this.storeDue(row.tenant_id, row.endpoint_id, { ...retryOf(row), dueAtMs: row.due_at }, "scheduled", HELD.retry);
		}
		for (const pack of stored) this.query("DELETE FROM due_packs WHERE due_at = ?", pack.due_at);
	}

	/** Keeps plain retries in memory, packed as storePacked packs them (see UNSAVED_RETRIES_MAX_MS). */
	private holdUnsaved(tenantId: string, endpointId: string, retries: readonly ScheduledRetry[], now: number): void {
		if (retries.length === 0) return;
		for (const [dueAt, added] of packsOf(retries)) {
			const pack = this.unsaved.get(dueAt) ?? { tenantId, endpointId, retries: new Map<string, PackedRetry>() };
			for (const retry of added) pack.retries.set(retry.deliveryId, retry);
			this.unsaved.set(dueAt, pack);
		}
		this.unsavedSince ??= now;
	}

	/** Takes the unsaved packs released by `dueBy` out of memory, as stored packs read. */
	private takeUnsaved(dueBy: number): PackRow[] {
		const taken: PackRow[] = [];
		for (const [dueAt, pack] of this.unsaved) {
			if (dueAt > dueBy) continue;
			taken.push({
				due_at: dueAt,
				tenant_id: pack.tenantId,
				endpoint_id: pack.endpointId,
				retries: JSON.stringify([...pack.retries.values()]),
			});
			this.unsaved.delete(dueAt);
		}
		if (this.unsaved.size === 0) this.unsavedSince = null;
		return taken;
	}

	/** Puts back what takeUnsaved took, for an alarm that could not send it. */
	private restoreUnsaved(packs: readonly PackRow[], now: number): void {
		for (const pack of packs) {
			this.holdUnsaved(
				pack.tenant_id,
				pack.endpoint_id,
				retriesOf(pack).map((retry) => ({ ...retry, dueAtMs: pack.due_at })),
				now,
			);
		}
	}

	/**
	 * Writes the unsaved packs that are not released before the next alarm
	 * must fire anyway; those that are stay in memory, their release as
	 * close as the write would have been.
	 */
	private saveUnsaved(now: number): void {
		for (const [dueAt, pack] of this.unsaved) {
			if (dueAt <= now + UNSAVED_RETRIES_MAX_MS) continue;
			const retries = [...pack.retries.values()].map((retry) => ({ ...retry, dueAtMs: dueAt }));
			this.storePacked(pack.tenantId, pack.endpointId, retries);
			this.unsaved.delete(dueAt);
		}
		this.unsavedSince = this.unsaved.size > 0 ? now : null;
	}

	/**
	 * When the alarm must fire for what is in memory: by UNSAVED_RETRIES_MAX_MS
	 * after the oldest came in, or at the earliest due time if that is at most
	 * a window later. The one alarm then sends it, where a save and a send
	 * would cost an alarm setting each.
	 */
	private unsavedAlarm(): number | null {
		const earliest = this.earliestUnsavedDue();
		if (earliest === null || this.unsavedSince === null) return earliest;
		const saveBy = this.unsavedSince + UNSAVED_RETRIES_MAX_MS;
		return earliest <= saveBy + PACK_WINDOW_MS ? earliest : saveBy;
	}

	private earliestUnsavedDue(): number | null {
		return this.unsaved.size > 0 ? Math.min(...this.unsaved.keys()) : null;
	}

	/**
	 * Deletes a pack the alarm sent. Retries added to it while the alarm was
	 * sending (a report may run while the queue send is awaited) were not
	 * sent: the pack then keeps those, and only those.
	 */
	private deleteReleasedPack(sent: PackRow): void {
		const [current] = this.query<PackRow>("SELECT * FROM due_packs WHERE due_at = ?", sent.due_at);
		if (!current) return;
		if (current.retries === sent.retries) {
			this.query("DELETE FROM due_packs WHERE due_at = ?", sent.due_at);
			return;
		}
		const released = new Set(retriesOf(sent).map((retry) => `${retry.deliveryId}/${retry.attempt}`));
		const left = retriesOf(current).filter((retry) => !released.has(`${retry.deliveryId}/${retry.attempt}`));
		if (left.length === 0) this.query("DELETE FROM due_packs WHERE due_at = ?", sent.due_at);
		else this.query("UPDATE due_packs SET retries = ? WHERE due_at = ?", JSON.stringify(left), sent.due_at);
	}

	private storeDue(
		tenantId: string,
		endpointId: string,
		due: { deliveryId: string; eventSeq: number; attempt: number; dueAtMs: number; lane: Lane },
		trigger: AttemptTrigger,
		held: number,
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
			held,
		);
	}

	private circuit(now: number): CircuitState {
		if (!this.circuitMemory) {
			const stored = this.read<CircuitState>("circuit");
			this.circuitMemory = { current: stored ?? closedCircuit(now), stored };
		}
		return this.circuitMemory.current;
	}

	/**
	 * Keeps the circuit in memory and writes it only when losing it would
	 * change what happens: its state and probe times, and a failing run once
	 * it is a minute old (auto-disable counts in days). The count of failures
	 * in a row and the last error live in memory only, so an endpoint that
	 * fails and recovers now and then costs no storage write; if the object
	 * is evicted, the count starts again, which only delays an opening.
	 */
	private saveCircuit(circuit: CircuitState): void {
		const stored = this.circuitMemory?.stored ?? null;
		this.circuitMemory = { current: circuit, stored };
		const before = stored ?? closedCircuit(circuit.since);
		const moved =
			before.state !== circuit.state ||
			(circuit.state !== "closed" &&
				(before.since !== circuit.since ||
					before.nextProbeAt !== circuit.nextProbeAt ||
					before.probeIntervalMs !== circuit.probeIntervalMs));
		const failingRunAged =
			circuit.failingSince !== null &&
			before.failingSince === null &&
			Date.now() - circuit.failingSince >= FAILING_RUN_WORTH_KEEPING_MS;
		const failingRunEnded = circuit.failingSince === null && before.failingSince !== null;
		if (!moved && !failingRunAged && !failingRunEnded) return;
		this.write("circuit", circuit);
		this.circuitMemory = { current: circuit, stored: circuit };
	}

	/** An endpoint that is neither paced nor paused keeps no pace row: nothing to write for it. */
	private savePace(pace: PaceState): void {
		const fresh = freshPace();
		if (pace.nextSlotAt === fresh.nextSlotAt && pace.pausedUntil === fresh.pausedUntil && !this.read("pace")) return;
		this.write("pace", pace);
	}

	private read<T>(name: string): T | null {
		const [row] = this.query<{ value: string }>("SELECT value FROM endpoint_state WHERE name = ?", name);
		return row ? (JSON.parse(row.value) as T) : null;
	}

	/** Written only when it changed: a healthy endpoint's object writes nothing. */
	private write(name: string, value: unknown): void {
		const json = JSON.stringify(value);
		const [row] = this.query<{ value: string }>("SELECT value FROM endpoint_state WHERE name = ?", name);
		if (row?.value === json) return;
		this.query(
			"INSERT INTO endpoint_state (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
			name,
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
		const [row] = this.query<{ next_due: number | null }>(
			`SELECT min(next_due) AS next_due FROM (
				SELECT min(due_at) AS next_due FROM due_retries WHERE held != ?
				UNION ALL SELECT min(due_at) FROM due_packs)`,
			HELD.inLine,
		);
		const candidates = [row?.next_due ?? null, this.unsavedAlarm()].filter((due) => due !== null);
		const nextDueAtMs = candidates.length > 0 ? Math.min(...candidates) : null;
		if (nextDueAtMs === null) {
			await this.ctx.storage.deleteAlarm();
			return;
		}
		const current = await this.ctx.storage.getAlarm();
		if (current === nextDueAtMs) return;
		await this.ctx.storage.setAlarm(nextDueAtMs);
		// Billed as a row written (Durable Objects pricing), so a wake-up costs what a due row does.
		count("do_alarms_set");
		count("do_rows_written");
	}
}

function retriesOf(pack: PackRow): PackedRetry[] {
	return JSON.parse(pack.retries) as PackedRetry[];
}

/** A pack's retries as due rows, so the alarm releases them with the rest. */
function dueRowsOf(pack: PackRow): DueRow[] {
	return retriesOf(pack).map((retry) => ({
		delivery_id: retry.deliveryId,
		tenant_id: pack.tenant_id,
		endpoint_id: pack.endpoint_id,
		event_seq: retry.eventSeq,
		attempt: retry.attempt,
		due_at: pack.due_at,
		lane: retry.lane,
		trigger: "scheduled",
		held: HELD.retry,
	}));
}

function retryOf(row: DueRow): ScheduledRetry {
	return {
		deliveryId: row.delivery_id,
		eventSeq: row.event_seq,
		attempt: row.attempt,
		dueAtMs: row.due_at,
		lane: row.lane === "slow" ? "slow" : "main",
	};
}

/**
 * One release per delivery, its latest attempt: a delivery can be due twice
 * at once (in a pack and in a row of its own, or in two packs) after an
 * at-least-once repeat, and one attempt is what it needs.
 */
function latestPerDelivery(rows: readonly DueRow[]): DueRow[] {
	const latest = new Map<string, DueRow>();
	for (const row of rows) {
		const seen = latest.get(row.delivery_id);
		if (!seen || row.attempt > seen.attempt) latest.set(row.delivery_id, row);
	}
	return [...latest.values()];
}
