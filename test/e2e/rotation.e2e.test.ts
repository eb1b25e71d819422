/**
 * Secret rotation (`POST /v1/webhooks/:id/rotate-secret`) seen from a
 * receiver: during the grace period `webhook-signature` carries one `v1,`
 * signature per valid secret (newest first), so a receiver verifies with the
 * old secret or the new one; the hex header is signed with the newest only;
 * once the grace period is over, only the new secret verifies.
 */

import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";
import { afterAll, describe, expect, it } from "vitest";
import {
	bodyOf,
	call,
	expectStatus,
	newSecret,
	sendEvent,
	type Webhook,
	WebhookTracker,
	waitForDelivery,
} from "./support/api";
import { type ReceivedRequest, Receiver } from "./support/receiver";
import { hexHmac, standardSignature } from "./support/seed-events";
import { done, notYet, type Poll, waitFor } from "./support/wait";

interface Rotated {
	secret: string;
	previous_secret_expires_at: string | null;
}

const SETTLE_MS = 20_000;
const DAY_MS = 24 * 3600 * 1000;

function standardHeaders(request: ReceivedRequest): Record<string, string> {
	return {
		"webhook-id": request.headers["webhook-id"] ?? "",
		"webhook-timestamp": request.headers["webhook-timestamp"] ?? "",
		"webhook-signature": request.headers["webhook-signature"] ?? "",
	};
}

function signatures(request: ReceivedRequest): string[] {
	return (request.headers["webhook-signature"] ?? "").split(" ");
}

async function rotate(webhookId: string, body?: Record<string, unknown>): Promise<Rotated> {
	const path = `/v1/webhooks/${encodeURIComponent(webhookId)}/rotate-secret`;
	const response = await call("POST", path, body === undefined ? {} : { json: body });
	return bodyOf<Rotated>(expectStatus(response, 200));
}

describe("secret rotation", () => {
	const webhooks = new WebhookTracker();
	const receivers: Receiver[] = [];

	afterAll(async () => {
		await webhooks.deleteAll();
		await Promise.all(receivers.splice(0).map((r) => r.close()));
	});

	async function endpoint(eventType: string, secret: string): Promise<{ receiver: Receiver; webhook: Webhook }> {
		const receiver = await Receiver.start();
		receivers.push(receiver);
		const webhook = await webhooks.create({ url: receiver.url, events: [eventType], secret });
		return { receiver, webhook };
	}

	/** Sends one event and resolves with its request once delivered (and recorded as a success). */
	async function deliver(receiver: Receiver, webhook: Webhook, type: string, n: number): Promise<ReceivedRequest> {
		const event = await sendEvent({ type, data: { n, note: "Zoë 🚀" } });
		const request = await waitFor(
			`the request for ${event.id} at ${receiver.url}`,
			(): Poll<ReceivedRequest> => {
				const [first] = receiver.requestsFor(event.id);
				return first === undefined ? notYet(`${receiver.requests.length} request(s) in all`) : done(first);
			},
			{ timeoutMs: SETTLE_MS, intervalMs: 50 },
		);
		await waitForDelivery(webhook.id, event.id, (d) => d.status === "success", "success", SETTLE_MS);
		return request;
	}

	it("signs with both secrets during the grace period, then with the new one only", async () => {
		const type = "rotation.grace";
		const secretA = newSecret();
		const secretB = newSecret();
		const { receiver, webhook } = await endpoint(type, secretA);

		// Before: one signature, with A.
		const before = await deliver(receiver, webhook, type, 1);
		expect(signatures(before)).toHaveLength(1);
		expect(new StandardWebhook(secretA).verify(before.body, standardHeaders(before))).toEqual(JSON.parse(before.body));
		expect(() => new StandardWebhook(secretB).verify(before.body, standardHeaders(before))).toThrow();
		expect(before.headers["x-webhook-signature"]).toBe(`sha256=${hexHmac(secretA, before.rawBody)}`);

		// Rotate to B, keeping A for 3 s.
		const rotatedAt = Date.now();
		const rotated = await rotate(webhook.id, { secret: secretB, grace_period_seconds: 3 });
		expect(rotated.secret).toBe(secretB);
		expect(rotated.previous_secret_expires_at).not.toBeNull();
		const expiresAt = Date.parse(rotated.previous_secret_expires_at ?? "");
		expect(Math.abs(expiresAt - (rotatedAt + 3_000))).toBeLessThan(2_000);
		const shown = bodyOf<{ secret: string }>(expectStatus(await call("GET", `/v1/webhooks/${webhook.id}`), 200));
		expect(shown.secret.endsWith(secretB.slice(-4))).toBe(true);
		expect(shown.secret).not.toContain(secretB.slice(6, 20));

		// During the grace period: two signatures, B's first; either secret verifies.
		const during = await deliver(receiver, webhook, type, 2);
		const signedAtMs = Number(during.headers["webhook-timestamp"]) * 1000;
		expect(signedAtMs, "the grace-period request was signed after the grace period ended").toBeLessThan(expiresAt);
		const pair = signatures(during);
		expect(pair).toHaveLength(2);
		for (const entry of pair) {
			expect(entry).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
		}
		const id = during.headers["webhook-id"] ?? "";
		const timestamp = during.headers["webhook-timestamp"] ?? "";
		expect(pair).toEqual([
			standardSignature(secretB, id, timestamp, during.body),
			standardSignature(secretA, id, timestamp, during.body),
		]);
		const parsed: unknown = JSON.parse(during.body);
		for (const secret of [secretA, secretB]) {
			expect(new StandardWebhook(secret).verify(during.body, standardHeaders(during))).toEqual(parsed);
			expect(new SvixWebhook(secret).verify(during.body, standardHeaders(during))).toEqual(parsed);
		}
		expect(() => new StandardWebhook(newSecret()).verify(during.body, standardHeaders(during))).toThrow();
		// The single-value hex header: the newest secret only.
		expect(during.headers["x-webhook-signature"]).toBe(`sha256=${hexHmac(secretB, during.rawBody)}`);
		expect(during.headers["x-webhook-signature"]).not.toBe(`sha256=${hexHmac(secretA, during.rawBody)}`);

		// After the grace period (same clock: worker and test run on this machine).
		await waitFor(
			"the grace period to pass",
			(): Poll<true> => (Date.now() > expiresAt + 500 ? done(true) : notYet(`${expiresAt - Date.now()} ms left`)),
			{ timeoutMs: 10_000, intervalMs: 100 },
		);
		const after = await deliver(receiver, webhook, type, 3);
		expect(signatures(after)).toHaveLength(1);
		expect(new StandardWebhook(secretB).verify(after.body, standardHeaders(after))).toEqual(JSON.parse(after.body));
		expect(new SvixWebhook(secretB).verify(after.body, standardHeaders(after))).toEqual(JSON.parse(after.body));
		expect(() => new StandardWebhook(secretA).verify(after.body, standardHeaders(after))).toThrow();
		expect(() => new SvixWebhook(secretA).verify(after.body, standardHeaders(after))).toThrow();
		expect(after.headers["x-webhook-signature"]).toBe(`sha256=${hexHmac(secretB, after.rawBody)}`);
	});

	it("generates the new secret when the request has no body, keeping the old one 24 h by default", async () => {
		const type = "rotation.generated";
		const secretA = newSecret();
		const { receiver, webhook } = await endpoint(type, secretA);

		const rotatedAt = Date.now();
		const rotated = await rotate(webhook.id);
		// In full: whsec_ and the base64 of 32 bytes, not masked.
		expect(rotated.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
		expect(Buffer.from(rotated.secret.slice("whsec_".length), "base64")).toHaveLength(32);
		expect(rotated.secret).not.toBe(secretA);
		const expiresAt = Date.parse(rotated.previous_secret_expires_at ?? "");
		expect(Number.isNaN(expiresAt)).toBe(false);
		expect(Math.abs(expiresAt - (rotatedAt + DAY_MS))).toBeLessThan(60_000);

		// The generated secret signs, and A still does (24 h of grace).
		const request = await deliver(receiver, webhook, type, 1);
		expect(signatures(request)).toHaveLength(2);
		for (const secret of [rotated.secret, secretA]) {
			expect(new StandardWebhook(secret).verify(request.body, standardHeaders(request))).toEqual(
				JSON.parse(request.body),
			);
		}
		expect(request.headers["x-webhook-signature"]).toBe(`sha256=${hexHmac(rotated.secret, request.rawBody)}`);
	});
});
