import { createHmac } from "node:crypto";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";
import { expect, it } from "vitest";

it("probe", () => {
	const wh = new StandardWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
	console.log(wh.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", new Date(1614265330 * 1000), '{"test": 2432232314}'));
	const sv = new SvixWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
	console.log(sv.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", new Date(1614265330 * 1000), '{"test": 2432232314}'));
	console.log(createHmac("sha256", "abc").update("x").digest("hex"));
	console.log(Date.now());
	expect(1).toBe(1);
});
