import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
	type AcceptedEvent,
	bodyOf,
	call,
	expectStatus,
	getEvent,
	uniqueSuffix,
	WebhookTracker,
	waitForDelivery,
} from "./support/api";
import { Receiver } from "./support/receiver";
import { gracePeriod } from "./support/wait";

const QUIET_MS = 2_000;

async function post(body: unknown, headers: Record<string, string> = {}): Promise<AcceptedEvent> {
	// A repeat may answer 200 or 202; either way it is the original event.
	return bodyOf<AcceptedEvent>(expectStatus(await call("POST", "/v1/events", { json: body, headers }), 200, 202));
}

describe("idempotent ingest", () => {
	const webhooks = new WebhookTracker();
	let receiver: Receiver;
	let hookId = "";

	beforeAll(async () => {
		receiver = await Receiver.start();
	});

	afterEach(async () => {
		await webhooks.deleteAll();
	});

	afterAll(async () => {
		await receiver.close();
	});

	it("the same event id twice stores and delivers one event", async () => {
		hookId = (await webhooks.create({ url: receiver.url, events: ["idem.by_id"] })).id;
		const id = `evt_e2e${uniqueSuffix()}`;
		const first = await post({ id, type: "idem.by_id", data: { attempt: 1 } });
		expect(first.id).toBe(id);
		const second = await post({ id, type: "idem.by_id", data: { attempt: 2 } });
		expect(second.id).toBe(id);
		expect(second.created_at).toBe(first.created_at);

		await waitForDelivery(hookId, id, (d) => d.status === "success", "success");
		await gracePeriod(QUIET_MS);
		expect(receiver.requestsFor(id)).toHaveLength(1);
		const stored = await getEvent(id);
		expect(stored.deliveries).toHaveLength(1);
		// The original wins: the repeat's data was not stored nor sent.
		expect(JSON.parse(receiver.requestsFor(id)[0]?.body ?? "null")).toMatchObject({ data: { attempt: 1 } });
	});

	it("the same Idempotency-Key twice answers with the original event and delivers once", async () => {
		hookId = (await webhooks.create({ url: receiver.url, events: ["idem.by_key"] })).id;
		const key = `e2e-key-${uniqueSuffix()}`;
		const first = await post({ type: "idem.by_key", data: { attempt: 1 } }, { "Idempotency-Key": key });
		const second = await post({ type: "idem.by_key", data: { attempt: 1 } }, { "Idempotency-Key": key });
		expect(second.id).toBe(first.id);
		expect(second.created_at).toBe(first.created_at);

		await waitForDelivery(hookId, first.id, (d) => d.status === "success", "success");
		await gracePeriod(QUIET_MS);
		const typed = receiver.requests.filter((r) => r.body.includes('"type":"idem.by_key"'));
		expect(typed).toHaveLength(1);
		expect(typed[0]?.headers["webhook-id"]).toBe(first.id);
		expect((await getEvent(first.id)).deliveries).toHaveLength(1);
	});
});
