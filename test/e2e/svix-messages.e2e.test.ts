import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ApiException, type MessageAttemptOut, Svix, Webhook } from "svix";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bodyOf, call, expectStatus, uniqueSuffix } from "./support/api";
import { target } from "./support/context";
import { type Receiver, startReceivers } from "./support/receiver";
import { createTenant, deleteTenant } from "./support/tenants";
import { done, notYet, waitFor } from "./support/wait";

/*
 * Messages and attempts through the official `svix` client (1.99), pointed
 * at Edgehook with `serverUrl` and the admin key as its token. The
 * application is a tenant of this file's own, so its lists hold only what
 * the file sends. Endpoints are made with the native API.
 */

let appId = "";
let svix: Svix;
let receivers: Receiver[] = [];

interface NativeWebhook {
	id: string;
}

async function createEndpoint(url: string, events: string[], extra: Record<string, unknown> = {}): Promise<string> {
	const created = await call("POST", "/v1/webhooks", {
		json: { url, events, ...extra },
		headers: { "x-tenant-id": appId },
	});
	return bodyOf<NativeWebhook>(expectStatus(created, 201)).id;
}

async function endpointSecret(endpointId: string): Promise<string> {
	const answer = await call("GET", `/v1/webhooks/${endpointId}/secret`, { headers: { "x-tenant-id": appId } });
	return bodyOf<{ secret: string }>(expectStatus(answer, 200)).secret;
}

/** The ApiException a call rejects with, to assert on what the client read. */
async function apiException(promise: Promise<unknown>): Promise<ApiException<unknown>> {
	try {
		await promise;
	} catch (error) {
		if (error instanceof ApiException) return error;
		throw error;
	}
	throw new Error("the call succeeded");
}

function receiver(index: number): Receiver {
	const found = receivers[index];
	if (!found) throw new Error(`no receiver ${index}`);
	return found;
}

beforeAll(async () => {
	const tenant = await createTenant(`svix-messages-${uniqueSuffix()}`);
	appId = tenant.id;
	svix = new Svix(target().adminKey, { serverUrl: target().baseUrl });
	receivers = await startReceivers(6);
});

afterAll(async () => {
	await Promise.all(receivers.map((each) => each.close()));
	if (appId !== "") await deleteTenant(appId);
});

describe("svix client: messages", () => {
	it("creates a message with eventId, verified by the receiver with svix's Webhook, and a duplicate eventId is an ApiException 409", async () => {
		const eventType = `order.created.${uniqueSuffix()}`;
		const endpointId = await createEndpoint(receiver(0).url, [eventType]);
		const eventId = `order-${uniqueSuffix()}`;
		const message = await svix.message.create(appId, { eventType, payload: { order: 1 }, eventId });
		expect(message).toMatchObject({ id: eventId, eventId, eventType, payload: { order: 1 } });
		expect(message.timestamp).toBeInstanceOf(Date);

		const [request] = await receiver(0).waitForRequests(1);
		if (!request) throw new Error("nothing received");
		const verified = new Webhook(await endpointSecret(endpointId)).verify(request.body, request.headers);
		expect(verified).toMatchObject({ type: eventType, data: { order: 1 } });
		expect(() =>
			new Webhook(`whsec_${Buffer.from("another secret, 32 bytes long!!").toString("base64")}`).verify(
				request.body,
				request.headers,
			),
		).toThrow();

		const duplicate = await apiException(svix.message.create(appId, { eventType, payload: { order: 2 }, eventId }));
		expect(duplicate.code).toBe(409);
		expect(duplicate.body).toMatchObject({ code: "conflict" });
		expect(receiver(0).requests).toHaveLength(1);
	});

	it("answers bad input as ApiException 422 naming the field, and an unknown application as 404", async () => {
		const invalid = await apiException(
			svix.message.create(appId, { eventType: "a.b", payload: {}, channels: ["no spaces"] }),
		);
		expect(invalid.code).toBe(422);
		expect(invalid.body).toMatchObject({ detail: [{ loc: ["body", "channels", "0"], type: "value_error" }] });
		const missing = await apiException(
			svix.message.create("app-that-does-not-exist", { eventType: "a.b", payload: {} }),
		);
		expect(missing.code).toBe(404);
		expect(missing.body).toMatchObject({ code: "not_found" });
		const unknown = await apiException(svix.message.get(appId, "no-such-message"));
		expect(unknown.code).toBe(404);
	});

	// Waits on the endpoints' native `labels` field (another change): until it is merged, creating the endpoints answers 422.
	it("routes a message with channels only to the endpoint listening on one of them", async () => {
		const eventType = `routed.${uniqueSuffix()}`;
		await createEndpoint(receiver(1).url, [eventType], { labels: ["team-a"] });
		await createEndpoint(receiver(2).url, [eventType], { labels: ["team-b"] });
		const message = await svix.message.create(appId, { eventType, payload: {}, channels: ["team-a"] });
		expect(message.channels).toEqual(["team-a"]);
		await receiver(1).waitForRequests(1);
		const destinations = await svix.messageAttempt.listAttemptedDestinations(appId, message.id);
		expect(destinations.data).toHaveLength(1);
		expect(receiver(2).requests).toHaveLength(0);
	});

	it("lists messages newest first, paged with limit 2 to the end, and gets one by id and by eventId", async () => {
		const eventType = `paged.${uniqueSuffix()}`;
		const ids: string[] = [];
		for (let n = 0; n < 5; n++) {
			const created = await svix.message.create(appId, {
				eventType,
				payload: { n },
				eventId: n === 2 ? `paged-${uniqueSuffix()}` : undefined,
				tags: ["paged"],
			});
			ids.push(created.id);
		}
		const seen: string[] = [];
		let iterator: string | null = null;
		let pages = 0;
		for (;;) {
			const listed = await svix.message.list(appId, { limit: 2, iterator, eventTypes: [eventType], withContent: true });
			pages++;
			seen.push(...listed.data.map((message) => message.id));
			if (listed.done) break;
			iterator = listed.iterator;
		}
		expect(pages).toBe(3);
		expect(seen).toEqual([...ids].reverse());

		const [newest] = (await svix.message.list(appId, { limit: 1, eventTypes: [eventType], withContent: true })).data;
		expect(newest?.payload).toEqual({ n: 4 });
		const byId = await svix.message.get(appId, String(ids[0]));
		expect(byId).toMatchObject({ id: ids[0], eventType, payload: { n: 0 }, tags: ["paged"] });
		const withEventId = await svix.message.get(appId, String(ids[2]));
		expect(withEventId.eventId).toBe(ids[2]);
	});

	it("delivers a message with deliverAt a few seconds ahead only once its time has come", async () => {
		const eventType = `later.${uniqueSuffix()}`;
		await createEndpoint(receiver(3).url, [eventType]);
		const deliverAt = new Date(Date.now() + 4000);
		const message = await svix.message.create(appId, { eventType, payload: { later: true }, deliverAt });
		expect(message.deliverAt?.toISOString()).toBe(deliverAt.toISOString());
		const [pending] = (await svix.messageAttempt.listAttemptedDestinations(appId, message.id)).data;
		expect(pending).toMatchObject({ status: 1, statusText: "pending" });
		expect(pending?.nextAttempt?.toISOString()).toBe(deliverAt.toISOString());
		const [request] = await receiver(3).waitForRequests(1, 30_000);
		expect(request?.receivedAt).toBeGreaterThanOrEqual(deliverAt.getTime() - 50);
	});
});

describe("svix client: attempts", () => {
	it("lists attempts by endpoint and by message, gets one, resends (triggerType 1), and lists attempted messages and destinations", async () => {
		const eventType = `attempted.${uniqueSuffix()}`;
		const endpointId = await createEndpoint(receiver(4).url, [eventType]);
		const message = await svix.message.create(appId, { eventType, payload: { a: 1 } });
		await receiver(4).waitForRequests(1);
		const [first] = (
			await waitFor<{ data: MessageAttemptOut[] }>("the first attempt", async () => {
				const listed = await svix.messageAttempt.listByMsg(appId, message.id);
				return listed.data.length > 0 ? done(listed) : notYet(listed);
			})
		).data;
		expect(first).toMatchObject({
			msgId: message.id,
			endpointId,
			url: receiver(4).url,
			response: "OK",
			responseStatusCode: 200,
			status: 0,
			statusText: "success",
			triggerType: 0,
		});
		expect(first?.timestamp).toBeInstanceOf(Date);

		const byEndpoint = await svix.messageAttempt.listByEndpoint(appId, endpointId, { withMsg: true });
		expect(byEndpoint.data.map((attempt) => attempt.id)).toEqual([first?.id]);
		expect(byEndpoint.data[0]?.msg?.id).toBe(message.id);
		const got = await svix.messageAttempt.get(appId, message.id, String(first?.id));
		expect(got.id).toBe(first?.id);

		expect(await svix.messageAttempt.resend(appId, message.id, endpointId)).toEqual({});
		await receiver(4).waitForRequests(2);
		const attempts = await waitFor<MessageAttemptOut[]>("the manual attempt", async () => {
			const listed = await svix.messageAttempt.listByEndpoint(appId, endpointId);
			return listed.data.length === 2 ? done(listed.data) : notYet(listed.data);
		});
		expect(attempts.map((attempt) => attempt.triggerType)).toEqual([1, 0]);

		const attempted = await svix.messageAttempt.listAttemptedMessages(appId, endpointId);
		expect(attempted.data).toEqual([expect.objectContaining({ id: message.id, status: 0, statusText: "success" })]);
		const destinations = await svix.messageAttempt.listAttemptedDestinations(appId, message.id);
		expect(destinations.data).toEqual([expect.objectContaining({ id: endpointId, status: 0, url: receiver(4).url })]);
	});
});

describe("svix client: retries", () => {
	let proxy: Server;
	let proxyUrl = "";
	let dropped = 0;

	beforeAll(async () => {
		const upstream = target().baseUrl;
		// Forwards everything to the worker, but answers the first message create by dropping the client's
		// connection after the worker has handled it: the client sees a network error and retries.
		proxy = createServer((req, res) => {
			const chunks: Buffer[] = [];
			req.on("data", (chunk: Buffer) => chunks.push(chunk));
			req.on("end", () => {
				const headers = new Headers();
				for (const [name, value] of Object.entries(req.headers)) {
					if (value !== undefined && name !== "host" && name !== "connection")
						headers.set(name, Array.isArray(value) ? value.join(", ") : value);
				}
				const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
				void fetch(`${upstream}${req.url ?? "/"}`, { method: req.method, headers, body }).then(
					async (answer) => {
						const text = await answer.text();
						if (req.method === "POST" && /\/msg$/.test(req.url?.split("?")[0] ?? "") && dropped === 0) {
							dropped++;
							req.socket.destroy();
							return;
						}
						res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" });
						res.end(text);
					},
					() => req.socket.destroy(),
				);
			});
		});
		await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
		proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
	});

	afterAll(async () => {
		proxy.closeAllConnections();
		await new Promise<void>((resolve) => proxy.close(() => resolve()));
	});

	it("gives one message when the client retries a create after a dropped connection", async () => {
		const eventType = `retried.${uniqueSuffix()}`;
		const endpointId = await createEndpoint(receiver(5).url, [eventType]);
		const throughProxy = new Svix(target().adminKey, { serverUrl: proxyUrl });
		const message = await throughProxy.message.create(appId, { eventType, payload: { once: true } });
		expect(dropped).toBe(1);
		const listed = await svix.message.list(appId, { eventTypes: [eventType] });
		expect(listed.data.map((each) => each.id)).toEqual([message.id]);
		await receiver(5).waitForRequests(1);
		const attempted = await svix.messageAttempt.listAttemptedMessages(appId, endpointId);
		expect(attempted.data).toHaveLength(1);
		expect(receiver(5).requests).toHaveLength(1);
	});
});
