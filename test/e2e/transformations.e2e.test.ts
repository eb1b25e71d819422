import { Webhook as StandardWebhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
	type AcceptedEvent,
	type ApiResponse,
	bodyOf,
	call,
	type Delivery,
	expectStatus,
	getDelivery,
	listAllIds,
	listDeliveries,
	sendEvent,
	sortedAttempts,
	summarize,
	uniqueSuffix,
	type Webhook,
	WebhookTracker,
	waitForDelivery,
} from "./support/api";
import type { ChatReceiver } from "./support/chat-receiver";
import { type ReceivedRequest, Receiver } from "./support/receiver";
import { asSlackMessage, startSlackReceiver } from "./support/slack-receiver";
import { createTenant, createTenantApiKey, deleteTenant, type Tenant, TenantClient } from "./support/tenants";
import { gracePeriod } from "./support/wait";

/** Longer than the one-second retry schedule, so a retry would have happened. */
const QUIET_MS = 2_500;

const USER = {
	id: "usr_1",
	email: "zoe@example.com",
	password: "hunter2",
	profile: { first: "Zoë", last: "Ñandú", tags: ["admin", "beta"] },
};

/** The one delivery of `eventId` to the endpoint, in full, once it is no longer pending. */
async function settledDelivery(webhookId: string, eventId: string): Promise<Delivery> {
	const summary = await waitForDelivery(webhookId, eventId, (d) => d.status !== "pending", "settled");
	return getDelivery(summary.id);
}

/** The request's body, after checking its Standard Webhooks signature with the endpoint's secret. */
function verified(request: ReceivedRequest, secret: string): unknown {
	const headers = {
		"webhook-id": request.headers["webhook-id"] ?? "",
		"webhook-timestamp": request.headers["webhook-timestamp"] ?? "",
		"webhook-signature": request.headers["webhook-signature"] ?? "",
	};
	const payload = new StandardWebhook(secret).verify(request.body, headers);
	// Control: a body changed by one byte does not verify.
	expect(() => new StandardWebhook(secret).verify(`${request.body} `, headers)).toThrow();
	return payload;
}

interface FieldDetail {
	field: string;
	message: string;
}

/** The `details` of a 422 validation_failed answer. */
function validationDetails(response: ApiResponse): FieldDetail[] {
	expect(response.status, summarize(response)).toBe(422);
	const { error } = bodyOf<{ error: { code: string; message: string; details?: FieldDetail[] } }>(response);
	expect(error.code).toBe("validation_failed");
	expect(typeof error.message).toBe("string");
	return error.details ?? [];
}

describe("transformations on webhook endpoints", () => {
	const webhooks = new WebhookTracker();
	let receiver: Receiver;
	let reshape: Webhook;
	let drop: Webhook;
	let filter: Webhook;
	let failing: Webhook;

	beforeAll(async () => {
		receiver = await Receiver.start();
		// Renames and reshapes: keys of its own, values from the envelope.
		reshape = await webhooks.create({
			url: `${receiver.url}/reshape`,
			events: ["user.created"],
			transformation:
				'{"kind": type, "event_id": id, "user": {"ref": data.id, "mail": data.email, "name": data.profile.first & " " & data.profile.last}, "tag_count": $count(data.profile.tags)}',
		});
		// Drops the password, and drops user.deleted events altogether.
		drop = await webhooks.create({
			url: `${receiver.url}/drop`,
			events: ["user.*"],
			transformation:
				'type = "user.deleted" ? undefined : {"type": type, "data": $sift(data, function($v, $k) {$k != "password"})}',
		});
		// A filter: only big orders get through.
		filter = await webhooks.create({
			url: `${receiver.url}/filter`,
			events: ["order.placed"],
			transformation: '$[data.amount > 100].{"order": data.id, "amount": data.amount}',
		});
		failing = await webhooks.create({
			url: `${receiver.url}/failing`,
			events: ["order.placed"],
			transformation: '$error("boom: no order for " & data.id)',
		});
	});

	afterAll(async () => {
		await webhooks.deleteAll();
		await receiver.close();
	});

	function requestsAt(path: string, eventId: string): ReceivedRequest[] {
		return receiver.requestsFor(eventId).filter((request) => request.path === `/webhook/${path}`);
	}

	async function onlyRequestAt(path: string, eventId: string): Promise<ReceivedRequest> {
		const settled = await settledDeliveryAt(path, eventId);
		expect(settled.status).toBe("success");
		const requests = requestsAt(path, eventId);
		expect(requests, `requests at /${path} for ${eventId}`).toHaveLength(1);
		const [request] = requests;
		if (request === undefined) throw new Error("unreachable: length checked");
		return request;
	}

	function settledDeliveryAt(path: string, eventId: string): Promise<Delivery> {
		const webhook = { reshape, drop, filter, failing }[path];
		if (webhook === undefined) throw new Error(`no endpoint ${path}`);
		return settledDelivery(webhook.id, eventId);
	}

	it("sends the reshaped body, renamed and restructured, signed over what is sent", async () => {
		const event = await sendEvent({ type: "user.created", data: USER });
		const request = await onlyRequestAt("reshape", event.id);
		const expected = {
			kind: "user.created",
			event_id: event.id,
			user: { ref: "usr_1", mail: "zoe@example.com", name: "Zoë Ñandú" },
			tag_count: 2,
		};
		expect(request.body).toBe(JSON.stringify(expected));
		expect(verified(request, reshape.secret)).toEqual(expected);
		expect(request.headers["webhook-id"]).toBe(event.id);
		expect(request.headers["content-type"]).toMatch(/^application\/json\b/);
	});

	it("drops a field, and skips an event the expression returns nothing for", async () => {
		const created = await sendEvent({ type: "user.created", data: USER });
		const deleted = await sendEvent({ type: "user.deleted", data: { id: "usr_1" } });

		const request = await onlyRequestAt("drop", created.id);
		const expected = {
			type: "user.created",
			data: { id: "usr_1", email: "zoe@example.com", profile: USER.profile },
		};
		expect(request.body).toBe(JSON.stringify(expected));
		expect(request.body).not.toContain("hunter2");
		expect(verified(request, drop.secret)).toEqual(expected);

		const skipped = await settledDeliveryAt("drop", deleted.id);
		expect(skipped.status).toBe("skipped");
		expect(skipped.attempts).toEqual([]);
		const view = await call("GET", `/v1/deliveries/${encodeURIComponent(skipped.id)}/request`);
		expect(view.status, summarize(view)).toBe(409);
		await gracePeriod(QUIET_MS);
		expect(receiver.requestsFor(deleted.id)).toEqual([]);
		expect((await getDelivery(skipped.id)).status).toBe("skipped");

		const listed = bodyOf<{ deliveries: Array<{ id: string }> }>(
			expectStatus(await call("GET", `/v1/webhooks/${encodeURIComponent(drop.id)}/deliveries?status=skipped`), 200),
		);
		expect(listed.deliveries.map((d) => d.id)).toEqual([skipped.id]);
		// The endpoint also got the user.created of other tests: the totals must match its log.
		const all = await listDeliveries(drop.id);
		const count = (status: string): number => all.filter((d) => d.status === status).length;
		expect(count("skipped")).toBe(1);
		expect(count("failed")).toBe(0);
		const stats = bodyOf<{ totals: Record<string, unknown> }>(
			expectStatus(await call("GET", `/v1/webhooks/${encodeURIComponent(drop.id)}/stats`), 200),
		);
		expect(stats.totals).toEqual({
			deliveries: all.length,
			succeeded: count("success"),
			failed: 0,
			pending: 0,
			skipped: 1,
			success_rate: 1,
		});
	});

	it("filters: a match is sent, a miss is skipped; a failing expression fails the delivery and sends nothing", async () => {
		const big = await sendEvent({ type: "order.placed", data: { id: "ord_big", amount: 250 } });
		const small = await sendEvent({ type: "order.placed", data: { id: "ord_small", amount: 5 } });

		const request = await onlyRequestAt("filter", big.id);
		expect(request.body).toBe(JSON.stringify({ order: "ord_big", amount: 250 }));
		expect(verified(request, filter.secret)).toEqual({ order: "ord_big", amount: 250 });

		const missed = await settledDeliveryAt("filter", small.id);
		expect(missed.status).toBe("skipped");
		expect(missed.attempts).toEqual([]);

		for (const event of [big, small]) {
			const failed = await settledDeliveryAt("failing", event.id);
			expect(failed.status).toBe("failed");
			const data = event === big ? "ord_big" : "ord_small";
			expect(failed.error).toContain(`boom: no order for ${data}`);
			const attempts = sortedAttempts(failed);
			expect(attempts).toHaveLength(1);
			expect(attempts[0]?.status_code).toBeNull();
			expect(attempts[0]?.error).toContain(`boom: no order for ${data}`);
			const view = await call("GET", `/v1/deliveries/${encodeURIComponent(failed.id)}/request`);
			expect(view.status, summarize(view)).toBe(409);
		}
		await gracePeriod(QUIET_MS);
		expect(requestsAt("failing", big.id)).toEqual([]);
		expect(requestsAt("failing", small.id)).toEqual([]);
		expect(requestsAt("filter", small.id)).toEqual([]);
		// Not retried: a failing expression would fail the same way again.
		expect((await settledDeliveryAt("failing", big.id)).attempts).toHaveLength(1);
	});

	it("previews with POST /v1/webhooks/{id}/transformation/test without sending anything", async () => {
		const before = receiver.requests.length;
		const preview = async (id: string, json: unknown): Promise<ApiResponse> =>
			call("POST", `/v1/webhooks/${encodeURIComponent(id)}/transformation/test`, { json });

		const shown = await preview(reshape.id, { event: { type: "user.created", id: "evt_preview_1", data: USER } });
		expect(bodyOf(expectStatus(shown, 200))).toEqual({
			dropped: false,
			body: {
				kind: "user.created",
				event_id: "evt_preview_1",
				user: { ref: "usr_1", mail: "zoe@example.com", name: "Zoë Ñandú" },
				tag_count: 2,
			},
		});

		const dropped = await preview(drop.id, { event: { type: "user.deleted", data: { id: "usr_1" } } });
		expect(bodyOf(expectStatus(dropped, 200))).toEqual({ dropped: true, body: null });

		// Another expression than the saved one, tried on the same endpoint.
		const other = await preview(reshape.id, {
			event: { type: "user.created", data: USER },
			transformation: '{"who": data.email}',
		});
		expect(bodyOf(expectStatus(other, 200))).toEqual({ dropped: false, body: { who: "zoe@example.com" } });

		const failed = await preview(failing.id, { event: { type: "order.placed", data: { id: "ord_x" } } });
		const details = validationDetails(failed);
		expect(details).toHaveLength(1);
		expect(details[0]?.field).toBe("transformation");
		expect(details[0]?.message).toContain("boom: no order for ord_x");

		// The saved expression is unchanged by a preview with another one.
		const saved = bodyOf<{ transformation: string | null }>(
			expectStatus(await call("GET", `/v1/webhooks/${encodeURIComponent(reshape.id)}`), 200),
		);
		expect(saved.transformation).toContain('"kind": type');

		await gracePeriod(1_500);
		expect(receiver.requests.length).toBe(before);
	});
});

describe("bad channel and transformation input", () => {
	const webhooks = new WebhookTracker();
	let receiver: Receiver;
	let idsBefore: string[];

	beforeAll(async () => {
		receiver = await Receiver.start();
		idsBefore = await listAllIds("/v1/webhooks", "webhooks");
	});

	afterAll(async () => {
		await webhooks.deleteAll();
		await receiver.close();
	});

	async function refusedCreate(input: Record<string, unknown>): Promise<FieldDetail[]> {
		return validationDetails(await call("POST", "/v1/webhooks", { json: input }));
	}

	it("refuses an unknown channel", async () => {
		const details = await refusedCreate({ channel: "teams", url: receiver.url, events: ["*"] });
		expect(details.map((d) => d.field)).toEqual(["channel"]);
		expect(details[0]?.message).toMatch(/webhook.*slack.*discord.*email/);
	});

	it("refuses an email endpoint without to, with a url, or with an address that is not one", async () => {
		expect(await refusedCreate({ channel: "email", events: ["*"] })).toEqual([
			{ field: "to", message: "is required for the email channel" },
		]);
		expect(
			(await refusedCreate({ channel: "email", url: receiver.url, to: ["ops@example.com"], events: ["*"] })).map(
				(d) => d.field,
			),
		).toEqual(["url"]);
		const invalid = await refusedCreate({ channel: "email", to: ["ops@example.com", "not an address"], events: ["*"] });
		expect(invalid.map((d) => d.field)).toEqual(["to.1"]);
		expect(invalid[0]?.message).toMatch(/email/i);
		// And `to` on a channel that is not email.
		expect(
			(await refusedCreate({ url: receiver.url, to: ["ops@example.com"], events: ["*"] })).map((d) => d.field),
		).toEqual(["to"]);
	});

	it("refuses a malformed transformation, naming the position", async () => {
		const details = await refusedCreate({
			url: receiver.url,
			events: ["*"],
			transformation: '{"kind": type, "user": data.}',
		});
		expect(details.map((d) => d.field)).toEqual(["transformation"]);
		expect(details[0]?.message).toMatch(/position \d+/);

		// The same through PATCH leaves the stored endpoint as it was.
		const kept = await webhooks.create({ url: receiver.url, events: ["never.sent"], transformation: '{"a": 1}' });
		const patched = await call("PATCH", `/v1/webhooks/${encodeURIComponent(kept.id)}`, {
			json: { transformation: "$count(" },
		});
		const patchDetails = validationDetails(patched);
		expect(patchDetails.map((d) => d.field)).toEqual(["transformation"]);
		expect(patchDetails[0]?.message).toMatch(/position \d+/);
		const stored = bodyOf<{ transformation: string | null }>(
			expectStatus(await call("GET", `/v1/webhooks/${encodeURIComponent(kept.id)}`), 200),
		);
		expect(stored.transformation).toBe('{"a": 1}');
		await webhooks.deleteAll();
	});

	it("refuses a template with a bad expression, and stores nothing", async () => {
		const list = async (): Promise<unknown> =>
			bodyOf<{ templates: unknown }>(expectStatus(await call("GET", "/v1/templates"), 200)).templates;
		const before = await list();
		const details = validationDetails(
			await call("PUT", "/v1/templates/slack/user.created", { json: { expression: '{"text": "a" & }' } }),
		);
		expect(details.map((d) => d.field)).toEqual(["expression"]);
		expect(details[0]?.message).toMatch(/position \d+/);
		const badChannel = await call("PUT", "/v1/templates/webhook/user.created", { json: { expression: '"x"' } });
		expect(badChannel.status, summarize(badChannel)).toBe(422);
		expect(await list()).toEqual(before);
	});

	it("stored no endpoint for any refused request", async () => {
		expect(await listAllIds("/v1/webhooks", "webhooks")).toEqual(idsBefore);
	});
});

describe("message templates", () => {
	const suffix = uniqueSuffix();
	let tenant: Tenant;
	let client: TenantClient;
	let plain: ChatReceiver;
	let transformed: ChatReceiver;
	let plainEndpoint: Webhook;

	beforeAll(async () => {
		// A tenant of its own: templates apply tenant-wide, to every Slack endpoint.
		tenant = await createTenant(`templates-${suffix}`);
		client = new TenantClient((await createTenantApiKey(tenant.id)).key);
		plain = await startSlackReceiver();
		transformed = await startSlackReceiver();
		plainEndpoint = await client.createWebhook({
			channel: "slack",
			url: plain.url,
			events: ["deploy.finished", "build.failed"],
		});
		await client.createWebhook({
			channel: "slack",
			url: transformed.url,
			events: ["deploy.finished", "build.failed"],
			transformation: '{"text": "endpoint: " & type}',
		});
	});

	afterAll(async () => {
		await deleteTenant(tenant.id);
		await plain.close();
		await transformed.close();
	});

	async function send(type: string, data: Record<string, unknown>): Promise<AcceptedEvent> {
		const response = await client.call("POST", "/v1/events", { json: { type, data } });
		return bodyOf<AcceptedEvent>(expectStatus(response, 202));
	}

	async function bodyAt(receiver: ChatReceiver, eventId: string): Promise<unknown> {
		const [request] = await receiver.waitForEvent(eventId);
		if (request === undefined) throw new Error("unreachable");
		expect(request.problems).toEqual([]);
		expect(request.reply.status).toBe(200);
		return request.json;
	}

	it("applies the event type's template, the * template to other types, and an endpoint transformation over both", async () => {
		const exact = await client.call("PUT", "/v1/templates/slack/deploy.finished", {
			json: { expression: '{"text": "Deployed " & data.service & " (" & id & ")"}' },
		});
		expect(bodyOf(expectStatus(exact, 200))).toMatchObject({
			channel: "slack",
			event_type: "deploy.finished",
			expression: '{"text": "Deployed " & data.service & " (" & id & ")"}',
		});
		expectStatus(
			await client.call("PUT", "/v1/templates/slack/*", { json: { expression: '{"text": "Other: " & type}' } }),
			200,
		);
		const listed = bodyOf<{ templates: Array<{ channel: string; event_type: string }> }>(
			expectStatus(await client.call("GET", "/v1/templates"), 200),
		);
		expect(listed.templates.map((t) => `${t.channel}/${t.event_type}`).sort()).toEqual([
			"slack/*",
			"slack/deploy.finished",
		]);

		const deploy = await send("deploy.finished", { service: "api" });
		expect(await bodyAt(plain, deploy.id)).toEqual({ text: `Deployed api (${deploy.id})` });
		expect(await bodyAt(transformed, deploy.id)).toEqual({ text: "endpoint: deploy.finished" });

		const build = await send("build.failed", { service: "web" });
		expect(await bodyAt(plain, build.id)).toEqual({ text: "Other: build.failed" });
		expect(await bodyAt(transformed, build.id)).toEqual({ text: "endpoint: build.failed" });

		// Without the * template, the built-in layout is back for other types.
		expect((await client.call("DELETE", "/v1/templates/slack/*")).status).toBe(204);
		const again = await send("build.failed", { service: "web" });
		const layout = asSlackMessage(await bodyAt(plain, again.id));
		expect(layout.blocks[0]).toEqual({ type: "header", text: { type: "plain_text", text: "build.failed" } });

		const delivery = await client.getDelivery((await client.waitForSettled(plainEndpoint.id, deploy.id)).id);
		expect(delivery.status).toBe("success");
	});
});
