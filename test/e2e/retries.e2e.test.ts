import { Webhook as StandardWebhook } from "standardwebhooks";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
	call,
	expectStatus,
	getDelivery,
	listDeliveries,
	newSecret,
	sendEvent,
	sortedAttempts,
	WebhookTracker,
	waitForDelivery,
	waitForDeliveryDetail,
} from "./support/api";
import { type ReceivedRequest, Receiver } from "./support/receiver";

// The global setup runs the worker with RETRY_SCHEDULE=1,1,1,1: five attempts,
// one second apart, so a delivery is settled within seconds.
const SETTLE_MS = 30_000;

function verifySignature(secret: string, request: ReceivedRequest): void {
	new StandardWebhook(secret).verify(request.body, {
		"webhook-id": request.headers["webhook-id"] ?? "",
		"webhook-timestamp": request.headers["webhook-timestamp"] ?? "",
		"webhook-signature": request.headers["webhook-signature"] ?? "",
	});
}

describe("retries", () => {
	const webhooks = new WebhookTracker();
	const receivers: Receiver[] = [];

	async function receiver(): Promise<Receiver> {
		const started = await Receiver.start();
		receivers.push(started);
		return started;
	}

	afterEach(async () => {
		await webhooks.deleteAll();
		await Promise.all(receivers.splice(0).map((r) => r.close()));
	});

	afterAll(async () => {
		await webhooks.deleteAll();
	});

	it("retries a failing receiver until it answers 2xx: success after 3 attempts", async () => {
		const flaky = await receiver();
		flaky.respondWith((request) =>
			request.index < 2 ? { status: 500, body: "not yet" } : { status: 200, body: "OK" },
		);
		const secret = newSecret();
		const hook = await webhooks.create({
			url: flaky.url,
			events: ["retry.flaky"],
			secret,
		});
		const event = await sendEvent({ type: "retry.flaky", data: { n: 1 } });

		const summary = await waitForDelivery(
			hook.id,
			event.id,
			(d) => d.status === "success" || d.status === "failed",
			"success or failed",
			SETTLE_MS,
		);
		expect(summary.status).toBe("success");
		expect(summary.attempts).toBe(3);
		expect(summary.status_code).toBe(200);

		const delivery = await getDelivery(summary.id);
		const attempts = sortedAttempts(delivery);
		expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
		expect(attempts.map((a) => a.status_code)).toEqual([500, 500, 200]);

		expect(flaky.requests).toHaveLength(3);
		for (const request of flaky.requests) {
			expect(request.headers["webhook-id"]).toBe(event.id);
			expect(request.headers["x-webhook-id"]).toBe(event.id);
			// Each attempt is signed anew and must verify on its own.
			verifySignature(secret, request);
		}
		// The schedule says one second before each retry; allow for jitter, not for none.
		const [first, second, third] = flaky.requests;
		if (first !== undefined && second !== undefined && third !== undefined) {
			expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(500);
			expect(third.receivedAt - second.receivedAt).toBeGreaterThanOrEqual(500);
		}
	});

	it("marks a delivery failed after 5 attempts; a manual retry then delivers it (6 attempts)", async () => {
		const down = await receiver();
		let healthy = false;
		// A body over 4 KiB: the attempt log keeps only its first 4 KiB.
		const downBody = `receiver down ${"x".repeat(5_000)}`;
		down.respondWith(() => (healthy ? { status: 200, body: "OK" } : { status: 500, body: downBody }));
		const hook = await webhooks.create({
			url: down.url,
			events: ["retry.down"],
		});
		const event = await sendEvent({ type: "retry.down", data: { n: 2 } });

		const failed = await waitForDelivery(
			hook.id,
			event.id,
			(d) => d.status === "failed" || d.status === "success",
			"failed",
			SETTLE_MS,
		);
		expect(failed.status).toBe("failed");
		expect(failed.attempts).toBe(5);
		expect(failed.status_code).toBe(500);
		const afterFailure = sortedAttempts(await getDelivery(failed.id));
		expect(afterFailure.map((a) => a.attempt)).toEqual([1, 2, 3, 4, 5]);
		expect(afterFailure.map((a) => a.status_code)).toEqual([500, 500, 500, 500, 500]);
		const logged = afterFailure[0]?.response_body ?? "";
		expect(logged.startsWith("receiver down ")).toBe(true);
		expect(logged.length).toBeLessThanOrEqual(4_096);
		expect(down.requests).toHaveLength(5);

		// The status filter of the delivery log sees it as failed.
		expect((await listDeliveries(hook.id, "failed")).map((d) => d.id)).toContain(failed.id);
		expect((await listDeliveries(hook.id, "success")).map((d) => d.id)).not.toContain(failed.id);

		healthy = true;
		expectStatus(await call("POST", `/v1/deliveries/${failed.id}/retry`), 202);
		const delivered = await waitForDeliveryDetail(
			failed.id,
			(d) => d.status === "success" || d.attempts.length > 6,
			"success",
			SETTLE_MS,
		);
		expect(delivered.status).toBe("success");
		const attempts = sortedAttempts(delivered);
		expect(attempts).toHaveLength(6);
		expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3, 4, 5, 6]);
		expect(attempts[5]?.status_code).toBe(200);
		expect(down.requests).toHaveLength(6);
		for (const request of down.requests) {
			expect(request.headers["webhook-id"]).toBe(event.id);
		}
		expect((await listDeliveries(hook.id, "success")).map((d) => d.id)).toContain(failed.id);
	});

	it("records a timeout as a failed attempt, using the endpoint's timeout_ms", async () => {
		const stuck = await receiver();
		stuck.respondWith(() => ({ hang: true }));
		// The deployment default is 3000 ms (global setup); the endpoint's 500 must win.
		const hook = await webhooks.create({
			url: stuck.url,
			events: ["retry.slow"],
			timeout_ms: 500,
		});
		const event = await sendEvent({ type: "retry.slow", data: { n: 3 } });

		const summary = await waitForDelivery(hook.id, event.id, (d) => d.attempts >= 1, "attempted", SETTLE_MS);
		const delivery = await waitForDeliveryDetail(summary.id, (d) => d.attempts.length >= 1, "recorded with an attempt");
		expect(delivery.status).not.toBe("success");
		const [first] = sortedAttempts(delivery);
		expect(first?.attempt).toBe(1);
		// No response, so no status (null), and certainly no 2xx.
		const status = first?.status_code ?? null;
		expect(status === null || status < 200 || status > 299).toBe(true);
		expect(first?.error ?? "").toMatch(/timeout/i);
		expect(first?.duration_ms ?? 0).toBeGreaterThanOrEqual(400);
		expect(first?.duration_ms ?? Number.POSITIVE_INFINITY).toBeLessThan(2_500);
		expect(stuck.requests.length).toBeGreaterThanOrEqual(1);
	});
});
