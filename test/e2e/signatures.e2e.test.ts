import { spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyWebhookSignature as seed003Verify } from "../fixtures/seed003-verify.js";
import { type AcceptedEvent, bodyOf, call, expectStatus, newSecret, WebhookTracker } from "./support/api";
import { type ReceivedRequest, Receiver } from "./support/receiver";

const SEED001_PY = fileURLToPath(new URL("../fixtures/verify_seed001.py", import.meta.url));

/** Data with non-ASCII text, escapes and nesting, to catch any re-encoding on the way. */
const DATA = {
	id: "pay_123",
	amount: 4200,
	ratio: 0.25,
	customer: {
		name: "Zoë Ñandú 🚀",
		note: 'quotes " and \\ backslash\nnew line',
		tags: ["a", "b"],
	},
	html: "<a href='x'>&amp;</a>",
	refunded: false,
	coupon: null,
};

function runSeed001Python(secret: string, signature: string, body: Buffer): number | null {
	const result = spawnSync("python3", [SEED001_PY, signature], {
		input: body,
		env: { ...process.env, WEBHOOK_SECRET: secret },
		timeout: 10_000,
	});
	if (result.error) {
		throw result.error;
	}
	return result.status;
}

describe("signatures of a delivered request", () => {
	const webhooks = new WebhookTracker();
	const secret = newSecret();
	let receiver: Receiver;
	let event: AcceptedEvent;
	let request: ReceivedRequest;

	beforeAll(async () => {
		receiver = await Receiver.start();
		await webhooks.create({
			url: receiver.url,
			events: ["payment.succeeded"],
			secret,
		});
		// Sent pretty-printed: what the receiver gets must not depend on the sender's formatting.
		const sent = await call("POST", "/v1/events", {
			rawBody: JSON.stringify({ type: "payment.succeeded", data: DATA }, null, 2),
			contentType: "application/json",
		});
		event = bodyOf<AcceptedEvent>(expectStatus(sent, 202));
		const [first] = await receiver.waitForRequests(1);
		if (first === undefined) {
			throw new Error("no request arrived");
		}
		request = first;
	});

	afterAll(async () => {
		await webhooks.deleteAll();
		await receiver.close();
	});

	it("has the canonical body: the envelope as JSON.stringify writes it", () => {
		const expected = JSON.stringify({
			id: event.id,
			type: event.type,
			created: event.created,
			created_at: event.created_at,
			data: DATA,
		});
		expect(request.body).toBe(expected);
	});

	it("has the documented headers", () => {
		const { headers } = request;
		expect(headers["content-type"]).toMatch(/^application\/json\b/);
		expect(headers["user-agent"]).toMatch(/^Edgehook\/\S+$/);
		expect(headers["webhook-id"]).toBe(event.id);
		expect(headers["x-webhook-id"]).toBe(event.id);
		expect(headers["webhook-timestamp"]).toMatch(/^\d+$/);
		expect(headers["x-webhook-timestamp"]).toBe(headers["webhook-timestamp"]);
		const skew = Math.abs(Number(headers["webhook-timestamp"]) - Date.now() / 1000);
		expect(skew).toBeLessThan(120);
		expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
		expect(headers["x-webhook-signature"]).toMatch(/^sha256=[0-9a-f]{64}$/);
	});

	it("verifies with the standardwebhooks library", () => {
		const headers = {
			"webhook-id": request.headers["webhook-id"] ?? "",
			"webhook-timestamp": request.headers["webhook-timestamp"] ?? "",
			"webhook-signature": request.headers["webhook-signature"] ?? "",
		};
		expect(new StandardWebhook(secret).verify(request.body, headers)).toEqual(JSON.parse(request.body));
		// Control: the same check fails with another secret or another body.
		expect(() => new StandardWebhook(newSecret()).verify(request.body, headers)).toThrow();
		expect(() => new StandardWebhook(secret).verify(`${request.body} `, headers)).toThrow();
	});

	it("verifies with the svix library", () => {
		const headers = {
			"webhook-id": request.headers["webhook-id"] ?? "",
			"webhook-timestamp": request.headers["webhook-timestamp"] ?? "",
			"webhook-signature": request.headers["webhook-signature"] ?? "",
		};
		expect(new SvixWebhook(secret).verify(request.body, headers)).toEqual(JSON.parse(request.body));
		expect(() => new SvixWebhook(newSecret()).verify(request.body, headers)).toThrow();
	});

	it("verifies with seed 003's Node snippet, on the body re-serialized as Express would", () => {
		const signature = request.headers["x-webhook-signature"] ?? "";
		// The seed's handler signs JSON.stringify(req.body) after express.json() parsed it.
		const reserialized = JSON.stringify(JSON.parse(request.body));
		expect(seed003Verify(reserialized, signature, secret)).toBe(true);
		expect(seed003Verify(reserialized, signature, newSecret())).toBe(false);
	});

	it("verifies with seed 001's Python check (hmac module) on the raw body", () => {
		const header = request.headers["x-webhook-signature"] ?? "";
		// Seed 001 expects a BARE hex signature, but the default header carries
		// the `sha256=` prefix; a tenant setting for bare hex comes in a later
		// issue, so until then this test strips the prefix before comparing.
		const bareHex = header.replace(/^sha256=/, "");
		expect(runSeed001Python(secret, bareHex, request.rawBody)).toBe(0);
		expect(runSeed001Python(secret, bareHex, Buffer.from(`${request.body} `))).toBe(1);
		expect(runSeed001Python(newSecret(), bareHex, request.rawBody)).toBe(1);
	});

	it("signs with the whole secret string as the X-Webhook-Signature key", () => {
		const expected = createHmac("sha256", secret).update(request.rawBody).digest("hex");
		expect(request.headers["x-webhook-signature"]).toBe(`sha256=${expected}`);
	});
});
