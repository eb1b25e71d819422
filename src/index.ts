import { createApp } from "./app";
import { forgetExpiredRevocations } from "./dashboard/revocations";
import { count, meteredEnv } from "./lib/metering";
import { handleDeadLetterBatch, handleDeliveryBatch } from "./queue/consumer";
import { continueSweepSlices, isSweepSliceJob, requeueDeadSweepSlices, sweep } from "./reliability/sweeper";
import { deleteEmptiedBlocks, purgeExpired } from "./retention";
import { deleteExpiredIdempotencyRecords } from "./svix/idempotency";
import { continueRecovers, failDeadLetteredRecovers, isRecoverJob, resumeStalledRecovers } from "./tasks/recover";
import { continueTenantPurges, isTenantPurgeJob, resumeStalledPurges } from "./tenants/purge";

export { EndpointScheduler } from "./scheduler/endpoint-scheduler";

const app = createApp();
const DEAD_LETTER_QUEUE = "edgehook-deliveries-dlq";
const SLOW_QUEUE = "edgehook-deliveries-slow";
const BENCH_ROUTES = "/_bench/";
/** The daily cron in wrangler.toml; the other one runs every minute. */
const RETENTION_CRON = "17 3 * * *";

/** Messages of the main and dead-letter queues that are not delivery jobs: they have handlers of their own. */
function isBackgroundJob(body: unknown): boolean {
	return isTenantPurgeJob(body) || isRecoverJob(body) || isSweepSliceJob(body);
}

/** The batch without its background messages, which the dead-letter handler would drop as malformed jobs. */
function withoutBackgroundJobs(batch: MessageBatch<unknown>): MessageBatch<unknown> {
	const messages = batch.messages.filter((message) => !isBackgroundJob(message.body));
	return {
		queue: batch.queue,
		metadata: batch.metadata,
		messages,
		ackAll: () => {
			for (const message of messages) message.ack();
		},
		retryAll: (options) => {
			for (const message of messages) message.retry(options);
		},
	};
}

export default {
	fetch(request, env, ctx) {
		const metered = meteredEnv(env);
		if (!new URL(request.url).pathname.startsWith(BENCH_ROUTES)) count("worker_fetch_invocations");
		return app.fetch(request, metered, ctx);
	},
	async queue(batch, env) {
		const metered = meteredEnv(env);
		count("worker_queue_invocations");
		count("queue_batches");
		count("queue_messages_consumed", batch.messages.length);
		if (batch.queue === DEAD_LETTER_QUEUE) {
			const recovers = batch.messages.filter((message) => isRecoverJob(message.body));
			if (recovers.length > 0) await failDeadLetteredRecovers(metered, recovers);
			await requeueDeadSweepSlices(metered, batch.messages);
			const background = batch.messages.some((message) => isBackgroundJob(message.body));
			await handleDeadLetterBatch(background ? withoutBackgroundJobs(batch) : batch, metered);
			return;
		}
		// Tenant purges, recover slices and sweep slices share the main queue: they are rare, and another queue
		// would be one more to create.
		const purges = batch.messages.filter((message) => isTenantPurgeJob(message.body));
		if (purges.length > 0) await continueTenantPurges(metered, purges);
		const recovers = batch.messages.filter((message) => isRecoverJob(message.body));
		if (recovers.length > 0) await continueRecovers(metered, recovers);
		await continueSweepSlices(metered, batch.messages);
		await handleDeliveryBatch(
			batch.messages.filter((message) => !isBackgroundJob(message.body)),
			metered,
			batch.queue === SLOW_QUEUE ? "slow" : "main",
		);
	},
	async scheduled(controller, env) {
		const metered = meteredEnv(env);
		count("worker_scheduled_invocations");
		if (controller.cron === RETENTION_CRON) {
			// Sign-outs first: they are in the control database, which a failing shard must not keep from its cleaning.
			const signOuts = await forgetExpiredRevocations(metered, controller.scheduledTime);
			const idempotencyRecords = await deleteExpiredIdempotencyRecords(metered, controller.scheduledTime);
			const removed = await purgeExpired(metered, controller.scheduledTime);
			const blocks = await deleteEmptiedBlocks(metered);
			console.log(
				`retention: cleaned ${removed.cleaned} expired events for reuse, removed ${removed.events} events, ${removed.deliveries} deliveries, ${removed.packs} packs of deliveries, ${blocks} emptied event blocks, ${signOuts} expired sign-outs and ${idempotencyRecords} expired idempotency records`,
			);
			return;
		}
		// Independent jobs: a failure of one must not keep the other from running; it still fails the invocation.
		let failure: unknown;
		try {
			const resumed = await resumeStalledPurges(metered, controller.scheduledTime);
			if (resumed > 0) console.log(`tenant purges resumed: ${resumed}`);
			const recovers = await resumeStalledRecovers(metered, controller.scheduledTime);
			if (recovers > 0) console.log(`recover tasks resumed: ${recovers}`);
		} catch (error) {
			failure = error;
		}
		const swept = await sweep(metered, controller.scheduledTime);
		try {
			// Every minute rather than once a day: a day's expired rows at volume are more than one run could remove.
			const removed = await purgeExpired(metered, controller.scheduledTime);
			if (removed.events > 0 || removed.cleaned > 0 || removed.deliveries > 0 || removed.packs > 0) {
				console.log(
					`retention: cleaned ${removed.cleaned} expired events for reuse, removed ${removed.events} events, ${removed.deliveries} deliveries and ${removed.packs} packs of deliveries`,
				);
			}
		} catch (error) {
			failure ??= error;
		}
		if (
			swept.firstAttemptsRequeued > 0 ||
			swept.stuckRetriesRequeued > 0 ||
			swept.sweepSlicesQueued > 0 ||
			swept.scheduledRequeued > 0
		) {
			console.log(
				`sweep: requeued ${swept.firstAttemptsRequeued} lost first attempts (${swept.eventsScanned} events scanned), ${swept.stuckRetriesRequeued} stuck retries and ${swept.scheduledRequeued} scheduled events whose delayed job was lost; ${swept.sweepSlicesQueued} slices of older events handed to the consumers`,
			);
		}
		if (swept.scheduledReleased > 0)
			console.log(`sweep: released ${swept.scheduledReleased} scheduled events now due within the queue's delay`);
		if (failure !== undefined) throw failure;
	},
} satisfies ExportedHandler<Env>;
