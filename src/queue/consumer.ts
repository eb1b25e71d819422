import { openDatabase } from "../db/client";
import { failCancelledDeliveries } from "../db/deliveries";
import { tenantD1 } from "../db/tenant-database";
import { deploymentDefaults } from "../delivery/settings";
import { deliveryId } from "../lib/ids";
import { forEachConcurrently } from "../lib/pool";
import { type ScheduledRetry, schedulerFor } from "../scheduler/client";
import { attemptDelivery, type Outcome, type PlannedAttempt, SLOW_ATTEMPT_MS, settleWithoutSending } from "./attempt";
import { type BatchContext, loadContext } from "./context";
import { type DeliveryJob, enqueueJobs, isDeliveryJob, type Lane } from "./messages";
import { recordOutcomes } from "./record";

/** Workers allow six simultaneous outbound connections per invocation. */
const OUTBOUND_CONNECTIONS = 6;

/**
 * Attempts in flight at once to an endpoint that has not yet answered
 * promptly in this batch, so a newly hanging endpoint holds at most this
 * many of the six connections; one that has answered may use all six.
 */
const ATTEMPTS_PER_UNPROVEN_ENDPOINT = 2;
/** An answer this quick proves an endpoint for the rest of the batch. */
const PROMPT_ANSWER_MS = 250;

function endpointKey(item: { tenantId: string; endpointId: string }): string {
	return `${item.tenantId}/${item.endpointId}`;
}

/**
 * The queue consumer: loads what the batch needs in one D1 round trip, sends
 * every attempt with at most six in flight, records all outcomes in one D1
 * batch, hands retries to the endpoints' schedulers, and only then acks. A
 * message whose outcome could not be recorded is retried, never acked.
 */
export async function handleDeliveryBatch(messages: readonly Message<unknown>[], env: Env, lane: Lane): Promise<void> {
	// One database at a time, so the six outbound connections stay the limit for the whole invocation.
	for (const [d1, jobs] of jobsByDatabase(env, readJobs(messages))) await deliverJobs(env, d1, jobs, lane);
}

async function deliverJobs(env: Env, d1: D1Database, jobs: readonly QueuedJob[], lane: Lane): Promise<void> {
	const context = await loadContext(
		d1,
		jobs.map(({ job }) => job),
	);
	// A scheduled retry may have been overtaken by a manual resend or a cancellation.
	const planned = planAttempts(jobs, context, (job, status) => job.trigger === "scheduled" && status !== "pending");

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

	// Parsed once per batch, not once per attempt.
	const defaults = deploymentDefaults(env);
	const outcomes: Outcome[] = [];
	/** Endpoints found slow during this batch; their attempts not yet started move to the slow lane. */
	const turnedSlow = new Set<string>();
	const answeredPromptly = new Set<string>();
	const movedLate: PlannedAttempt[] = [];
	await forEachConcurrently(
		inline,
		OUTBOUND_CONNECTIONS,
		async (item) => {
			const endpoint = endpointOf(item);
			const key = endpointKey(item);
			if (!endpoint?.active) {
				outcomes.push(settleWithoutSending(item, endpoint ? "the endpoint is disabled" : "the endpoint was deleted"));
				return;
			}
			if (lane === "main" && turnedSlow.has(key)) {
				movedLate.push(item);
				return;
			}
			const timer = lane === "main" ? setTimeout(() => turnedSlow.add(key), SLOW_ATTEMPT_MS) : undefined;
			try {
				const outcome = await attemptDelivery(
					defaults,
					item,
					endpoint,
					context.tenantSettings.get(item.tenantId) ?? {},
				);
				if (outcome.record?.status_code != null && outcome.record.duration_ms < PROMPT_ANSWER_MS)
					answeredPromptly.add(key);
				outcomes.push(outcome);
			} finally {
				clearTimeout(timer);
			}
		},
		{
			key: endpointKey,
			limit: (key) => (answeredPromptly.has(key) ? OUTBOUND_CONNECTIONS : ATTEMPTS_PER_UNPROVEN_ENDPOINT),
		},
	);

	const failedMessages = new Set<Message<unknown>>();
	try {
		await sendToSlowLane(env, movedLate);
	} catch (error) {
		console.error("could not move attempts to the slow lane", error);
		for (const item of movedLate) failedMessages.add(item.message);
	}

	const statements = recordOutcomes(d1, outcomes);
	if (statements.length > 0) await d1.batch(statements);

	const retriesByEndpoint = new Map<string, { tenantId: string; endpointId: string; retries: ScheduledRetry[] }>();
	const goneEndpoints = new Map<string, { tenantId: string; endpointId: string; reason: string }>();
	for (const outcome of outcomes) {
		const { planned: item } = outcome;
		const key = endpointKey(item);
		if (outcome.disableEndpoint !== null) {
			goneEndpoints.set(key, { tenantId: item.tenantId, endpointId: item.endpointId, reason: outcome.disableEndpoint });
		}
		if (outcome.nextAttemptAtMs === null) continue;
		// The endpoint's slow-lane deadline after this attempt decides which queue its retry goes to.
		const slowUntil = outcome.slowUntil === undefined ? (endpointOf(item)?.slowUntil ?? null) : outcome.slowUntil;
		const group = retriesByEndpoint.get(key) ?? { tenantId: item.tenantId, endpointId: item.endpointId, retries: [] };
		group.retries.push({
			deliveryId: item.deliveryId,
			eventSeq: item.event.seq,
			attempt: item.attempt + 1,
			dueAtMs: outcome.nextAttemptAtMs,
			lane: slowUntil !== null && slowUntil > outcome.nextAttemptAtMs ? "slow" : "main",
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
			await failCancelledDeliveries(openDatabase(d1), tenantId, cancelled, reason);
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
	for (const [d1, jobs] of jobsByDatabase(env, readJobs(batch.messages))) {
		const context = await loadContext(
			d1,
			jobs.map(({ job }) => job),
			true,
		);
		// A delivery that reached an outcome some other way keeps it.
		const settled = planAttempts(jobs, context, (_job, status) => status === "success" || status === "failed");
		const statements = recordOutcomes(
			d1,
			settled.map((item) => settleWithoutSending(item, "the delivery job failed repeatedly and was dead-lettered")),
		);
		if (statements.length > 0) await d1.batch(statements);
	}
}

interface QueuedJob {
	message: Message<unknown>;
	job: DeliveryJob;
}

function jobsByDatabase(env: Env, jobs: readonly QueuedJob[]): Map<D1Database, QueuedJob[]> {
	const groups = new Map<D1Database, QueuedJob[]>();
	for (const queued of jobs) {
		const d1 = tenantD1(env, queued.job.tenantId);
		const group = groups.get(d1);
		if (group) group.push(queued);
		else groups.set(d1, [queued]);
	}
	return groups;
}

/** The batch's delivery jobs; a malformed body is acked and dropped, not allowed to fail the batch. */
function readJobs(messages: readonly Message<unknown>[]): QueuedJob[] {
	const jobs: QueuedJob[] = [];
	for (const message of messages) {
		if (isDeliveryJob(message.body)) jobs.push({ message, job: message.body });
		else {
			console.error("dropping malformed delivery job", JSON.stringify(message.body));
			message.ack();
		}
	}
	return jobs;
}

/** One planned attempt per job target whose event still exists, except those `skip` rules out. */
function planAttempts(
	jobs: readonly QueuedJob[],
	context: BatchContext,
	skip: (job: DeliveryJob, status: string | undefined) => boolean,
): PlannedAttempt[] {
	const planned: PlannedAttempt[] = [];
	for (const { message, job } of jobs) {
		const event = context.events.get(job.eventSeq);
		// The event is gone only when retention or a tenant's deletion removed it: nothing left to deliver.
		if (!event || event.tenantId !== job.tenantId || !context.tenantSettings.has(job.tenantId)) continue;
		for (const target of job.targets) {
			const id = deliveryId(target.endpointId, job.eventSeq);
			const status = context.deliveryStatus.get(id);
			if (skip(job, status)) continue;
			planned.push({
				message,
				tenantId: job.tenantId,
				event,
				endpointId: target.endpointId,
				deliveryId: id,
				attempt: target.attempt,
				trigger: job.trigger,
				previousStatus: status,
			});
		}
	}
	return planned;
}
