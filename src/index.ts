import { createApp } from "./app";
import { handleDeadLetterBatch, handleDeliveryBatch } from "./queue/consumer";

export { EndpointScheduler } from "./scheduler/endpoint-scheduler";

const app = createApp();
const DEAD_LETTER_QUEUE = "edgehook-deliveries-dlq";

export default {
	fetch: app.fetch,
	async queue(batch, env) {
		if (batch.queue === DEAD_LETTER_QUEUE) await handleDeadLetterBatch(batch, env);
		else await handleDeliveryBatch(batch, env);
	},
} satisfies ExportedHandler<Env>;
