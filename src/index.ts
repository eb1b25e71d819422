import { createApp } from "./app";
import { handleDeadLetterBatch, handleDeliveryBatch } from "./queue/consumer";
import { purgeExpired } from "./retention";

export { EndpointScheduler } from "./scheduler/endpoint-scheduler";

const app = createApp();
const DEAD_LETTER_QUEUE = "edgehook-deliveries-dlq";

export default {
	fetch: app.fetch,
	async queue(batch, env) {
		if (batch.queue === DEAD_LETTER_QUEUE) await handleDeadLetterBatch(batch, env);
		else await handleDeliveryBatch(batch, env);
	},
	async scheduled(controller, env) {
		const removed = await purgeExpired(env, controller.scheduledTime);
		console.log(`retention: removed ${removed.events} events and ${removed.deliveries} deliveries`);
	},
} satisfies ExportedHandler<Env>;
