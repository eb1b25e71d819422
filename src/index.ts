import { createApp } from "./app";
import { count, meteredEnv } from "./lib/metering";
import { handleDeadLetterBatch, handleDeliveryBatch } from "./queue/consumer";
import { purgeExpired } from "./retention";

export { EndpointScheduler } from "./scheduler/endpoint-scheduler";

const app = createApp();
const DEAD_LETTER_QUEUE = "edgehook-deliveries-dlq";
const SLOW_QUEUE = "edgehook-deliveries-slow";
const BENCH_ROUTES = "/_bench/";

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
		if (batch.queue === DEAD_LETTER_QUEUE) await handleDeadLetterBatch(batch, metered);
		else await handleDeliveryBatch(batch, metered, batch.queue === SLOW_QUEUE ? "slow" : "main");
	},
	async scheduled(controller, env) {
		const metered = meteredEnv(env);
		count("worker_scheduled_invocations");
		const removed = await purgeExpired(metered, controller.scheduledTime);
		console.log(`retention: removed ${removed.events} events and ${removed.deliveries} deliveries`);
	},
} satisfies ExportedHandler<Env>;
