import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
	type AcceptedEvent,
	call,
	type Delivery,
	getDelivery,
	sendEvent,
	sortedAttempts,
	summarize,
	uniqueSuffix,
	type Webhook,
	WebhookTracker,
	waitForDelivery,
} from "./support/api";
import type { ChatReceiver } from "./support/chat-receiver";
import { asDiscordMessage, DISCORD_LIMITS, startDiscordReceiver } from "./support/discord-receiver";
import { type CapturedEmail, emailsTo, waitForEmailsTo } from "./support/email-capture";
import { asSlackMessage, SLACK_LIMITS, type SlackBlockSeen, startSlackReceiver } from "./support/slack-receiver";

/** The harness's EMAIL_FROM (test/e2e/global-setup.ts). */
const EMAIL_FROM = "Edgehook <edgehook@example.com>";

/** An endpoint as `POST /v1/webhooks` answers it, with the channel fields. */
interface ChannelEndpoint extends Omit<Webhook, "url"> {
	channel: string;
	url: string | null;
	to: string[] | null;
	transformation: string | null;
}

/**
 * A payload far over every chat limit: a 10,000-character value, text that
 * would mention everyone or make a link in Slack, a 300-character key, and 60
 * more fields, 63 in all.
 */
function bigPayload(): Record<string, unknown> {
	const data: Record<string, unknown> = {
		longText: `start-${"x".repeat(10_000)}-end`,
		mention: "<!channel> & <https://evil.example|click> @everyone",
		[`k${"e".repeat(299)}`]: "value of the long key",
	};
	for (let i = 0; i < 60; i++) {
		data[`f${String(i).padStart(2, "0")}`] = `value ${i} ${"y".repeat(200)}`;
	}
	return data;
}

/** The one delivery of `eventId` to the endpoint, in full, once it settled. */
async function settledDelivery(webhookId: string, eventId: string): Promise<Delivery> {
	const summary = await waitForDelivery(webhookId, eventId, (d) => d.status !== "pending", "settled");
	return getDelivery(summary.id);
}

function blockOf(blocks: SlackBlockSeen[], type: string): SlackBlockSeen {
	const block = blocks.find((candidate) => candidate.type === type);
	if (block === undefined) throw new Error(`no ${type} block in ${JSON.stringify(blocks)}`);
	return block;
}

describe("the Slack channel", () => {
	const webhooks = new WebhookTracker();
	let slack: ChatReceiver;
	let endpoint: Webhook;

	beforeAll(async () => {
		slack = await startSlackReceiver();
		endpoint = await webhooks.create({
			channel: "slack",
			url: slack.url,
			events: ["order.created", "order.imported"],
		});
	});

	afterAll(async () => {
		await webhooks.deleteAll();
		await slack.close();
	});

	it("posts a normal event as a valid Block Kit message: type in the header, fields, event id in the context", async () => {
		const event = await sendEvent({
			type: "order.created",
			data: {
				orderId: "ord_1",
				amount: 42,
				paid: true,
				items: ["a", "b", "c"],
				customer: { email: "ann@example.com", name: "Ann" },
			},
		});
		const [request] = await slack.waitForEvent(event.id);
		if (request === undefined) throw new Error("unreachable");
		expect(request.problems).toEqual([]);
		expect(request.reply.status).toBe(200);

		const message = asSlackMessage(request.json);
		expect(message.text).toContain("order.created");
		expect(message.blocks[0]).toEqual({ type: "header", text: { type: "plain_text", text: "order.created" } });
		const section = blockOf(message.blocks, "section");
		expect(section.fields?.map((field) => field.text)).toEqual([
			"*orderId*\nord_1",
			"*amount*\n42",
			"*paid*\ntrue",
			"*items*\n3 items",
			"*customer.email*\nann@example.com",
			"*customer.name*\nAnn",
		]);
		const context = blockOf(message.blocks, "context");
		expect(JSON.stringify(context.elements)).toContain(event.id);

		const delivery = await settledDelivery(endpoint.id, event.id);
		expect(delivery.status).toBe("success");
		expect(sortedAttempts(delivery).map((a) => [a.status_code, a.response_body])).toEqual([[200, "ok"]]);
	});

	it("cuts a huge payload to Slack's limits, visibly, and escapes mentions and links", async () => {
		const event = await sendEvent({ type: "order.imported", data: bigPayload() });
		const [request] = await slack.waitForEvent(event.id);
		if (request === undefined) throw new Error("unreachable");
		expect(request.problems).toEqual([]);
		expect(request.reply.status).toBe(200);

		const message = asSlackMessage(request.json);
		expect(message.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
		expect(message.blocks[0]).toEqual({ type: "header", text: { type: "plain_text", text: "order.imported" } });
		const texts = blockOf(message.blocks, "section").fields?.map((field) => field.text) ?? [];
		expect(texts).toHaveLength(SLACK_LIMITS.sectionFields);

		const [long, mention, longKey] = texts;
		expect(long).toMatch(/^\*longText\*\nstart-x+…$/);
		// The limit itself is the validator's; this checks the cut keeps most of what fits.
		expect(long?.length).toBeGreaterThan(SLACK_LIMITS.sectionFieldText / 2);
		expect(mention).toBe("*mention*\n&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; @everyone");
		expect(longKey).toMatch(/^\*ke+…\*\nvalue of the long key$/);
		// 63 entries: nine shown, the tenth slot says how many were left out.
		expect(texts[3]).toBe(`*f00*\nvalue 0 ${"y".repeat(200)}`);
		expect(texts[9]).toContain("54 more fields");
		expect(request.body).not.toContain("<!channel>");
		expect(request.body).not.toContain("<https://evil.example");
		expect(JSON.stringify(blockOf(message.blocks, "context").elements)).toContain(event.id);

		const delivery = await settledDelivery(endpoint.id, event.id);
		expect(delivery.status).toBe("success");
		expect(delivery.attempts).toHaveLength(1);
	});
});

describe("the Slack channel under rate limiting", () => {
	const webhooks = new WebhookTracker();
	let slack: ChatReceiver;
	let endpoint: Webhook;

	beforeAll(async () => {
		slack = await startSlackReceiver();
		// A schedule of zeros: any wait before attempt 2 comes from Retry-After alone.
		endpoint = await webhooks.create({
			channel: "slack",
			url: slack.url,
			events: ["order.throttled"],
			retry_schedule: [0, 0, 0],
		});
	});

	afterAll(async () => {
		await webhooks.deleteAll();
		await slack.close();
	});

	it("waits out a 429's Retry-After: 1 and succeeds on attempt 2", async () => {
		slack.replyOnce({ status: 429, headers: { "retry-after": "1" }, body: "rate_limited" });
		const event = await sendEvent({ type: "order.throttled", data: { orderId: "ord_429" } });
		const [first, second] = await slack.waitForEvent(event.id, 2);
		if (first === undefined || second === undefined) throw new Error("unreachable");
		expect(first.reply.status).toBe(429);
		expect(second.problems).toEqual([]);
		expect(second.reply.status).toBe(200);
		expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(1000);
		expect(second.body).toBe(first.body);

		const delivery = await settledDelivery(endpoint.id, event.id);
		expect(delivery.status).toBe("success");
		expect(sortedAttempts(delivery).map((a) => [a.attempt, a.status_code])).toEqual([
			[1, 429],
			[2, 200],
		]);
		expect(slack.requestsFor(event.id)).toHaveLength(2);
	});
});

describe("the Discord channel", () => {
	const webhooks = new WebhookTracker();
	let discord: ChatReceiver;
	let endpoint: Webhook;

	beforeAll(async () => {
		discord = await startDiscordReceiver();
		endpoint = await webhooks.create({
			channel: "discord",
			url: discord.url,
			events: ["ticket.opened", "ticket.imported"],
		});
	});

	afterAll(async () => {
		await webhooks.deleteAll();
		await discord.close();
	});

	it("posts a normal event as a valid embed: type as title, fields, event id in the footer, no pings", async () => {
		const event = await sendEvent({
			type: "ticket.opened",
			data: { ticketId: "tic_1", priority: 2, requester: { email: "bob@example.com" } },
		});
		const [request] = await discord.waitForEvent(event.id);
		if (request === undefined) throw new Error("unreachable");
		expect(request.problems).toEqual([]);
		expect(request.reply.status).toBe(204);

		const message = asDiscordMessage(request.json);
		expect(message.allowed_mentions).toEqual({ parse: [] });
		expect(message.embeds).toHaveLength(1);
		const [embed] = message.embeds;
		expect(embed?.title).toBe("ticket.opened");
		expect(embed?.fields.map((field) => [field.name, field.value])).toEqual([
			// Markdown is escaped: Discord shows `tic_1`.
			["ticketId", "tic\\_1"],
			["priority", "2"],
			["requester.email", "bob@example.com"],
		]);
		expect(embed?.footer.text).toContain(event.id);
		expect(Date.parse(embed?.timestamp ?? "")).toBe(Date.parse(event.created_at));

		const delivery = await settledDelivery(endpoint.id, event.id);
		expect(delivery.status).toBe("success");
		expect(sortedAttempts(delivery).map((a) => a.status_code)).toEqual([204]);
	});

	it("cuts a huge payload to Discord's limits, visibly", async () => {
		const event = await sendEvent({ type: "ticket.imported", data: bigPayload() });
		const [request] = await discord.waitForEvent(event.id);
		if (request === undefined) throw new Error("unreachable");
		// The validator holds every embed limit, the 6,000-character total included.
		expect(request.problems).toEqual([]);
		expect(request.reply.status).toBe(204);

		const message = asDiscordMessage(request.json);
		expect(message.allowed_mentions).toEqual({ parse: [] });
		const [embed] = message.embeds;
		if (embed === undefined) throw new Error("no embed");
		expect(embed.title).toBe("ticket.imported");
		expect(embed.fields).toHaveLength(DISCORD_LIMITS.fields);
		expect(embed.fields[0]?.name).toBe("longText");
		expect(embed.fields[0]?.value).toMatch(/^start-x+…$/);
		expect(embed.fields[2]?.name).toMatch(/^ke+…$/);
		expect(embed.fields[24]?.value).toContain("39 more fields");
		expect(embed.footer.text).toContain(event.id);

		const delivery = await settledDelivery(endpoint.id, event.id);
		expect(delivery.status).toBe("success");
		expect(delivery.attempts).toHaveLength(1);
	});
});

describe("the email channel", () => {
	const webhooks = new WebhookTracker();
	const suffix = uniqueSuffix();
	const first = `ops-${suffix}@example.com`;
	const second = `alerts-${suffix}@example.org`;
	const invoiceId = `inv_${suffix}`;
	let endpoint: ChannelEndpoint;
	let event: AcceptedEvent;
	let emails: CapturedEmail[];

	beforeAll(async () => {
		const created = await webhooks.create({ channel: "email", to: [first, second], events: ["invoice.paid"] });
		endpoint = created as unknown as ChannelEndpoint;
		event = await sendEvent({
			type: "invoice.paid",
			data: { invoiceId, amount: 1250, note: "<script>alert('x')</script> & more" },
		});
		emails = [...(await waitForEmailsTo(first, 1)), ...(await waitForEmailsTo(second, 1))];
	});

	afterAll(async () => {
		await webhooks.deleteAll();
	});

	it("answers the endpoint with its channel and recipients and no URL", () => {
		expect(endpoint.channel).toBe("email");
		expect(endpoint.url).toBeNull();
		expect(endpoint.to).toEqual([first, second]);
	});

	it("sends one message to each recipient, from EMAIL_FROM", () => {
		expect(emails.map((email) => email.to)).toEqual([[first], [second]]);
		for (const email of emails) {
			// The display name may be quoted (RFC 5322 reads both forms the same).
			expect(email.fromHeader.replace(/^"([^"]*)"/, "$1")).toBe(EMAIL_FROM);
			expect(email.from).toEqual({ name: "Edgehook", address: "edgehook@example.com" });
		}
	});

	it("has a subject naming the event type, and text and html bodies with the id and the data", () => {
		for (const email of emails) {
			expect(email.subject).toContain("invoice.paid");
			expect(email.subject).not.toMatch(/[\r\n]/);
			expect(email.text).toContain(event.id);
			expect(email.text).toContain(invoiceId);
			expect(email.text).toContain("<script>alert('x')</script> & more");
			expect(email.html).toContain(event.id);
			expect(email.html).toContain(invoiceId);
			expect(email.html).toContain("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more");
			expect(email.html).not.toContain("<script");
		}
	});

	it("shows the delivery as a success sent to both addresses, and has no HTTP request to show", async () => {
		const delivery = await settledDelivery(endpoint.id, event.id);
		expect(delivery.status).toBe("success");
		const attempts = sortedAttempts(delivery);
		expect(attempts).toHaveLength(1);
		expect(attempts[0]?.error).toBeNull();
		const sentTo = /^sent to (.+)$/.exec(attempts[0]?.response_body ?? "")?.[1]?.split(", ");
		expect(sentTo?.sort()).toEqual([first, second].sort());
		const request = await call("GET", `/v1/deliveries/${encodeURIComponent(delivery.id)}/request`);
		expect(request.status, summarize(request)).toBe(409);
		// Settled once: nobody got it twice.
		expect(await emailsTo(first)).toHaveLength(1);
		expect(await emailsTo(second)).toHaveLength(1);
	});

	it("sends an email transformation's subject and text, the text escaped into the html part", async () => {
		const address = `custom-${suffix}@example.com`;
		const custom = await webhooks.create({
			channel: "email",
			to: [address],
			events: ["invoice.paid"],
			transformation: '{"subject": "Paid: " & data.invoiceId, "text": "Invoice " & data.invoiceId & " " & data.note}',
		});
		const preview = await call("POST", `/v1/webhooks/${encodeURIComponent(custom.id)}/transformation/test`, {
			json: { event: { type: "invoice.paid", data: { invoiceId: "inv_preview", note: "<b>" } } },
		});
		expect(preview.status, summarize(preview)).toBe(200);
		expect(preview.json).toMatchObject({
			dropped: false,
			body: { subject: "Paid: inv_preview", text: "Invoice inv_preview <b>" },
		});

		const paid = await sendEvent({ type: "invoice.paid", data: { invoiceId, note: "<b>bold</b>" } });
		const [email] = await waitForEmailsTo(address, 1);
		expect(email?.subject).toBe(`Paid: ${invoiceId}`);
		expect(email?.text.trimEnd()).toBe(`Invoice ${invoiceId} <b>bold</b>`);
		expect(email?.html).toContain(`Invoice ${invoiceId} &lt;b&gt;bold&lt;/b&gt;`);
		expect(email?.html).not.toContain("<b>");
		expect((await settledDelivery(custom.id, paid.id)).status).toBe("success");
	});

	it("keeps a non-ASCII, multi-line value on one subject line, with no header injected", async () => {
		const address = `utf8-${suffix}@example.com`;
		const endpointId = (await webhooks.create({ channel: "email", to: [address], events: ["invoice.disputed"] })).id;
		const customer = "Zoë Ñandú 🚀\r\nBcc: victim@example.net";
		const disputed = await sendEvent({ type: "invoice.disputed", data: { customer, invoiceId } });
		const [email] = await waitForEmailsTo(address, 1);
		if (email === undefined) throw new Error("unreachable");
		expect(email.subject).toContain("invoice.disputed");
		expect(email.subject).toContain("Zoë Ñandú 🚀");
		expect(email.subject).not.toMatch(/[\r\n]/);
		expect(email.headers.bcc).toBeUndefined();
		expect(Object.keys(email.headers)).not.toContain("bcc");
		expect(email.to).toEqual([address]);
		expect(email.text).toContain("Zoë Ñandú 🚀");
		expect(email.html).toContain("Zoë Ñandú 🚀");
		expect(email.text).toContain(disputed.id);
		// Nobody else got a copy.
		expect(await emailsTo("victim@example.net")).toEqual([]);
		expect((await settledDelivery(endpointId, disputed.id)).status).toBe("success");
	});
});
