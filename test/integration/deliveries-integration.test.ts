import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { publicDeliveryId } from "../../src/lib/ids";
import type { DeliveryJob } from "../../src/queue/messages";
import { api, createWebhook, receivedBy, receiverPath, record, storedSeq, uniqueName, waitFor } from "./helpers";

async function sendEvent(type: string): Promise<{ id: string; seq: number }> {
	const event = record((await api("POST", "/v1/events", { body: { type, data: { at: Date.now() } } })).body);
	return { id: String(event.id), seq: await storedSeq(String(event.id)) };
}

describe("deliveries", () => {
	it("shows a delivery whose first attempt is still queued as pending, and refuses to retry it", async () => {
		const hook = await createWebhook({
			url: receiverPath("ok", uniqueName("queued")),
			events: ["q.test"],
			active: true,
		});
		// Stored directly, with no queue message: the first attempt never happens in this test.
		const eventId = uniqueName("evt");
		await env.DB.prepare(
			"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at) VALUES ('default', ?, 'q.test', '{}', ?, ?)",
		)
			.bind(eventId, JSON.stringify([hook.id]), Date.now())
			.run();
		const id = publicDeliveryId(String(hook.id), eventId);
		expect(record((await api("GET", `/v1/deliveries/${id}`)).body)).toMatchObject({
			status: "pending",
			attempt_count: 0,
			attempts: [],
		});
		expect((await api("POST", `/v1/deliveries/${id}/retry`)).status).toBe(409);
	});

	it("retries a successful delivery on request, adding a manual attempt", async () => {
		const name = uniqueName("resend");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["r.test"] });
		const event = await sendEvent("r.test");
		const id = publicDeliveryId(String(hook.id), event.id);
		await waitFor(async () =>
			record((await api("GET", `/v1/deliveries/${id}`)).body).status === "success" ? true : undefined,
		);
		const retried = await api("POST", `/v1/deliveries/${id}/retry`);
		expect(retried.status).toBe(202);
		expect(retried.body).toEqual({ id, attempt: 2 });
		const detail = await waitFor(async () => {
			const current = record((await api("GET", `/v1/deliveries/${id}`)).body);
			return current.attempt_count === 2 ? current : undefined;
		});
		expect((detail.attempts as { trigger: string }[]).map((attempt) => attempt.trigger)).toEqual(["initial", "manual"]);
		const requests = await receivedBy(name);
		expect(requests.map((request) => request.headers["webhook-id"])).toEqual([event.id, event.id]);
	});

	it("answers 404 for malformed, unknown and other tenants' delivery ids", async () => {
		for (const id of ["nope", "del_0000000000000000000000000", "del_zzzzzzzzzzzzzzzz0000000001"]) {
			expect((await api("GET", `/v1/deliveries/${id}`)).status).toBe(404);
			expect((await api("POST", `/v1/deliveries/${id}/retry`)).status).toBe(404);
		}
	});

	it("filters the endpoint's log by status and pages it newest first", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("log")), events: ["log.test"] });
		const sent = [];
		for (let i = 0; i < 3; i++) sent.push(await sendEvent("log.test"));
		await waitFor(async () => {
			const log = record((await api("GET", `/v1/webhooks/${hook.id}/deliveries?status=success`)).body);
			return (log.deliveries as unknown[]).length === 3 ? true : undefined;
		});
		const first = record((await api("GET", `/v1/webhooks/${hook.id}/deliveries?limit=2`)).body);
		expect((first.deliveries as { event_id: string }[]).map((item) => item.event_id)).toEqual([
			sent[2]?.id,
			sent[1]?.id,
		]);
		const rest = record(
			(await api("GET", `/v1/webhooks/${hook.id}/deliveries?limit=2&cursor=${first.next_cursor}`)).body,
		);
		expect((rest.deliveries as { event_id: string }[]).map((item) => item.event_id)).toEqual([sent[0]?.id]);
		expect(rest.next_cursor).toBeNull();
		const failed = record((await api("GET", `/v1/webhooks/${hook.id}/deliveries?status=failed`)).body);
		expect(failed.deliveries).toEqual([]);
		expect((await api("GET", `/v1/webhooks/${hook.id}/deliveries?status=bogus`)).status).toBe(422);
	});

	it("marks dead-lettered jobs failed, leaving settled deliveries alone", async () => {
		const pendingHook = await createWebhook({ url: receiverPath("ok", uniqueName("dlq")), events: ["dlq.none"] });
		const doneName = uniqueName("dlq-done");
		const doneHook = await createWebhook({ url: receiverPath("ok", doneName), events: ["dlq.test"] });
		const event = await sendEvent("dlq.test");
		const doneId = publicDeliveryId(String(doneHook.id), event.id);
		await waitFor(async () =>
			record((await api("GET", `/v1/deliveries/${doneId}`)).body).status === "success" ? true : undefined,
		);

		const job: DeliveryJob = {
			tenantId: "default",
			eventSeq: event.seq,
			targets: [
				{ endpointId: String(pendingHook.id), attempt: 1 },
				{ endpointId: String(doneHook.id), attempt: 1 },
			],
			trigger: "initial",
		};
		const batch = createMessageBatch<DeliveryJob>("edgehook-deliveries-dlq", [
			{ id: "dead", timestamp: Date.now(), attempts: 1, body: job },
		]);
		const ctx = createExecutionContext();
		await worker.queue(batch, env);
		expect((await getQueueResult(batch, ctx)).retryMessages).toEqual([]);
		expect(
			record((await api("GET", `/v1/deliveries/${publicDeliveryId(String(pendingHook.id), event.id)}`)).body),
		).toMatchObject({
			status: "failed",
			attempt_count: 0,
			error: "the delivery job failed repeatedly and was dead-lettered",
		});
		expect(record((await api("GET", `/v1/deliveries/${doneId}`)).body)).toMatchObject({ status: "success" });
		expect(await receivedBy(doneName)).toHaveLength(1);
	});
});
