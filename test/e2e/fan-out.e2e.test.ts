import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
	bodyOf,
	call,
	type EventWithDeliveries,
	expectStatus,
	getEvent,
	sendEvent,
	WebhookTracker,
	waitForDeliveryDetail,
} from "./support/api";
import { type Receiver, startReceivers } from "./support/receiver";
import { done, gracePeriod, notYet, type Poll, waitFor } from "./support/wait";

/** How long a receiver that should get nothing is watched. */
const QUIET_MS = 2_000;

describe("fan-out", () => {
	const webhooks = new WebhookTracker();
	let receivers: Receiver[] = [];

	beforeAll(async () => {
		receivers = await startReceivers(3);
	});

	afterEach(async () => {
		await webhooks.deleteAll();
	});

	afterAll(async () => {
		await Promise.all(receivers.map((receiver) => receiver.close()));
	});

	it("sends an event to every endpoint subscribed to its type, exact or wildcard, and to no other", async () => {
		const [exact, wildcard, other] = receivers;
		if (exact === undefined || wildcard === undefined || other === undefined) {
			throw new Error("receivers did not start");
		}
		await webhooks.create({ url: exact.url, events: ["user.created"] });
		await webhooks.create({ url: wildcard.url, events: ["user.*"] });
		await webhooks.create({ url: other.url, events: ["order.created"] });

		const data = { id: "user_fanout", email: "fan@example.com" };
		const event = await sendEvent({ type: "user.created", data });
		expect(event.id).toMatch(/^evt_/);
		expect(event.type).toBe("user.created");

		const [toExact] = await exact.waitForRequests(1);
		const [toWildcard] = await wildcard.waitForRequests(1);
		for (const request of [toExact, toWildcard]) {
			expect(request?.method).toBe("POST");
			expect(request?.headers["webhook-id"]).toBe(event.id);
			const body: unknown = JSON.parse(request?.body ?? "null");
			expect(body).toMatchObject({ id: event.id, type: "user.created", data });
		}

		const stored = await waitFor("the event to list two deliveries", async (): Promise<Poll<EventWithDeliveries>> => {
			const current = await getEvent(event.id);
			return current.deliveries.length >= 2 ? done(current) : notYet(current);
		});
		await gracePeriod(QUIET_MS);
		expect(other.requests).toHaveLength(0);
		expect(exact.requests).toHaveLength(1);
		expect(wildcard.requests).toHaveLength(1);
		expect((await getEvent(event.id)).deliveries).toHaveLength(2);
		expect(stored.id).toBe(event.id);
	});

	it("POST /v1/webhooks/:id/test sends webhook.test to that endpoint alone", async () => {
		const [target, bystander] = receivers;
		if (target === undefined || bystander === undefined) {
			throw new Error("receivers did not start");
		}
		const before = {
			target: target.requests.length,
			bystander: bystander.requests.length,
		};
		const hook = await webhooks.create({
			url: target.url,
			events: ["ping.only"],
		});
		await webhooks.create({ url: bystander.url, events: ["ping.only"] });

		const response = expectStatus(await call("POST", `/v1/webhooks/${hook.id}/test`), 202);
		const { event_id: eventId, delivery_id: deliveryId } = bodyOf<{
			event_id: string;
			delivery_id: string;
		}>(response);
		expect(eventId).toMatch(/^evt_/);
		expect(deliveryId).toMatch(/^del_/);

		const requests = await target.waitForRequests(before.target + 1);
		const request = requests[before.target];
		expect(request?.headers["webhook-id"]).toBe(eventId);
		expect(JSON.parse(request?.body ?? "null")).toMatchObject({
			id: eventId,
			type: "webhook.test",
		});
		await waitForDeliveryDetail(deliveryId, (d) => d.status === "success", "success");

		await gracePeriod(QUIET_MS / 2);
		expect(bystander.requests.length).toBe(before.bystander);
		expect(target.requests.length).toBe(before.target + 1);
	});
});
