import { afterAll, describe, expect, it } from "vitest";
import { bodyOf, call, expectStatus, getDelivery, sendEvent, WebhookTracker, waitForDelivery } from "./support/api";
import { Receiver } from "./support/receiver";
import { done, notYet, waitFor } from "./support/wait";

interface Task {
	id: string;
	status: string;
	total: number;
	done: number;
}

describe("recover", () => {
	const webhooks = new WebhookTracker();
	let receiver: Receiver | undefined;

	afterAll(async () => {
		await webhooks.deleteAll();
		await receiver?.close();
	});

	it("re-sends an outage's failed deliveries once the receiver is back, with their webhook-ids", async () => {
		receiver = await Receiver.start();
		const since = new Date(Date.now() - 60_000).toISOString();
		// The outage: every request fails, and one attempt per delivery is all the schedule allows.
		receiver.respondWith(() => ({ status: 503, body: "down for maintenance" }));
		const webhook = await webhooks.create({ url: receiver.url, events: ["outage.*"], retry_schedule: [] });
		const events = [];
		for (let i = 0; i < 3; i++) events.push(await sendEvent({ type: "outage.order", data: { i } }));
		for (const event of events) {
			await waitForDelivery(webhook.id, event.id, (delivery) => delivery.status === "failed", "failed");
		}

		receiver.respondWith(() => ({ status: 200, body: "OK" }));
		const started = bodyOf<Task>(
			expectStatus(await call("POST", `/v1/webhooks/${webhook.id}/recover`, { json: { since } }), 202),
		);
		expect(started).toMatchObject({ total: 3, done: 0 });
		expect(started.id).toMatch(/^task_/);
		const task = await waitFor(
			`task ${started.id} to complete`,
			async () => {
				const current = bodyOf<Task>(expectStatus(await call("GET", `/v1/tasks/${started.id}`), 200));
				return current.status === "completed" ? done(current) : notYet(current);
			},
			{ timeoutMs: 20_000, intervalMs: 250 },
		);
		expect(task).toMatchObject({ total: 3, done: 3 });
		for (const event of events) {
			const delivery = await waitForDelivery(webhook.id, event.id, (d) => d.status === "success", "delivered");
			const detail = await getDelivery(delivery.id);
			expect(detail.attempts.map((attempt) => attempt.status_code)).toEqual([503, 200]);
			const seen = receiver.requests.filter((request) => request.headers["webhook-id"] === event.id);
			expect(seen).toHaveLength(2);
		}
	});
});
