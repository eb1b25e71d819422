import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeliveryJob } from "../../src/queue/messages";
import { callWithSettings, createWebhook, receivedBy, receiverPath, record, uniqueName, waitFor } from "./helpers";

/** The real queue, keeping a copy of every message sent through it. */
function recordingQueue(real: Queue): { queue: Queue; sent: DeliveryJob[] } {
	const sent: DeliveryJob[] = [];
	const queue: Queue = {
		metrics: () => real.metrics(),
		send: async (message, options) => {
			sent.push(message as DeliveryJob);
			return real.send(message, options);
		},
		sendBatch: async (messages, options) => {
			for (const message of messages) sent.push(message.body as DeliveryJob);
			return real.sendBatch(messages, options);
		},
	};
	return { queue, sent };
}

describe("ingest's queue messages", () => {
	it("packs a batch's first attempts ten to a message across events, and delivers each event once", async () => {
		const type = `packed.${uniqueName("t").replaceAll("-", "_")}`;
		const name = uniqueName("packed");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: [type] });
		const recorded = recordingQueue(env.DELIVERY_QUEUE);

		const response = await callWithSettings({ DELIVERY_QUEUE: recorded.queue }, "POST", "/v1/events/batch", {
			events: Array.from({ length: 25 }, (_, index) => ({ type, data: { index } })),
		});
		expect(response.status).toBe(202);
		const accepted = (record(response.body).events as { id: string }[]).map((event) => event.id);
		expect(accepted).toHaveLength(25);

		// Twenty-five events at fan-out 1: three messages, not twenty-five.
		expect(recorded.sent).toHaveLength(3);
		expect(recorded.sent.map((job) => job.targets.length)).toEqual([10, 10, 5]);
		const seqs = recorded.sent.flatMap((job) => job.targets.map((target) => target.eventSeq ?? job.eventSeq));
		expect(new Set(seqs).size).toBe(25);
		for (const job of recorded.sent) {
			expect(job.targets.every((target) => target.endpointId === hook.id && target.attempt === 1)).toBe(true);
		}

		const arrived = await waitFor(async () => {
			const requests = await receivedBy(name);
			return requests.length >= 25 ? requests : undefined;
		}, 15_000);
		const ids = arrived.map((request) => request.headers["webhook-id"]);
		expect(new Set(ids)).toEqual(new Set(accepted));
		expect(ids).toHaveLength(25);
	});
});
