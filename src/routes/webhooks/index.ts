import { createRouter } from "../shared";
import { webhookActivity } from "./activity";
import { createWebhook } from "./create";
import { readWebhooks } from "./read";
import { recoverWebhook } from "./recover";
import { rotateWebhookSecret } from "./rotate";
import { webhookStats } from "./stats";
import { transformationTest } from "./transformation";
import { updateWebhooks } from "./update";

export const webhookRoutes = createRouter()
	.route("/", createWebhook)
	.route("/", readWebhooks)
	.route("/", updateWebhooks)
	.route("/", webhookActivity)
	.route("/", webhookStats)
	.route("/", rotateWebhookSecret)
	.route("/", recoverWebhook)
	.route("/", transformationTest);
