import { and, eq, inArray, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { openDatabase } from "../db/client";
import { failCancelledDeliveries } from "../db/deliveries";
import { deliveries, type EndpointRow, type EventRow, endpoints, events, tenants } from "../db/schema";
import { serializeEnvelope } from "../delivery/envelope";
import { classifyResponse } from "../delivery/outcome";
import { buildSignedHeaders } from "../delivery/request";
import { maxAttempts, nextRetryDelayMs } from "../delivery/retry-policy";
import {
	deploymentDefaults,
	effectiveDeliveryPolicy,
	parseTenantSettings,
	type TenantSettings,
} from "../delivery/settings";
import { chunk, IDS_PER_STATEMENT } from "../lib/chunk";
import { deliveryId, newAttemptId } from "../lib/ids";
import { count } from "../lib/metering";
import { forEachConcurrently } from "../lib/pool";
import { type ScheduledRetry, schedulerFor } from "../scheduler/client";
import { type AttemptTrigger, type DeliveryJob, enqueueJobs, isDeliveryJob } from "./messages";
import { type AttemptResult, sendAttempt } from "./send-attempt";

/** Workers allow six simultaneous outbound connections per invocation. */
const OUTBOUND_CONNECTIONS = 6;
/** An attempt this slow (or a timeout) moves its endpoint to the slow lane. */
export const SLOW_ATTEMPT_MS = 1000;
/** How long an endpoint stays in the slow lane after its last slow attempt. */
export const SLOW_LANE_MS = 5 * 60 * 1000;

/**
 * Attempts to one endpoint in flight at once within a batch, so a hanging
 * endpoint holds at most this many of the six connections.
 */
const ATTEMPTS_PER_ENDPOINT = 2;

/** main: the delivery queue; slow: the queue for endpoints that answer slowly or not at all. */
export type Lane = "main" | "slow";

function endpointKey(item: { tenantId: string; endpointId: string }): string {
	return `${item.tenantId}/${item.endpointId}`;
}

/** One attempt as stored in a delivery's `attempts` JSON array and served by the API. */
export interface AttemptRecord {
	id: string;
	attempt: number;
	trigger: AttemptTrigger;
	started_at: string;
	duration_ms: number;
	status_code: number | null;
	response_body: string | null;
	error: string | null;
}

interface PlannedAttempt {
	message: Message<unknown>;
	tenantId: string;
	event: EventRow;
	endpointId: string;
	deliveryId: string;
	attempt: number;
	trigger: AttemptTrigger;
	/** The delivery's status before this attempt; undefined for a first attempt. */
	previousStatus: string | undefined;
}

interface Outcome {
	planned: PlannedAttempt;
	status: "pending" | "success" | "failed";
	/** The attempt made, or null when the delivery was settled without sending. */
	record: AttemptRecord | null;
	error: string | null;
	nextAttemptAtMs: number | null;
	/** A failed manual resend leaves the delivery's scheduled retry where it was. */
	keepSchedule: boolean;
	disableEndpoint: string | null;
	/** The endpoint's new slow-lane deadline, null to clear it, undefined to leave it. */
	slowUntil?: number | null;
}

/**
 * Everything a batch needs from D1, read in one round trip. Delivery statuses
 * are read for revisits (retries, resends), or for every target when
 * `allStatuses` is set; a first attempt has no row to read.
 */
async function loadContext(env: Env, jobs: readonly DeliveryJob[], allStatuses = false) {
	const db = openDatabase(env.DB);
	const eventSeqs = [...new Set(jobs.map((job) => job.eventSeq))];
	const tenantIds = [...new Set(jobs.map((job) => job.tenantId))];
	const endpointIdsByTenant = new Map<string, Set<string>>();
	const revisitedDeliveryIds: string[] = [];
	for (const job of jobs) {
		const ids = endpointIdsByTenant.get(job.tenantId) ?? new Set<string>();
		for (const target of job.targets) {
			ids.add(target.endpointId);
			if (allStatuses || job.trigger !== "initial")
				revisitedDeliveryIds.push(deliveryId(target.endpointId, job.eventSeq));
		}
		endpointIdsByTenant.set(job.tenantId, ids);
	}

	const eventQueries = chunk(eventSeqs, IDS_PER_STATEMENT).map((seqs) =>
		db.select().from(events).where(inArray(events.seq, seqs)),
	);
	const endpointQueries = [...endpointIdsByTenant].flatMap(([tenantId, ids]) =>
		chunk([...ids], IDS_PER_STATEMENT).map((part) =>
			db
				.select()
				.from(endpoints)
				.where(and(eq(endpoints.tenantId, tenantId), inArray(endpoints.id, part))),
		),
	);
	const tenantQuery = db
		.select({ id: tenants.id, settings: tenants.settings })
		.from(tenants)
		.where(inArray(tenants.id, tenantIds));
	const deliveryQueries = chunk(revisitedDeliveryIds, IDS_PER_STATEMENT).map((ids) =>
		db.select({ id: deliveries.id, status: deliveries.status }).from(deliveries).where(inArray(deliveries.id, ids)),
	);
	// One round trip for everything the batch needs to read.
	const results = await db.batch([tenantQuery, ...eventQueries, ...endpointQueries, ...deliveryQueries]);
	const [tenantRows, ...rest] = results;
	const eventRows = rest.slice(0, eventQueries.length).flat() as EventRow[];
	const endpointRows = rest
		.slice(eventQueries.length, eventQueries.length + endpointQueries.length)
		.flat() as EndpointRow[];
	const deliveryRows = rest.slice(eventQueries.length + endpointQueries.length).flat() as {
		id: string;
		status: string;
	}[];

	return {
		events: new Map(eventRows.map((row) => [row.seq, row])),
		endpoints: new Map(endpointRows.map((row) => [`${row.tenantId}/${row.id}`, row])),
		tenantSettings: new Map(tenantRows.map((row) => [row.id, parseTenantSettings(row.settings)])),
		deliveryStatus: new Map(deliveryRows.map((row) => [row.id, row.status])),
	};
}

/**
 * The endpoint's slow-lane deadline after an attempt: set or renewed by a
 * slow one (at most every half period, so a hanging endpoint costs a row
 * write every few minutes, not one per attempt), cleared by a prompt answer.
 */
function nextSlowUntil(
	current: number | null,
	slow: boolean,
	answered: boolean,
	now: number,
): number | null | undefined {
	if (slow) return (current ?? 0) < now + SLOW_LANE_MS / 2 ? now + SLOW_LANE_MS : undefined;
	return answered && current !== null ? null : undefined;
}

async function attemptDelivery(
	env: Env,
	planned: PlannedAttempt,
	endpoint: EndpointRow,
	tenant: TenantSettings,
): Promise<Outcome> {
	const policy = effectiveDeliveryPolicy(deploymentDefaults(env), tenant, {
		retrySchedule: endpoint.retrySchedule === null ? null : (JSON.parse(endpoint.retrySchedule) as number[]),
		timeoutMs: endpoint.timeoutMs,
	});
	const body = serializeEnvelope({
		id: planned.event.id,
		type: planned.event.type,
		createdAtMs: planned.event.createdAt,
		dataJson: planned.event.data,
	});
	const headers = await buildSignedHeaders({
		eventId: planned.event.id,
		body,
		secrets: [endpoint.secret],
		timestampSeconds: Math.floor(Date.now() / 1000),
		tenant,
		customHeaders: JSON.parse(endpoint.headers) as Record<string, string>,
	});
	const result: AttemptResult = await sendAttempt({ url: endpoint.url, headers, body, timeoutMs: policy.timeoutMs });
	count("attempts_made");
	const record: AttemptRecord = {
		id: newAttemptId(),
		attempt: planned.attempt,
		trigger: planned.trigger,
		started_at: new Date(result.startedAtMs).toISOString(),
		duration_ms: result.durationMs,
		status_code: result.statusCode,
		response_body: result.responseBody,
		error:
			result.error ??
			(result.statusCode !== null && (result.statusCode < 200 || result.statusCode >= 300)
				? `HTTP ${result.statusCode}`
				: null),
	};
	const slow = result.durationMs >= SLOW_ATTEMPT_MS || (result.error?.startsWith("timeout") ?? false);
	const now = Date.now();
	const settled = {
		planned,
		record,
		error: record.error,
		nextAttemptAtMs: null,
		keepSchedule: false,
		disableEndpoint: null,
		slowUntil: nextSlowUntil(endpoint.slowUntil, slow, result.statusCode !== null, now),
	};
	if (result.statusCode === null) return scheduleOrFail(settled, policy.retrySchedule, null);

	const verdict = classifyResponse(result.statusCode, result.retryAfter, Date.now());
	if (verdict.kind === "success") {
		count("attempts_succeeded");
		return { ...settled, status: "success", error: null };
	}
	if (verdict.kind === "gone") {
		return { ...settled, status: "failed", disableEndpoint: `the endpoint answered 410 Gone at ${record.started_at}` };
	}
	return scheduleOrFail(settled, policy.retrySchedule, verdict.retryAfterSeconds);
}

function scheduleOrFail(
	settled: Omit<Outcome, "status">,
	schedule: readonly number[],
	retryAfterSeconds: number | null,
): Outcome {
	const { planned } = settled;
	// A manual resend is one attempt on request, not a new run of the schedule.
	if (planned.trigger === "manual") {
		return planned.previousStatus === "pending"
			? { ...settled, status: "pending", keepSchedule: true }
			: { ...settled, status: "failed" };
	}
	const delayMs =
		planned.attempt >= maxAttempts(schedule) ? null : nextRetryDelayMs(schedule, planned.attempt, retryAfterSeconds);
	if (delayMs === null) return { ...settled, status: "failed" };
	return { ...settled, status: "pending", nextAttemptAtMs: Date.now() + delayMs };
}

function settleWithoutSending(planned: PlannedAttempt, reason: string): Outcome {
	return {
		planned,
		status: "failed",
		record: null,
		error: reason,
		nextAttemptAtMs: null,
		keepSchedule: false,
		disableEndpoint: null,
	};
}

function recordOutcomes(env: Env, outcomes: readonly Outcome[]) {
	const db = openDatabase(env.DB);
	const now = Date.now();
	const statements: BatchItem<"sqlite">[] = [];
	for (const outcome of outcomes) {
		const { planned, record } = outcome;
		const attemptJson = record === null ? null : JSON.stringify(record);
		statements.push(
			db
				.insert(deliveries)
				.values({
					id: planned.deliveryId,
					tenantId: planned.tenantId,
					endpointId: planned.endpointId,
					eventId: planned.event.id,
					eventType: planned.event.type,
					status: outcome.status,
					statusCode: record?.status_code ?? null,
					attemptCount: record === null ? 0 : 1,
					attempts: attemptJson === null ? "[]" : `[${attemptJson}]`,
					nextAttemptAt: outcome.nextAttemptAtMs,
					deliveredAt: outcome.status === "success" ? now : null,
					error: outcome.error,
					createdAt: planned.event.createdAt,
					updatedAt: now,
				})
				.onConflictDoUpdate({
					target: deliveries.id,
					set: {
						status: sql`excluded.status`,
						statusCode: sql`coalesce(excluded.status_code, ${deliveries.statusCode})`,
						attemptCount: sql`${deliveries.attemptCount} + excluded.attempt_count`,
						attempts:
							attemptJson === null
								? sql`${deliveries.attempts}`
								: sql`json_insert(${deliveries.attempts}, '$[#]', json(${attemptJson}))`,
						nextAttemptAt: outcome.keepSchedule ? sql`${deliveries.nextAttemptAt}` : sql`excluded.next_attempt_at`,
						deliveredAt: sql`coalesce(excluded.delivered_at, ${deliveries.deliveredAt})`,
						error: sql`excluded.error`,
						updatedAt: sql`excluded.updated_at`,
					},
				}),
		);
		if (outcome.slowUntil !== undefined) {
			statements.push(
				db
					.update(endpoints)
					.set({ slowUntil: outcome.slowUntil })
					.where(and(eq(endpoints.tenantId, planned.tenantId), eq(endpoints.id, planned.endpointId))),
			);
		}
		if (outcome.disableEndpoint !== null) {
			statements.push(
				db
					.update(endpoints)
					.set({ active: false, disabledReason: outcome.disableEndpoint, updatedAt: now })
					.where(and(eq(endpoints.tenantId, planned.tenantId), eq(endpoints.id, planned.endpointId))),
			);
		}
	}
	return statements;
}

/**
 * The queue consumer: loads what the batch needs in one D1 round trip, sends
 * every attempt with at most six in flight, records all outcomes in one D1
 * batch, hands retries to the endpoints' schedulers, and only then acks. A
 * message whose outcome could not be recorded is retried, never acked.
 */
export async function handleDeliveryBatch(batch: MessageBatch<unknown>, env: Env, lane: Lane): Promise<void> {
	const jobs: { message: Message<unknown>; job: DeliveryJob }[] = [];
	for (const message of batch.messages) {
		if (isDeliveryJob(message.body)) jobs.push({ message, job: message.body });
		else {
			console.error("dropping malformed delivery job", JSON.stringify(message.body));
			message.ack();
		}
	}
	if (jobs.length === 0) return;

	const context = await loadContext(
		env,
		jobs.map(({ job }) => job),
	);
	const planned: PlannedAttempt[] = [];
	for (const { message, job } of jobs) {
		const event = context.events.get(job.eventSeq);
		// The event is gone only when retention removed it: nothing left to deliver.
		if (!event || event.tenantId !== job.tenantId) continue;
		for (const target of job.targets) {
			const id = deliveryId(target.endpointId, job.eventSeq);
			// A scheduled retry may have been overtaken by a manual resend or a cancellation.
			if (job.trigger === "scheduled" && context.deliveryStatus.get(id) !== "pending") continue;
			planned.push({
				message,
				tenantId: job.tenantId,
				event,
				endpointId: target.endpointId,
				deliveryId: id,
				attempt: target.attempt,
				trigger: job.trigger,
				previousStatus: context.deliveryStatus.get(id),
			});
		}
	}

	const now = Date.now();
	const endpointOf = (item: PlannedAttempt) => context.endpoints.get(endpointKey(item));
	const inline: PlannedAttempt[] = [];
	const slow: PlannedAttempt[] = [];
	for (const item of planned) {
		const inSlowLane = lane === "main" && (endpointOf(item)?.slowUntil ?? 0) > now;
		(inSlowLane ? slow : inline).push(item);
	}
	// Sent before any attempt: if the slow queue refuses them, the whole batch is retried and nothing was sent twice.
	await sendToSlowLane(env, slow);

	const outcomes: Outcome[] = [];
	/** Endpoints found slow during this batch; their attempts not yet started move to the slow lane. */
	const turnedSlow = new Set<string>();
	const movedLate: PlannedAttempt[] = [];
	await forEachConcurrently(
		inline,
		OUTBOUND_CONNECTIONS,
		async (item) => {
			const endpoint = endpointOf(item);
			const key = endpointKey(item);
			if (!endpoint || !endpoint.active) {
				outcomes.push(settleWithoutSending(item, endpoint ? "the endpoint is disabled" : "the endpoint was deleted"));
				return;
			}
			if (lane === "main" && turnedSlow.has(key)) {
				movedLate.push(item);
				return;
			}
			const timer = lane === "main" ? setTimeout(() => turnedSlow.add(key), SLOW_ATTEMPT_MS) : undefined;
			try {
				outcomes.push(await attemptDelivery(env, item, endpoint, context.tenantSettings.get(item.tenantId) ?? {}));
			} finally {
				clearTimeout(timer);
			}
		},
		{ key: endpointKey, limit: ATTEMPTS_PER_ENDPOINT },
	);

	const failedMessages = new Set<Message<unknown>>();
	try {
		await sendToSlowLane(env, movedLate);
	} catch (error) {
		console.error("could not move attempts to the slow lane", error);
		for (const item of movedLate) failedMessages.add(item.message);
	}

	const statements = recordOutcomes(env, outcomes);
	if (statements.length > 0) {
		const [first, ...others] = statements;
		if (first) await openDatabase(env.DB).batch([first, ...others]);
	}

	const retriesByEndpoint = new Map<string, { tenantId: string; endpointId: string; retries: ScheduledRetry[] }>();
	const goneEndpoints = new Map<string, { tenantId: string; endpointId: string; reason: string }>();
	for (const outcome of outcomes) {
		const { planned: item } = outcome;
		const key = `${item.tenantId}/${item.endpointId}`;
		if (outcome.disableEndpoint !== null) {
			goneEndpoints.set(key, { tenantId: item.tenantId, endpointId: item.endpointId, reason: outcome.disableEndpoint });
		}
		if (outcome.nextAttemptAtMs === null) continue;
		const group = retriesByEndpoint.get(key) ?? { tenantId: item.tenantId, endpointId: item.endpointId, retries: [] };
		group.retries.push({
			deliveryId: item.deliveryId,
			eventSeq: item.event.seq,
			attempt: item.attempt + 1,
			dueAtMs: outcome.nextAttemptAtMs,
		});
		retriesByEndpoint.set(key, group);
	}
	await Promise.all(
		[...retriesByEndpoint.values()].map(async (group) => {
			try {
				await schedulerFor(env, group.tenantId, group.endpointId).schedule(
					group.tenantId,
					group.endpointId,
					group.retries,
				);
			} catch (error) {
				console.error("could not schedule retries", group.endpointId, error);
				for (const outcome of outcomes) {
					if (outcome.planned.endpointId === group.endpointId && outcome.nextAttemptAtMs !== null) {
						failedMessages.add(outcome.planned.message);
					}
				}
			}
		}),
	);
	await Promise.all(
		[...goneEndpoints.values()].map(async ({ tenantId, endpointId, reason }) => {
			const cancelled = await schedulerFor(env, tenantId, endpointId).cancelAll();
			await failCancelledDeliveries(openDatabase(env.DB), tenantId, cancelled, reason);
		}),
	);

	for (const { message } of jobs) {
		if (failedMessages.has(message)) message.retry({ delaySeconds: 5 });
		else message.ack();
	}
}

/** Queues attempts on the slow lane, one job per event and trigger. */
async function sendToSlowLane(env: Env, items: readonly PlannedAttempt[]): Promise<void> {
	const jobs = new Map<string, DeliveryJob>();
	for (const item of items) {
		const key = `${item.tenantId}/${item.event.seq}/${item.trigger}`;
		const job = jobs.get(key) ?? {
			tenantId: item.tenantId,
			eventSeq: item.event.seq,
			targets: [],
			trigger: item.trigger,
		};
		job.targets.push({ endpointId: item.endpointId, attempt: item.attempt });
		jobs.set(key, job);
	}
	await enqueueJobs(env.SLOW_DELIVERY_QUEUE as Queue<DeliveryJob>, [...jobs.values()]);
}

/**
 * Jobs that exhausted their queue retries land here. Their deliveries are
 * marked failed with the reason, so they show in the log and can be resent,
 * instead of vanishing.
 */
export async function handleDeadLetterBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
	const jobs = batch.messages.flatMap((message) => (isDeliveryJob(message.body) ? [message.body] : []));
	const context = await loadContext(env, jobs, true);
	const outcomes: Outcome[] = [];
	for (const message of batch.messages) {
		const job = message.body;
		const event = isDeliveryJob(job) ? context.events.get(job.eventSeq) : undefined;
		if (!isDeliveryJob(job) || !event) continue;
		for (const target of job.targets) {
			const id = deliveryId(target.endpointId, job.eventSeq);
			const status = context.deliveryStatus.get(id);
			// A delivery that reached an outcome some other way keeps it.
			if (status === "success" || status === "failed") continue;
			const item: PlannedAttempt = {
				message,
				tenantId: job.tenantId,
				event,
				endpointId: target.endpointId,
				deliveryId: id,
				attempt: target.attempt,
				trigger: job.trigger,
				previousStatus: status,
			};
			outcomes.push(settleWithoutSending(item, "the delivery job failed repeatedly and was dead-lettered"));
		}
	}
	const [first, ...others] = recordOutcomes(env, outcomes);
	if (first) await openDatabase(env.DB).batch([first, ...others]);
}
