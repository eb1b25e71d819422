import { createApp } from "./app";
import { count, meteredEnv } from "./lib/metering";
import { handleDeadLetterBatch, handleDeliveryBatch } from "./queue/consumer";
import { purgeExpired } from "./retention";
import { continueTenantPurges, isTenantPurgeJob, resumeStalledPurges } from "./tenants/purge";

export { EndpointScheduler } from "./scheduler/endpoint-scheduler";

const app = createApp();
const DEAD_LETTER_QUEUE = "edgehook-deliveries-dlq";
const SLOW_QUEUE = "edgehook-deliveries-slow";
const BENCH_ROUTES = "/_bench/";
/** The daily cron in wrangler.toml; the other one runs every minute. */
const RETENTION_CRON = "17 3 * * *";

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
			await handleDeadLetterBatch(batch, metered);
			return;
		}
		// Tenant purges share the main queue: they are rare, and a queue of their own would be one more to create.
		const purges = batch.messages.filter((message) => isTenantPurgeJob(message.body));
		if (purges.length > 0) await continueTenantPurges(metered, purges);
		await handleDeliveryBatch(
			purges.length > 0 ? batch.messages.filter((message) => !isTenantPurgeJob(message.body)) : batch.messages,
			metered,
			batch.queue === SLOW_QUEUE ? "slow" : "main",
		);
	},
	async scheduled(controller, env) {
		const metered = meteredEnv(env);
		count("worker_scheduled_invocations");
		if (controller.cron === RETENTION_CRON) {
			const removed = await purgeExpired(metered, controller.scheduledTime);
			console.log(`retention: removed ${removed.events} events and ${removed.deliveries} deliveries`);
			return;
		}
		const resumed = await resumeStalledPurges(metered, controller.scheduledTime);
		if (resumed > 0) console.log(`tenant purges resumed: ${resumed}`);
	},
} satisfies ExportedHandler<Env>;
