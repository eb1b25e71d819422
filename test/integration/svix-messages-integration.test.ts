import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createWebhook, receivedBy, receiverPath, record, shardOf, uniqueName, waitFor } from "./helpers";

/*
 * The Svix face's messages and attempts (/api/v1/app/{app}/msg, /attempt):
 * translations of the native events, attempts and deliveries. Endpoint
 * labels are set with SQL until the endpoints' `labels` field is merged.
 */

const APP = "/api/v1/app/default";

interface SvixPage {
	data: Record<string, unknown>[];
	iterator: string | null;
	done: boolean;
}

function page(body: unknown): SvixPage {
	return body as SvixPage;
}

async function createMessage(body: Record<string, unknown>, headers: Record<string, string> = {}, query = "") {
	return api("POST", `${APP}/msg${query}`, { body, headers });
}

async function eventCount(): Promise<number> {
	const row = await env.DB.prepare("SELECT count(*) AS n FROM events").first<{ n: number }>();
	return row?.n ?? 0;
}

/** An endpoint for one event type, and a message of that type delivered to it. */
async function deliveredMessage(mode = "ok") {
	const name = uniqueName("svix-msg");
	const eventType = `svix.${name}`;
	const hook = await createWebhook({ url: receiverPath(mode, name), events: [eventType] });
	const created = record((await createMessage({ eventType, payload: { hello: name } })).body);
	const attempts = await waitFor(async () => {
		const listed = page((await api("GET", `${APP}/attempt/msg/${created.id}`)).body);
		return listed.data.length > 0 ? listed : undefined;
	});
	return { name, eventType, endpointId: String(hook.id), msgId: String(created.id), attempts };
}

describe("Svix face: message create", () => {
	it("answers 202 MessageOut, with the payload unless with_content=false", async () => {
		const response = await createMessage({
			eventType: "invoice.paid",
			payload: { amount: 3 },
			channels: ["billing"],
			tags: ["customer_1"],
		});
		expect(response.status).toBe(202);
		const message = record(response.body);
		expect(message).toMatchObject({
			eventType: "invoice.paid",
			payload: { amount: 3 },
			channels: ["billing"],
			tags: ["customer_1"],
		});
		expect(message.id).toMatch(/^evt_/);
		expect(message.eventId).toBeUndefined();
		expect(Date.parse(String(message.timestamp))).not.toBeNaN();

		const bare = record(
			(await createMessage({ eventType: "invoice.paid", payload: { amount: 4 } }, {}, "?with_content=false")).body,
		);
		expect(bare.payload).toEqual({});
	});

	it("makes eventId the message's id, and answers 409 conflict to a second message with it", async () => {
		const eventId = uniqueName("order-1");
		const first = await createMessage({ eventType: "order.created", payload: { n: 1 }, eventId });
		expect(first.status).toBe(202);
		expect(record(first.body)).toMatchObject({ id: eventId, eventId });
		const before = await eventCount();
		const duplicate = await createMessage({ eventType: "order.created", payload: { n: 2 }, eventId });
		expect(duplicate.status).toBe(409);
		expect(duplicate.body).toMatchObject({ code: "conflict" });
		expect(await eventCount()).toBe(before);
	});

	it("replays the first 202 for the same idempotency-key and creates one message, eventId or not", async () => {
		const key = `auto_${crypto.randomUUID()}`;
		const first = await createMessage({ eventType: "order.paid", payload: { n: 1 } }, { "idempotency-key": key });
		const before = await eventCount();
		const retried = await createMessage({ eventType: "order.paid", payload: { n: 1 } }, { "idempotency-key": key });
		expect(retried.status).toBe(202);
		expect(retried.body).toEqual(first.body);
		expect(await eventCount()).toBe(before);

		const eventId = uniqueName("keyed");
		const keyed = `auto_${crypto.randomUUID()}`;
		await createMessage({ eventType: "order.paid", payload: {}, eventId }, { "idempotency-key": keyed });
		const again = await createMessage({ eventType: "order.paid", payload: {}, eventId }, { "idempotency-key": keyed });
		expect(again.status).toBe(202);
		expect(record(again.body).id).toBe(eventId);
	});

	it("answers Svix's 422 naming the field in Svix's terms, and stores nothing", async () => {
		const before = await eventCount();
		const badChannel = await createMessage({ eventType: "a.b", payload: {}, channels: ["no spaces"] });
		expect(badChannel.status).toBe(422);
		expect(badChannel.body).toEqual({
			detail: [expect.objectContaining({ loc: ["body", "channels", "0"], type: "value_error" })],
		});
		const badType = await createMessage({ eventType: "not a type", payload: {} });
		expect(record(badType.body).detail).toEqual([expect.objectContaining({ loc: ["body", "eventType"] })]);
		const noPayload = await createMessage({ eventType: "a.b" });
		expect(noPayload.status).toBe(422);
		expect(record(noPayload.body).detail).toEqual([expect.objectContaining({ loc: ["body", "payload"] })]);
		const farAhead = await createMessage({
			eventType: "a.b",
			payload: {},
			deliverAt: new Date(Date.now() + 40 * 24 * 3600 * 1000).toISOString(),
		});
		expect(record(farAhead.body).detail).toEqual([expect.objectContaining({ loc: ["body", "deliverAt"] })]);
		expect(await eventCount()).toBe(before);
	});

	it("accepts and ignores payloadRetentionPeriod, payloadRetentionHours and transformationsParams", async () => {
		const response = await createMessage({
			eventType: "a.b",
			payload: { x: 1 },
			payloadRetentionPeriod: 30,
			payloadRetentionHours: 24,
			transformationsParams: { rawPayload: "{}" },
		});
		expect(response.status).toBe(202);
	});

	it("answers 404 for an application that does not exist, and creates one named inline (uid = the path) before the message", async () => {
		const missing = await api("POST", "/api/v1/app/no-such-app/msg", { body: { eventType: "a.b", payload: {} } });
		expect(missing.status).toBe(404);
		expect(missing.body).toMatchObject({ code: "not_found" });

		const uid = uniqueName("inline-app");
		const mismatched = await api("POST", `/api/v1/app/${uid}/msg`, {
			body: { eventType: "a.b", payload: {}, application: { name: "Inline", uid: "another-uid" } },
		});
		expect(mismatched.status).toBe(422);
		expect(JSON.stringify(mismatched.body)).toContain('["body","application","uid"]');
		expect((await api("GET", `/api/v1/app/${uid}`)).status).toBe(404);

		const created = await api("POST", `/api/v1/app/${uid}/msg`, {
			body: { eventType: "a.b", payload: { inline: true }, application: { name: "Inline", uid } },
		});
		expect(created.status).toBe(202);
		const app = record((await api("GET", `/api/v1/app/${uid}`)).body);
		expect(app).toMatchObject({ name: "Inline", uid });
		const messages = record((await api("GET", `/api/v1/app/${uid}/msg`)).body);
		expect((messages.data as unknown[]).length).toBe(1);
	});

	it("routes by channels: a message with channels reaches only endpoints listening on one of them", async () => {
		const name = uniqueName("channels");
		const eventType = `routed.${name}`;
		const listening = await createWebhook({ url: receiverPath("ok", `${name}-in`), events: [eventType] });
		const other = await createWebhook({ url: receiverPath("ok", `${name}-out`), events: [eventType] });
		const shard = await shardOf("default");
		await shard.prepare("UPDATE endpoints SET labels = ? WHERE id = ?").bind('["team-a"]', String(listening.id)).run();
		await shard.prepare("UPDATE endpoints SET labels = ? WHERE id = ?").bind('["team-b"]', String(other.id)).run();
		await createMessage({ eventType, payload: {}, channels: ["team-a"] });
		await waitFor(async () => ((await receivedBy(`${name}-in`)).length > 0 ? true : undefined));
		expect(await receivedBy(`${name}-out`)).toEqual([]);
	});
});

describe("Svix face: message list and get", () => {
	it("lists newest first, pages with limit and iterator to done, and filters by channel, tag and event_types", async () => {
		const tag = uniqueName("paged");
		const ids: string[] = [];
		for (let n = 0; n < 5; n++) {
			const created = record(
				(
					await createMessage({
						eventType: n === 4 ? "paged.other" : "paged.one",
						payload: { n },
						tags: [tag],
						channels: n === 0 ? ["first"] : undefined,
					})
				).body,
			);
			ids.push(String(created.id));
		}
		const seen: string[] = [];
		let iterator: string | null = null;
		let pages = 0;
		for (;;) {
			const query: string = `?limit=2&tag=${tag}${iterator === null ? "" : `&iterator=${encodeURIComponent(iterator)}`}`;
			const listed = page((await api("GET", `${APP}/msg${query}`)).body);
			pages++;
			expect(listed.data.length).toBeLessThanOrEqual(2);
			seen.push(...listed.data.map((message) => String(message.id)));
			if (listed.done) break;
			iterator = listed.iterator;
		}
		expect(pages).toBe(3);
		expect(seen).toEqual([...ids].reverse());

		const byChannel = page((await api("GET", `${APP}/msg?channel=first&tag=${tag}`)).body);
		expect(byChannel.data.map((message) => message.id)).toEqual([ids[0]]);
		const byType = page((await api("GET", `${APP}/msg?event_types=paged.other&tag=${tag}`)).body);
		expect(byType.data.map((message) => message.id)).toEqual([ids[4]]);
		const withoutContent = page((await api("GET", `${APP}/msg?tag=${tag}&with_content=false&limit=1`)).body);
		expect(withoutContent.data[0]?.payload).toEqual({});
		expect(page((await api("GET", `${APP}/msg?tag=${tag}&limit=1`)).body).data[0]?.payload).toEqual({ n: 4 });
		const bad = await api("GET", `${APP}/msg?limit=251`);
		expect(bad.status).toBe(422);
		expect(record(bad.body).detail).toEqual([expect.objectContaining({ loc: ["query", "limit"] })]);
	});

	it("gets a message by id and by eventId, and answers 404 for another", async () => {
		const eventId = uniqueName("get-me");
		await createMessage({
			eventType: "got.it",
			payload: { a: 1 },
			eventId,
			deliverAt: new Date(Date.now() + 3_600_000).toISOString(),
		});
		const got = await api("GET", `${APP}/msg/${eventId}`);
		expect(got.status).toBe(200);
		expect(record(got.body)).toMatchObject({ id: eventId, eventId, eventType: "got.it", payload: { a: 1 } });
		expect(Date.parse(String(record(got.body).deliverAt))).toBeGreaterThan(Date.now());
		const generated = record((await createMessage({ eventType: "got.it", payload: {} })).body);
		expect((await api("GET", `${APP}/msg/${generated.id}?with_content=false`)).status).toBe(200);
		const missing = await api("GET", `${APP}/msg/no-such-message`);
		expect(missing.status).toBe(404);
		expect(missing.body).toMatchObject({ code: "not_found" });
	});
});

describe("Svix face: attempts", () => {
	it("lists a message's and an endpoint's attempts as MessageAttemptOut, and gets one", async () => {
		const { endpointId, msgId, attempts, name } = await deliveredMessage();
		const [attempt] = attempts.data;
		expect(attempt).toMatchObject({
			msgId,
			endpointId,
			url: receiverPath("ok", name),
			response: "received",
			responseStatusCode: 200,
			status: 0,
			statusText: "success",
			triggerType: 0,
		});
		expect(String(attempt?.id)).toMatch(/^att_/);
		expect(typeof attempt?.responseDurationMs).toBe("number");
		expect(attempts.done).toBe(true);

		const byEndpoint = page(
			(await api("GET", `${APP}/attempt/endpoint/${endpointId}?with_msg=true&with_content=false`)).body,
		);
		expect(byEndpoint.data).toHaveLength(1);
		expect(byEndpoint.data[0]).toMatchObject({ id: attempt?.id, response: "{}", msg: { id: msgId, payload: {} } });
		expect(page((await api("GET", `${APP}/attempt/endpoint/${endpointId}?status=2`)).body).data).toEqual([]);
		expect(
			page((await api("GET", `${APP}/attempt/endpoint/${endpointId}?status_code_class=200`)).body).data,
		).toHaveLength(1);
		expect(page((await api("GET", `${APP}/attempt/endpoint/${endpointId}?status_code_class=500`)).body).data).toEqual(
			[],
		);

		const got = await api("GET", `${APP}/msg/${msgId}/attempt/${attempt?.id}`);
		expect(got.status).toBe(200);
		expect(got.body).toEqual(attempt);
		expect((await api("GET", `${APP}/msg/${msgId}/attempt/att_nosuchattempt0000`)).status).toBe(404);
		expect((await api("GET", `${APP}/attempt/endpoint/hook_nosuchendpoint00`)).status).toBe(404);
	});

	it("reports a failed attempt with its status code, and resend makes a manual attempt (triggerType 1), answering 202 {}", async () => {
		const { endpointId, msgId, attempts } = await deliveredMessage("status/500");
		expect(attempts.data[0]).toMatchObject({ status: 2, statusText: "fail", responseStatusCode: 500 });
		const resent = await api("POST", `${APP}/msg/${msgId}/endpoint/${endpointId}/resend`);
		expect(resent.status).toBe(202);
		expect(resent.body).toEqual({});
		const manual = await waitFor(async () => {
			const listed = page((await api("GET", `${APP}/attempt/msg/${msgId}?endpoint_id=${endpointId}`)).body);
			return listed.data.find((attempt) => attempt.triggerType === 1);
		});
		expect(manual).toMatchObject({ msgId, endpointId, status: 2 });
		expect((await api("POST", `${APP}/msg/no-such-msg/endpoint/${endpointId}/resend`)).status).toBe(404);
	});

	it("lists the messages attempted to an endpoint with their status, and a message's destinations", async () => {
		const { endpointId, msgId, eventType } = await deliveredMessage();
		const messages = page((await api("GET", `${APP}/endpoint/${endpointId}/msg`)).body);
		expect(messages.data).toEqual([
			expect.objectContaining({ id: msgId, eventType, status: 0, statusText: "success", nextAttempt: null }),
		]);
		expect(page((await api("GET", `${APP}/endpoint/${endpointId}/msg?status=2`)).body).data).toEqual([]);

		const destinations = page((await api("GET", `${APP}/msg/${msgId}/endpoint`)).body);
		expect(destinations.data).toEqual([
			expect.objectContaining({ id: endpointId, status: 0, statusText: "success", disabled: false }),
		]);
		expect(destinations.done).toBe(true);
	});

	it("shows a scheduled message's destination as pending with its due time", async () => {
		const name = uniqueName("svix-later");
		const eventType = `svix.${name}`;
		const hook = await createWebhook({ url: receiverPath("ok", name), events: [eventType] });
		const deliverAt = new Date(Date.now() + 3_600_000).toISOString();
		const created = record((await createMessage({ eventType, payload: {}, deliverAt })).body);
		expect(created.deliverAt).toBe(deliverAt);
		const destinations = page((await api("GET", `${APP}/msg/${created.id}/endpoint`)).body);
		expect(destinations.data).toEqual([
			expect.objectContaining({ id: hook.id, status: 1, statusText: "pending", nextAttempt: deliverAt }),
		]);
	});
});

describe("Svix face: messages and attempts of another application", () => {
	it("answers 404 to a tenant key naming another application, and lets it use its own", async () => {
		const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("svix-other") } })).body);
		const key = String(
			record((await api("POST", `/v1/tenants/${tenant.id}/api-keys`, { body: { name: "k" } })).body).key,
		);
		const { endpointId, msgId } = await deliveredMessage();
		for (const path of [
			`${APP}/msg`,
			`${APP}/msg/${msgId}`,
			`${APP}/attempt/msg/${msgId}`,
			`${APP}/attempt/endpoint/${endpointId}`,
			`${APP}/endpoint/${endpointId}/msg`,
			`${APP}/msg/${msgId}/endpoint`,
		]) {
			const response = await api("GET", path, { auth: key });
			expect(response.status, path).toBe(404);
			expect(response.body, path).toMatchObject({ code: "not_found" });
		}
		const resend = await api("POST", `${APP}/msg/${msgId}/endpoint/${endpointId}/resend`, { auth: key });
		expect(resend.status).toBe(404);
		// Its own application, but the other tenant's endpoint and message: not found either.
		const own = `/api/v1/app/${tenant.id}`;
		expect((await api("GET", `${own}/attempt/endpoint/${endpointId}`, { auth: key })).status).toBe(404);
		expect((await api("GET", `${own}/msg/${msgId}`, { auth: key })).status).toBe(404);
		const created = await api("POST", `${own}/msg`, { auth: key, body: { eventType: "own.thing", payload: {} } });
		expect(created.status).toBe(202);
		expect(page((await api("GET", `${own}/msg`, { auth: key })).body).data.map((message) => message.id)).toEqual([
			record(created.body).id,
		]);
	});

	it("reports a bad query parameter as a 422 on the query, by its Svix name", async () => {
		const { endpointId, msgId } = await deliveredMessage();
		const badChannel = await api("GET", `${APP}/msg?channel=${encodeURIComponent("has space")}`);
		expect(badChannel.status).toBe(422);
		expect(record(badChannel.body).detail).toEqual([expect.objectContaining({ loc: ["query", "channel"] })]);
		const badTypes = await api("GET", `${APP}/attempt/msg/${msgId}?event_types=${encodeURIComponent("not a type")}`);
		expect(record(badTypes.body).detail).toEqual([expect.objectContaining({ loc: ["query", "event_types"] })]);
		const badClass = await api("GET", `${APP}/attempt/endpoint/${endpointId}?status_code_class=250`);
		expect(record(badClass.body).detail).toEqual([expect.objectContaining({ loc: ["query", "status_code_class"] })]);
		const badTag = await api("GET", `${APP}/endpoint/${endpointId}/msg?tag=${encodeURIComponent("a b")}`);
		expect(record(badTag.body).detail).toEqual([expect.objectContaining({ loc: ["query", "tag"] })]);
		const badIterator = await api("GET", `${APP}/msg?iterator=evt_nosuchevent`);
		expect(badIterator.status).toBe(400);
		expect(badIterator.body).toMatchObject({ code: "generic_error" });
	});
});
