import { createRouter } from "../shared";
import { webhookActivity } from "./activity";
import { createWebhook } from "./create";
import { readWebhooks } from "./read";
import { recoverWebhook } from "./recover";
import { rotateWebhookSecret } from "./rotate";
import { updateWebhooks } from "./update";

export const webhookRoutes = createRouter()
	.route("/", createWebhook)
	.route("/", readWebhooks)
	.route("/", updateWebhooks)
	.route("/", webhookActivity)
	.route("/", rotateWebhookSecret)
	.route("/", recoverWebhook);
