/**
 * Group commit and departures under `wrangler dev`: single-event requests
 * sent at once to the real worker, where the requests that wait for a group
 * and the one that stores it are different requests of one isolate; and
 * requests sent one after another, whose first attempts leave after their
 * answers, under a waitUntil, in departures other requests may join.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
	type AcceptedEvent,
	bodyOf,
	call,
	type DeliverySummary,
	expectStatus,
	listDeliveries,
	uniqueSuffix,
	WebhookTracker,
} from "./support/api";
import { Receiver } from "./support/receiver";
import { done, gracePeriod, notYet, type Poll, waitFor } from "./support/wait";

const CONCURRENT = 40;
const SHARING_A_KEY = 5;
/** Enough to come closer together than FIRST_ATTEMPT_COALESCE_MS, so that departures hold some of them. */
const SEQUENTIAL = 25;

describe("single events", () => {
	const webhooks = new WebhookTracker();
	let receiver: Receiver;

	beforeAll(async () => {
		receiver = await Receiver.start();
	});

	afterAll(async () => {
		await webhooks.deleteAll();
		await receiver.close();
	});

	it("each gets its own answer and its own delivery, once; those sharing an Idempotency-Key get one event", async () => {
		const type = `grouped.e2e${uniqueSuffix()}`;
		const hook = await webhooks.create({ url: receiver.url, events: [type] });
		const key = `e2e-group-${uniqueSuffix()}`;
		const answers = await Promise.all(
			Array.from({ length: CONCURRENT }, async (_, index) => {
				const headers: Record<string, string> = index < SHARING_A_KEY ? { "Idempotency-Key": key } : {};
				const response = await call("POST", "/v1/events", { json: { type, data: { index } }, headers });
				return bodyOf<AcceptedEvent>(expectStatus(response, 202));
			}),
		);
		const keyed = new Set(answers.slice(0, SHARING_A_KEY).map((event) => event.id));
		expect(keyed.size).toBe(1);
		const ids = new Set(answers.map((event) => event.id));
		expect(ids.size).toBe(CONCURRENT - SHARING_A_KEY + 1);

		await receiver.waitForRequests(ids.size);
		const deliveries = await waitFor(
			`${ids.size} successful deliveries`,
			async (): Promise<Poll<DeliverySummary[]>> => {
				const log = await listDeliveries(hook.id);
				return log.length >= ids.size && log.every((delivery) => delivery.status === "success")
					? done(log)
					: notYet(log.map((delivery) => delivery.status));
			},
			{ timeoutMs: 20_000, intervalMs: 250 },
		);
		expect(new Set(deliveries.map((delivery) => delivery.event_id))).toEqual(ids);
		await gracePeriod(1_000);
		for (const id of ids) expect(receiver.requestsFor(id), id).toHaveLength(1);
	});

	it("events sent one after another, each answered before the next, are each delivered once", async () => {
		const type = `departing.e2e${uniqueSuffix()}`;
		const hook = await webhooks.create({ url: receiver.url, events: [type] });
		const ids: string[] = [];
		for (let index = 0; index < SEQUENTIAL; index++) {
			const response = await call("POST", "/v1/events", { json: { type, data: { index } } });
			ids.push(bodyOf<AcceptedEvent>(expectStatus(response, 202)).id);
		}
		const deliveries = await waitFor(
			`${SEQUENTIAL} successful deliveries`,
			async (): Promise<Poll<DeliverySummary[]>> => {
				const log = await listDeliveries(hook.id);
				return log.length >= SEQUENTIAL && log.every((delivery) => delivery.status === "success")
					? done(log)
					: notYet(log.map((delivery) => delivery.status));
			},
			{ timeoutMs: 20_000, intervalMs: 250 },
		);
		expect(new Set(deliveries.map((delivery) => delivery.event_id))).toEqual(new Set(ids));
		await gracePeriod(1_000);
		for (const id of ids) expect(receiver.requestsFor(id), id).toHaveLength(1);
	});
});
