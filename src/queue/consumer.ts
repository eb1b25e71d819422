import { publicBaseUrl } from "../channels/render";
import { maskedEndpointAddress } from "../channels/targets";
import { openDatabase } from "../db/client";
import { failCancelledDeliveries } from "../db/deliveries";
import { learnPlacements, shardD1, tenantShard } from "../db/tenant-database";
import { endpointDisabled, type OperationalEvent } from "../delivery/operational-events";
import { deploymentDefaults, effectiveDeliveryPolicy } from "../delivery/settings";
import { ApiError } from "../lib/errors";
import { groupBy } from "../lib/group";
import { deliveryId } from "../lib/ids";
import { forEachConcurrently } from "../lib/pool";
import { ingestContext, ingestEvents } from "../routes/events/ingest";
import { circuitPolicy } from "../scheduler/circuit";
import { schedulerFor } from "../scheduler/client";
import { paceSpacingMs } from "../scheduler/pace";
import {
	attemptDelivery,
	type ChannelSetup,
	type Outcome,
	type PlannedAttempt,
	SLOW_ATTEMPT_MS,
	settleWithoutSending,
} from "./attempt";
import { type BatchContext, loadContext } from "./context";
import {
	admitThroughSchedulers,
	type EndpointLookup,
	endpointKey,
	exhaustedDeliveries,
	failingSinceChanges,
	reportToSchedulers,
	watched,
} from "./health";
import { concurrencyCap, type Leases, returnLeases, takeLeases } from "./leases";
import { type DeliveryJob, enqueueJobs, isDeliveryJob, type Lane } from "./messages";
import { alreadyAttempted, disableEndpoint, failingSinceStatements, recordOutcomes } from "./record";

/** Workers allow six simultaneous outbound connections per invocation. */
const OUTBOUND_CONNECTIONS = 6;

/**
 * Attempts in flight at once to an endpoint that has not yet proven itself
 * in this batch, so a newly hanging endpoint holds at most this many of the
 * six connections; one that has may use up to its max_concurrency (at most
 * six). On the main lane an answer within PROMPT_ANSWER_MS proves it; on the
 * slow lane any answer does, since there a receiver that answers in seconds
 * but takes many requests at once is exactly what the setting is for.
 */
const ATTEMPTS_PER_UNPROVEN_ENDPOINT = 2;
/** An answer this quick proves an endpoint for the rest of a main-lane batch. */
const PROMPT_ANSWER_MS = 250;

/**
 * When main-lane outcomes waiting in memory are written: once one endpoint
 * has 20 of them, or all endpoints 200. An outcome in memory is one a kill
 * would send again; a write stores an endpoint's outcomes (successes and
 * failures) as one pack (src/db/delivery-log.ts), so the fewer writes per endpoint, the
 * fewer rows. Counting per endpoint keeps a fan-out-10 batch (up to 20
 * messages of 10) to one pack per endpoint instead of one per two events,
 * at the price of a kill sending again up to a batch's prompt attempts
 * (200), where it was 20; receivers deduplicate on the webhook id.
 */
const MAIN_LANE_OUTCOMES_PER_ENDPOINT = 20;
const MAIN_LANE_OUTCOMES_IN_MEMORY = 200;

/**
 * The queue consumer: loads what the batch needs in one D1 round trip, sends
 * every attempt with at most six in flight, records the outcomes, hands
 * retries to the endpoints' schedulers, and only then acks. A message whose
 * outcome could not be recorded is retried, never acked.
 *
 * The main lane records a batch's outcomes once an endpoint has twenty
 * waiting (or all endpoints two hundred) and the rest at its end: its
 * attempts take milliseconds, one write per attempt would multiply its
 * queries, and each write packs an endpoint's outcomes in one
 * row (src/db/delivery-log.ts). The slow lane, whose attempts take
 * seconds, records each outcome as its attempt ends and acks a message as
 * soon as all of its attempts are recorded and need nothing more (a success
 * to an endpoint its scheduler does not watch), so a batch that dies or
 * throws midway repeats none of those.
 * A redelivered message's attempts already in the log are not made again.
 */
export async function handleDeliveryBatch(messages: readonly Message<unknown>[], env: Env, lane: Lane): Promise<void> {
	// One database at a time, so the six outbound connections stay the limit for the whole invocation.
	await forEachShard(env, readJobs(messages), (d1, jobs) => deliverJobs(env, d1, jobs, lane));
}

async function deliverJobs(env: Env, d1: D1Database, jobs: readonly QueuedJob[], lane: Lane): Promise<void> {
	const context = await loadContext(
		d1,
		jobs.map(({ job }) => job),
	);
	// A scheduled retry may have been overtaken by a manual resend or a cancellation.
	const allPlanned = planAttempts(jobs, context, (job, status) => job.trigger === "scheduled" && status !== "pending");
	// Read only for redeliveries: a first delivery of a message cannot have been attempted yet.
	const finished = await alreadyAttempted(
		d1,
		allPlanned.filter((item) => item.message.attempts > 1),
	);
	const planned = allPlanned.filter((item) => !finished.has(item));

	const now = Date.now();
	const endpointOf = (item: { tenantId: string; endpointId: string }) => context.endpoints.get(endpointKey(item));
	const laneOf = (item: PlannedAttempt): Lane =>
		lane === "slow" || (endpointOf(item)?.slowUntil ?? 0) > now ? "slow" : "main";
	const failedMessages = new Set<Message<unknown>>();
	// A slow endpoint's deliveries go on to the slow lane untouched: its consumer asks the endpoint's scheduler,
	// so this batch, which healthy endpoints wait on, makes no call for them.
	const slow = lane === "main" ? planned.filter((item) => laneOf(item) === "slow") : [];
	const slowSet = new Set(slow);
	const admitted = await admitThroughSchedulers(
		env,
		planned.filter((item) => !slowSet.has(item)),
		endpointOf,
		laneOf,
	);
	for (const item of admitted.unanswered) failedMessages.add(item.message);
	// Parsed once per batch, not once per attempt.
	const defaults = deploymentDefaults(env);
	const holder = crypto.randomUUID();
	const leases: Leases =
		lane === "slow"
			? await takeLeases(env, holder, admitted.send, endpointOf, OUTBOUND_CONNECTIONS, (item) => {
					const endpoint = endpointOf(item);
					const tenant = context.tenantSettings.get(item.tenantId) ?? {};
					return effectiveDeliveryPolicy(defaults, tenant, {
						retrySchedule: null,
						timeoutMs: endpoint?.timeoutMs ?? null,
					}).timeoutMs;
				})
			: { granted: new Map(), held: [], unanswered: [] };
	for (const item of leases.unanswered) failedMessages.add(item.message);
	const leaseHeld = new Set(leases.held.map((outcome) => outcome.planned));
	const unleased = new Set(leases.unanswered);
	const inline = admitted.send.filter((item) => !leaseHeld.has(item) && !unleased.has(item));
	// Paced deliveries start in slot order, one at a time per endpoint (see the pool's per-key limit below).
	const sendAtOf = (item: PlannedAttempt) => admitted.sendAt.get(item.deliveryId) ?? 0;
	inline.sort((a, b) => sendAtOf(a) - sendAtOf(b));
	const lastStart = new Map<string, number>();
	const pacedEndpoints = new Set(
		inline.filter((item) => admitted.sendAt.has(item.deliveryId)).map((item) => endpointKey(item)),
	);
	// Sent before any attempt: if the slow queue refuses them, the whole batch is retried and nothing was sent twice.
	await sendToSlowLane(env, slow);

	const channels: ChannelSetup = {
		email: env.EMAIL,
		emailFrom: env.EMAIL_FROM,
		emailTenants: env.EMAIL_TENANTS,
		publicBaseUrl: publicBaseUrl(env),
		templates: context.templates,
	};
	const outcomes: Outcome[] = [...admitted.held, ...leases.held];
	/** Endpoints found slow during this batch; their attempts not yet started move to the slow lane. */
	const turnedSlow = new Set<string>();
	const proven = new Set<string>();
	const early = earlyAcks(planned, inline);
	/** Outcomes already in D1: the slow lane writes each as its attempt ends. */
	const recorded = new Set<Outcome>();
	const recordNow = async (toRecord: readonly Outcome[]): Promise<void> => {
		try {
			await d1.batch(recordOutcomes(d1, toRecord));
			for (const outcome of toRecord) recorded.add(outcome);
		} catch (error) {
			// Written again with the rest at the end of the batch.
			console.error(
				"could not record outcomes as their attempts ended",
				toRecord.map((outcome) => outcome.planned.deliveryId),
				error,
			);
		}
	};
	/** Main-lane outcomes not yet written and not being written. */
	let unwritten: Outcome[] = [];
	const unwrittenPerEndpoint = new Map<string, number>();
	const movedLate: PlannedAttempt[] = [];
	// An endpoint that fails this often in a row within the batch stops being attempted in it: the rest wait
	// until its scheduler has heard of the failures, so a dead endpoint's circuit opens after a few timeouts,
	// not after a whole batch of them.
	const threshold = circuitPolicy(env).failureThreshold;
	const failuresInRow = new Map<string, number>();
	const pulledBack: PlannedAttempt[] = [];
	const attemptOne = async (item: PlannedAttempt): Promise<void> => {
		const endpoint = endpointOf(item);
		const key = endpointKey(item);
		if (!endpoint?.active) {
			const reason = endpoint
				? `the endpoint is disabled${endpoint.disabledReason ? `: ${endpoint.disabledReason}` : ""}`
				: "the endpoint was deleted";
			outcomes.push(settleWithoutSending(item, reason));
			early.cancel(item.message);
			return;
		}
		if ((failuresInRow.get(key) ?? 0) >= threshold && item.trigger !== "manual") {
			pulledBack.push(item);
			early.cancel(item.message);
			return;
		}
		const sendAt = admitted.sendAt.get(item.deliveryId);
		if (lane === "main" && turnedSlow.has(key) && sendAt === undefined) {
			movedLate.push(item);
			early.cancel(item.message);
			return;
		}
		if (sendAt !== undefined && endpoint.rateLimitPerSecond !== null) {
			// Never closer to the previous send than the pace's spacing, even when that one started late.
			const earliest = Math.max(sendAt, (lastStart.get(key) ?? 0) + paceSpacingMs(endpoint.rateLimitPerSecond));
			const wait = earliest - Date.now();
			if (wait > 0) await scheduler.wait(wait);
			lastStart.set(key, Date.now());
		}
		// An email attempt waits on the platform, one message per address, not on a receiver that may hang.
		const timer =
			lane === "main" && endpoint.channel !== "email"
				? setTimeout(() => turnedSlow.add(key), SLOW_ATTEMPT_MS)
				: undefined;
		try {
			const outcome = await attemptDelivery(
				defaults,
				item,
				endpoint,
				context.tenantSettings.get(item.tenantId) ?? {},
				channels,
			);
			if (outcome.record?.status_code != null && (lane === "slow" || outcome.record.duration_ms < PROMPT_ANSWER_MS))
				proven.add(key);
			if (outcome.health !== null)
				failuresInRow.set(key, outcome.health === "failure" ? (failuresInRow.get(key) ?? 0) + 1 : 0);
			outcomes.push(outcome);
			if (lane === "slow") await recordNow([outcome]);
			else {
				unwritten.push(outcome);
				const ofEndpoint = (unwrittenPerEndpoint.get(key) ?? 0) + 1;
				unwrittenPerEndpoint.set(key, ofEndpoint);
				if (ofEndpoint >= MAIN_LANE_OUTCOMES_PER_ENDPOINT || unwritten.length >= MAIN_LANE_OUTCOMES_IN_MEMORY) {
					const toRecord = unwritten;
					unwritten = [];
					unwrittenPerEndpoint.clear();
					await recordNow(toRecord);
				}
			}
			if (recorded.has(outcome) && outcome.status === "success" && !watched(endpoint)) early.done(item.message);
			else early.cancel(item.message);
		} finally {
			clearTimeout(timer);
		}
	};
	try {
		await forEachConcurrently(inline, OUTBOUND_CONNECTIONS, attemptOne, {
			key: endpointKey,
			limit: (key) => {
				if (pacedEndpoints.has(key)) return 1;
				const cap = Math.min(
					concurrencyCap(context.endpoints.get(key), OUTBOUND_CONNECTIONS),
					leases.granted.get(key) ?? OUTBOUND_CONNECTIONS,
				);
				return proven.has(key) ? cap : Math.min(cap, ATTEMPTS_PER_UNPROVEN_ENDPOINT);
			},
		});
	} finally {
		await returnLeases(env, holder, leases.granted, inline);
	}

	try {
		await sendToSlowLane(env, movedLate);
	} catch (error) {
		console.error("could not move attempts to the slow lane", error);
		for (const item of movedLate) failedMessages.add(item.message);
	}

	const statements = [
		...recordOutcomes(
			d1,
			outcomes.filter((outcome) => !recorded.has(outcome)),
		),
		...failingSinceStatements(d1, failingSinceChanges(outcomes, endpointOf, Date.now())),
	];
	if (statements.length > 0) await d1.batch(statements);

	// The endpoint's slow-lane deadline after an attempt decides which queue its retry goes to.
	const retryLane = (outcome: Outcome): Lane => {
		const slowUntil =
			outcome.slowUntil === undefined ? (endpointOf(outcome.planned)?.slowUntil ?? null) : outcome.slowUntil;
		return slowUntil !== null && outcome.nextAttemptAtMs !== null && slowUntil > outcome.nextAttemptAtMs
			? "slow"
			: "main";
	};
	const followUp = await reportToSchedulers(env, outcomes, endpointOf, retryLane);
	for (const message of followUp.unreported) failedMessages.add(message);
	await settlePulledBack(env, d1, pulledBack, endpointOf, laneOf, failedMessages);
	const events = [...followUp.events, ...exhaustedDeliveries(outcomes, endpointOf)];

	const toDisable = new Map(followUp.disable.map((entry) => [endpointKey(entry), entry]));
	for (const outcome of outcomes) {
		const endpoint = endpointOf(outcome.planned);
		if (outcome.disableEndpoint === null || !endpoint) continue;
		toDisable.set(endpointKey(outcome.planned), {
			tenantId: outcome.planned.tenantId,
			endpointId: outcome.planned.endpointId,
			reason: outcome.disableEndpoint,
			facts: {
				endpointId: endpoint.id,
				url: maskedEndpointAddress(endpoint),
				failuresInRow: 1,
				failingSince: endpoint.failingSince,
				lastStatusCode: outcome.record?.status_code ?? null,
				lastError: outcome.error,
			},
		});
	}
	await Promise.all(
		[...toDisable.values()].map(async ({ tenantId, endpointId, reason, facts }) => {
			const disabledNow = await disableEndpoint(d1, tenantId, endpointId, reason);
			const cancelled = await schedulerFor(env, tenantId, endpointId).cancelAll();
			await failCancelledDeliveries(openDatabase(d1), tenantId, cancelled, reason);
			if (disabledNow) events.push(endpointDisabled(tenantId, facts, reason));
		}),
	);
	await emitOperationalEvents(env, d1, events);

	for (const { message } of jobs) {
		if (early.acked.has(message)) continue;
		if (failedMessages.has(message)) message.retry({ delaySeconds: 5 });
		else message.ack();
	}
}

/**
 * Acks, before the batch ends, each message whose planned attempts all ran
 * here and ended in an outcome that is recorded and needs nothing more.
 * Acked messages are not delivered again even if the invocation then throws.
 */
function earlyAcks(planned: readonly PlannedAttempt[], inline: readonly PlannedAttempt[]) {
	const open = new Map<Message<unknown>, number>();
	for (const item of inline) open.set(item.message, (open.get(item.message) ?? 0) + 1);
	// A message with an attempt elsewhere (held, moved to the slow lane, not asked) waits for the batch's end.
	const sentHere = new Set(inline);
	for (const item of planned) if (!sentHere.has(item)) open.delete(item.message);
	const acked = new Set<Message<unknown>>();
	return {
		acked,
		done(message: Message<unknown>): void {
			const left = open.get(message);
			if (left === undefined) return;
			if (left > 1) {
				open.set(message, left - 1);
				return;
			}
			open.delete(message);
			message.ack();
			acked.add(message);
		},
		cancel(message: Message<unknown>): void {
			open.delete(message);
		},
	};
}

/**
 * Deliveries pulled back from an endpoint that kept failing in this batch:
 * now that its scheduler has the failures, it holds them if its circuit
 * opened, and those it lets go return to their queue untried.
 */
async function settlePulledBack(
	env: Env,
	d1: D1Database,
	pulledBack: readonly PlannedAttempt[],
	endpointOf: EndpointLookup,
	laneOf: (item: PlannedAttempt) => Lane,
	failedMessages: Set<Message<unknown>>,
): Promise<void> {
	if (pulledBack.length === 0) return;
	const admitted = await admitThroughSchedulers(env, pulledBack, endpointOf, laneOf, true);
	for (const item of admitted.unanswered) failedMessages.add(item.message);
	const held = recordOutcomes(d1, admitted.held);
	if (held.length > 0) await d1.batch(held);
	const untried = admitted.send;
	try {
		for (const queue of ["main", "slow"] as const) {
			const jobs = untried
				.filter((item) => laneOf(item) === queue)
				.map(
					(item): DeliveryJob => ({
						tenantId: item.tenantId,
						eventSeq: item.event.seq,
						targets: [{ endpointId: item.endpointId, attempt: item.attempt }],
						trigger: item.trigger,
					}),
				);
			await enqueueJobs((queue === "main" ? env.DELIVERY_QUEUE : env.SLOW_DELIVERY_QUEUE) as Queue<DeliveryJob>, jobs);
		}
	} catch (error) {
		console.error("could not queue deliveries pulled back from a failing endpoint", error);
		for (const item of untried) failedMessages.add(item.message);
	}
}

/**
 * Stores and fans out operational events. They describe what already
 * happened and is recorded; if the queue refuses them now, the sweeper
 * delivers them later from their stored rows.
 */
async function emitOperationalEvents(env: Env, d1: D1Database, events: readonly OperationalEvent[]): Promise<void> {
	for (const [tenantId, tenantEvents] of groupBy(events, (event) => event.tenantId)) {
		try {
			await ingestEvents(
				ingestContext(env, openDatabase(d1), tenantId),
				tenantEvents.map((event) => ({ type: event.type, dataJson: JSON.stringify(event.data) })),
			);
		} catch (error) {
			console.error("could not store operational events", tenantId, error);
		}
	}
}

/** Queues attempts on the slow lane, one job per event and trigger. */
async function sendToSlowLane(env: Env, items: readonly PlannedAttempt[]): Promise<void> {
	const jobs = new Map<string, DeliveryJob>();
	for (const item of items) {
		const key = `${item.tenantId}/${item.event.seq}/${item.trigger}/${item.admitted}/${item.swept}`;
		const job = jobs.get(key) ?? {
			tenantId: item.tenantId,
			eventSeq: item.event.seq,
			targets: [],
			trigger: item.trigger,
		};
		job.targets.push({ endpointId: item.endpointId, attempt: item.attempt });
		if (item.admitted) job.admitted = true;
		if (item.swept) job.swept = true;
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
	await forEachShard(env, readJobs(batch.messages), async (d1, jobs) => {
		const context = await loadContext(
			d1,
			jobs.map(({ job }) => job),
			true,
		);
		// A delivery that reached an outcome some other way keeps it.
		const settled = planAttempts(
			jobs,
			context,
			(_job, status) => status === "success" || status === "failed" || status === "skipped",
		);
		const statements = recordOutcomes(
			d1,
			settled.map((item) => settleWithoutSending(item, "the delivery job failed repeatedly and was dead-lettered")),
		);
		if (statements.length > 0) await d1.batch(statements);
	});
}

interface QueuedJob {
	message: Message<unknown>;
	job: DeliveryJob;
}

/**
 * Runs `work` on the jobs of each shard in turn. A deleted tenant's jobs are
 * acked and dropped: nothing more is sent for it. A job whose tenant the
 * control database cannot place right now, and every job of a shard whose
 * work fails, go back to the queue; the other shards' jobs go on, so one
 * database that is down holds up no other tenant's deliveries.
 */
async function forEachShard(
	env: Env,
	jobs: readonly QueuedJob[],
	work: (d1: D1Database, jobs: readonly QueuedJob[]) => Promise<void>,
): Promise<void> {
	const groups = new Map<string, QueuedJob[]>();
	try {
		await learnPlacements(
			env,
			jobs.map(({ job }) => job.tenantId),
		);
	} catch (error) {
		// Each job's own lookup below tries again and retries only the jobs it cannot place.
		console.error("could not look up the batch's tenants at once", error);
	}
	for (const queued of jobs) {
		let shard: string;
		try {
			shard = await tenantShard(env, queued.job.tenantId);
		} catch (error) {
			if (error instanceof ApiError && error.code === "not_found") queued.message.ack();
			else {
				console.error("could not place the tenant of a delivery job; it is retried", queued.job.tenantId, error);
				queued.message.retry();
			}
			continue;
		}
		const group = groups.get(shard);
		if (group) group.push(queued);
		else groups.set(shard, [queued]);
	}
	for (const [shard, group] of groups) {
		try {
			await work(shardD1(env, shard), group);
		} catch (error) {
			// Messages already acked (outcomes recorded) stay acked: a retry after an ack has no effect.
			console.error(`delivery jobs on ${shard} failed; they are retried`, error);
			for (const { message } of group) message.retry();
		}
	}
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
		for (const target of job.targets) {
			const eventSeq = target.eventSeq ?? job.eventSeq;
			const event = context.events.get(eventSeq);
			// The event is gone only when retention or a tenant's deletion removed it: nothing left to deliver.
			if (!event || event.tenantId !== job.tenantId || !context.tenantSettings.has(job.tenantId)) continue;
			const id = deliveryId(target.endpointId, eventSeq);
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
				admitted: job.admitted === true,
				swept: job.swept === true,
			});
		}
	}
	return planned;
}
